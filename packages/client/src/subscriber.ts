// Subscriber (OpenTok.js Subscriber): one remote stream played in the page, over its own link
// (peer-link.ts) — to the Colloquy SFU in routed sessions (RoutedLink: the SFU offers, we answer),
// or straight to the publisher's browser in relayed ones (RelayedLink: the publisher offers
// through the server's relay).
// subscribeToAudio/Video(false) stops the SFU sending that track (routed) and disables it locally.
// preferredResolution (routed) picks, at the SFU and for this subscriber alone, the publisher's
// simulcast layer that covers it; a stream sent as one encoding has nothing to choose from.
// preferredFrameRate (routed) picks, at the SFU and for this subscriber alone, the VP8 temporal
// layers whose frame rate covers it (the SDK sends routed video with L1T3: a quarter, half or
// all of the frames). restrictFrameRate(true) (routed) asks for the lowest of them whatever the
// preference: the base layer, a quarter of the publisher's frames (OpenTok's Media Router goes
// down to about one a second; below the base layer a VP8 decoder would need a keyframe a second,
// which every subscriber of the layer would pay for).

import type { StreamDestroyedReason, VideoDimensions } from '@colloquy/protocol';
import { AudioLevelMeter } from './audio-level.js';
import { applyAudioOutput } from './audio-output.js';
import { ExceptionCodes, OTError, asOTError, settle, subscribeError } from './errors.js';
import { OTEventEmitter } from './event-emitter.js';
import { SecretMatchTracker } from './e2ee/frame-crypto.js';
import { AudioLevelUpdatedEvent, CaptionReceivedEvent, EncryptionSecretEvent, OTEvent, VideoDimensionsChangedEvent, VideoElementCreatedEvent, VideoEnabledChangedEvent, type VideoChangeReason } from './events.js';
import { log } from './logger.js';
import type { MediaContext } from './media-context.js';
import { RelayedLink, RoutedLink } from './peer-link.js';
import { createMediaElement, DEFAULT_STYLE, imageData, mergeStyle, play, type ElementOptions, type ElementStyle, type MediaElement } from './media-element.js';
import { withOpusOptions } from './sdp.js';
import { subscriberStats, TrackSummarizer, type SubscriberStatsShape } from './stats.js';
import type { Stream } from './stream.js';

export interface SubscriberEventMap {
  connected: OTEvent<Subscriber>;
  disconnected: OTEvent<Subscriber>;
  destroyed: OTEvent<Subscriber>;
  audioLevelUpdated: AudioLevelUpdatedEvent<Subscriber>;
  audioBlocked: OTEvent<Subscriber>;
  audioUnblocked: OTEvent<Subscriber>;
  videoDisabled: VideoEnabledChangedEvent<Subscriber>;
  videoEnabled: VideoEnabledChangedEvent<Subscriber>;
  videoDisableWarning: OTEvent<Subscriber>;
  videoDisableWarningLifted: OTEvent<Subscriber>;
  videoElementCreated: VideoElementCreatedEvent<Subscriber>;
  videoDimensionsChanged: VideoDimensionsChangedEvent<Subscriber>;
  /** e2ee sessions: this stream's frames do not decrypt with your secret (another secret, or none). */
  encryptionSecretMismatch: EncryptionSecretEvent<Subscriber>;
  /** e2ee sessions: the frames decrypt again after a mismatch. */
  encryptionSecretMatch: EncryptionSecretEvent<Subscriber>;
  captionReceived: CaptionReceivedEvent<Subscriber>;
}

/** session.subscribe options (OpenTok.js SubscriberProperties). */
export interface SubscriberProperties extends ElementOptions {
  /** Default true. */
  subscribeToAudio?: boolean;
  /** Default true. */
  subscribeToVideo?: boolean;
  /** 0 to 100 (default 50, as OpenTok.js). */
  audioVolume?: number;
  /** Routed: the SFU sends the smallest simulcast layer covering this size ('auto': the best). */
  preferredResolution?: { width: number; height: number } | 'auto';
  /** Kept, not applied: the SFU does not pick temporal layers yet. */
  preferredFrameRate?: number;
  /** Receive the stream's live captions from the start (captionReceived). Default false. */
  subscribeToCaptions?: boolean;
  /**
   * Routed (default true): when this subscriber's downlink cannot carry even the stream's lowest
   * layer, the SFU stops its video and keeps the audio (videoDisabled, reason 'quality'), and
   * restarts it when the link recovers (videoEnabled). False: video only goes down to the
   * lowest layer. The publisher's audioFallback.subscriber: false also turns it off.
   */
  audioFallbackEnabled?: boolean;
}

/**
 * Our answer, saying `stereo=1` for Opus: Chromium decodes two channels only when its own
 * description says so, and a stereo publisher (enableStereo) must be heard in stereo. A mono
 * publisher keeps sending mono (its SDK drops the flag from the answer it reads).
 */
function stereoAnswer(sdp: string): string {
  return withOpusOptions(sdp, { stereo: true });
}

/** Every live subscriber of the page, for OT.unblockAudio() and OT.subscribers. */
export const liveSubscribers = new Set<Subscriber>();

/** How long a subscriber's media may take to connect before subscribe fails (1554 / 1013). */
const CONNECT_TIMEOUT_MS = 20_000;
/** Times in a row the SDK subscribes again after the server lost a subscription's media (see _reconnect). */
const MAX_RECONNECTS = 3;

export class Subscriber extends OTEventEmitter<SubscriberEventMap> {
  /** The container element (undefined with insertDefaultUI: false). */
  element: HTMLElement | undefined;
  readonly id: string;
  readonly stream: Stream;
  /** The Session it belongs to. */
  readonly session: MediaContext['session'];
  readonly #props: SubscriberProperties;
  readonly #ctx: MediaContext;
  readonly #ui: MediaElement;
  readonly #media = new MediaStream();
  /** To the SFU (routed), or to the publisher's browser (relayed: made once the subscriber id is known). */
  #link: RoutedLink | RelayedLink | null = null;
  #subscriberId: string | null = null;
  /** Subscribes again since the last time the media connected. */
  #reconnects = 0;
  #subscribeToAudio: boolean;
  #subscribeToVideo: boolean;
  #subscribeToCaptions: boolean;
  #done: ((error: OTError | null) => void) | null;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #summarizer = new TrackSummarizer();
  #meter: AudioLevelMeter | null = null;
  #audioBlocked = false;
  #destroyed = false;
  #style: ElementStyle;
  #preferredResolution: { width: number; height: number } | 'auto';
  #preferredFrameRate: number | null;
  #frameRateRestricted = false;
  /** e2ee: turns frames that do or do not decrypt into encryptionSecretMatch/Mismatch. */
  readonly #secretMatch = new SecretMatchTracker((state) => {
    if (this.#destroyed) return;
    this.dispatchEvent(new EncryptionSecretEvent(state === 'match' ? 'encryptionSecretMatch' : 'encryptionSecretMismatch', this, this));
    this.#ctx.secretMatch(this, state);
  });
  /** The SFU stopped the video for lack of downlink bandwidth (videoDisabled, reason quality). */
  #qualityDisabled = false;

  /** @internal use session.subscribe */
  constructor(stream: Stream, target: unknown, props: SubscriberProperties, ctx: MediaContext, done: (error: OTError | null) => void) {
    super();
    this.stream = stream;
    this.#props = props;
    this.#ctx = ctx;
    this.session = ctx.session;
    this.#done = done;
    this.#subscribeToAudio = props.subscribeToAudio !== false;
    this.#subscribeToVideo = props.subscribeToVideo !== false;
    this.#subscribeToCaptions = props.subscribeToCaptions === true;
    this.#style = mergeStyle(DEFAULT_STYLE, props.style ?? {});
    this.#preferredResolution = wantedResolution(props.preferredResolution);
    this.#preferredFrameRate = wantedFrameRate(props.preferredFrameRate);
    this.#ui = createMediaElement('subscriber', target, { ...props, style: this.#style }, false);
    this.element = this.#ui.container ?? undefined;
    this.id = this.element?.id ?? `OT_subscriber_${stream.streamId}`;
    this.#ui.setName(stream.name);
    this.#ui.setVideoDisabled(!stream.hasVideo || !this.#subscribeToVideo);
    this.#ui.video.srcObject = this.#media;
    this.setAudioVolume(props.audioVolume ?? 50);
    void applyAudioOutput(this.#ui.video).catch((err: Error) => log.warn('could not use the chosen audio output:', err.message));
    liveSubscribers.add(this);
    // After subscribe() returns, so handlers attached to the returned subscriber see it.
    setTimeout(() => {
      if (!this.#destroyed) this.dispatchEvent(new VideoElementCreatedEvent(this, this.#ui.video));
    }, 0);
    void this.#start();
  }

  async #start(): Promise<void> {
    const ctx = this.#ctx;
    if (ctx.e2ee) await ctx.keyReady();
    if (this.#destroyed) return;
    if (ctx.e2ee && !ctx.e2ee.keyring.current) {
      this.#fail(subscribeError('OT_ENCRYPTION_SECRET_MISSING', 'This session is end-to-end encrypted: set an encryption secret (OT.initSession option encryptionSecret or session.setEncryptionSecret) before subscribing'));
      return;
    }
    this.#timer = setTimeout(() => this.#fail(this.#connectError('did not connect in time')), CONNECT_TIMEOUT_MS);
    try {
      const asked = this.#preferredResolution;
      const askedFrameRate = this.#askedFrameRate();
      const askedCaptions = this.#subscribeToCaptions;
      const result = await ctx.request('subscribe', {
        streamId: this.stream.streamId,
        subscribeToAudio: this.#subscribeToAudio,
        subscribeToVideo: this.#subscribeToVideo,
        ...(askedCaptions ? { subscribeToCaptions: true } : {}),
        ...(asked === 'auto' ? {} : { preferredResolution: asked }),
        ...(askedFrameRate === null ? {} : { preferredFrameRate: askedFrameRate }),
        ...(this.#props.audioFallbackEnabled === false ? { audioFallbackEnabled: false } : {}),
      });
      if (this.#destroyed) {
        void ctx.request('unsubscribe', { subscriberId: result.subscriberId }).catch(() => {});
        return;
      }
      this.#subscriberId = result.subscriberId;
      // Relayed: the link exists before the publisher's offer and candidates can arrive (_relay).
      if (ctx.mediaMode === 'relayed') {
        const subscriberId = result.subscriberId;
        this.#open((onState) => new RelayedLink(ctx, subscriberId, onState));
      }
      // subscribeToCaptions called while the subscribe was on its way: the server hears it now.
      if (this.#subscribeToCaptions !== askedCaptions) {
        ctx.request('updateSubscriber', { subscriberId: result.subscriberId, subscribeToCaptions: this.#subscribeToCaptions }).catch((err: OTError) => log.warn('subscriber update failed:', err.message));
      }
      ctx.registerSubscriber(this, result.subscriberId);
      // Its publisher's video is off for quality (publisher audio fallback) as we start.
      if (result.videoDisabledForQuality === true) this._videoQuality('videoDisabled');
      // setPreferredResolution while the subscribe was on its way: tell the server now.
      const wanted = this.#preferredResolution;
      if (wanted !== asked) this.#updateSubscriber({ preferredResolution: wanted === 'auto' ? null : wanted });
      if (this.#askedFrameRate() !== askedFrameRate) this.#updateSubscriber({ preferredFrameRate: this.#askedFrameRate() });
      if (ctx.mediaMode === 'routed') {
        const link = this.#open((onState) => new RoutedLink(ctx, onState));
        await link.accept({ type: 'offer', sdp: result.sdp! });
        await ctx.request('answer', { subscriberId: result.subscriberId, sdp: await link.answer(stereoAnswer) });
      }
      // Relayed: the publisher's offer comes through _relay.
    } catch (err) {
      this.#fail(asOTError(err, ExceptionCodes.UNABLE_TO_SUBSCRIBE, 'OT_UNABLE_TO_SUBSCRIBE'));
    }
  }

  /** Makes the subscriber's link (routed or relayed): its tracks play here, its state settles the subscribe. */
  #open<L extends RoutedLink | RelayedLink>(make: (onState: (state: RTCPeerConnectionState) => void) => L): L {
    const link: L = make((state) => this.#onLinkState(link, state));
    this.#link = link;
    link.pc.addEventListener('track', (e) => {
      const track = e.track;
      const e2ee = this.#ctx.e2ee;
      if (e2ee) {
        // e2ee: frames are decrypted between the depacketizer and the decoder.
        e2ee.decryptReceiver(e.receiver, track.kind === 'audio' ? 'audio' : 'video', this.#secretMatch, (message) => log.warn(`e2ee: a frame transform stopped: ${message}`));
      }
      for (const old of this.#media.getTracks().filter((t) => t.kind === track.kind)) this.#media.removeTrack(old);
      this.#media.addTrack(track);
      track.enabled = track.kind === 'audio' ? this.#subscribeToAudio : this.#subscribeToVideo;
      void play(this.#ui.video).then((unblocked) => {
        if (!unblocked && !this.#audioBlocked) {
          this.#audioBlocked = true;
          this.dispatchEvent(new OTEvent('audioBlocked', this));
        }
      });
    });
    return link;
  }

  #onLinkState(link: RoutedLink | RelayedLink, state: RTCPeerConnectionState): void {
    if (link !== this.#link) return;
    if (state === 'connected') {
      clearTimeout(this.#timer);
      if (this.#done) {
        const done = this.#done;
        this.#done = null;
        this.dispatchEvent(new OTEvent('connected', this));
        done(null);
      }
    } else if (state === 'failed') {
      const error = this.#connectError('ICE failed');
      if (this.#done) this.#fail(error);
      else {
        this.#ctx.reportError(error, this.stream.streamId);
        this.dispatchEvent(new OTEvent('disconnected', this));
      }
    }
  }

  #connectError(detail: string): OTError {
    return this.#ctx.mediaMode === 'relayed'
      ? new OTError(ExceptionCodes.P2P_CONNECTION_FAILED, 'OT_P2P_CONNECTION_FAILED', `The peer-to-peer connection to the publisher failed: ${detail}`)
      : new OTError(ExceptionCodes.SUBSCRIBER_ICE_WORKFLOW_FAILED, 'OT_ICE_WORKFLOW_FAILED', `The subscriber could not connect to the media server: ${detail}`);
  }

  /** A failed subscribe: the handler hears it, the server is told, the subscriber goes away. */
  #fail(error: OTError): void {
    clearTimeout(this.#timer);
    const done = this.#done;
    this.#done = null;
    if (!done) return;
    this.#ctx.reportError(error, this.stream.streamId);
    this.destroy();
    done(error);
  }

  /** @internal Relayed: the publisher's offer or candidate. */
  async _relay(description: RTCSessionDescriptionInit | undefined, candidate: RTCIceCandidateInit | null | undefined): Promise<void> {
    try {
      const link = this.#link;
      if (!(link instanceof RelayedLink)) return;
      if (description?.type === 'offer') {
        await link.accept(description);
        await link.send({ type: 'answer', sdp: await link.answer(stereoAnswer) });
      } else if (candidate) {
        await link.addCandidate(candidate);
      }
    } catch (err) {
      this.#fail(asOTError(err, ExceptionCodes.UNABLE_TO_SUBSCRIBE, 'OT_UNABLE_TO_SUBSCRIBE'));
    }
  }

  /** @internal The stream's hasVideo changed: show or hide the video (videoEnabled/videoDisabled, reason publishVideo). */
  _streamHasVideo(hasVideo: boolean): void {
    if (!this.#subscribeToVideo) return;
    this.#ui.setVideoDisabled(!hasVideo);
    this.dispatchEvent(new VideoEnabledChangedEvent(hasVideo ? 'videoEnabled' : 'videoDisabled', this, 'publishVideo'));
  }

  /**
   * @internal The SFU's word on this subscriber's downlink (routed): OpenTok.js's
   * videoDisableWarning(Lifted), and videoDisabled/videoEnabled with reason 'quality' when it
   * stopped or restarted the video for lack of bandwidth (the audio goes on).
   */
  _videoQuality(event: 'videoDisableWarning' | 'videoDisableWarningLifted' | 'videoDisabled' | 'videoEnabled'): void {
    if (this.#destroyed) return;
    if (event === 'videoDisableWarning' || event === 'videoDisableWarningLifted') {
      this.dispatchEvent(new OTEvent(event, this));
      return;
    }
    this.#qualityDisabled = event === 'videoDisabled';
    if (this.#subscribeToVideo && this.stream.hasVideo) this.#ui.setVideoDisabled(this.#qualityDisabled);
    this.dispatchEvent(new VideoEnabledChangedEvent(event, this, 'quality'));
  }

  /**
   * @internal Routed: the server ended this subscription's media while its stream goes on (the
   * transport failed, or, in a cluster, the node serving it stopped). As OpenTok.js does for a lost
   * subscriber connection: `disconnected`, then the same Subscriber subscribes again (a new
   * subscription, through whichever node the session reaches now), and `connected` once media flows.
   * After MAX_RECONNECTS attempts in a row without media it ends as before.
   */
  _reconnect(): void {
    if (this.#destroyed) return;
    if (this.#done || this.#ctx.mediaMode !== 'routed' || this.#reconnects >= MAX_RECONNECTS) {
      this._end('networkDisconnected');
      return;
    }
    this.#reconnects++;
    log.debug('subscriber media lost: subscribing again');
    clearTimeout(this.#timer);
    this.#link?.close();
    this.#link = null;
    this.#ctx.unregisterSubscriber(this);
    this.#subscriberId = null;
    this.dispatchEvent(new OTEvent('disconnected', this));
    this.#done = (error) => {
      if (!error) this.#reconnects = 0;
    };
    void this.#start();
  }

  /** @internal The server ended this subscription, or its stream ended; `keepElement` when the app prevented the default. */
  _end(reason: StreamDestroyedReason | 'unsubscribed', keepElement = false): void {
    log.debug('subscriber ended:', reason);
    if (this.#done) {
      this.#fail(subscribeError('OT_UNABLE_TO_SUBSCRIBE', `The stream ended before the subscriber connected (${reason})`));
      return;
    }
    if (keepElement) {
      this.#close();
      this.#ui.setVideoDisabled(true);
      return;
    }
    this.destroy();
  }

  /** Receive this stream's audio or not (the SFU stops sending it in routed sessions). */
  subscribeToAudio(value = true): this {
    this.#subscribeToAudio = value !== false;
    for (const track of this.#media.getAudioTracks()) track.enabled = this.#subscribeToAudio;
    this.#updateSubscriber({ subscribeToAudio: this.#subscribeToAudio });
    return this;
  }

  /** Receive this stream's video or not; videoDisabled/videoEnabled with reason subscribeToVideo. */
  subscribeToVideo(value = true): this {
    const next = value !== false;
    if (next === this.#subscribeToVideo) return this;
    this.#subscribeToVideo = next;
    for (const track of this.#media.getVideoTracks()) track.enabled = next;
    this.#updateSubscriber({ subscribeToVideo: next });
    if (this.stream.hasVideo) {
      this.#ui.setVideoDisabled(!next);
      const reason: VideoChangeReason = 'subscribeToVideo';
      this.dispatchEvent(new VideoEnabledChangedEvent(next ? 'videoEnabled' : 'videoDisabled', this, reason));
    }
    return this;
  }

  /**
   * Receive this stream's live captions (captionReceived events) or not. Resolves once the server
   * has the change (at once before the subscriber is connected: the subscribe carries it).
   */
  async subscribeToCaptions(value: boolean): Promise<void> {
    this.#subscribeToCaptions = value === true;
    if (!this.#subscriberId || this.#destroyed) return;
    await this.#ctx.request('updateSubscriber', { subscriberId: this.#subscriberId, subscribeToCaptions: this.#subscribeToCaptions });
  }

  /** Whether this subscriber asked for captions (subscribeToCaptions). */
  isSubscribedToCaptions(): boolean {
    return this.#subscribeToCaptions;
  }

  /** @internal a caption of this subscriber's stream (the server sends them only after subscribeToCaptions). */
  _caption(caption: string, isFinal: boolean): void {
    if (this.#destroyed || !this.#subscribeToCaptions) return;
    this.dispatchEvent(new CaptionReceivedEvent(this, this.stream.streamId, caption, isFinal));
  }

  #updateSubscriber(changes: { subscribeToAudio?: boolean; subscribeToVideo?: boolean; preferredResolution?: { width: number; height: number } | null; preferredFrameRate?: number | null }): void {
    if (!this.#subscriberId || this.#ctx.mediaMode !== 'routed') return;
    this.#ctx.request('updateSubscriber', { subscriberId: this.#subscriberId, ...changes }).catch((err: OTError) => log.warn('subscriber update failed:', err.message));
  }

  /** What the app prefers (see the note at the top). */
  get preferredResolution(): { width: number; height: number } | 'auto' {
    return this.#preferredResolution;
  }

  get preferredFrameRate(): number | null {
    return this.#preferredFrameRate;
  }

  /**
   * OpenTok.js: routed, the SFU sends this subscriber the publisher's simulcast layer that covers
   * `resolution` (switching at the layer's next keyframe); 'auto' or null: the best layer. A
   * stream published as one encoding is unaffected.
   */
  setPreferredResolution(resolution: { width: number; height: number } | 'auto' | null): this {
    this.#preferredResolution = wantedResolution(resolution);
    const wanted = this.#preferredResolution;
    this.#updateSubscriber({ preferredResolution: wanted === 'auto' ? null : wanted });
    return this;
  }

  /**
   * OpenTok.js: routed, the SFU sends this subscriber the lowest VP8 temporal layer whose frame
   * rate covers `frameRate` (frames per second; down at the next frame, up at the next frame that
   * allows it); null (or anything but a positive number): every frame. A stream without temporal
   * layers (one encoding, H.264) is unaffected.
   */
  setPreferredFrameRate(frameRate: number | null): this {
    const before = this.#askedFrameRate();
    this.#preferredFrameRate = wantedFrameRate(frameRate);
    if (this.#askedFrameRate() !== before) this.#updateSubscriber({ preferredFrameRate: this.#askedFrameRate() });
    return this;
  }

  /**
   * OpenTok.js: true (routed) has the SFU send this subscriber the lowest frame rate the stream
   * has, its base temporal layer (a quarter of the frames of the SDK's L1T3), whatever
   * preferredFrameRate says; false restores the preference. A stream without temporal layers
   * keeps every frame; relayed sessions are unaffected (as in OpenTok).
   */
  restrictFrameRate(value: boolean): this {
    const before = this.#askedFrameRate();
    this.#frameRateRestricted = value === true;
    if (this.#askedFrameRate() !== before) this.#updateSubscriber({ preferredFrameRate: this.#askedFrameRate() });
    return this;
  }

  /** @internal The stream's videoDimensions changed (its publisher's capture was resized): OpenTok's videoDimensionsChanged. */
  _videoDimensionsChanged(oldValue: VideoDimensions, newValue: VideoDimensions): void {
    if (this.#destroyed) return;
    this.dispatchEvent(new VideoDimensionsChangedEvent(this, { ...oldValue }, { ...newValue }));
  }

  /** Whether restrictFrameRate(true) is in force. */
  get frameRateRestricted(): boolean {
    return this.#frameRateRestricted;
  }

  /** The frame rate the server is asked for: the preference, or (restricted) one below every temporal layer's. */
  #askedFrameRate(): number | null {
    return this.#frameRateRestricted ? RESTRICTED_FRAME_RATE : this.#preferredFrameRate;
  }

  /** The current frame as a base64 PNG (no data: prefix); null before the first frame. */
  getImgData(): string | null {
    return imageData(this.#ui.video);
  }

  /** OpenTok.js style: nameDisplayMode, backgroundImageURI, … (see ElementStyle). */
  getStyle(): ElementStyle {
    return { ...this.#style };
  }

  /** setStyle(key, value) or setStyle({key: value, …}). */
  setStyle(keyOrStyle: keyof ElementStyle | Partial<ElementStyle>, value?: string): this {
    this.#style = mergeStyle(this.#style, keyOrStyle, value);
    this.#ui.setStyle(this.#style);
    return this;
  }

  /** @internal OT.setAudioOutputDevice: the element whose sound goes to the chosen output. */
  get _mediaElement(): HTMLMediaElement {
    return this.#ui.video;
  }

  /** 0 to 100. */
  setAudioVolume(value: number): this {
    const v = Math.max(0, Math.min(100, Number(value) || 0));
    this.#ui.video.volume = v / 100;
    return this;
  }

  getAudioVolume(): number {
    return Math.round(this.#ui.video.volume * 100);
  }

  /** True while the browser's autoplay policy keeps this subscriber's audio muted (see OT.unblockAudio). */
  isAudioBlocked(): boolean {
    return this.#audioBlocked;
  }

  /** @internal OT.unblockAudio: called from a user gesture. */
  async _unblockAudio(): Promise<void> {
    if (!this.#audioBlocked) return;
    this.#ui.video.muted = false;
    await this.#ui.video.play();
    this.#audioBlocked = false;
    this.dispatchEvent(new OTEvent('audioUnblocked', this));
  }

  /** OpenTok's Subscriber stats: {audio, video, timestamp}. */
  getStats(callback?: (error: OTError | null, stats?: SubscriberStatsShape) => void): Promise<SubscriberStatsShape> {
    const run = async (): Promise<SubscriberStatsShape> => {
      if (!this.#link?.negotiated) throw subscribeError('OT_NOT_CONNECTED', 'The subscriber is not connected');
      return subscriberStats(await this.#link.pc.getStats());
    };
    return settle(run(), callback);
  }

  /** The raw RTCStatsReport of this subscriber's peer connection. */
  async getRtcStatsReport(): Promise<RTCStatsReport> {
    if (!this.#link?.negotiated) throw subscribeError('OT_NOT_CONNECTED', 'The subscriber is not connected');
    return this.#link.pc.getStats();
  }

  /** @internal Track summaries for the Inspector. */
  async _statsSummary() {
    return this.#link?.negotiated ? this.#summarizer.summarize(await this.#link.pc.getStats(), this.stream.streamId) : [];
  }

  videoWidth(): number {
    return this.#ui.video.videoWidth;
  }

  videoHeight(): number {
    return this.#ui.video.videoHeight;
  }

  protected override handlerAdded(type: string): void {
    if (type !== 'audioLevelUpdated') return;
    this.#meter ??= new AudioLevelMeter(
      () => this.#media.getAudioTracks()[0] ?? null,
      () => this.hasHandlers('audioLevelUpdated'),
      (level) => this.dispatchEvent(new AudioLevelUpdatedEvent(this, level)),
    );
    this.#meter.start();
  }

  #close(): void {
    clearTimeout(this.#timer);
    this.#meter?.stop();
    this.#link?.close();
    this.#link = null;
    this.#ctx.unregisterSubscriber(this);
  }

  /** Stops receiving (tells the server) and removes the element. Same as session.unsubscribe(subscriber). */
  destroy(): this {
    if (this.#destroyed) return this;
    this.#destroyed = true;
    liveSubscribers.delete(this);
    const subscriberId = this.#subscriberId;
    this.#close();
    if (subscriberId) void this.#ctx.request('unsubscribe', { subscriberId }).catch(() => {});
    this.#ui.remove();
    this.element = undefined;
    this.dispatchEvent(new OTEvent('destroyed', this));
    return this;
  }
}

/**
 * What restrictFrameRate(true) asks the server for: one frame a second (OpenTok's restricted rate),
 * below every temporal layer's rate, so the SFU sends the lowest layer (T0).
 */
const RESTRICTED_FRAME_RATE = 1;

/** A preferredFrameRate as the server takes it: a positive number up to 1000; anything else is null (every frame). */
function wantedFrameRate(frameRate: unknown): number | null {
  return typeof frameRate === 'number' && Number.isFinite(frameRate) && frameRate > 0 && frameRate <= 1000 ? frameRate : null;
}

/** A preferredResolution as the server takes it: whole pixels, 1 to 16384; anything else is 'auto'. */
function wantedResolution(resolution: { width: number; height: number } | 'auto' | null | undefined): { width: number; height: number } | 'auto' {
  if (!resolution || resolution === 'auto') return 'auto';
  const width = Math.round(Number(resolution.width));
  const height = Math.round(Number(resolution.height));
  if (!(width >= 1 && width <= 16_384 && height >= 1 && height <= 16_384)) return 'auto';
  return { width, height };
}
