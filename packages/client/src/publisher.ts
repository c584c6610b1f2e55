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
// connection, present and future (send-encodings.ts). Capture, source switching, filters and media
// processors are local-media.ts; the element is media-element.ts. This file is the Publisher's API
// and its links to the session.

import type { PublishResult, StreamDestroyedReason, VideoType } from '@colloquy/protocol';
import { AudioFallbackMachine, uplinkSample, type AudioFallbackEvent, type UplinkCounters, type UplinkSample } from './audio-fallback.js';
import { AudioLevelMeter } from './audio-level.js';
import type { AudioSourceOption, CaptureOptions, Captured, VideoSourceOption } from './devices.js';
import { ExceptionCodes, OTError, asOTError, invalidParameter, notConnected, publishError, settle } from './errors.js';
import { OTEventEmitter } from './event-emitter.js';
import { AudioLevelUpdatedEvent, MediaStoppedEvent, MuteForcedEvent, OTEvent, StreamEvent, VideoDimensionsChangedEvent, VideoElementCreatedEvent, VideoEnabledChangedEvent } from './events.js';
import { log } from './logger.js';
import { createMediaElement, DEFAULT_STYLE, imageData, mergeStyle, type ElementOptions, type ElementStyle, type MediaElement } from './media-element.js';
import { publisherStats, TrackSummarizer, type PublisherStatsShape } from './stats.js';
import type { Stream } from './stream.js';
import type { MediaContext } from './media-context.js';
import type { MediaProcessorConnector } from './media-processor.js';
import { RelayedLink, RoutedLink } from './peer-link.js';
import { SendEncodings } from './send-encodings.js';
import { withOpusOptions } from './sdp.js';
import { LocalMedia, type MediaKind } from './local-media.js';
import type { AudioFilter, VideoFilter } from './video-filter.js';

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
  videoDimensionsChanged: VideoDimensionsChangedEvent<Publisher>;
  /** Publisher audio fallback: the uplink may soon be unable to carry video. */
  videoDisableWarning: OTEvent<Publisher>;
  /** Publisher audio fallback: the uplink recovered before the video went off. */
  videoDisableWarningLifted: OTEvent<Publisher>;
  /** Publisher audio fallback: video stopped (reason 'quality'); the audio goes on. */
  videoDisabled: VideoEnabledChangedEvent<Publisher>;
  /** Publisher audio fallback: video is sent again (reason 'quality'). */
  videoEnabled: VideoEnabledChangedEvent<Publisher>;
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
  /**
   * OpenTok.js: routed camera video as simulcast (default true): the SFU gives each subscriber the
   * layer its downlink and preference allow. false: one encoding (with temporal layers).
   */
  scalableVideo?: boolean;
  /**
   * OpenTok.js: a routed screen share as simulcast too (default false: one encoding, with temporal
   * layers, so a weak downlink still lowers its frame rate before its sharpness).
   */
  scalableScreenshare?: boolean;
  /** The video track's contentHint: '' , 'motion', 'detail' or 'text' (default 'detail' for screens: sharp text over frame rate). */
  videoContentHint?: '' | 'motion' | 'detail' | 'text';
  /**
   * Sends stereo Opus (`stereo=1; sprop-stereo=1`), through the SFU and peer to peer; the
   * microphone is asked for two channels. For true stereo also set disableAudioProcessing (echo
   * cancellation mixes down to mono), or pass a stereo MediaStreamTrack as audioSource.
   */
  enableStereo?: boolean;
  /**
   * OpenTok.js: Opus discontinuous transmission (default false): in silence the encoder sends a
   * few packets a second instead of 50 (Opus `usedtx=1`; measured 4.7–5.3), routed and relayed.
   */
  enableDtx?: boolean;
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
   * `publisher` (default false; OpenTok.js's documented default, `subscriber`'s being true): routed sessions, when this publisher's own
   * uplink cannot carry even the lowest video layer (Chromium's send-side estimate, receiver-reported
   * loss, a bandwidth-limited encoder), the Publisher fires videoDisableWarning, then stops sending
   * video and fires videoDisabled (reason 'quality'); every subscriber gets videoDisabled (reason
   * 'quality') and keeps the audio; stream.hasVideo does not change. The publisher probes its
   * uplink now and then and, when it carries video again, fires videoEnabled (reason 'quality')
   * and the video resumes by itself (videoDisableWarningLifted when it recovers before the video
   * went off). Relayed sessions: no effect (OpenTok's audio fallback is a routed-session feature;
   * peer to peer, each link's own congestion control lowers the video).
   */
  audioFallback?: { publisher?: boolean; subscriber?: boolean };
}

/** OpenTok.js's audioBitrate range (bits per second). */
const AUDIO_BITRATE_MIN = 6_000;
const AUDIO_BITRATE_MAX = 510_000;
/** How often a published video's captured size is checked against its stream's videoDimensions. */
const DIMENSIONS_CHECK_MS = 1000;

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
  /** The camera/microphone/screen, the sources switched and the filters in front of them. */
  readonly #media: LocalMedia;
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
  /** Publisher audio fallback (routed, audioFallback.publisher): its state machine and the stats timer feeding it. */
  #fallback: AudioFallbackMachine | null = null;
  #fallbackTimer: ReturnType<typeof setInterval> | null = null;
  /** While published: the stream's videoDimensions as we last told them, and the timer that checks the capture against them. */
  #dimensions: { width: number; height: number } | null = null;
  #dimensionsTimer: ReturnType<typeof setInterval> | null = null;
  #fallbackCounters: UplinkCounters = { videoBytesSent: 0 };
  #fallbackSample: UplinkSample | null = null;
  #fallbackBusy = false;
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
    this.#send = new SendEncodings(audioBitrate, () => this.#media.cameraTrack());
    livePublishers.add(this);
    this.#media = new LocalMedia(props, {
      replaceSent: (kind, old, next) => this.#replaceSent(kind, old, next),
      previewVideo: (track) => {
        if (this.#ui) this.#ui.video.srcObject = new MediaStream([track]);
      },
      isPublished: (kind) => (kind === 'audio' ? this.#publishAudio : this.#publishVideo),
      trackEnded: (track) => this.#onTrackEnded(track),
    });
    const media = this.#media.ready;
    if (props.videoFilter !== undefined) {
      this.#initialFilter = media.then(
        () => this.applyVideoFilter(props.videoFilter).catch((err: OTError) => log.warn(`initPublisher: videoFilter not applied (${err.name}): ${err.message}`)),
        () => {},
      );
    }
    if (props.audioFilter !== undefined) {
      const video = this.#initialFilter;
      this.#initialFilter = media.then(
        async () => {
          await video;
          await this.applyAudioFilter(props.audioFilter).catch((err: OTError) => log.warn(`initPublisher: audioFilter not applied (${err.name}): ${err.message}`));
        },
        () => {},
      );
    }
    media.then(
      (captured) => this.#onCaptured(captured, target, completion),
      (error: OTError) => {
        this.dispatchEvent(new OTEvent('accessDenied', this));
        log.error('initPublisher:', error.name, error.message);
        call(completion, error);
      },
    );
  }

  /** The media is ready (LocalMedia set the tracks up): the element, and accessAllowed. */
  #onCaptured(captured: Captured, target: unknown, completion: PublisherCompletionHandler | undefined): void {
    if (this.#destroyed) return;
    this.accessAllowed = true;
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
      const captured = await this.#media.ready;
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
        this.#send.addTracks(pc, captured, true, this.#simulcast(captured, body.videoType));
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
        if (this.#props.audioFallback?.publisher === true && captured.video) this.#startAudioFallback(link);
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

  /** Routed: whether the video goes as simulcast (OpenTok's scalable video): a camera unless scalableVideo is false, a screen share only with scalableScreenshare. */
  #simulcast(captured: Captured, videoType: VideoType | null): boolean {
    if (captured.videoKind === 'camera') return this.#props.scalableVideo !== false;
    return videoType === 'screen' && this.#props.scalableScreenshare === true;
  }

  #publishBody(captured: Captured) {
    const settings = this.#media.cameraTrack()?.getSettings();
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
   * count, target bitrate and DTX from the remote description, so enableStereo, audioBitrate and
   * enableDtx are written there (and a subscriber's stereo=1 or usedtx=1 is dropped when we did not
   * ask for it).
   */
  #answerWithOpusOptions(sdp: string): string {
    return withOpusOptions(sdp, { stereo: this.#props.enableStereo === true, maxAverageBitrate: this.#send.audioBitrate ?? null, dtx: this.#props.enableDtx === true });
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
    this.#dimensions = stream.videoDimensions ?? null;
    this.#dimensionsTimer ??= setInterval(() => this.#checkDimensions(), DIMENSIONS_CHECK_MS);
    this.dispatchEvent(new StreamEvent('streamCreated', this, stream));
    this.#finishPublish(null);
  }

  /**
   * The video's size as captured now, against what the stream says: a screen capture reports its
   * constraints until its first frame (measured: 960x960 for a 960x540 capture bounded by
   * maxResolution 960x960), and a shared window can be resized. A change updates the stream
   * (streamPropertyChanged videoDimensions for everyone) and fires videoDimensionsChanged.
   */
  #checkDimensions(): void {
    const s = this.#media.cameraTrack()?.getSettings();
    if (!s?.width || !s.height || !this.#streamId) return;
    const next = { width: Math.round(s.width), height: Math.round(s.height) };
    const old = this.#dimensions;
    if (old && old.width === next.width && old.height === next.height) return;
    this.#dimensions = next;
    this.#updateStream({ videoDimensions: next });
    if (this.stream) this.stream.videoDimensions = { ...next };
    if (old) this.dispatchEvent(new VideoDimensionsChangedEvent(this, old, next));
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

  /**
   * Publisher audio fallback: once a second the uplink's stats feed the state machine
   * (audio-fallback.ts); its events are fired here, its word on the video goes to the encodings
   * (send-encodings.ts), and videoDisabled/videoEnabled to the server (updateStream
   * videoDisabledForQuality), which tells every subscriber.
   */
  #startAudioFallback(link: RoutedLink): void {
    this.#stopAudioFallback();
    this.#fallback = new AudioFallbackMachine();
    this.#fallbackCounters = { videoBytesSent: 0 };
    this.#fallbackTimer = setInterval(() => void this.#audioFallbackTick(link), 1000);
  }

  async #audioFallbackTick(link: RoutedLink): Promise<void> {
    const machine = this.#fallback;
    if (!machine || this.#fallbackBusy || link !== this.#link) return;
    this.#fallbackBusy = true;
    try {
      const report = await link.pc.getStats();
      if (machine !== this.#fallback || link !== this.#link) return;
      const sample = uplinkSample(report.values() as Iterable<Record<string, unknown>>, performance.now(), this.#fallbackCounters);
      this.#fallbackSample = sample;
      // publishVideo(false): black frames are not worth judging the uplink by, nor probing with; the
      // state stays as it is until the video is published again.
      if (!this.#publishVideo) return;
      const step = machine.feed(sample);
      if (step.video !== this.#send.fallbackVideo) {
        this.#send.setFallbackVideo(step.video);
        await this.#send.apply([link.pc]);
      }
      for (const event of step.events) this.#fireAudioFallback(event);
    } catch (err) {
      log.debug('audio fallback: no stats', err);
    } finally {
      this.#fallbackBusy = false;
    }
  }

  #fireAudioFallback(event: AudioFallbackEvent): void {
    if (event === 'videoDisabled' || event === 'videoEnabled') {
      this.#updateStream({ videoDisabledForQuality: event === 'videoDisabled' });
      this.dispatchEvent(new VideoEnabledChangedEvent(event, this, 'quality'));
    } else {
      this.dispatchEvent(new OTEvent(event, this));
    }
  }

  #stopAudioFallback(): void {
    if (this.#fallbackTimer) clearInterval(this.#fallbackTimer);
    this.#fallbackTimer = null;
    this.#fallback = null;
    this.#fallbackSample = null;
    this.#send.setFallbackVideo('all');
  }

  /** @internal Colloquy: the publisher audio fallback's state and last uplink sample (tests), or null when it is off. */
  _audioFallback(): { state: string; sample: UplinkSample | null } | null {
    return this.#fallback ? { state: this.#fallback.state, sample: this.#fallbackSample } : null;
  }

  /** Drops the session side: peer connections, the stream. Media and DOM stay (reuse is allowed). */
  #teardown(): void {
    this.#stopAudioFallback();
    if (this.#dimensionsTimer) clearInterval(this.#dimensionsTimer);
    this.#dimensionsTimer = null;
    this.#dimensions = null;
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
    this.#media.setEnabled('audio', false);
    this.dispatchEvent(new MuteForcedEvent(this));
  }

  // ---------------------------------------------------------------------------------------------
  // Relayed sessions: one peer connection per subscriber

  /** @internal Relayed: someone subscribed; make our offer to them. */
  async _relayStart(subscriberId: string, connectionId: string): Promise<void> {
    const ctx = this.#ctx;
    const captured = this.#media.captured;
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
    const audio = this.#media.captured?.audio;
    this.#media.setEnabled('audio', this.#publishAudio);
    this.#updateStream({ hasAudio: !!audio && this.#publishAudio });
    return this;
  }

  /** Turns the camera on or off for everyone (black frames; subscribers get videoDisabled 'publishVideo'). */
  publishVideo(value: boolean): this {
    this.#publishVideo = value !== false;
    const video = this.#media.captured?.video;
    this.#media.setEnabled('video', this.#publishVideo);
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

  #updateStream(changes: { hasAudio?: boolean; hasVideo?: boolean; videoDimensions?: { width: number; height: number }; publishCaptions?: boolean; videoDisabledForQuality?: boolean }): void {
    const ctx = this.#ctx;
    const streamId = this.#streamId;
    if (!ctx || !streamId) return;
    ctx.request('updateStream', { streamId, ...changes }).catch((err: OTError) => log.warn('stream update failed:', err.message));
  }

  /** The microphone track (OpenTok.js getAudioSource). */
  getAudioSource(): MediaStreamTrack | null {
    return this.#media.captured?.audio ?? null;
  }

  /** The video source: device id, kind and track (OpenTok.js getVideoSource); `track` is null while publishVideo(false). */
  getVideoSource(): { deviceId: string | null; type: 'camera' | 'screen' | 'custom' | null; track: MediaStreamTrack | null } {
    const captured = this.#media.captured;
    const track = captured?.video ?? null;
    return { deviceId: this.#media.cameraTrack()?.getSettings().deviceId ?? null, type: captured?.videoKind ?? null, track: this.#publishVideo ? track : null };
  }

  /** Switches the microphone: a device id or a MediaStreamTrack. The stream stays published (replaceTrack). */
  setAudioSource(source: string | MediaStreamTrack): Promise<void> {
    return this.#media.setAudioSource(source);
  }

  /** Switches the camera: a device id or a MediaStreamTrack (camera publishers only, as in OpenTok.js). */
  async setVideoSource(source: string | MediaStreamTrack): Promise<void> {
    await this.#media.setVideoSource(source);
    this.#checkDimensions();
    await this.#send.apply(this.#peerConnections());
  }

  /**
   * Switches to the next camera (OpenTok.js cycleVideo), in the order the browser lists them;
   * resolves with the device now in use. With one camera it stays on it.
   */
  async cycleVideo(): Promise<{ deviceId: string }> {
    const next = await this.#media.nextCamera();
    if (next !== this.#media.cameraTrack()?.getSettings().deviceId) await this.setVideoSource(next);
    return { deviceId: next };
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
  applyVideoFilter(filter: unknown): Promise<void> {
    return this.#media.applyVideoFilter(filter);
  }

  /** The filter in use (a copy), or null. */
  getVideoFilter(): VideoFilter | null {
    return this.#media.videoFilter;
  }

  /** @internal Colloquy: the running filter's frame and segmentation counts (tests, benchmark), or null. */
  _videoFilterStats() {
    return this.#media.videoFilterStats();
  }

  /** Goes back to the camera's own picture (resolves when no filter is applied too). */
  clearVideoFilter(): Promise<void> {
    return this.#media.clearVideoFilter();
  }

  /**
   * `{type: 'advancedNoiseSuppression'}`: the microphone through RNNoise (a neural-network noise
   * suppressor; its wasm and AudioWorklet come from the Colloquy server, /v2/js/noise-suppressor/),
   * sent instead of the raw microphone (replaceTrack). Rejects with OT_INVALID_PARAMETER for another
   * filter, OT_NOT_SUPPORTED without AudioWorklet, for a publisher without audio, or when the
   * suppressor cannot load. Applying it again while it runs resolves.
   */
  applyAudioFilter(filter: unknown): Promise<void> {
    return this.#media.applyAudioFilter(filter);
  }

  /** `{type: 'advancedNoiseSuppression'}` while it runs, else null. */
  getAudioFilter(): AudioFilter | null {
    return this.#media.audioFilter;
  }

  /** Goes back to the microphone's own sound (resolves when no filter is applied too). */
  clearAudioFilter(): Promise<void> {
    return this.#media.clearAudioFilter();
  }

  /**
   * Sends the video through a media processor connector (the interface of Vonage's
   * `@vonage/media-processor`): `connector.setTrack(cameraTrack)` resolves with the processed track,
   * which replaces the sent one (replaceTrack, no renegotiation) and the preview. `null` goes back
   * to the camera and calls the connector's `destroy()`.
   */
  setVideoMediaProcessorConnector(connector: MediaProcessorConnector | null): Promise<void> {
    return this.#media.setConnector('video', connector);
  }

  /** The same for the microphone. */
  setAudioMediaProcessorConnector(connector: MediaProcessorConnector | null): Promise<void> {
    return this.#media.setConnector('audio', connector);
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

  /** LocalMedia's hook: the new track is sent where the old one was, on every peer connection. */
  async #replaceSent(kind: MediaKind, old: MediaStreamTrack, track: MediaStreamTrack): Promise<void> {
    for (const pc of this.#peerConnections()) {
      const sender = pc.getSenders().find((s) => s.track === old || s.track?.kind === kind);
      await sender?.replaceTrack(track);
    }
  }

  /** LocalMedia's hook: a track in use ended by itself. */
  #onTrackEnded(track: MediaStreamTrack): void {
    if (this.#destroyed) return;
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
      () => this.#media.captured?.audio ?? null,
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
    this.#media.stop();
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
