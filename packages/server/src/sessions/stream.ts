// A Stream: one Publisher's media in a live Session (OpenTok's Stream). It is announced
// (streamCreated) once its media is connected — at once in a relayed session, when the SFU
// transport connects in a routed one — and ends (streamDestroyed, with OpenTok's reason) when its
// publisher unpublishes or leaves, a moderator unpublishes it, or its media fails. In a routed
// session it owns its PublisherTransport; closing the stream closes the transport, its producers
// and, through them, every consumer. close() is idempotent and emits `close` once.

import type { StreamDestroyedReason, StreamInfo, StreamProperty, VideoDimensions, VideoType } from '@colloquy/protocol';
import { randomUUID } from 'node:crypto';
import type { Producer, PublisherTransport } from '@colloquy/sfu';
import type { Connection } from './connection.js';
import { TransportWatch } from './transport-watch.js';
import { TypedEmitter } from '../typed-emitter.js';

export type { StreamDestroyedReason, StreamProperty };

export type StreamEvents = {
  /** The stream's media connected: it is announced to the session now. Emitted at most once. */
  live: [];
  /** A property clients see changed (the publisher's update, or a moderator's mute). */
  propertyChanged: [property: StreamProperty, oldValue: boolean | VideoDimensions | null, newValue: boolean | VideoDimensions | null];
  /** Layout classes changed (REST); clients are not told, composed archives are. */
  layoutChanged: [layoutClassList: readonly string[]];
  /** A moderator muted the audio: the publisher must disable its microphone. */
  muteForced: [];
  /** Routed simulcast: which of the publisher's encodings (by rid) someone needs. */
  videoLayers: [layers: { rid: string; active: boolean }[]];
  /** Publisher audio fallback: the publisher stopped (true) or restarted (false) its video for lack of uplink. */
  videoDisabledForQuality: [disabled: boolean];
  /** The stream ended; emitted once. */
  close: [reason: StreamDestroyedReason];
};

export interface StreamInit {
  connection: Connection;
  mediaMode: 'routed' | 'relayed';
  name: string;
  videoType: VideoType | null;
  hasAudio: boolean;
  hasVideo: boolean;
  videoDimensions: VideoDimensions | null;
  frameRate: number | null;
  /** OpenTok.js publishCaptions: caption this stream while captions run for the session. */
  publishCaptions?: boolean;
  layoutClassList: readonly string[];
  /** OT.initPublisher's audioFallback.subscriber (default true): may subscribers fall back to audio only? */
  subscriberAudioFallback?: boolean;
  /** OT.initPublisher's audioFallback.publisher (default false): may the publisher turn its video off for its uplink's sake? */
  publisherAudioFallback?: boolean;
  /** Routed: how long the publisher's transport may take to connect (ms). */
  connectTimeoutMs: number;
  /** Routed: how long a transport may stay `disconnected` before the stream ends (ms). */
  disconnectGraceMs: number;
}

/** A stream as the REST API describes it (reference §1.7). */
export interface StreamSummary {
  id: string;
  videoType: VideoType;
  name: string;
  layoutClassList: string[];
}

export class Stream extends TypedEmitter<StreamEvents> {
  readonly id: string = randomUUID();
  readonly connection: Connection;
  readonly sessionId: string;
  readonly projectId: string;
  readonly mediaMode: 'routed' | 'relayed';
  readonly name: string;
  readonly videoType: VideoType | null;
  readonly frameRate: number | null;
  /** May the SFU switch this stream's video off for a subscriber whose downlink cannot carry it? */
  readonly subscriberAudioFallback: boolean;
  /** May the publisher's SDK turn its video off when its uplink cannot carry it (updateStream videoDisabledForQuality)? */
  readonly publisherAudioFallback: boolean;
  readonly creationTime = Date.now();
  #hasAudio: boolean;
  #hasVideo: boolean;
  #videoDimensions: VideoDimensions | null;
  #layoutClassList: string[];
  #publishCaptions: boolean;
  /** Captions run for the session (captions/ sets it); with publishCaptions, the stream has captions. */
  #captionsRunning = false;
  #transport: PublisherTransport | null = null;
  #live = false;
  #closed = false;
  #closeReason: StreamDestroyedReason | null = null;
  /** A moderator paused the audio producer; lifted when the publisher turns its audio back on. */
  #audioForcedOff = false;
  /** Publisher audio fallback: the publisher's video is off for quality. */
  #videoDisabledForQuality = false;
  readonly #connectTimeoutMs: number;
  readonly #disconnectGraceMs: number;
  #watch: TransportWatch | undefined;

  constructor(init: StreamInit) {
    super();
    this.connection = init.connection;
    this.sessionId = init.connection.sessionId;
    this.projectId = init.connection.projectId;
    this.mediaMode = init.mediaMode;
    this.name = init.name;
    this.videoType = init.videoType;
    this.#hasAudio = init.hasAudio;
    this.#hasVideo = init.hasVideo;
    this.#videoDimensions = init.videoDimensions;
    this.frameRate = init.frameRate;
    this.subscriberAudioFallback = init.subscriberAudioFallback ?? true;
    this.publisherAudioFallback = init.publisherAudioFallback ?? false;
    this.#layoutClassList = [...init.layoutClassList];
    this.#publishCaptions = init.publishCaptions ?? false;
    this.#connectTimeoutMs = init.connectTimeoutMs;
    this.#disconnectGraceMs = init.disconnectGraceMs;
  }

  get hasAudio(): boolean {
    return this.#hasAudio;
  }

  get hasVideo(): boolean {
    return this.#hasVideo;
  }

  get videoDimensions(): VideoDimensions | null {
    return this.#videoDimensions;
  }

  /** The publisher wants its audio captioned (OpenTok.js publishCaptions). */
  get publishCaptions(): boolean {
    return this.#publishCaptions;
  }

  /** OpenTok's Stream.hasCaptions: captions run for the session and the publisher publishes them. */
  get hasCaptions(): boolean {
    return this.#publishCaptions && this.#captionsRunning;
  }

  get layoutClassList(): readonly string[] {
    return this.#layoutClassList;
  }

  /** True once announced (media connected) — and still true after it closed. */
  get live(): boolean {
    return this.#live;
  }

  get closed(): boolean {
    return this.#closed;
  }

  get closeReason(): StreamDestroyedReason | null {
    return this.#closeReason;
  }

  /** Routed: the SFU transport receiving this stream (null in relayed sessions). */
  get transport(): PublisherTransport | null {
    return this.#transport;
  }

  /** Routed: the stream's tracks on the SFU (audio and/or video). Empty in relayed sessions. */
  get producers(): readonly Producer[] {
    return this.#transport?.producers ?? [];
  }

  producer(kind: 'audio' | 'video'): Producer | undefined {
    return this.producers.find((p) => p.kind === kind);
  }

  /** What clients see. */
  info(): StreamInfo {
    return {
      streamId: this.id,
      connectionId: this.connection.id,
      name: this.name,
      hasAudio: this.#hasAudio,
      hasVideo: this.#hasVideo,
      videoType: this.videoType,
      videoDimensions: this.#videoDimensions,
      frameRate: this.frameRate,
      creationTime: this.creationTime,
      connection: this.connection.info(),
      hasCaptions: this.hasCaptions,
    };
  }

  /** What REST lists. OpenTok types videoType as camera|screen|custom: an audio-only stream is reported as camera. */
  summary(): StreamSummary {
    return { id: this.id, videoType: this.videoType ?? 'camera', name: this.name, layoutClassList: [...this.#layoutClassList] };
  }

  dump(): Record<string, unknown> {
    return {
      ...this.info(),
      mediaMode: this.mediaMode,
      layoutClassList: this.#layoutClassList,
      live: this.#live,
      closed: this.#closed,
      closeReason: this.#closeReason,
      audioForcedOff: this.#audioForcedOff,
      transport: this.#transport?.dump() ?? null,
    };
  }

  /**
   * Routed: takes ownership of the SFU transport. The stream goes live when it connects, ends when
   * it fails, stays `disconnected` past the grace period, or never connects in time.
   */
  attachTransport(transport: PublisherTransport): void {
    this.#transport = transport;
    // Simulcast: the publisher's SDK turns encodings no one watches off and on (videoLayers).
    transport.on('producer', (producer) => {
      if (producer.layerCount === 1) return;
      producer.on('layers', (active) => {
        if (!this.#closed) this.emit('videoLayers', producer.rids.map((rid, i) => ({ rid, active: active[i] ?? true })));
      });
    });
    this.#watch = new TransportWatch(transport, {
      connectTimeoutMs: this.#connectTimeoutMs,
      disconnectGraceMs: this.#disconnectGraceMs,
      onConnected: () => this.goLive(),
      onLost: () => this.close('networkDisconnected'),
    });
  }

  /**
   * Publisher audio fallback: the publisher's video is off because its uplink cannot carry it. Not
   * a stream property clients see (hasVideo stays as the publisher set it): each subscriber gets
   * videoDisabled / videoEnabled with reason 'quality' (Subscription).
   */
  get videoDisabledForQuality(): boolean {
    return this.#videoDisabledForQuality;
  }

  /** The publisher's updateStream videoDisabledForQuality (SessionManager checked it may). */
  setVideoDisabledForQuality(disabled: boolean): void {
    if (this.#closed || disabled === this.#videoDisabledForQuality) return;
    this.#videoDisabledForQuality = disabled;
    this.emit('videoDisabledForQuality', disabled);
  }

  /** Announces the stream (routed: its transport connected; relayed: right after the publish reply). */
  goLive(): void {
    if (this.#closed || this.#live) return;
    this.#live = true;
    this.emit('live');
  }

  /**
   * The publisher's own update (publishAudio/publishVideo, a new picture size). Turning audio back
   * on also lifts a moderator's mute: OpenTok lets a muted user unmute.
   */
  update(changes: { hasAudio?: boolean; hasVideo?: boolean; videoDimensions?: VideoDimensions; publishCaptions?: boolean }): void {
    if (this.#closed) return;
    if (changes.publishCaptions !== undefined && changes.publishCaptions !== this.#publishCaptions) {
      const before = this.hasCaptions;
      this.#publishCaptions = changes.publishCaptions;
      this.#captionsChanged(before);
    }
    // Routed: a stream cannot claim a track the SFU does not receive.
    if (this.#transport && changes.hasAudio === true && !this.producer('audio')) changes = { ...changes, hasAudio: false };
    if (this.#transport && changes.hasVideo === true && !this.producer('video')) changes = { ...changes, hasVideo: false };
    if (changes.hasAudio === true && this.#audioForcedOff) {
      this.#audioForcedOff = false;
      this.producer('audio')?.resume();
    }
    if (changes.hasAudio !== undefined) this.#set('hasAudio', changes.hasAudio);
    if (changes.hasVideo !== undefined) this.#set('hasVideo', changes.hasVideo);
    if (changes.videoDimensions !== undefined) this.#set('videoDimensions', changes.videoDimensions);
  }

  /**
   * A moderator's mute: hasAudio becomes false for everyone, the publisher is told to disable its
   * microphone, and (routed) the SFU stops forwarding its audio until the publisher turns audio on
   * again — so a client that ignores the request is muted anyway.
   */
  forceMuteAudio(options: { notify?: boolean } = {}): void {
    if (this.#closed) return;
    const audio = this.producer('audio');
    if (audio && !audio.paused) {
      audio.pause();
      this.#audioForcedOff = true;
    }
    this.#set('hasAudio', false);
    // A stream starting muted ("mute all" active) hears it in its publish reply instead.
    if (options.notify !== false) this.emit('muteForced');
  }

  /** Captions started (true) or ended (false) for the session: hasCaptions may change. */
  setCaptionsRunning(running: boolean): void {
    if (this.#closed || running === this.#captionsRunning) return;
    const before = this.hasCaptions;
    this.#captionsRunning = running;
    this.#captionsChanged(before);
  }

  #captionsChanged(before: boolean): void {
    const after = this.hasCaptions;
    if (after !== before) this.emit('propertyChanged', 'hasCaptions', before, after);
  }

  setLayoutClassList(classes: readonly string[]): void {
    if (this.#closed) return;
    this.#layoutClassList = [...classes];
    this.emit('layoutChanged', this.#layoutClassList);
  }

  #set(property: StreamProperty, value: boolean | VideoDimensions): void {
    const old = property === 'hasAudio' ? this.#hasAudio : property === 'hasVideo' ? this.#hasVideo : this.#videoDimensions;
    if (property === 'videoDimensions') {
      const v = value as VideoDimensions;
      if (old && (old as VideoDimensions).width === v.width && (old as VideoDimensions).height === v.height) return;
      this.#videoDimensions = { width: v.width, height: v.height };
    } else {
      if (old === value) return;
      if (property === 'hasAudio') this.#hasAudio = value as boolean;
      else this.#hasVideo = value as boolean;
    }
    this.emit('propertyChanged', property, old, property === 'videoDimensions' ? this.#videoDimensions : value);
  }

  /** Ends the stream and releases its media (the transport's sockets close in the background). Idempotent. */
  close(reason: StreamDestroyedReason): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeReason = reason;
    this.#watch?.stop();
    const transport = this.#transport;
    this.emit('close', reason);
    this.removeAllListeners();
    void transport?.close();
  }
}
