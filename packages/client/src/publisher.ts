// Publisher (OpenTok.js Publisher): the local camera/microphone (or screen, or the app's own
// tracks), its DOM element, and — once published — one peer connection to the Colloquy SFU
// (routed sessions) or one per subscriber (relayed sessions, peer to peer, as OpenTok.js does).
// One encoding per track (no simulcast: the SFU forwards what it gets). publishAudio/publishVideo
// disable the track (silence, black) and tell the session; moderators' mutes arrive as muteForced.
// setMaxVideoBitrate, setPreferredFrameRate and setPreferredResolution shape that one encoding
// (RTCRtpSender.setParameters: maxBitrate, maxFramerate, scaleResolutionDownBy) on every peer
// connection, present and future.

import type { PublishResult, StreamDestroyedReason, VideoType } from '@colloquy/protocol';
import { AudioLevelMeter } from './audio-level.js';
import { capture, isTrack, listDevices, mediaError, type AudioSourceOption, type CaptureOptions, type Captured, type VideoSourceOption } from './devices.js';
import { ExceptionCodes, OTError, asOTError, invalidParameter, notConnected, publishError } from './errors.js';
import { OTEventEmitter } from './event-emitter.js';
import { AudioLevelUpdatedEvent, MediaStoppedEvent, MuteForcedEvent, OTEvent, StreamEvent, VideoElementCreatedEvent } from './events.js';
import { log } from './logger.js';
import { createMediaElement, DEFAULT_STYLE, imageData, mergeStyle, type ElementOptions, type ElementStyle, type MediaElement } from './media-element.js';
import { publisherStats, TrackSummarizer, type PublisherStatsShape } from './stats.js';
import type { Session } from './session.js';
import type { Stream } from './stream.js';
import { candidateJson, type MediaContext } from './media-context.js';

export interface PublisherEventMap {
  accessAllowed: OTEvent<Publisher>;
  accessDenied: OTEvent<Publisher>;
  accessDialogOpened: OTEvent<Publisher>;
  accessDialogClosed: OTEvent<Publisher>;
  audioLevelUpdated: AudioLevelUpdatedEvent<Publisher>;
  destroyed: OTEvent<Publisher>;
  mediaStopped: MediaStoppedEvent<Publisher>;
  muteForced: MuteForcedEvent<Publisher>;
  streamCreated: StreamEvent<Publisher>;
  streamDestroyed: StreamEvent<Publisher>;
  videoElementCreated: VideoElementCreatedEvent<Publisher>;
  videoDimensionsChanged: OTEvent<Publisher>;
}

/** OT.initPublisher / session.publish options (OpenTok.js PublisherProperties). */
export interface PublisherProperties extends ElementOptions, CaptureOptions {
  /** Shown to others (stream.name) and on the label; ≤ 1000 characters. */
  name?: string;
  /** Start with audio on (default true). */
  publishAudio?: boolean;
  /** Start with video on (default true). */
  publishVideo?: boolean;
  /** Mirror the local camera preview (default true for cameras, false otherwise). */
  mirror?: boolean;
  audioSource?: AudioSourceOption;
  /** A device id, a MediaStreamTrack (videoType 'custom'), null/false for audio only, or 'screen'. */
  videoSource?: VideoSourceOption;
  /**
   * Colloquy: the videoType others see for a MediaStreamTrack videoSource (OpenTok.js always says
   * 'custom'); e.g. 'screen' for a canvas or tab capture the app made itself.
   */
  videoType?: VideoType;
  /** The video track's contentHint: '' , 'motion', 'detail' or 'text' (default 'detail' for screens: sharp text over frame rate). */
  videoContentHint?: '' | 'motion' | 'detail' | 'text';
}

export type PublisherCompletionHandler = (error?: OTError | null) => void;

interface PublisherStatsEntry {
  connectionId?: string;
  subscriberId?: string;
  stats: PublisherStatsShape;
}

interface RelayPeer {
  pc: RTCPeerConnection;
  connectionId: string;
  /** Candidates that arrived before the answer. */
  pending: RTCIceCandidateInit[];
  summarizer: TrackSummarizer;
}

let publisherCount = 0;

/** What the app asked of the video encoding; unset fields leave the browser's choice. */
interface EncodingWishes {
  maxBitrate?: number;
  maxFramerate?: number;
  resolution?: { width: number; height: number };
}

export class Publisher extends OTEventEmitter<PublisherEventMap> {
  /** The container element (undefined with insertDefaultUI: false). */
  element: HTMLElement | undefined;
  /** The element's id (a generated one with insertDefaultUI: false). */
  readonly id: string;
  /** This publisher's stream, while it is published. */
  stream: Stream | undefined;
  /** The session it publishes to (once session.publish was called). */
  session: Session | undefined;
  /** True once the browser granted camera/microphone (or screen) access. */
  accessAllowed = false;
  readonly #props: PublisherProperties;
  readonly #media: Promise<Captured>;
  #captured: Captured | null = null;
  #ui: MediaElement | null = null;
  #publishAudio: boolean;
  #publishVideo: boolean;
  #ctx: MediaContext | null = null;
  #streamId: string | null = null;
  #pc: RTCPeerConnection | null = null;
  #summarizer = new TrackSummarizer();
  readonly #relayPeers = new Map<string, RelayPeer>();
  #publishDone: ((error: OTError | null) => void) | null = null;
  #meter: AudioLevelMeter | null = null;
  #destroyed = false;
  #style: ElementStyle;
  readonly #encoding: EncodingWishes = {};

  /** @internal use OT.initPublisher */
  constructor(target: unknown, props: PublisherProperties = {}, completion?: PublisherCompletionHandler) {
    super();
    this.#props = { ...props };
    this.id = `OT_publisher_${++publisherCount}`;
    this.#publishAudio = props.publishAudio !== false;
    this.#publishVideo = props.publishVideo !== false;
    this.#style = mergeStyle(DEFAULT_STYLE, props.style ?? {});
    this.#media = capture(props);
    this.#media.then(
      (captured) => this.#onCaptured(captured, target, completion),
      (error: OTError) => {
        this.dispatchEvent(new OTEvent('accessDenied', this));
        log.error('initPublisher:', error.name, error.message);
        call(completion, error);
      },
    );
    // The promise is also awaited by publish(); nobody else must see it as unhandled.
    this.#media.catch(() => {});
  }

  #onCaptured(captured: Captured, target: unknown, completion: PublisherCompletionHandler | undefined): void {
    if (this.#destroyed) {
      for (const track of captured.owned) track.stop();
      return;
    }
    this.#captured = captured;
    this.accessAllowed = true;
    if (captured.audio) captured.audio.enabled = this.#publishAudio;
    if (captured.video) {
      captured.video.enabled = this.#publishVideo;
      const screen = captured.videoKind === 'screen' || (captured.videoKind === 'custom' && this.#props.videoType === 'screen');
      const hint = this.#props.videoContentHint ?? (screen && captured.video.contentHint === '' ? 'detail' : undefined);
      if (hint !== undefined) captured.video.contentHint = hint;
      captured.video.addEventListener('ended', () => this.#onTrackEnded(captured.video!));
    }
    captured.audio?.addEventListener('ended', () => this.#onTrackEnded(captured.audio!));
    const mirror = this.#props.mirror ?? captured.videoKind === 'camera';
    this.#ui = createMediaElement('publisher', target, { ...this.#props, style: this.#style }, mirror);
    this.element = this.#ui.container ?? undefined;
    if (this.element) this.element.id = this.id;
    this.#ui.setName(this.#props.name ?? '');
    this.#ui.setVideoDisabled(!captured.video || !this.#publishVideo);
    this.#ui.video.srcObject = new MediaStream(captured.video ? [captured.video] : []);
    void this.#ui.video.play().catch(() => {});
    this.dispatchEvent(new OTEvent('accessAllowed', this));
    this.dispatchEvent(new VideoElementCreatedEvent(this, this.#ui.video));
    call(completion, null);
  }

  /** @internal Session.publish: waits for the media, then publishes in the session's mode. */
  async _publish(ctx: MediaContext, done: (error: OTError | null) => void): Promise<void> {
    if (this.#ctx) {
      done(publishError('OT_UNABLE_TO_PUBLISH', 'This publisher is already publishing'));
      return;
    }
    this.#ctx = ctx;
    this.session = ctx.session;
    this.#publishDone = done;
    try {
      const captured = await this.#media;
      if (this.#destroyed || this.#ctx !== ctx) throw publishError('OT_UNABLE_TO_PUBLISH', 'The publisher was destroyed before it could publish');
      if (!captured.audio && !captured.video) throw publishError('OT_UNABLE_TO_PUBLISH', 'Nothing to publish: both audioSource and videoSource are off');
      const body = this.#publishBody(captured);
      let result: PublishResult;
      if (ctx.mediaMode === 'routed') {
        const pc = new RTCPeerConnection(ctx.rtcConfiguration());
        this.#pc = pc;
        this.#addTracks(pc, captured);
        pc.addEventListener('connectionstatechange', () => this.#onRoutedState(pc));
        // No waiting for ICE gathering: the SFU is ICE-lite and learns our address from our checks.
        await pc.setLocalDescription(await pc.createOffer());
        result = await ctx.request('publish', { ...body, sdp: pc.localDescription!.sdp });
        if (this.#pc !== pc) return;
        await pc.setRemoteDescription({ type: 'answer', sdp: result.sdp! });
        await this.#applyEncoding([pc]);
      } else {
        result = await ctx.request('publish', body);
      }
      this.#streamId = result.streamId;
      ctx.registerPublisher(this, result.streamId);
      if (result.muteForced) this.#applyMuteForced();
      // publishAudio/publishVideo called while the publish was on its way had no stream to update:
      // tell the session now, or the others would keep the state of the publish request.
      const hasAudio = !!captured.audio && this.#publishAudio;
      const hasVideo = !!captured.video && this.#publishVideo;
      if (hasAudio !== body.hasAudio || hasVideo !== body.hasVideo) this.#updateStream({ hasAudio, hasVideo });
    } catch (err) {
      this.#finishPublish(asOTError(err, ExceptionCodes.UNABLE_TO_PUBLISH, 'OT_UNABLE_TO_PUBLISH'));
      this.#teardown();
    }
  }

  #publishBody(captured: Captured) {
    const settings = captured.video?.getSettings();
    const videoType: VideoType | null = captured.video ? (captured.videoKind === 'custom' ? (this.#props.videoType ?? 'custom') : (captured.videoKind ?? 'camera')) : null;
    return {
      name: String(this.#props.name ?? '').slice(0, 1000),
      videoType,
      hasAudio: !!captured.audio && this.#publishAudio,
      hasVideo: !!captured.video && this.#publishVideo,
      videoDimensions: settings?.width && settings.height ? { width: Math.round(settings.width), height: Math.round(settings.height) } : null,
      frameRate: captured.video ? Math.round(this.#props.frameRate ?? settings?.frameRate ?? 30) : null,
    };
  }

  #addTracks(pc: RTCPeerConnection, captured: Captured): void {
    const tracks = [captured.audio, captured.video].filter((t): t is MediaStreamTrack => t !== null);
    const stream = new MediaStream(tracks);
    // One transceiver per track, sendonly, a single encoding.
    for (const track of tracks) pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
  }

  #onRoutedState(pc: RTCPeerConnection): void {
    if (pc !== this.#pc) return;
    if (pc.connectionState === 'failed') {
      const error = new OTError(ExceptionCodes.PUBLISHER_ICE_WORKFLOW_FAILED, 'OT_ICE_WORKFLOW_FAILED', 'The publisher could not connect to the media server (ICE failed)');
      this.#ctx?.reportError(error, this.#streamId ?? undefined);
      // Before the stream is live this fails the publish; after, the server ends the stream (networkDisconnected).
      if (!this.stream) {
        this.#finishPublish(error);
        if (this.#streamId) void this.#ctx?.request('unpublish', { streamId: this.#streamId }).catch(() => {});
        this.#teardown();
      }
    }
  }

  #finishPublish(error: OTError | null): void {
    const done = this.#publishDone;
    this.#publishDone = null;
    if (error) this.#ctx?.reportError(error, this.#streamId ?? undefined);
    done?.(error);
  }

  /** @internal The server announced our stream: we are published. */
  _streamCreated(stream: Stream): void {
    this.stream = stream;
    this.dispatchEvent(new StreamEvent('streamCreated', this, stream));
    this.#finishPublish(null);
  }

  /**
   * @internal Our stream ended (unpublished, forced, media failed, or the session went away).
   * Default action: the publisher is destroyed and leaves the page (preventDefault keeps it, ready
   * to publish again).
   */
  _streamDestroyed(reason: StreamDestroyedReason): void {
    const stream = this.stream;
    const wasPending = this.#publishDone !== null;
    this.#teardown();
    if (wasPending) {
      this.#finishPublish(publishError(reason === 'networkDisconnected' ? 'OT_ICE_WORKFLOW_FAILED' : 'OT_UNABLE_TO_PUBLISH', `The stream ended before it was published (${reason})`));
    }
    if (!stream) return;
    const event = new StreamEvent('streamDestroyed', this, stream, reason);
    this.dispatchEvent(event);
    if (!event.isDefaultPrevented()) this.destroy();
  }

  /** Drops the session side: peer connections, the stream. Media and DOM stay (reuse is allowed). */
  #teardown(): void {
    this.#ctx?.unregisterPublisher(this);
    this.#pc?.close();
    this.#pc = null;
    for (const peer of this.#relayPeers.values()) peer.pc.close();
    this.#relayPeers.clear();
    this.#streamId = null;
    this.stream = undefined;
    this.#ctx = null;
    this.#summarizer = new TrackSummarizer();
  }

  /** @internal A moderator muted our audio (or "mute all" was active when we published). */
  _muteForced(): void {
    this.#applyMuteForced();
  }

  #applyMuteForced(): void {
    this.#publishAudio = false;
    if (this.#captured?.audio) this.#captured.audio.enabled = false;
    this.dispatchEvent(new MuteForcedEvent(this));
  }

  // ---------------------------------------------------------------------------------------------
  // Relayed sessions: one peer connection per subscriber

  /** @internal Relayed: someone subscribed; make our offer to them. */
  async _relayStart(subscriberId: string, connectionId: string): Promise<void> {
    const ctx = this.#ctx;
    const captured = this.#captured;
    if (!ctx || !captured || this.#relayPeers.has(subscriberId)) return;
    const pc = new RTCPeerConnection(ctx.rtcConfiguration());
    const peer: RelayPeer = { pc, connectionId, pending: [], summarizer: new TrackSummarizer() };
    this.#relayPeers.set(subscriberId, peer);
    this.#addTracks(pc, captured);
    pc.addEventListener('icecandidate', (e) => {
      void ctx.request('relay', { subscriberId, candidate: candidateJson(e.candidate) }).catch(() => {});
    });
    pc.addEventListener('connectionstatechange', () => {
      if (pc.connectionState === 'failed') {
        ctx.reportError(new OTError(ExceptionCodes.P2P_CONNECTION_FAILED, 'OT_P2P_CONNECTION_FAILED', `Peer-to-peer connection to subscriber ${subscriberId} failed`), this.#streamId ?? undefined);
      }
    });
    try {
      await pc.setLocalDescription(await pc.createOffer());
      await this.#applyEncoding([pc]);
      await ctx.request('relay', { subscriberId, description: { type: 'offer', sdp: pc.localDescription!.sdp } });
    } catch (err) {
      ctx.reportError(asOTError(err), this.#streamId ?? undefined);
    }
  }

  /** @internal Relayed: the subscriber's answer or candidate. */
  async _relay(subscriberId: string, description: RTCSessionDescriptionInit | undefined, candidate: RTCIceCandidateInit | null | undefined): Promise<void> {
    const peer = this.#relayPeers.get(subscriberId);
    if (!peer) return;
    try {
      if (description) {
        await peer.pc.setRemoteDescription(description);
        for (const c of peer.pending.splice(0)) await peer.pc.addIceCandidate(c);
      } else if (candidate) {
        if (peer.pc.remoteDescription) await peer.pc.addIceCandidate(candidate);
        else peer.pending.push(candidate);
      }
    } catch (err) {
      log.warn('relayed negotiation failed:', err);
    }
  }

  /** @internal Relayed: that subscriber is gone. */
  _relayEnd(subscriberId: string): void {
    this.#relayPeers.get(subscriberId)?.pc.close();
    this.#relayPeers.delete(subscriberId);
  }

  // ---------------------------------------------------------------------------------------------
  // Public API

  /** Turns the microphone on or off for everyone (the track sends silence; stream.hasAudio follows). */
  publishAudio(value: boolean): this {
    this.#publishAudio = value !== false;
    const audio = this.#captured?.audio;
    if (audio) audio.enabled = this.#publishAudio;
    this.#updateStream({ hasAudio: !!audio && this.#publishAudio });
    return this;
  }

  /** Turns the camera on or off for everyone (black frames; subscribers get videoDisabled 'publishVideo'). */
  publishVideo(value: boolean): this {
    this.#publishVideo = value !== false;
    const video = this.#captured?.video;
    if (video) video.enabled = this.#publishVideo;
    this.#ui?.setVideoDisabled(!video || !this.#publishVideo);
    this.#updateStream({ hasVideo: !!video && this.#publishVideo });
    return this;
  }

  #updateStream(changes: { hasAudio?: boolean; hasVideo?: boolean; videoDimensions?: { width: number; height: number } }): void {
    const ctx = this.#ctx;
    const streamId = this.#streamId;
    if (!ctx || !streamId) return;
    ctx.request('updateStream', { streamId, ...changes }).catch((err: OTError) => log.warn('stream update failed:', err.message));
  }

  /** The microphone track (OpenTok.js getAudioSource). */
  getAudioSource(): MediaStreamTrack | null {
    return this.#captured?.audio ?? null;
  }

  /** The video source: device id, kind and track (OpenTok.js getVideoSource); `track` is null while publishVideo(false). */
  getVideoSource(): { deviceId: string | null; type: 'camera' | 'screen' | 'custom' | null; track: MediaStreamTrack | null } {
    const track = this.#captured?.video ?? null;
    return { deviceId: track?.getSettings().deviceId ?? null, type: this.#captured?.videoKind ?? null, track: this.#publishVideo ? track : null };
  }

  /** Switches the microphone: a device id or a MediaStreamTrack. The stream stays published (replaceTrack). */
  async setAudioSource(source: string | MediaStreamTrack): Promise<void> {
    const captured = await this.#media;
    if (!captured.audio) throw publishError('OT_NOT_SUPPORTED', 'This publisher was created without audio');
    const track = isTrack(source) ? source : await this.#open({ audioSource: source, videoSource: null }, 'audio');
    track.enabled = this.#publishAudio;
    await this.#replace('audio', captured.audio, track);
    captured.audio = track;
  }

  /** Switches the camera: a device id or a MediaStreamTrack (camera publishers only, as in OpenTok.js). */
  async setVideoSource(source: string | MediaStreamTrack): Promise<void> {
    const captured = await this.#media;
    if (!captured.video || captured.videoKind === 'screen') throw publishError('OT_NOT_SUPPORTED', 'setVideoSource needs a publisher with a camera video source');
    const track = isTrack(source) ? source : await this.#open({ videoSource: source, audioSource: null, resolution: this.#props.resolution, frameRate: this.#props.frameRate }, 'video');
    track.enabled = this.#publishVideo;
    track.addEventListener('ended', () => this.#onTrackEnded(track));
    await this.#replace('video', captured.video, track);
    captured.video = track;
    if (this.#ui) this.#ui.video.srcObject = new MediaStream([track]);
    const s = track.getSettings();
    if (s.width && s.height) this.#updateStream({ videoDimensions: { width: Math.round(s.width), height: Math.round(s.height) } });
    await this.#applyEncoding();
  }

  /**
   * Switches to the next camera (OpenTok.js cycleVideo), in the order the browser lists them;
   * resolves with the device now in use. With one camera it stays on it.
   */
  async cycleVideo(): Promise<{ deviceId: string }> {
    const captured = await this.#media;
    if (!captured.video || captured.videoKind !== 'camera') throw publishError('OT_NOT_SUPPORTED', 'cycleVideo needs a publisher with a camera video source');
    const cameras = (await listDevices()).filter((d) => d.kind === 'videoInput');
    if (cameras.length === 0) throw publishError('OT_NO_DEVICES_FOUND', 'No camera to cycle to');
    const current = captured.video.getSettings().deviceId;
    const next = cameras[(cameras.findIndex((d) => d.deviceId === current) + 1) % cameras.length]!;
    if (next.deviceId !== current) await this.setVideoSource(next.deviceId);
    return { deviceId: next.deviceId };
  }

  /**
   * Caps the video's bitrate, in bits per second (5,000 to 10,000,000; 0 lifts the cap), on the
   * connection to the media server or, relayed, to every subscriber.
   */
  async setMaxVideoBitrate(bitsPerSecond: number): Promise<void> {
    if (typeof bitsPerSecond !== 'number' || !Number.isFinite(bitsPerSecond) || (bitsPerSecond !== 0 && (bitsPerSecond < 5_000 || bitsPerSecond > 10_000_000))) {
      throw invalidParameter('setMaxVideoBitrate: bits per second between 5000 and 10000000, or 0 for no cap');
    }
    if (bitsPerSecond === 0) delete this.#encoding.maxBitrate;
    else this.#encoding.maxBitrate = Math.round(bitsPerSecond);
    await this.#applyEncoding();
  }

  /** Sends at most this many frames per second (1 to 60; null for the capture's rate). */
  async setPreferredFrameRate(frameRate: number | null): Promise<void> {
    if (frameRate !== null && (typeof frameRate !== 'number' || !(frameRate >= 1 && frameRate <= 60))) {
      throw invalidParameter('setPreferredFrameRate: a frame rate from 1 to 60, or null');
    }
    if (frameRate === null) delete this.#encoding.maxFramerate;
    else this.#encoding.maxFramerate = frameRate;
    await this.#applyEncoding();
  }

  /**
   * Sends the video scaled down to fit `{width, height}` (never up; null for the captured size).
   * The camera keeps capturing at its resolution; the encoder scales.
   */
  async setPreferredResolution(resolution: { width: number; height: number } | null): Promise<void> {
    if (resolution !== null && !(resolution && resolution.width >= 1 && resolution.height >= 1)) {
      throw invalidParameter('setPreferredResolution: {width, height} in pixels, or null');
    }
    if (resolution === null) delete this.#encoding.resolution;
    else this.#encoding.resolution = { width: resolution.width, height: resolution.height };
    await this.#applyEncoding();
  }

  /** Applies the encoding wishes to the video sender of each peer connection (all by default). */
  async #applyEncoding(pcs?: RTCPeerConnection[]): Promise<void> {
    const targets = pcs ?? [this.#pc, ...[...this.#relayPeers.values()].map((p) => p.pc)].filter((pc): pc is RTCPeerConnection => pc !== null);
    const wishes = this.#encoding;
    const settings = this.#captured?.video?.getSettings();
    const scale =
      wishes.resolution && settings?.width && settings.height
        ? Math.max(1, settings.width / wishes.resolution.width, settings.height / wishes.resolution.height)
        : 1;
    for (const pc of targets) {
      const sender = pc.getSenders().find((s) => s.track?.kind === 'video');
      if (!sender) continue;
      const parameters = sender.getParameters();
      if (!parameters.encodings || parameters.encodings.length === 0) continue; // not negotiated yet: applied then
      for (const encoding of parameters.encodings) {
        if (wishes.maxBitrate === undefined) delete encoding.maxBitrate;
        else encoding.maxBitrate = wishes.maxBitrate;
        if (wishes.maxFramerate === undefined) delete encoding.maxFramerate;
        else encoding.maxFramerate = wishes.maxFramerate;
        encoding.scaleResolutionDownBy = scale;
      }
      try {
        await sender.setParameters(parameters);
      } catch (err) {
        log.warn('could not apply the video encoding settings:', (err as Error).message);
      }
    }
  }

  /**
   * Video and audio filters and media processor connectors need what OT.hasMediaProcessorSupport()
   * says this SDK lacks: they reject with OT_NOT_SUPPORTED, as OpenTok.js does where it has no
   * support, and the media is sent unfiltered. Clearing (nothing is applied) resolves.
   */
  applyVideoFilter(_filter: unknown): Promise<void> {
    return Promise.reject(publishError('OT_NOT_SUPPORTED', 'Video filters are not supported by this SDK (OT.hasMediaProcessorSupport() is false)'));
  }

  applyAudioFilter(_filter: unknown): Promise<void> {
    return Promise.reject(publishError('OT_NOT_SUPPORTED', 'Audio filters are not supported by this SDK (OT.hasMediaProcessorSupport() is false)'));
  }

  setVideoMediaProcessorConnector(connector: unknown): Promise<void> {
    if (connector === null || connector === undefined) return Promise.resolve();
    return Promise.reject(publishError('OT_NOT_SUPPORTED', 'Media processors are not supported by this SDK (OT.hasMediaProcessorSupport() is false)'));
  }

  setAudioMediaProcessorConnector(connector: unknown): Promise<void> {
    return this.setVideoMediaProcessorConnector(connector);
  }

  clearVideoFilter(): Promise<void> {
    return Promise.resolve();
  }

  clearAudioFilter(): Promise<void> {
    return Promise.resolve();
  }

  /** No filter is ever applied (see applyVideoFilter). */
  getVideoFilter(): null {
    return null;
  }

  getAudioFilter(): null {
    return null;
  }

  /** The preview's current frame as a base64 PNG (no data: prefix); null before the first frame. */
  getImgData(): string | null {
    return this.#ui ? imageData(this.#ui.video) : null;
  }

  /** OpenTok.js style: nameDisplayMode, backgroundImageURI, … (see ElementStyle). */
  getStyle(): ElementStyle {
    return { ...this.#style };
  }

  /** setStyle(key, value) or setStyle({key: value, …}). */
  setStyle(keyOrStyle: keyof ElementStyle | Partial<ElementStyle>, value?: string): this {
    this.#style = mergeStyle(this.#style, keyOrStyle, value);
    this.#ui?.setStyle(this.#style);
    return this;
  }

  async #open(options: CaptureOptions, kind: 'audio' | 'video'): Promise<MediaStreamTrack> {
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

  async #replace(kind: 'audio' | 'video', old: MediaStreamTrack, track: MediaStreamTrack): Promise<void> {
    const pcs = [this.#pc, ...[...this.#relayPeers.values()].map((p) => p.pc)].filter((pc): pc is RTCPeerConnection => pc !== null);
    for (const pc of pcs) {
      const sender = pc.getSenders().find((s) => s.track === old || s.track?.kind === kind);
      await sender?.replaceTrack(track);
    }
    if (this.#captured?.owned.includes(old)) {
      old.stop();
      this.#captured.owned = this.#captured.owned.filter((t) => t !== old);
    }
  }

  #onTrackEnded(track: MediaStreamTrack): void {
    if (this.#destroyed || (track !== this.#captured?.audio && track !== this.#captured?.video)) return;
    const event = new MediaStoppedEvent(this, track);
    this.dispatchEvent(event);
    if (event.isDefaultPrevented()) return;
    // OpenTok.js: the stream ends with reason mediaStopped (e.g. "Stop sharing" in the browser).
    const ctx = this.#ctx;
    const streamId = this.#streamId;
    if (ctx && streamId) void ctx.request('unpublish', { streamId, reason: 'mediaStopped' }).catch(() => {});
  }

  /**
   * OpenTok's Publisher stats: routed, one entry for the connection to the media server; relayed,
   * one per subscriber with its connectionId and subscriberId.
   */
  getStats(callback?: (error: OTError | null, stats?: PublisherStatsEntry[]) => void): Promise<PublisherStatsEntry[]> {
    const run = async (): Promise<PublisherStatsEntry[]> => {
      if (this.#pc) return [{ stats: publisherStats(await this.#pc.getStats()) }];
      const entries: PublisherStatsEntry[] = [];
      for (const [subscriberId, peer] of this.#relayPeers) entries.push({ connectionId: peer.connectionId, subscriberId, stats: publisherStats(await peer.pc.getStats()) });
      if (!this.#ctx) throw notConnected('getStats');
      return entries;
    };
    return settle(run(), callback);
  }

  /** The raw RTCStatsReport of each peer connection (OpenTok.js getRtcStatsReport). */
  async getRtcStatsReport(): Promise<Array<{ connectionId?: string; subscriberId?: string; rtcStatsReport: RTCStatsReport }>> {
    if (this.#pc) return [{ rtcStatsReport: await this.#pc.getStats() }];
    const out = [];
    for (const [subscriberId, peer] of this.#relayPeers) out.push({ connectionId: peer.connectionId, subscriberId, rtcStatsReport: await peer.pc.getStats() });
    return out;
  }

  /** @internal Track summaries for the Inspector. */
  async _statsSummary() {
    const streamId = this.#streamId ?? undefined;
    if (this.#pc) return this.#summarizer.summarize(await this.#pc.getStats(), streamId);
    const out = [];
    for (const peer of this.#relayPeers.values()) out.push(...peer.summarizer.summarize(await peer.pc.getStats(), streamId));
    return out;
  }

  videoWidth(): number {
    return this.#ui?.video.videoWidth ?? 0;
  }

  videoHeight(): number {
    return this.#ui?.video.videoHeight ?? 0;
  }

  protected override handlerAdded(type: string): void {
    if (type !== 'audioLevelUpdated') return;
    this.#meter ??= new AudioLevelMeter(
      () => this.#captured?.audio ?? null,
      () => this.hasHandlers('audioLevelUpdated'),
      (level) => this.dispatchEvent(new AudioLevelUpdatedEvent(this, level)),
    );
    this.#meter.start();
  }

  /** Unpublishes (if publishing), stops the tracks it opened, and leaves the page. */
  destroy(): this {
    if (this.#destroyed) return this;
    this.#destroyed = true;
    const ctx = this.#ctx;
    const streamId = this.#streamId;
    if (ctx && streamId) void ctx.request('unpublish', { streamId }).catch(() => {});
    this.#teardown();
    this.#meter?.stop();
    for (const track of this.#captured?.owned ?? []) track.stop();
    this.#ui?.remove();
    this.element = undefined;
    this.dispatchEvent(new OTEvent('destroyed', this));
    return this;
  }

}

function call(handler: PublisherCompletionHandler | undefined, error: OTError | null): void {
  if (!handler) return;
  try {
    handler(error);
  } catch (err) {
    log.error('a completion handler threw:', err);
  }
}

/** A promise for callers who want one, and an (error, value) callback for those who pass it. */
export function settle<T>(promise: Promise<T>, callback?: (error: OTError | null, value?: T) => void): Promise<T> {
  if (!callback) return promise;
  promise.then(
    (value) => callback(null, value),
    (err: unknown) => callback(asOTError(err)),
  );
  return promise.catch(() => undefined as T);
}
