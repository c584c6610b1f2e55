// The shape of a media processor a Publisher can run its camera or microphone track through: the
// app's own (as `@vonage/media-processor` provides) or ours (video-filter.ts, audio-filter.ts).
// Its own module so that the filters and the Publisher share it without importing each other.

/** What setVideoMediaProcessorConnector/setAudioMediaProcessorConnector take (as `@vonage/media-processor`'s MediaProcessorConnector). */
export interface MediaProcessorConnector {
  /** Takes the camera (or microphone) track; resolves with the processed track to send instead. */
  setTrack(track: MediaStreamTrack): Promise<MediaStreamTrack>;
  /** Stops processing (called when the connector is replaced or cleared). */
  destroy?(): Promise<void> | void;
}
