// What archiving needs from the rest of the server, kept tiny so the media engine and the session
// domain can implement it without archiving knowing their insides (see archiving/README.md).


export type ArchiveCodec = 'opus' | 'VP8' | 'H264';

/** One published track (a media Producer) as archiving sees it. */
export interface ArchiveTrack {
  /** The producer's id, handed back to `subscribe` and `requestKeyFrame`. */
  producerId: string;
  kind: 'audio' | 'video';
  codec: ArchiveCodec;
  /** RTP clock rate (90000 for video, 48000 for Opus). */
  clockRate: number;
  /** Opus: channels as negotiated (2 in WebRTC SDP). */
  channels?: number;
  /** The media payload type; when given, packets with any other (RTX, RED, FEC) are ignored. */
  payloadType?: number;
}

/** A stream published in a session (routed through the SFU), with its producers. */
export interface ArchiveStream {
  streamId: string;
  connectionId: string;
  /** The publishing connection's token data (goes into the individual-archive manifest). */
  connectionData: string;
  videoType: 'camera' | 'screen' | 'custom';
  name: string;
  /** Layout classes (token `initial_layout_class_list`, or set by REST). */
  layoutClassList: string[];
  /** When the stream was published (epoch ms): orders streams in composed layouts. */
  createdAt: number;
  /** Null when the stream has no audio producer (publishAudio false from the start, or none). */
  audio: ArchiveTrack | null;
  video: ArchiveTrack | null;
}

/**
 * A received RTP packet as archiving reads it: header fields and payload (the SFU's RtpView has this
 * shape; so do test sources' packets). Valid only during the call that delivers it.
 */
export interface RtpPacket {
  readonly header: { readonly payloadType: number; readonly sequenceNumber: number; readonly timestamp: number; readonly marker: boolean; readonly ssrc: number };
  readonly payload: Buffer;
}

/**
 * The media engine, as archiving uses it. Implemented by the wiring over the SFU (Router,
 * Producer); tests implement it with a labelled RTP source.
 */
export interface ArchiveMediaSource {
  /** Streams currently published in a session, with their producers. Empty when nobody publishes. */
  listStreams(sessionId: string): ArchiveStream[];
  /**
   * Delivers every media RTP packet of the producer (its SSRC; retransmissions unwrapped from RTX
   * or not delivered at all) to `onPacket`, synchronously, until the returned function is called. The packet may be reused
   * after the call returns: the recorder copies what it keeps and never mutates it. Throws (or
   * returns a no-op) for an unknown or closed producer.
   */
  subscribe(producerId: string, onPacket: (packet: RtpPacket) => void): () => void;
  /** Asks the publisher for a keyframe (RTCP PLI/FIR); throttling is the engine's business. */
  requestKeyFrame(producerId: string): void;
}

/** Events of a session that drive archives, delivered by `ArchiveSessionState.watch`. */
export interface ArchiveSessionListener {
  /** A client connected or left; `count` is the number of connections now in the session. */
  connectionCountChanged(sessionId: string, count: number): void;
  /** A stream was published (its producers exist). */
  streamAdded(sessionId: string, stream: ArchiveStream): void;
  /** A stream was unpublished (or its connection left). */
  streamRemoved(sessionId: string, streamId: string): void;
  /**
   * Something archiving cares about changed on a live stream: its layout classes, or its producers
   * (a track added, replaced or removed). Send the stream as it is now.
   */
  streamUpdated(sessionId: string, stream: ArchiveStream): void;
}

/** Events archiving sends to a session's clients (OpenTok.js `archiveStarted` / `archiveStopped`). */
export interface ArchiveClientEvent {
  type: 'archiveStarted' | 'archiveStopped';
  /** Archive id (lower-case UUID). */
  id: string;
  /** Archive name ('' when none). */
  name: string;
}

/** The session domain, as archiving uses it. Implemented by the wiring over sessions/ and signaling/. */
export interface ArchiveSessionState {
  /** Connections in the session right now (0 when it is not live). */
  connectionCount(sessionId: string): number;
  /** Subscribes to every session's events; returns the unsubscribe function. */
  watch(listener: ArchiveSessionListener): () => void;
  /** Sends an archive event to every client connected to the session (no-op when nobody is). */
  broadcast(sessionId: string, event: ArchiveClientEvent): void;
}

/** Before the wiring exists: nobody connects and nothing is published, so no archive can start. */
export const OFFLINE_MEDIA: ArchiveMediaSource = {
  listStreams: () => [],
  subscribe: () => () => {},
  requestKeyFrame: () => {},
};

export const OFFLINE_SESSIONS: ArchiveSessionState = {
  connectionCount: () => 0,
  watch: () => () => {},
  broadcast: () => {},
};
