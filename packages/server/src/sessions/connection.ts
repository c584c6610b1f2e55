// A Connection: one client in one live Session, from a verified token to its leaving. It outlives
// its sockets (signaling/ may swap one for another on resume) and carries what the Inspector
// needs: role, user agent, address. close() is idempotent and emits `close` once.

import type { Capabilities, ConnectionInfo, DisconnectReason, IceCandidate, SessionDescription, StreamDestroyedReason, VideoQualityEvent } from '@colloquy/protocol';
import type { Role } from '@colloquy/tokens';
import { randomUUID } from 'node:crypto';
import type { ClientTokenKind } from '../auth/client-token.js';
import { can, permissionsOf, type Permission } from '../auth/roles.js';
import { TokenBucket } from './token-bucket.js';
import { TypedEmitter } from '../typed-emitter.js';

export type { DisconnectReason };

/** A signal as a recipient receives it. */
export interface SignalDelivery {
  /** The sender; null when it came through the REST API. */
  from: Connection | null;
  type: string | undefined;
  data: string;
  /** Sent to the whole session (also announced once on the Session as broadcastSignal). */
  toAll?: boolean;
}

/** Relayed: what the other browser of a subscription sent (an offer, answer or ICE candidate). */
export interface RelayDelivery {
  subscriberId: string;
  streamId: string;
  description?: SessionDescription;
  candidate?: IceCandidate | null;
}

/** Relayed, to a publisher: someone subscribed to its stream; it should make an offer. */
export interface RelayStart {
  subscriberId: string;
  streamId: string;
  /** The subscribing connection. */
  connectionId: string;
}

/** A caption of a stream this connection subscribes to with subscribeToCaptions. */
export interface CaptionDelivery {
  subscriberId: string;
  streamId: string;
  caption: string;
  isFinal: boolean;
}

export type ConnectionEvents = {
  /** A signal for this connection (to it alone, or to the whole session). */
  signal: [SignalDelivery];
  /** A moderator muted this connection's stream: disable its microphone. */
  streamMuteForced: [streamId: string];
  /** Routed simulcast: which encodings of this connection's stream someone needs. */
  videoLayers: [streamId: string, layers: { rid: string; active: boolean }[]];
  /** Routed: one of this connection's subscriptions lost or regained its video for lack of bandwidth (or came close to). */
  videoQuality: [subscriberId: string, streamId: string, event: VideoQualityEvent['event']];
  relayStart: [RelayStart];
  caption: [CaptionDelivery];
  relay: [RelayDelivery];
  /** One of this connection's subscriptions ended without it asking. */
  subscriberDestroyed: [subscriberId: string, streamId: string, reason: StreamDestroyedReason | 'unsubscribed'];
  /** The client's socket dropped; the connection waits for it to resume. */
  away: [];
  /** The client resumed on a new socket. */
  back: [];
  /** The connection has left the session; emitted once. */
  close: [reason: DisconnectReason];
};

export interface ConnectionInit {
  sessionId: string;
  projectId: string;
  role: Role;
  data: string;
  tokenKind: ClientTokenKind;
  /** Client's User-Agent header ('' when none). */
  userAgent: string;
  /** Client's address as the server saw it (first X-Forwarded-For hop when behind a proxy). */
  ip: string;
  /** SDK name/version the client reported. */
  sdk: { name: string; version: string } | null;
  /** Cluster: the node the client's socket entered the cluster at, when not this one (its media is served there). */
  mediaNode?: string | null;
  signalRate: { capacity: number; perSecond: number };
  /** The token's initial_layout_class_list: the layout classes of the streams it publishes. */
  layoutClassList?: readonly string[];
}

export class Connection extends TypedEmitter<ConnectionEvents> {
  readonly id: string = randomUUID();
  readonly creationTime = Date.now();
  readonly sessionId: string;
  readonly projectId: string;
  readonly role: Role;
  readonly data: string;
  readonly tokenKind: ClientTokenKind;
  readonly userAgent: string;
  readonly ip: string;
  readonly sdk: { name: string; version: string } | null;
  /** Cluster: the node that serves this client's new subscriptions (null: this node); a resume through another node changes it. */
  mediaNode: string | null;
  readonly layoutClassList: readonly string[];
  /** Client-originated signals only; REST signals are not limited by it. */
  readonly signalBucket: TokenBucket;
  #closed = false;
  #closeReason: DisconnectReason | null = null;
  #away = false;

  constructor(init: ConnectionInit) {
    super();
    this.sessionId = init.sessionId;
    this.projectId = init.projectId;
    this.role = init.role;
    this.data = init.data;
    this.tokenKind = init.tokenKind;
    this.userAgent = init.userAgent;
    this.ip = init.ip;
    this.sdk = init.sdk;
    this.mediaNode = init.mediaNode ?? null;
    this.layoutClassList = [...(init.layoutClassList ?? [])];
    this.signalBucket = new TokenBucket(init.signalRate.capacity, init.signalRate.perSecond);
  }

  get closed(): boolean {
    return this.#closed;
  }

  get closeReason(): DisconnectReason | null {
    return this.#closeReason;
  }

  /** True while the client's socket is gone and the connection waits for a resume. */
  get away(): boolean {
    return this.#away;
  }

  get permissions(): readonly Permission[] {
    return permissionsOf(this.role);
  }

  can(permission: Permission): boolean {
    return can(this.role, permission);
  }

  get capabilities(): Capabilities {
    const flag = (p: Permission): 0 | 1 => (this.can(p) ? 1 : 0);
    return {
      publish: flag('publish'),
      subscribe: flag('subscribe'),
      forceDisconnect: flag('forcedisconnect'),
      forceUnpublish: flag('forceunpublish'),
      forceMute: flag('forcemute'),
    };
  }

  /** What other clients see. */
  info(): ConnectionInfo {
    return { connectionId: this.id, creationTime: this.creationTime, data: this.data };
  }

  /** State for logs, the Inspector and tests. */
  dump(): Record<string, unknown> {
    return {
      connectionId: this.id,
      sessionId: this.sessionId,
      creationTime: this.creationTime,
      role: this.role,
      tokenKind: this.tokenKind,
      userAgent: this.userAgent,
      ip: this.ip,
      sdk: this.sdk,
      away: this.#away,
      closed: this.#closed,
      closeReason: this.#closeReason,
    };
  }

  deliverSignal(signal: SignalDelivery): void {
    if (!this.#closed) this.emit('signal', signal);
  }

  deliverStreamMuteForced(streamId: string): void {
    if (!this.#closed) this.emit('streamMuteForced', streamId);
  }

  deliverVideoLayers(streamId: string, layers: { rid: string; active: boolean }[]): void {
    if (!this.#closed) this.emit('videoLayers', streamId, layers);
  }

  deliverCaption(caption: CaptionDelivery): void {
    if (!this.#closed) this.emit('caption', caption);
  }

  deliverVideoQuality(subscriberId: string, streamId: string, event: VideoQualityEvent['event']): void {
    if (!this.#closed) this.emit('videoQuality', subscriberId, streamId, event);
  }

  deliverRelayStart(start: RelayStart): void {
    if (!this.#closed) this.emit('relayStart', start);
  }

  deliverRelay(message: RelayDelivery): void {
    if (!this.#closed) this.emit('relay', message);
  }

  deliverSubscriberDestroyed(subscriberId: string, streamId: string, reason: StreamDestroyedReason | 'unsubscribed'): void {
    if (!this.#closed) this.emit('subscriberDestroyed', subscriberId, streamId, reason);
  }

  markAway(): void {
    if (this.#closed || this.#away) return;
    this.#away = true;
    this.emit('away');
  }

  markBack(): void {
    if (this.#closed || !this.#away) return;
    this.#away = false;
    this.emit('back');
  }

  /** Ends the connection; the Session removes it and tells the others. Idempotent. */
  close(reason: DisconnectReason): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeReason = reason;
    this.emit('close', reason);
    this.removeAllListeners();
  }
}
