// A Publisher's local media: what it captured (camera, microphone, screen, or the app's own tracks),
// the sources switched while it runs (setAudioSource, setVideoSource, cycleVideo), and what stands
// in front of them — the built-in video and audio filters and the app's media processor connectors.
// It knows nothing of peer connections or the DOM: it tells its owner (hooks) which track to send in
// place of which, which track to preview, and when a track in use ended.

import { capture, isTrack, listDevices, mediaError, type Captured, type CaptureOptions } from './devices.js';
import { invalidParameter, publishError } from './errors.js';
import { log } from './logger.js';
import type { MediaProcessorConnector } from './media-processor.js';
import { sdkAssetBase } from './script-url.js';
import { audioWorkletSupport, NoiseSuppressionConnector } from './audio-filter.js';
import { insertableStreams, parseAudioFilter, parseVideoFilter, VideoFilterConnector, type AudioFilter, type VideoFilter } from './video-filter.js';

export type MediaKind = 'audio' | 'video';

/** What the owner of the media does for it. */
export interface LocalMediaHooks {
  /** Send `next` where `old` (or a track of that kind) is sent now, on every peer connection. */
  replaceSent(kind: MediaKind, old: MediaStreamTrack, next: MediaStreamTrack): Promise<void>;
  /** The preview shows this video track now. */
  previewVideo(track: MediaStreamTrack): void;
  /** Whether that kind is published (a new track starts enabled or not accordingly). */
  isPublished(kind: MediaKind): boolean;
  /** A track in use ended by itself (device unplugged, the browser's "Stop sharing"). */
  trackEnded(track: MediaStreamTrack): void;
}

/** initPublisher options the capture reads. */
export interface LocalMediaOptions extends CaptureOptions {
  videoType?: 'camera' | 'screen' | 'custom';
  videoContentHint?: string;
}

export class LocalMedia {
  /** Resolves with the captured tracks (rejects with an OTError when capture failed). */
  readonly ready: Promise<Captured>;
  readonly #options: LocalMediaOptions;
  readonly #hooks: LocalMediaHooks;
  #captured: Captured | null = null;
  #stopped = false;
  /** Media processor connectors in use, with the unprocessed track each was given. */
  readonly #connectors: Record<MediaKind, { connector: MediaProcessorConnector; source: MediaStreamTrack } | null> = { audio: null, video: null };
  /** The built-in video filter in use (it is also the video's media processor connector). */
  #videoFilter: VideoFilterConnector | null = null;
  /** The built-in audio filter in use (the audio's media processor connector). */
  #audioFilter: NoiseSuppressionConnector | null = null;
  #filterQueue: Promise<void> = Promise.resolve();

  constructor(options: LocalMediaOptions, hooks: LocalMediaHooks) {
    this.#options = options;
    this.#hooks = hooks;
    this.ready = capture(options).then((captured) => {
      if (this.#stopped) {
        for (const track of captured.owned) track.stop();
      } else {
        this.#adopt(captured);
      }
      return captured;
    });
    // Awaited by the Publisher; nobody else must see a capture failure as unhandled.
    this.ready.catch(() => {});
  }

  /** The captured tracks, once captured (null before, and after a failed capture). */
  get captured(): Captured | null {
    return this.#captured;
  }

  /** The video is a screen share (a captured screen, or a custom track the app calls one). */
  get isScreen(): boolean {
    const kind = this.#captured?.videoKind;
    return kind === 'screen' || (kind === 'custom' && this.#options.videoType === 'screen');
  }

  #adopt(captured: Captured): void {
    this.#captured = captured;
    if (captured.audio) captured.audio.enabled = this.#hooks.isPublished('audio');
    if (captured.video) {
      captured.video.enabled = this.#hooks.isPublished('video');
      const hint = this.#options.videoContentHint ?? (this.isScreen && captured.video.contentHint === '' ? 'detail' : undefined);
      if (hint !== undefined) captured.video.contentHint = hint;
      this.#watch(captured.video);
    }
    if (captured.audio) this.#watch(captured.audio);
  }

  #watch(track: MediaStreamTrack): void {
    track.addEventListener('ended', () => {
      // The track sent, or the camera/microphone under a media processor.
      const inUse = [this.#captured?.audio, this.#captured?.video, this.#connectors.audio?.source, this.#connectors.video?.source];
      if (!this.#stopped && inUse.includes(track)) this.#hooks.trackEnded(track);
    });
  }

  /** Enables or disables the sent track of that kind (silence or black frames). */
  setEnabled(kind: MediaKind, enabled: boolean): void {
    const track = this.#captured?.[kind];
    if (track) track.enabled = enabled;
  }

  /**
   * The camera's (or custom) video track: the one sent, or under a filter or media processor the
   * one it reads, whose settings (size, device) the processed track does not report.
   */
  cameraTrack(): MediaStreamTrack | null {
    return this.#connectors.video?.source ?? this.#captured?.video ?? null;
  }

  /** Switches the microphone: a device id or a MediaStreamTrack. */
  async setAudioSource(source: string | MediaStreamTrack): Promise<void> {
    const captured = await this.ready;
    if (!captured.audio) throw publishError('OT_NOT_SUPPORTED', 'This publisher was created without audio');
    const track = isTrack(source) ? source : await this.#open({ audioSource: source, videoSource: null }, 'audio');
    const sent = await this.#processed('audio', track);
    sent.enabled = this.#hooks.isPublished('audio');
    await this.#replace('audio', captured.audio, sent);
    captured.audio = sent;
  }

  /** Switches the camera: a device id or a MediaStreamTrack (camera publishers only). Resolves with the new camera track. */
  async setVideoSource(source: string | MediaStreamTrack): Promise<MediaStreamTrack> {
    const captured = await this.ready;
    if (!captured.video || captured.videoKind === 'screen') throw publishError('OT_NOT_SUPPORTED', 'setVideoSource needs a publisher with a camera video source');
    const options = this.#options;
    const track = isTrack(source) ? source : await this.#open({ videoSource: source, audioSource: null, resolution: options.resolution, frameRate: options.frameRate }, 'video');
    this.#watch(track);
    const sent = await this.#processed('video', track);
    sent.enabled = this.#hooks.isPublished('video');
    await this.#replace('video', captured.video, sent);
    captured.video = sent;
    this.#hooks.previewVideo(sent);
    return track;
  }

  /** The next camera in the order the browser lists them (the current one when there is one camera). */
  async nextCamera(): Promise<string> {
    const captured = await this.ready;
    if (!captured.video || captured.videoKind !== 'camera') throw publishError('OT_NOT_SUPPORTED', 'cycleVideo needs a publisher with a camera video source');
    const cameras = (await listDevices()).filter((d) => d.kind === 'videoInput');
    if (cameras.length === 0) throw publishError('OT_NO_DEVICES_FOUND', 'No camera to cycle to');
    const current = this.cameraTrack()?.getSettings().deviceId;
    return cameras[(cameras.findIndex((d) => d.deviceId === current) + 1) % cameras.length]!.deviceId;
  }

  /** A new camera/microphone track goes through that kind's media processor, if one is set: the track to send. */
  async #processed(kind: MediaKind, track: MediaStreamTrack): Promise<MediaStreamTrack> {
    const used = this.#connectors[kind];
    if (!used) return track;
    const old = used.source;
    used.source = track;
    if (old !== track && this.#captured?.owned.includes(old)) {
      old.stop();
      this.#captured.owned = this.#captured.owned.filter((t) => t !== old);
    }
    return used.connector.setTrack(track);
  }

  /** See Publisher.applyVideoFilter. */
  async applyVideoFilter(filter: unknown): Promise<void> {
    const parsed = parseVideoFilter(filter);
    const streams = insertableStreams();
    if (!streams) throw publishError('OT_NOT_SUPPORTED', 'Video filters need insertable streams (MediaStreamTrackProcessor), which this browser lacks');
    // One filter change at a time: two racing applies would each start a pipeline on the camera.
    return this.#filterChange(async () => {
      const captured = await this.ready;
      if (!captured.video) throw publishError('OT_NOT_SUPPORTED', 'This publisher has no video to filter');
      if (this.isScreen) throw publishError('OT_NOT_SUPPORTED', 'Video filters apply to camera video, not to a screen-sharing publisher');
      // A filter already running switches in place (same model, same sent track).
      if (this.#videoFilter) return this.#videoFilter.setFilter(parsed);
      const connector = new VideoFilterConnector(parsed, sdkAssetBase('mediapipe'), streams);
      await this.setConnector('video', connector);
      this.#videoFilter = connector;
    });
  }

  #filterChange(run: () => Promise<void>): Promise<void> {
    const next = this.#filterQueue.then(run, run);
    this.#filterQueue = next.catch(() => {});
    return next;
  }

  /** The video filter in use (a copy), or null. */
  get videoFilter(): VideoFilter | null {
    return this.#videoFilter?.filter ?? null;
  }

  /** The running video filter's frame and segmentation counts, or null. */
  videoFilterStats() {
    return this.#videoFilter?.stats() ?? null;
  }

  clearVideoFilter(): Promise<void> {
    return this.#filterChange(async () => {
      if (this.#videoFilter) await this.setConnector('video', null);
    });
  }

  /** See Publisher.applyAudioFilter. */
  async applyAudioFilter(filter: unknown): Promise<void> {
    parseAudioFilter(filter);
    if (!audioWorkletSupport()) throw publishError('OT_NOT_SUPPORTED', 'advancedNoiseSuppression needs AudioWorklet, which this browser lacks');
    return this.#filterChange(async () => {
      const captured = await this.ready;
      if (!captured.audio) throw publishError('OT_NOT_SUPPORTED', 'This publisher has no audio to filter');
      if (this.#audioFilter) return;
      const connector = new NoiseSuppressionConnector(sdkAssetBase('noise-suppressor'));
      await this.setConnector('audio', connector);
      this.#audioFilter = connector;
    });
  }

  get audioFilter(): AudioFilter | null {
    return this.#audioFilter ? { type: 'advancedNoiseSuppression' } : null;
  }

  clearAudioFilter(): Promise<void> {
    return this.#filterChange(async () => {
      if (this.#audioFilter) await this.setConnector('audio', null);
    });
  }

  /**
   * Puts a media processor connector in front of that kind (null: back to the device's own track).
   * The processed track replaces the sent one (and the preview); the device keeps running under it.
   */
  async setConnector(kind: MediaKind, connector: MediaProcessorConnector | null | undefined): Promise<void> {
    if (connector !== null && connector !== undefined && (typeof connector !== 'object' || typeof connector.setTrack !== 'function')) {
      throw invalidParameter('a media processor connector has setTrack(track) (resolving with the processed track) and destroy()');
    }
    const captured = await this.ready;
    const current = captured[kind];
    if (!current) throw publishError('OT_NOT_SUPPORTED', `This publisher has no ${kind} to process`);
    const previous = this.#connectors[kind];
    const source = previous?.source ?? current;
    let next = source;
    if (connector) {
      const processed = await connector.setTrack(source);
      if (!isTrack(processed) || processed.kind !== kind) throw invalidParameter(`the connector's setTrack must resolve with a ${kind} MediaStreamTrack`);
      next = processed;
    }
    next.enabled = this.#hooks.isPublished(kind);
    // The camera/microphone keeps running under the processor: the old sent track is not stopped.
    await this.#replace(kind, current, next, { stopOld: false });
    captured[kind] = next;
    this.#connectors[kind] = connector ? { connector, source } : null;
    // apply…Filter sets it again after this; a connector of the app's replaces a filter.
    if (kind === 'video') this.#videoFilter = null;
    else this.#audioFilter = null;
    if (kind === 'video') this.#hooks.previewVideo(next);
    if (previous && previous.connector !== connector) await previous.connector.destroy?.();
  }

  async #open(options: CaptureOptions, kind: MediaKind): Promise<MediaStreamTrack> {
    let captured: Captured;
    try {
      captured = await capture(options);
    } catch (err) {
      throw mediaError(err);
    }
    const track = kind === 'audio' ? captured.audio : captured.video;
    if (!track) throw publishError('OT_NO_DEVICES_FOUND', `No ${kind} track from that source`);
    this.#captured?.owned.push(track);
    return track;
  }

  async #replace(kind: MediaKind, old: MediaStreamTrack, track: MediaStreamTrack, options: { stopOld?: boolean } = {}): Promise<void> {
    await this.#hooks.replaceSent(kind, old, track);
    if (options.stopOld !== false && this.#captured?.owned.includes(old)) {
      old.stop();
      this.#captured.owned = this.#captured.owned.filter((t) => t !== old);
    }
  }

  /** Stops for good: the connectors are destroyed and the tracks we opened stop (the app's own stay). */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#videoFilter = null;
    this.#audioFilter = null;
    for (const kind of ['audio', 'video'] as const) {
      const used = this.#connectors[kind];
      this.#connectors[kind] = null;
      if (used) void Promise.resolve(used.connector.destroy?.()).catch((err: unknown) => log.warn('a media processor connector failed to stop:', err));
    }
    for (const track of this.#captured?.owned ?? []) track.stop();
  }
}

