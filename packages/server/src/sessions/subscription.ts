// A Subscription: one connection receiving one Stream (an OpenTok.js Subscriber). Routed: it owns
// a SubscriberTransport on the session's router, with one consumer per producer of the stream;
// subscribeToAudio/Video(false) pauses a consumer so the SFU stops sending it. Relayed: the server
// only carries the offer, answer and candidates between the two browsers (`relay` on Session), and
// counts them so a client cannot flood the other through it. close() is idempotent.

import type { StreamDestroyedReason } from '@colloquy/protocol';
import { randomUUID } from 'node:crypto';
import type { Consumer, IceCandidateInit, SubscriberTransport } from '@colloquy/sfu';
import type { Connection } from './connection.js';
import type { Stream } from './stream.js';
import { TransportWatch } from './transport-watch.js';
import { TypedEmitter } from '../typed-emitter.js';

/** Why a subscription ended: its stream's reason, or the subscriber's own unsubscribe. */
export type SubscriptionEndReason = StreamDestroyedReason | 'unsubscribed';

export type SubscriptionEvents = {
  /** Emitted once. */
  close: [reason: SubscriptionEndReason];
};

export interface SubscriptionInit {
  stream: Stream;
  connection: Connection;
  subscribeToAudio: boolean;
  subscribeToVideo: boolean;
  /** Routed simulcast: the picture size wanted (OpenTok's preferredResolution); null = the best. */
  preferredResolution?: { width: number; height: number } | null;
  /** Routed VP8 temporal layers: the frame rate wanted (OpenTok's preferredFrameRate); null = every frame. */
  preferredFrameRate?: number | null;
  /** OpenTok.js subscribeToCaptions: this subscriber receives the stream's captions. */
  subscribeToCaptions?: boolean;
  /** OpenTok.js's audioFallbackEnabled (default true): may the SFU switch video off on a weak downlink? */
  audioFallbackEnabled?: boolean;
  /** Routed: how long the transport may take to connect, or stay `disconnected` (ms). */
  connectTimeoutMs: number;
  disconnectGraceMs: number;
}

/** How a subscribe asks to receive (subscribe request). */
export interface SubscribeOptions {
  audio: boolean;
  video: boolean;
  preferredResolution?: { width: number; height: number } | null;
  preferredFrameRate?: number | null;
  captions?: boolean;
  audioFallbackEnabled?: boolean;
}

/** What an updateSubscriber may change; absent fields stay. */
export interface SubscriberChanges {
  audio?: boolean;
  video?: boolean;
  preferredResolution?: { width: number; height: number } | null;
  preferredFrameRate?: number | null;
  captions?: boolean;
}

/**
 * Cluster (a session spanning nodes): the subscription's media is served by another node's SFU
 * (the node the subscriber's socket entered the cluster at), which receives the stream once over a
 * pipe. The home keeps the subscription; this object carries its negotiation and changes there
 * (media-span/media-span.ts).
 */
/**
 * One consumer of a subscription served by another node, as that node last reported it (cluster:
 * the Inspector's subscriber quality samples). Counts are cumulative, as a local consumer's.
 */
export interface RemoteConsumerSample {
  kind: 'audio' | 'video';
  bitrate: number;
  fractionLost: number;
  jitter: number;
  roundTripTime: number | null;
  nackCount: number;
  /** PLI and FIR requests. */
  pliCount: number;
  /** Simulcast: the spatial layer sent (null: a single encoding, or none chosen yet). */
  layer: number | null;
  /** Paused on purpose (subscribeToVideo(false), a muted publisher): not a quality figure. */
  paused: boolean;
}

export interface RemoteSubscriberMedia {
  /** The node that serves the media. */
  readonly nodeId: string;
  /** Its consumers as that node last reported them (empty: nothing recent). */
  consumerSamples(): RemoteConsumerSample[];
  /** Consumes the stream on that node and returns its SDP offer. */
  createOffer(): Promise<string>;
  acceptAnswer(sdp: string): Promise<void>;
  addRemoteCandidate(candidate: IceCandidateInit | null): Promise<void>;
  /** Pauses and preferences, as on a local transport's consumers. */
  update(state: { audio: boolean; video: boolean; preferredResolution: { width: number; height: number } | null; preferredFrameRate: number | null }): void;
  close(): void;
}

/** Relayed: offers, answers and candidates one subscription may carry (ICE restarts included). */
export const MAX_RELAY_MESSAGES = 400;

export class Subscription extends TypedEmitter<SubscriptionEvents> {
  readonly id: string = randomUUID();
  readonly stream: Stream;
  /** The subscribing connection. */
  readonly connection: Connection;
  readonly creationTime = Date.now();
  #subscribeToAudio: boolean;
  #subscribeToVideo: boolean;
  #subscribeToCaptions: boolean;
  #preferredResolution: { width: number; height: number } | null;
  #preferredFrameRate: number | null;
  readonly #audioFallbackEnabled: boolean;
  #transport: SubscriberTransport | null = null;
  #remote: RemoteSubscriberMedia | null = null;
  #relayed = 0;
  #closed = false;
  readonly #connectTimeoutMs: number;
  readonly #disconnectGraceMs: number;
  #watch: TransportWatch | undefined;
  /** The SFU's allocator switched this subscriber's video off for its downlink (subscriber audio fallback). */
  #downlinkOff = false;
  /** The publisher switched its video off for its uplink (publisher audio fallback). */
  #uplinkOff: boolean;

  constructor(init: SubscriptionInit) {
    super();
    this.stream = init.stream;
    this.connection = init.connection;
    this.#subscribeToAudio = init.subscribeToAudio;
    this.#subscribeToVideo = init.subscribeToVideo;
    this.#subscribeToCaptions = init.subscribeToCaptions ?? false;
    this.#preferredResolution = init.preferredResolution ?? null;
    this.#preferredFrameRate = init.preferredFrameRate ?? null;
    this.#audioFallbackEnabled = init.audioFallbackEnabled ?? true;
    this.#connectTimeoutMs = init.connectTimeoutMs;
    this.#disconnectGraceMs = init.disconnectGraceMs;
    this.#uplinkOff = init.stream.videoDisabledForQuality;
    init.stream.on('videoDisabledForQuality', this.#onUplinkQuality);
  }

  /**
   * Whether this subscriber's video is off for quality: its own downlink (the SFU's allocator) or
   * its publisher's uplink (publisher audio fallback). The subscribe reply says so when it starts off.
   */
  get videoDisabledForQuality(): boolean {
    return this.#downlinkOff || this.#uplinkOff;
  }

  readonly #onUplinkQuality = (disabled: boolean): void => this.#setQualityOff('uplink', disabled);

  /** Cluster: the edge node serving this subscriber switched its video off (true) or on for its downlink. */
  downlinkQuality(off: boolean): void {
    this.#setQualityOff('downlink', off);
  }

  /**
   * One videoDisabled / videoEnabled (reason 'quality') per change of either cause. OpenTok.js's
   * Subscriber has videoDisabled/videoEnabled with reason 'quality' for video the network took away;
   * our OpenTok notes do not record which reason its subscribers see when it is the publisher's
   * uplink, so we use 'quality' for both causes and tell them as one state (never 'publishVideo',
   * which is the publisher's own choice and changes hasVideo).
   */
  #setQualityOff(cause: 'downlink' | 'uplink', off: boolean): void {
    if (this.#closed) return;
    const before = this.videoDisabledForQuality;
    if (cause === 'downlink') this.#downlinkOff = off;
    else this.#uplinkOff = off;
    const after = this.videoDisabledForQuality;
    if (after !== before) this.connection.deliverVideoQuality(this.id, this.stream.id, after ? 'videoDisabled' : 'videoEnabled');
  }

  /** Served by another node (cluster): its consumers as that node last reported them; else empty. */
  get remoteConsumerSamples(): RemoteConsumerSample[] {
    return this.#remote?.consumerSamples() ?? [];
  }

  get closed(): boolean {
    return this.#closed;
  }

  get subscribeToAudio(): boolean {
    return this.#subscribeToAudio;
  }

  get subscribeToVideo(): boolean {
    return this.#subscribeToVideo;
  }

  /** OpenTok.js's audioFallbackEnabled: may the SFU switch this subscriber's video off on a weak downlink? */
  get audioFallbackEnabled(): boolean {
    return this.#audioFallbackEnabled;
  }

  get subscribeToCaptions(): boolean {
    return this.#subscribeToCaptions;
  }

  /** subscribeToCaptions(bool): captions of the stream reach this subscriber or not. */
  setCaptions(on: boolean): void {
    if (!this.#closed) this.#subscribeToCaptions = on;
  }

  get transport(): SubscriberTransport | null {
    return this.#transport;
  }

  get consumers(): Consumer[] {
    return this.#transport?.consumers ?? [];
  }

  /** Served by another node of the cluster (null: here, or relayed). */
  get remote(): RemoteSubscriberMedia | null {
    return this.#remote;
  }

  /** Routed: where the subscriber's answer and candidates go (a transport here, or another node). */
  get negotiation(): Pick<SubscriberTransport, 'acceptAnswer' | 'addRemoteCandidate'> | null {
    return this.#transport ?? this.#remote;
  }

  /** Routed, media on another node: takes ownership of it (closed with the subscription). */
  attachRemote(remote: RemoteSubscriberMedia): void {
    this.#remote = remote;
    this.#updateRemote();
  }

  #updateRemote(): void {
    this.#remote?.update({ audio: this.#subscribeToAudio, video: this.#subscribeToVideo, preferredResolution: this.#preferredResolution, preferredFrameRate: this.#preferredFrameRate });
  }

  /** Routed: takes ownership of the transport and consumes the stream's producers on it. */
  attachTransport(transport: SubscriberTransport): void {
    this.#transport = transport;
    transport.consume([...this.stream.producers]);
    this.#watchVideoQuality();
    this.#applyPauses();
    this.#applyPreferences();
    this.#watch = new TransportWatch(transport, {
      connectTimeoutMs: this.#connectTimeoutMs,
      disconnectGraceMs: this.#disconnectGraceMs,
      onConnected: () => {},
      onLost: () => this.close('networkDisconnected'),
    });
  }

  /**
   * The SFU's downlink allocator decides per consumer; the subscriber hears of it as OpenTok.js
   * does: videoDisableWarning(Lifted), videoDisabled/videoEnabled with reason quality. Audio
   * fallback needs both the subscriber's audioFallbackEnabled and the publisher's
   * audioFallback.subscriber; without it, video only goes down to the lowest layer.
   */
  #watchVideoQuality(): void {
    const stream = this.stream;
    for (const consumer of this.consumers) {
      if (consumer.kind !== 'video') continue;
      consumer.audioFallback = this.#audioFallbackEnabled && stream.subscriberAudioFallback;
      consumer.screenShare = stream.videoType === 'screen';
      consumer.on('qualityWarning', (warning) => {
        if (!this.#closed) this.connection.deliverVideoQuality(this.id, stream.id, warning ? 'videoDisableWarning' : 'videoDisableWarningLifted');
      });
      consumer.on('qualityDisabled', (off) => this.#setQualityOff('downlink', off));
    }
  }

  /** subscribeToAudio/Video: routed, the SFU stops (or resumes, from a keyframe) sending that track. */
  setReceive(changes: { audio?: boolean; video?: boolean }): void {
    if (this.#closed) return;
    if (changes.audio !== undefined) this.#subscribeToAudio = changes.audio;
    if (changes.video !== undefined) this.#subscribeToVideo = changes.video;
    this.#applyPauses();
  }

  /**
   * setPreferredResolution: routed, the SFU forwards this subscriber the simulcast layer that
   * covers it (switching on that layer's next keyframe); null goes back to the best layer. A
   * single-encoding stream is unaffected (its one layer is all there is).
   */
  setPreferredResolution(resolution: { width: number; height: number } | null): void {
    if (this.#closed) return;
    this.#preferredResolution = resolution === null ? null : { width: resolution.width, height: resolution.height };
    this.#applyPreferences();
  }

  get preferredResolution(): { width: number; height: number } | null {
    return this.#preferredResolution;
  }

  /**
   * setPreferredFrameRate: routed, the SFU forwards this subscriber the VP8 temporal layers whose
   * measured frame rate covers it (frames above are dropped); null goes back to every frame. A
   * stream without temporal layers is unaffected.
   */
  setPreferredFrameRate(frameRate: number | null): void {
    if (this.#closed) return;
    this.#preferredFrameRate = frameRate;
    this.#applyPreferences();
  }

  get preferredFrameRate(): number | null {
    return this.#preferredFrameRate;
  }

  /** Hands the preferred resolution and frame rate to the video consumers. */
  #applyPreferences(): void {
    this.#updateRemote();
    for (const consumer of this.consumers) {
      if (consumer.kind !== 'video') continue;
      consumer.setPreferredResolution(this.#preferredResolution);
      consumer.setPreferredFrameRate(this.#preferredFrameRate);
    }
  }

  #applyPauses(): void {
    this.#updateRemote();
    for (const consumer of this.consumers) {
      const wanted = consumer.kind === 'audio' ? this.#subscribeToAudio : this.#subscribeToVideo;
      if (wanted) consumer.resume();
      else consumer.pause();
    }
  }

  /** Relayed: counts one relayed message; false once the subscription has carried too many. */
  countRelay(): boolean {
    return ++this.#relayed <= MAX_RELAY_MESSAGES;
  }

  dump(): Record<string, unknown> {
    return {
      subscriberId: this.id,
      streamId: this.stream.id,
      connectionId: this.connection.id,
      subscribeToAudio: this.#subscribeToAudio,
      subscribeToVideo: this.#subscribeToVideo,
      preferredResolution: this.#preferredResolution,
      preferredFrameRate: this.#preferredFrameRate,
      relayed: this.#relayed,
      closed: this.#closed,
      transport: this.#transport?.dump() ?? null,
      ...(this.#remote ? { mediaNode: this.#remote.nodeId } : {}),
    };
  }

  /** Ends the subscription and releases its transport. Idempotent. */
  close(reason: SubscriptionEndReason): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#watch?.stop();
    this.stream.off('videoDisabledForQuality', this.#onUplinkQuality);
    const transport = this.#transport;
    this.emit('close', reason);
    this.removeAllListeners();
    void transport?.close();
    this.#remote?.close();
  }
}
