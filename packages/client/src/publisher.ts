// Publisher (OpenTok.js Publisher): the local camera/microphone (or screen, or the app's own
// tracks), its DOM element, and — once published — one link to the Colloquy SFU (routed sessions,
// RoutedLink) or one per subscriber (relayed sessions, peer to peer as OpenTok.js does,
// RelayedLink); the links' negotiation is in peer-link.ts, what they send is decided here.
// Routed camera video is sent as simulcast (rids q/h/f at 1/4, 1/2 and full size, fewer below
// 960x540; VP8 temporal layers L1T3 where Chromium takes scalabilityMode) so that the SFU can give
// each subscriber the layer it wants; the server pauses layers no one watches (videoLayers).
// Screen shares, custom tracks and relayed sessions send one encoding. publishAudio/publishVideo
// disable the track (silence, black) and tell the session; moderators' mutes arrive as muteForced.
// setMaxVideoBitrate, setPreferredFrameRate and setPreferredResolution shape the encodings
// (RTCRtpSender.setParameters: maxBitrate, maxFramerate, scaleResolutionDownBy) on every peer
// connection, present and future (send-encodings.ts). This file keeps capture, the DOM and the
// Publisher's API.

import type { PublishResult, StreamDestroyedReason, VideoType } from '@colloquy/protocol';
import { AudioLevelMeter } from './audio-level.js';
import { capture, isTrack, listDevices, mediaError, type AudioSourceOption, type CaptureOptions, type Captured, type VideoSourceOption } from './devices.js';
import { ExceptionCodes, OTError, asOTError, invalidParameter, notConnected, publishError, settle } from './errors.js';
import { OTEventEmitter } from './event-emitter.js';
import { AudioLevelUpdatedEvent, MediaStoppedEvent, MuteForcedEvent, OTEvent, StreamEvent, VideoElementCreatedEvent } from './events.js';
import { log } from './logger.js';
import { createMediaElement, DEFAULT_STYLE, imageData, mergeStyle, type ElementOptions, type ElementStyle, type MediaElement } from './media-element.js';
import { publisherStats, TrackSummarizer, type PublisherStatsShape } from './stats.js';
import type { Stream } from './stream.js';
import type { MediaContext } from './media-context.js';
import type { MediaProcessorConnector } from './media-processor.js';
import { RelayedLink, RoutedLink } from './peer-link.js';
import { SendEncodings } from './send-encodings.js';
import { withOpusOptions } from './sdp.js';
import { sdkAssetBase } from './script-url.js';
import { NoiseSuppressionConnector, audioWorkletSupport } from './audio-filter.js';
import { VideoFilterConnector, insertableStreams, parseAudioFilter, parseVideoFilter, type AudioFilter, type VideoFilter } from './video-filter.js';

/** Every Publisher of the page not yet destroyed (OT.publishers). */
export const livePublishers = new Set<Publisher>();

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
  /**
   * Caption this stream's audio while live captions run for the session (started by the app
   * server's REST call); subscribers that subscribeToCaptions receive them. Default false.
   */
  publishCaptions?: boolean;
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
  /**
   * Sends stereo Opus (`stereo=1; sprop-stereo=1`), through the SFU and peer to peer; the
   * microphone is asked for two channels. For true stereo also set disableAudioProcessing (echo
   * cancellation mixes down to mono), or pass a stereo MediaStreamTrack as audioSource.
   */
  enableStereo?: boolean;
  /** The audio's target bitrate, 6,000 to 510,000 bps (Opus `maxaveragebitrate` and the sender's maxBitrate). Default: the browser's (about 32 kbps mono). */
  audioBitrate?: number;
  /**
   * A video filter applied from the start (as applyVideoFilter): the stream is published once the
   * filter runs, so the unfiltered camera is never sent. Invalid or unsupported: a warning, no filter.
   */
  videoFilter?: VideoFilter;
  /** An audio filter applied from the start (as applyAudioFilter); invalid or unsupported: a warning, no filter. */
  audioFilter?: AudioFilter;
  /**
   * OpenTok.js's audio fallback. `subscriber` (default true): in routed sessions the SFU may stop
   * sending this stream's video to a subscriber whose downlink cannot carry even its lowest
   * layer (the subscriber gets videoDisabled with reason 'quality', and keeps the audio).
   * `publisher` (default false): accepted, but publisher-side fallback is not implemented.
   */
  audioFallback?: { publisher?: boolean; subscriber?: boolean };
}

/** OpenTok.js's audioBitrate range (bits per second). */
const AUDIO_BITRATE_MIN = 6_000;
const AUDIO_BITRATE_MAX = 510_000;

export type PublisherCompletionHandler = (error?: OTError | null) => void;

interface PublisherStatsEntry {
  connectionId?: string;
  subscriberId?: string;
  stats: PublisherStatsShape;
}

interface RelayPeer {
  link: RelayedLink;
  connectionId: string;
  summarizer: TrackSummarizer;
}

let publisherCount = 0;

export class Publisher extends OTEventEmitter<PublisherEventMap> {
  /** The container element (undefined with insertDefaultUI: false). */
  element: HTMLElement | undefined;
  /** The element's id (a generated one with insertDefaultUI: false). */
  readonly id: string;
  /** This publisher's stream, while it is published. */
  stream: Stream | undefined;
  /** True once the browser granted camera/microphone (or screen) access. */
  accessAllowed = false;
  /** The session it publishes to (once session.publish was called). */
  session: MediaContext['session'] | undefined;
  readonly #props: PublisherProperties;
  readonly #media: Promise<Captured>;
  #captured: Captured | null = null;
  #ui: MediaElement | null = null;
  #publishAudio: boolean;
  #publishVideo: boolean;
  #publishCaptions: boolean;
  #ctx: MediaContext | null = null;
  #streamId: string | null = null;
  #link: RoutedLink | null = null;
  #summarizer = new TrackSummarizer();
  readonly #relayPeers = new Map<string, RelayPeer>();
  #publishDone: ((error: OTError | null) => void) | null = null;
  #meter: AudioLevelMeter | null = null;
  #destroyed = false;
  #style: ElementStyle;
  /** How our tracks are sent on each link: transceivers, simulcast, the app's encoding wishes. */
  readonly #send: SendEncodings;
  /** Media processor connectors in use, with the unprocessed track each was given. */
  readonly #connectors: Record<'audio' | 'video', { connector: MediaProcessorConnector; source: MediaStreamTrack } | null> = { audio: null, video: null };
  /** The built-in video filter in use (it is also the video's media processor connector). */
  #videoFilter: VideoFilterConnector | null = null;
  #filterQueue: Promise<void> = Promise.resolve();
  /** The built-in audio filter in use (the audio's media processor connector). */
  #audioFilter: NoiseSuppressionConnector | null = null;
  /** The initPublisher videoFilter/audioFilter being applied: publish waits for them. */
  #initialFilter: Promise<void> = Promise.resolve();

  /** @internal use OT.initPublisher */
  constructor(target: unknown, props: PublisherProperties = {}, completion?: PublisherCompletionHandler) {
    super();
    this.#props = { ...props };
    this.id = `OT_publisher_${++publisherCount}`;
    this.#publishAudio = props.publishAudio !== false;
    this.#publishVideo = props.publishVideo !== false;
    this.#publishCaptions = props.publishCaptions === true;
    this.#style = mergeStyle(DEFAULT_STYLE, props.style ?? {});
    let audioBitrate: number | undefined;
    if (props.audioBitrate !== undefined) {
      const bps = props.audioBitrate;
      if (typeof bps === 'number' && Number.isFinite(bps) && bps >= AUDIO_BITRATE_MIN && bps <= AUDIO_BITRATE_MAX) audioBitrate = Math.round(bps);
      else log.warn(`initPublisher: audioBitrate must be ${AUDIO_BITRATE_MIN} to ${AUDIO_BITRATE_MAX} bps; ignoring ${String(bps)}`);
    }
    this.#send = new SendEncodings(audioBitrate, () => this.#cameraTrack());
    livePublishers.add(this);
    this.#media = capture(props);
    if (props.videoFilter !== undefined) {
      this.#initialFilter = this.#media.then(
        () => this.applyVideoFilter(props.videoFilter).catch((err: OTError) => log.warn(`initPublisher: videoFilter not applied (${err.name}): ${err.message}`)),
        () => {},
      );
    }
    if (props.audioFilter !== undefined) {
      const video = this.#initialFilter;
      this.#initialFilter = this.#media.then(
        async () => {
          await video;
          await this.applyAudioFilter(props.audioFilter).catch((err: OTError) => log.warn(`initPublisher: audioFilter not applied (${err.name}): ${err.message}`));
        },
        () => {},
      );
    }
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
      await this.#initialFilter;
      if (this.#destroyed || this.#ctx !== ctx) throw publishError('OT_UNABLE_TO_PUBLISH', 'The publisher was destroyed before it could publish');
      if (!captured.audio && !captured.video) throw publishError('OT_UNABLE_TO_PUBLISH', 'Nothing to publish: both audioSource and videoSource are off');
      const body = this.#publishBody(captured);
      const e2ee = ctx.e2ee;
      if (e2ee) await ctx.keyReady();
      if (this.#destroyed || this.#ctx !== ctx) throw publishError('OT_UNABLE_TO_PUBLISH', 'The publisher was destroyed before it could publish');
      if (e2ee && !e2ee.keyring.current) {
        throw publishError('OT_ENCRYPTION_SECRET_MISSING', 'This session is end-to-end encrypted: set an encryption secret (OT.initSession option encryptionSecret or session.setEncryptionSecret) before publishing');
      }
      let result: PublishResult;
      if (ctx.mediaMode === 'routed') {
        const link = new RoutedLink(ctx, (state) => this.#onRoutedState(link, state));
        const pc = link.pc;
        this.#link = link;
        this.#send.addTracks(pc, captured, true);
        if (e2ee) {
          // e2ee: frames are encrypted before they are packetized; the SFU only forwards them.
          for (const transceiver of pc.getTransceivers()) {
            const kind = transceiver.sender.track?.kind === 'audio' ? 'audio' : 'video';
            e2ee.encryptSender(transceiver.sender, kind, (message) => log.warn(`e2ee: a frame transform stopped: ${message}`));
          }
        }
        const sdp = await link.offer(this.#offerWithOpusOptions);
        result = await ctx.request('publish', { ...body, sdp, ...(e2ee ? { e2ee: true } : {}) });
        if (this.#link !== link) return;
        await link.accept({ type: 'answer', sdp: this.#answerWithOpusOptions(result.sdp!) });
        await this.#send.apply([pc]);
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
      if (this.#publishCaptions !== body.publishCaptions) this.#updateStream({ publishCaptions: this.#publishCaptions });
    } catch (err) {
      this.#finishPublish(asOTError(err, ExceptionCodes.UNABLE_TO_PUBLISH, 'OT_UNABLE_TO_PUBLISH'));
      this.#teardown();
    }
  }

  #publishBody(captured: Captured) {
    const settings = this.#cameraTrack()?.getSettings();
    const videoType: VideoType | null = captured.video ? (captured.videoKind === 'custom' ? (this.#props.videoType ?? 'custom') : (captured.videoKind ?? 'camera')) : null;
    return {
      name: String(this.#props.name ?? '').slice(0, 1000),
      videoType,
      hasAudio: !!captured.audio && this.#publishAudio,
      hasVideo: !!captured.video && this.#publishVideo,
      videoDimensions: settings?.width && settings.height ? { width: Math.round(settings.width), height: Math.round(settings.height) } : null,
      frameRate: captured.video ? Math.round(this.#props.frameRate ?? settings?.frameRate ?? 30) : null,
      publishCaptions: this.#publishCaptions,
      ...(this.#props.audioFallback ? { audioFallback: audioFallbackOption(this.#props.audioFallback) } : {}),
    };
  }

  /**
   * @internal Routed simulcast: which of our encodings someone watches (the server's videoLayers).
   * The others stop being encoded and sent until someone needs them again.
   */
  _videoLayers(layers: { rid: string; active: boolean }[]): void {
    this.#send.setLayers(layers);
    if (this.#link) void this.#send.apply([this.#link.pc]);
  }

  #onRoutedState(link: RoutedLink, state: RTCPeerConnectionState): void {
    if (link !== this.#link) return;
    if (state === 'failed') {
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

  /** Our offer; with enableStereo its Opus says stereo=1; sprop-stereo=1 (the SFU passes that on to subscribers). */
  readonly #offerWithOpusOptions = (sdp: string): string => (this.#props.enableStereo === true ? withOpusOptions(sdp, { stereo: true }) : sdp);

  /**
   * The receiver's answer as our encoder must read it: Chromium's Opus encoder takes its channel
   * count and target bitrate from the remote description, so enableStereo and audioBitrate are
   * written there (and a subscriber's stereo=1 is dropped when we publish mono).
   */
  #answerWithOpusOptions(sdp: string): string {
    return withOpusOptions(sdp, { stereo: this.#props.enableStereo === true, maxAverageBitrate: this.#send.audioBitrate ?? null });
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

  /**
   * @internal Cluster mode: the session joined again on another node and our stream was lost with
   * the old one. The same media is published again (a new stream); the publisher stays on the page.
   */
  _republish(ctx: MediaContext): void {
    this.#teardown();
    void this._publish(ctx, (error) => {
      if (error) log.warn('publishing again after the session moved failed:', error.message);
    });
  }

  /** Drops the session side: peer connections, the stream. Media and DOM stay (reuse is allowed). */
  #teardown(): void {
    this.#ctx?.unregisterPublisher(this);
    this.#link?.close();
    this.#link = null;
    for (const peer of this.#relayPeers.values()) peer.link.close();
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
    const link = new RelayedLink(ctx, subscriberId, (state) => {
      if (state === 'failed') {
        ctx.reportError(new OTError(ExceptionCodes.P2P_CONNECTION_FAILED, 'OT_P2P_CONNECTION_FAILED', `Peer-to-peer connection to subscriber ${subscriberId} failed`), this.#streamId ?? undefined);
      }
    });
    this.#relayPeers.set(subscriberId, { link, connectionId, summarizer: new TrackSummarizer() });
    this.#send.addTracks(link.pc, captured);
    try {
      const sdp = await link.offer(this.#offerWithOpusOptions);
      await this.#send.apply([link.pc]);
      await link.send({ type: 'offer', sdp });
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
        await peer.link.accept(description.type === 'answer' && description.sdp ? { type: 'answer', sdp: this.#answerWithOpusOptions(description.sdp) } : description);
      } else if (candidate) {
        await peer.link.addCandidate(candidate);
      }
    } catch (err) {
      log.warn('relayed negotiation failed:', err);
    }
  }

  /** @internal Relayed: that subscriber is gone. */
  _relayEnd(subscriberId: string): void {
    this.#relayPeers.get(subscriberId)?.link.close();
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

  /**
   * Captions this stream's audio (or stops), while live captions run for the session: the stream's
   * hasCaptions follows, with streamPropertyChanged.
   */
  publishCaptions(value: boolean): this {
    this.#publishCaptions = value === true;
    this.#updateStream({ publishCaptions: this.#publishCaptions });
    return this;
  }

  #updateStream(changes: { hasAudio?: boolean; hasVideo?: boolean; videoDimensions?: { width: number; height: number }; publishCaptions?: boolean }): void {
    const ctx = this.#ctx;
    const streamId = this.#streamId;
    if (!ctx || !streamId) return;
    ctx.request('updateStream', { streamId, ...changes }).catch((err: OTError) => log.warn('stream update failed:', err.message));
  }

  /**
   * The camera's (or custom) video track: the one sent, or under a filter or media processor the
   * one it reads, whose settings (size, device) the processed track does not report.
   */
  #cameraTrack(): MediaStreamTrack | null {
    return this.#connectors.video?.source ?? this.#captured?.video ?? null;
  }

  /** The microphone track (OpenTok.js getAudioSource). */
  getAudioSource(): MediaStreamTrack | null {
    return this.#captured?.audio ?? null;
  }

  /** The video source: device id, kind and track (OpenTok.js getVideoSource); `track` is null while publishVideo(false). */
  getVideoSource(): { deviceId: string | null; type: 'camera' | 'screen' | 'custom' | null; track: MediaStreamTrack | null } {
    const track = this.#captured?.video ?? null;
    return { deviceId: this.#cameraTrack()?.getSettings().deviceId ?? null, type: this.#captured?.videoKind ?? null, track: this.#publishVideo ? track : null };
  }

  /** Switches the microphone: a device id or a MediaStreamTrack. The stream stays published (replaceTrack). */
  async setAudioSource(source: string | MediaStreamTrack): Promise<void> {
    const captured = await this.#media;
    if (!captured.audio) throw publishError('OT_NOT_SUPPORTED', 'This publisher was created without audio');
    const track = isTrack(source) ? source : await this.#open({ audioSource: source, videoSource: null }, 'audio');
    const sent = await this.#processed('audio', track);
    sent.enabled = this.#publishAudio;
    await this.#replace('audio', captured.audio, sent);
    captured.audio = sent;
  }

  /** A new camera/microphone track goes through that kind's media processor, if one is set: the track to send. */
  async #processed(kind: 'audio' | 'video', track: MediaStreamTrack): Promise<MediaStreamTrack> {
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

  /** Switches the camera: a device id or a MediaStreamTrack (camera publishers only, as in OpenTok.js). */
  async setVideoSource(source: string | MediaStreamTrack): Promise<void> {
    const captured = await this.#media;
    if (!captured.video || captured.videoKind === 'screen') throw publishError('OT_NOT_SUPPORTED', 'setVideoSource needs a publisher with a camera video source');
    const track = isTrack(source) ? source : await this.#open({ videoSource: source, audioSource: null, resolution: this.#props.resolution, frameRate: this.#props.frameRate }, 'video');
    track.addEventListener('ended', () => this.#onTrackEnded(track));
    const sent = await this.#processed('video', track);
    sent.enabled = this.#publishVideo;
    await this.#replace('video', captured.video, sent);
    captured.video = sent;
    if (this.#ui) this.#ui.video.srcObject = new MediaStream([sent]);
    const s = track.getSettings();
    if (s.width && s.height) this.#updateStream({ videoDimensions: { width: Math.round(s.width), height: Math.round(s.height) } });
    await this.#send.apply(this.#peerConnections());
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
    const current = this.#cameraTrack()?.getSettings().deviceId;
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
    if (bitsPerSecond === 0) delete this.#send.wishes.maxBitrate;
    else this.#send.wishes.maxBitrate = Math.round(bitsPerSecond);
    await this.#send.apply(this.#peerConnections());
  }

  /** Sends at most this many frames per second (1 to 60; null for the capture's rate). */
  async setPreferredFrameRate(frameRate: number | null): Promise<void> {
    if (frameRate !== null && (typeof frameRate !== 'number' || !(frameRate >= 1 && frameRate <= 60))) {
      throw invalidParameter('setPreferredFrameRate: a frame rate from 1 to 60, or null');
    }
    if (frameRate === null) delete this.#send.wishes.maxFramerate;
    else this.#send.wishes.maxFramerate = frameRate;
    await this.#send.apply(this.#peerConnections());
  }

  /**
   * Sends the video scaled down to fit `{width, height}` (never up; null for the captured size).
   * The camera keeps capturing at its resolution; the encoder scales.
   */
  async setPreferredResolution(resolution: { width: number; height: number } | null): Promise<void> {
    if (resolution !== null && !(resolution && resolution.width >= 1 && resolution.height >= 1)) {
      throw invalidParameter('setPreferredResolution: {width, height} in pixels, or null');
    }
    if (resolution === null) delete this.#send.wishes.resolution;
    else this.#send.wishes.resolution = { width: resolution.width, height: resolution.height };
    await this.#send.apply(this.#peerConnections());
  }

  /** The peer connections sending our media: the SFU's (routed) or one per subscriber (relayed). */
  #peerConnections(): RTCPeerConnection[] {
    return [...(this.#link ? [this.#link.pc] : []), ...[...this.#relayPeers.values()].map((p) => p.link.pc)];
  }

  /**
   * Background blur (`{type: 'backgroundBlur', blurStrength: 'low' | 'high'}`, default 'high') or
   * replacement (`{type: 'backgroundReplacement', backgroundImgUrl}`) of the camera video, sent and
   * previewed instead of the camera's (replaceTrack, no renegotiation). The person is found by
   * MediaPipe Selfie Segmentation, loaded from the Colloquy server beside this script the first time
   * a filter is applied; resolves once the filter gives its first frame. Rejects with
   * OT_INVALID_PARAMETER for a bad filter (or a background image that does not load), and with
   * OT_NOT_SUPPORTED where the browser lacks insertable streams (OT.hasMediaProcessorSupport()),
   * for a screen-sharing or video-less publisher, or when the model cannot load. A new filter
   * replaces the current one (and a media processor connector).
   */
  async applyVideoFilter(filter: unknown): Promise<void> {
    const parsed = parseVideoFilter(filter);
    const streams = insertableStreams();
    if (!streams) throw publishError('OT_NOT_SUPPORTED', 'Video filters need insertable streams (MediaStreamTrackProcessor), which this browser lacks');
    // One filter change at a time: two racing applies would each start a pipeline on the camera.
    return this.#filterChange(async () => {
      const captured = await this.#media;
      if (!captured.video) throw publishError('OT_NOT_SUPPORTED', 'This publisher has no video to filter');
      if (captured.videoKind === 'screen' || (captured.videoKind === 'custom' && this.#props.videoType === 'screen')) {
        throw publishError('OT_NOT_SUPPORTED', 'Video filters apply to camera video, not to a screen-sharing publisher');
      }
      // A filter already running switches in place (same model, same sent track).
      if (this.#videoFilter) return this.#videoFilter.setFilter(parsed);
      const connector = new VideoFilterConnector(parsed, sdkAssetBase('mediapipe'), streams);
      await this.#setConnector('video', connector);
      this.#videoFilter = connector;
    });
  }

  #filterChange(run: () => Promise<void>): Promise<void> {
    const next = this.#filterQueue.then(run, run);
    this.#filterQueue = next.catch(() => {});
    return next;
  }

  /** The filter in use (a copy), or null. */
  getVideoFilter(): VideoFilter | null {
    return this.#videoFilter?.filter ?? null;
  }

  /** @internal Colloquy: the running filter's frame and segmentation counts (tests, benchmark), or null. */
  _videoFilterStats() {
    return this.#videoFilter?.stats() ?? null;
  }

  /** Goes back to the camera's own picture (resolves when no filter is applied too). */
  clearVideoFilter(): Promise<void> {
    return this.#filterChange(async () => {
      if (this.#videoFilter) await this.#setConnector('video', null);
    });
  }

  /**
   * `{type: 'advancedNoiseSuppression'}`: the microphone through RNNoise (a neural-network noise
   * suppressor; its wasm and AudioWorklet come from the Colloquy server, /v2/js/noise-suppressor/),
   * sent instead of the raw microphone (replaceTrack). Rejects with OT_INVALID_PARAMETER for another
   * filter, OT_NOT_SUPPORTED without AudioWorklet, for a publisher without audio, or when the
   * suppressor cannot load. Applying it again while it runs resolves.
   */
  async applyAudioFilter(filter: unknown): Promise<void> {
    parseAudioFilter(filter);
    if (!audioWorkletSupport()) throw publishError('OT_NOT_SUPPORTED', 'advancedNoiseSuppression needs AudioWorklet, which this browser lacks');
    return this.#filterChange(async () => {
      const captured = await this.#media;
      if (!captured.audio) throw publishError('OT_NOT_SUPPORTED', 'This publisher has no audio to filter');
      if (this.#audioFilter) return;
      const connector = new NoiseSuppressionConnector(sdkAssetBase('noise-suppressor'));
      await this.#setConnector('audio', connector);
      this.#audioFilter = connector;
    });
  }

  /** `{type: 'advancedNoiseSuppression'}` while it runs, else null. */
  getAudioFilter(): AudioFilter | null {
    return this.#audioFilter ? { type: 'advancedNoiseSuppression' } : null;
  }

  /** Goes back to the microphone's own sound (resolves when no filter is applied too). */
  clearAudioFilter(): Promise<void> {
    return this.#filterChange(async () => {
      if (this.#audioFilter) await this.#setConnector('audio', null);
    });
  }

  /**
   * Sends the video through a media processor connector (the interface of Vonage's
   * `@vonage/media-processor`): `connector.setTrack(cameraTrack)` resolves with the processed track,
   * which replaces the sent one (replaceTrack, no renegotiation) and the preview. `null` goes back
   * to the camera and calls the connector's `destroy()`.
   */
  setVideoMediaProcessorConnector(connector: MediaProcessorConnector | null): Promise<void> {
    return this.#setConnector('video', connector);
  }

  /** The same for the microphone. */
  setAudioMediaProcessorConnector(connector: MediaProcessorConnector | null): Promise<void> {
    return this.#setConnector('audio', connector);
  }

  async #setConnector(kind: 'audio' | 'video', connector: MediaProcessorConnector | null | undefined): Promise<void> {
    if (connector !== null && connector !== undefined && (typeof connector !== 'object' || typeof connector.setTrack !== 'function')) {
      throw invalidParameter('a media processor connector has setTrack(track) (resolving with the processed track) and destroy()');
    }
    const captured = await this.#media;
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
    next.enabled = kind === 'audio' ? this.#publishAudio : this.#publishVideo;
    // The camera/microphone keeps running under the processor: the old sent track is not stopped.
    await this.#replace(kind, current, next, { stopOld: false });
    captured[kind] = next;
    this.#connectors[kind] = connector ? { connector, source } : null;
    // apply…Filter sets it again after this; a connector of the app's replaces a filter.
    if (kind === 'video') this.#videoFilter = null;
    else this.#audioFilter = null;
    if (kind === 'video' && this.#ui) this.#ui.video.srcObject = new MediaStream([next]);
    if (previous && previous.connector !== connector) await previous.connector.destroy?.();
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

  async #replace(kind: 'audio' | 'video', old: MediaStreamTrack, track: MediaStreamTrack, options: { stopOld?: boolean } = {}): Promise<void> {
    const pcs = this.#peerConnections();
    for (const pc of pcs) {
      const sender = pc.getSenders().find((s) => s.track === old || s.track?.kind === kind);
      await sender?.replaceTrack(track);
    }
    if (options.stopOld !== false && this.#captured?.owned.includes(old)) {
      old.stop();
      this.#captured.owned = this.#captured.owned.filter((t) => t !== old);
    }
  }

  #onTrackEnded(track: MediaStreamTrack): void {
    // The track sent, or the camera/microphone under a media processor.
    const inUse = [this.#captured?.audio, this.#captured?.video, this.#connectors.audio?.source, this.#connectors.video?.source];
    if (this.#destroyed || !inUse.includes(track)) return;
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
      if (this.#link) return [{ stats: publisherStats(await this.#link.pc.getStats()) }];
      const entries: PublisherStatsEntry[] = [];
      for (const [subscriberId, peer] of this.#relayPeers) entries.push({ connectionId: peer.connectionId, subscriberId, stats: publisherStats(await peer.link.pc.getStats()) });
      if (!this.#ctx) throw notConnected('getStats');
      return entries;
    };
    return settle(run(), callback);
  }

  /** The raw RTCStatsReport of each peer connection (OpenTok.js getRtcStatsReport). */
  async getRtcStatsReport(): Promise<Array<{ connectionId?: string; subscriberId?: string; rtcStatsReport: RTCStatsReport }>> {
    if (this.#link) return [{ rtcStatsReport: await this.#link.pc.getStats() }];
    const out = [];
    for (const [subscriberId, peer] of this.#relayPeers) out.push({ connectionId: peer.connectionId, subscriberId, rtcStatsReport: await peer.link.pc.getStats() });
    return out;
  }

  /** @internal Track summaries for the Inspector. */
  async _statsSummary() {
    const streamId = this.#streamId ?? undefined;
    if (this.#link) return this.#summarizer.summarize(await this.#link.pc.getStats(), streamId);
    const out = [];
    for (const peer of this.#relayPeers.values()) out.push(...peer.summarizer.summarize(await peer.link.pc.getStats(), streamId));
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
    livePublishers.delete(this);
    const ctx = this.#ctx;
    const streamId = this.#streamId;
    if (ctx && streamId) void ctx.request('unpublish', { streamId }).catch(() => {});
    this.#teardown();
    this.#meter?.stop();
    this.#videoFilter = null;
    this.#audioFilter = null;
    for (const kind of ['audio', 'video'] as const) {
      const used = this.#connectors[kind];
      this.#connectors[kind] = null;
      if (used) void Promise.resolve(used.connector.destroy?.()).catch((err: unknown) => log.warn('a media processor connector failed to stop:', err));
    }
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

/** The audioFallback option as the server takes it: booleans only (anything else is left out). */
function audioFallbackOption(option: { publisher?: unknown; subscriber?: unknown }): { publisher?: boolean; subscriber?: boolean } {
  return {
    ...(typeof option.publisher === 'boolean' ? { publisher: option.publisher } : {}),
    ...(typeof option.subscriber === 'boolean' ? { subscriber: option.subscriber } : {}),
  };
}
