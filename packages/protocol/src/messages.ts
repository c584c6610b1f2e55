// The messages of the signaling protocol, as TypeScript types: what a browser sends (ClientMessage)
// and what the server sends (ServerMessage), over one WebSocket at /v2/signaling, one JSON object
// per text frame. The server validates client messages against ./schemas.ts; the browser SDK only
// imports these types. packages/protocol/README.md explains the flow.

import type { ErrorCode } from './errors.js';

// ---------------------------------------------------------------------------------------------
// Shapes shared by several messages

/** A connection as other clients see it (OpenTok.js Connection). */
export interface ConnectionInfo {
  /** UUID chosen by the server; unguessable. */
  connectionId: string;
  /** Epoch milliseconds. */
  creationTime: number;
  /** The token's connection data ('' when none). */
  data: string;
}

export type VideoType = 'camera' | 'screen' | 'custom';

export interface VideoDimensions {
  width: number;
  height: number;
}

/** A published stream as clients see it (OpenTok.js Stream). */
export interface StreamInfo {
  streamId: string;
  /** The publishing connection. */
  connectionId: string;
  name: string;
  hasAudio: boolean;
  hasVideo: boolean;
  /** null for an audio-only stream. */
  videoType: VideoType | null;
  videoDimensions: VideoDimensions | null;
  /** Frames per second the publisher asked for; null when unknown or audio-only. */
  frameRate: number | null;
  /** Epoch milliseconds. */
  creationTime: number;
  /** The publishing connection itself (id, creationTime, data), for clients that do not track connections. */
  connection?: ConnectionInfo;
  /**
   * Live captions run for this stream: captions were started for the session (REST) and its
   * publisher publishes captions. Absent means false (servers before captions).
   */
  hasCaptions?: boolean;
}

/**
 * Why a stream ended (OpenTok's streamDestroyed reasons). `session.unpublish()` is reported as
 * clientDisconnected (OpenTok documents no separate reason for it); mediaStopped means the
 * publisher's track ended (a screen share stopped from the browser's own UI, a camera unplugged).
 */
export type StreamDestroyedReason = 'clientDisconnected' | 'forceDisconnected' | 'forceUnpublished' | 'mediaStopped' | 'networkDisconnected';

/**
 * A stream property a publisher (or a moderator, for hasAudio) can change. `hasCaptions` changes
 * when captions start or stop for the session, or the publisher turns publishCaptions on or off; a
 * client ignores a property it does not know (added without a version bump).
 */
export type StreamProperty = 'hasAudio' | 'hasVideo' | 'videoDimensions' | 'hasCaptions';

/** An ICE candidate as RTCPeerConnection hands it over (RTCIceCandidateInit). */
export interface IceCandidate {
  candidate: string;
  sdpMid?: string | null;
  sdpMLineIndex?: number | null;
  usernameFragment?: string | null;
}

/** An SDP offer or answer between the two browsers of a relayed subscription. */
export interface SessionDescription {
  type: 'offer' | 'answer';
  sdp: string;
}

/** What a connection's role lets it do, as OpenTok.js `session.capabilities` shows it (1 or 0). */
export interface Capabilities {
  publish: 0 | 1;
  subscribe: 0 | 1;
  forceDisconnect: 0 | 1;
  forceUnpublish: 0 | 1;
  forceMute: 0 | 1;
}

/** Why a connection left (OpenTok's `reason` of connectionDestroyed and sessionDisconnected). */
export type DisconnectReason = 'clientDisconnected' | 'networkDisconnected' | 'forceDisconnected';

// ---------------------------------------------------------------------------------------------
// Client -> server

/** First message on a new socket: join the session with a token. */
export interface ConnectRequest {
  type: 'connect';
  /** Request id, echoed as `re` in the reply. */
  id: number;
  /** The oldest protocol version the client speaks (1 for a v1 client). */
  version: number;
  /**
   * Every version the client speaks (v2 clients: [1, 2]); the server picks the highest it also
   * speaks and says which in `ConnectResult.version`. Absent: `version` only.
   */
  versions?: readonly number[];
  sessionId: string;
  token: string;
  /** The API key (or application ID) the app passed to OT.initSession; must be the token's project when given. */
  apiKey?: string;
  /** SDK name and version, for the Inspector. */
  sdk?: { name: string; version: string };
  /**
   * OT.initSession's connectionEventsSuppressed (large sessions): the server sends this connection
   * no connectionCreated/connectionDestroyed for others and no `connections` list at connect;
   * streams still name their publisher's connection (StreamInfo.connection).
   */
  connectionEventsSuppressed?: boolean;
}

/** First message on a replacement socket: take the connection back after a drop. */
export interface ResumeRequest {
  type: 'resume';
  id: number;
  version: number;
  sessionId: string;
  connectionId: string;
  /** The secret the connect reply gave; a connection id alone never resumes. */
  resumeSecret: string;
  /** The last sequenced server message the client processed (0 when none). */
  lastSeq: number;
  /** v2: the last broadcast (`bseq`) message the client processed. */
  lastBseq?: number;
}

/** Send a signal to everyone in the session (no `to`) or to one connection. */
export interface SignalRequest {
  type: 'signal';
  id: number;
  /** Target connection id; absent for the whole session. */
  to?: string;
  /** The signal's type (≤ 128 chars of A-Z a-z 0-9 - _ ~); absent for an untyped signal. */
  signalType?: string;
  /** ≤ 8 kB of UTF-8; '' when absent. */
  data?: string;
}

/** Moderator only: disconnect a connection (reason forceDisconnected). */
export interface ForceDisconnectRequest {
  type: 'forceDisconnect';
  id: number;
  connectionId: string;
}

/** Leave the session (reason clientDisconnected). The server replies, then closes the socket. */
export interface DisconnectRequest {
  type: 'disconnect';
  id: number;
}

/** Heartbeat; either side sends it, the other answers `pong`. `ack` is the last seq processed. */
export interface PingMessage {
  type: 'ping';
  ack?: number;
  /** v2: the last broadcast `bseq` processed. */
  bseqAck?: number;
}

export interface PongMessage {
  type: 'pong';
  ack?: number;
  /** v2: the last broadcast `bseq` processed. */
  bseqAck?: number;
}

/**
 * Cluster mode: the nodes a dropped client may reconnect to changed (a node joined, left or died).
 * Sent outside the numbered stream to every connection of the node that holds it; the newest list
 * wins (a resume reply carries it too).
 */
export interface ClusterNodesMessage {
  type: 'clusterNodes';
  /** The public URLs of the live nodes, the connection's home node first. */
  nodes: string[];
}

/** Acknowledges sequenced server messages up to `seq`, so the server can drop them from its replay buffer. */
export interface AckMessage {
  type: 'ack';
  seq?: number;
  /** v2: broadcast messages up to this `bseq`. */
  bseq?: number;
}

/**
 * Publish a stream. Routed sessions: `sdp` is the offer of the Publisher's peer connection
 * (sendonly audio and/or video, one encoding per track) and the reply carries the SFU's answer.
 * Relayed sessions: no `sdp`; media goes to each subscriber on its own connection (`relay`).
 */
export interface PublishRequest {
  type: 'publish';
  id: number;
  /** ≤ 1000 characters; '' when absent. */
  name?: string;
  /** null (or absent) for a stream without video. */
  videoType?: VideoType | null;
  hasAudio: boolean;
  hasVideo: boolean;
  videoDimensions?: VideoDimensions | null;
  frameRate?: number | null;
  /** Routed only: the SDP offer (≤ 32 KiB). */
  sdp?: string;
  /**
   * The client encrypts this stream's frames end to end (the session's secret). Required in an e2ee
   * session: the server refuses a publish without it, so a client that cannot encrypt never sends
   * clear media into a session that promised none.
   */
  e2ee?: boolean;
  /** OpenTok.js publishCaptions: this stream's audio is captioned while captions run for the session. Default false. */
  publishCaptions?: boolean;
  /**
   * OT.initPublisher's `audioFallback`. `subscriber` (default true): the SFU may switch this
   * stream's video off for a subscriber whose downlink cannot carry it (audio fallback).
   * `publisher` (default false): routed, the publisher's SDK stops sending video when its own
   * uplink cannot carry it and says so with `updateStream {videoDisabledForQuality}`.
   */
  audioFallback?: { publisher?: boolean; subscriber?: boolean };
}

/**
 * Stop publishing. Others get streamDestroyed with reason clientDisconnected, or mediaStopped when
 * the client says its track ended (the browser's "stop sharing" button, a camera unplugged).
 */
export interface UnpublishRequest {
  type: 'unpublish';
  id: number;
  streamId: string;
  reason?: 'mediaStopped';
}

/** The publisher's own stream changed: audio or video turned on/off, new picture size. */
export interface UpdateStreamRequest {
  type: 'updateStream';
  id: number;
  streamId: string;
  hasAudio?: boolean;
  hasVideo?: boolean;
  videoDimensions?: VideoDimensions;
  /** publisher.publishCaptions(bool). */
  publishCaptions?: boolean;
  /**
   * Routed, publisher audio fallback (published with `audioFallback.publisher: true`, else refused
   * with 1011): true when the publisher stopped sending video because its uplink cannot carry it,
   * false when the video is back. Every subscriber of the stream gets `videoQuality`
   * videoDisabled / videoEnabled (reason 'quality'); hasVideo does not change.
   */
  videoDisabledForQuality?: boolean;
}

/**
 * Subscribe to a stream. Routed: the reply carries the SFU's offer (`sdp`); answer it with
 * `answer`. Relayed: the reply has no `sdp`; the publisher's browser sends its offer through
 * `relay`.
 */
export interface SubscribeRequest {
  type: 'subscribe';
  id: number;
  streamId: string;
  /** Default true. */
  subscribeToAudio?: boolean;
  /** Default true. */
  subscribeToVideo?: boolean;
  /**
   * Routed: the picture size this subscriber wants (OpenTok.js Subscriber preferredResolution);
   * the SFU forwards the smallest simulcast layer covering it. Absent or null: the best layer.
   */
  preferredResolution?: VideoDimensions | null;
  /**
   * Routed: the frame rate this subscriber wants (OpenTok.js Subscriber preferredFrameRate), frames
   * per second, positive. The SFU forwards the lowest VP8 temporal layer whose measured rate covers
   * it. Absent or null: every frame.
   */
  preferredFrameRate?: number | null;
  /** OpenTok.js subscribeToCaptions: receive this stream's `caption` messages. Default false. */
  subscribeToCaptions?: boolean;
  /**
   * Routed: OpenTok.js's `audioFallbackEnabled` (default true). False: video is never switched off
   * for lack of bandwidth, only lowered to the lowest layer. The publisher's
   * `audioFallback.subscriber: false` turns it off for every subscriber of the stream.
   */
  audioFallbackEnabled?: boolean;
}

/** Routed only: the subscriber's SDP answer to the offer the subscribe reply carried. */
export interface AnswerRequest {
  type: 'answer';
  id: number;
  subscriberId: string;
  sdp: string;
}

/** Receive audio / video of a subscription or not (routed: the SFU stops sending it). */
export interface UpdateSubscriberRequest {
  type: 'updateSubscriber';
  id: number;
  subscriberId: string;
  subscribeToAudio?: boolean;
  subscribeToVideo?: boolean;
  /** Routed: setPreferredResolution (null: the best layer); see SubscribeRequest. */
  preferredResolution?: VideoDimensions | null;
  /** Routed: setPreferredFrameRate (null: every frame); see SubscribeRequest. */
  preferredFrameRate?: number | null;
  /** subscriber.subscribeToCaptions(bool). */
  subscribeToCaptions?: boolean;
}

export interface UnsubscribeRequest {
  type: 'unsubscribe';
  id: number;
  subscriberId: string;
}

/**
 * Routed only, optional: a trickled ICE candidate of the browser for its publisher (`streamId`)
 * or subscriber (`subscriberId`) connection. The SFU is ICE-lite and learns the browser's address
 * from its checks, so a client need not send these. null = end of candidates.
 */
export interface IceCandidateRequest {
  type: 'iceCandidate';
  id: number;
  streamId?: string;
  subscriberId?: string;
  candidate: IceCandidate | null;
}

/**
 * Relayed only: an offer, answer or ICE candidate for the other browser of a subscription. The
 * publisher's browser offers, the subscriber's answers; either may trickle candidates.
 */
export interface RelayRequest {
  type: 'relay';
  id: number;
  subscriberId: string;
  description?: SessionDescription;
  /** null = end of candidates. */
  candidate?: IceCandidate | null;
}

/** Moderators: stop someone's stream (reason forceUnpublished). */
export interface ForceUnpublishRequest {
  type: 'forceUnpublish';
  id: number;
  streamId: string;
}

/** Moderators: mute one stream's audio. */
export interface ForceMuteStreamRequest {
  type: 'forceMuteStream';
  id: number;
  streamId: string;
}

/** Moderators: mute every stream but the excluded ones, and streams published while it is active. */
export interface ForceMuteAllRequest {
  type: 'forceMuteAll';
  id: number;
  excludedStreamIds?: string[];
}

/** Moderators: end "mute all" for streams published from now on. */
export interface DisableForceMuteRequest {
  type: 'disableForceMute';
  id: number;
}

/** One track of the browser's periodic getStats summary (for the Inspector). */
export interface ClientTrackStats {
  streamId?: string;
  direction: 'send' | 'receive';
  kind: 'audio' | 'video';
  /** Bits per second over the last interval. */
  bitrate: number;
  /** Fraction lost 0..1 over the last interval. */
  packetLoss: number;
  jitterMs?: number;
  rttMs?: number;
  frameRate?: number;
  width?: number;
  height?: number;
  nackCount?: number;
  pliCount?: number;
}

/** Not a request (no id, no reply): the browser's getStats summary, every few seconds. */
export interface ClientStatsMessage {
  type: 'clientStats';
  /** At most 32 tracks. */
  tracks: ClientTrackStats[];
}

/** Not a request: an error the browser SDK hit (publish/subscribe failures, exceptions). */
export interface ClientErrorMessage {
  type: 'clientError';
  code?: number | string;
  name?: string;
  /** ≤ 1000 characters. */
  message: string;
  streamId?: string;
}

export type ClientRequest =
  | ConnectRequest
  | ResumeRequest
  | SignalRequest
  | ForceDisconnectRequest
  | DisconnectRequest
  | PublishRequest
  | UnpublishRequest
  | UpdateStreamRequest
  | SubscribeRequest
  | AnswerRequest
  | UpdateSubscriberRequest
  | UnsubscribeRequest
  | IceCandidateRequest
  | RelayRequest
  | ForceUnpublishRequest
  | ForceMuteStreamRequest
  | ForceMuteAllRequest
  | DisableForceMuteRequest;
export type ClientMessage = ClientRequest | PingMessage | PongMessage | AckMessage | ClientStatsMessage | ClientErrorMessage;
export type ClientMessageType = ClientMessage['type'];

// ---------------------------------------------------------------------------------------------
// Replies: each request type has one result type.

export interface ConnectResult {
  connection: ConnectionInfo;
  /** Present this, with the connection id, to resume after a dropped socket. Keep it private. */
  resumeSecret: string;
  capabilities: Capabilities;
  /** OpenTok.js permission strings: publish, subscribe, forcedisconnect, forceunpublish, forcemute. */
  permissions: string[];
  /** Everyone else already in the session, oldest first. */
  connections: ConnectionInfo[];
  /** Streams already published. */
  streams: StreamInfo[];
  /**
   * `e2ee`: the session was created end-to-end encrypted. Clients encrypt every frame they publish
   * with a key only they hold (publish with `e2ee: true`) and decrypt what they receive; a client
   * that cannot must not publish (the server refuses a publish without `e2ee: true`).
   */
  session: { sessionId: string; mediaMode: 'routed' | 'relayed'; e2ee: boolean };
  /** How often each side pings, and how long silence means a dead socket (ms). */
  heartbeat: { intervalMs: number; timeoutMs: number };
  /** How long the server keeps the connection after its socket drops (ms). */
  resumeGraceMs: number;
  /** The protocol version the server chose from `connect.versions`; absent means 1. */
  version?: number;
  /** v2: the broadcast numbering this connection starts after (its first broadcast is `bseq + 1`). */
  bseq?: number;
  /**
   * TURN servers the operator deployed, with credentials for this connection that expire
   * (coturn's REST scheme); absent when the server has none. The SDK adds them to every peer
   * connection, routed and relayed, unless the app's iceConfig says `includeServers: 'custom'`.
   */
  iceServers?: IceServerInfo[];
  /**
   * Cluster mode: the public URLs of the server's nodes. When the socket drops the client also tries
   * these; and when its resume is refused (the node that held the connection is gone) it joins again
   * with its token, on whichever node answers, and publishes its streams again.
   */
  nodes?: string[];
}

/** An RTCIceServer: TURN URLs with a username and credential. */
export interface IceServerInfo {
  urls: string[];
  username: string;
  credential: string;
}

export interface ResumeResult {
  /** The last request id the server processed for this connection: resend only requests after it. */
  lastRequestId: number;
  /** How many missed messages follow this reply (they carry their original seq). */
  replayed: number;
  /** Cluster mode: the live nodes now (ConnectResult.nodes, refreshed). */
  nodes?: string[];
}

export type EmptyResult = Record<string, never>;

export interface PublishResult {
  streamId: string;
  /** Routed: the SFU's SDP answer. */
  sdp?: string;
  /**
   * True when "mute all" is active: the stream starts without audio (the publisher disables its
   * microphone track and its Publisher dispatches muteForced).
   */
  muteForced: boolean;
}

export interface SubscribeResult {
  subscriberId: string;
  /** Routed: the SFU's SDP offer, to answer with `answer`. */
  sdp?: string;
  /** The publisher's video is off for quality (publisher audio fallback) as this subscription starts. */
  videoDisabledForQuality?: true;
}

/** Request type -> its message and result: `request<'signal'>()` is typed end to end. */
export interface RequestMap {
  connect: { request: ConnectRequest; result: ConnectResult };
  resume: { request: ResumeRequest; result: ResumeResult };
  signal: { request: SignalRequest; result: EmptyResult };
  forceDisconnect: { request: ForceDisconnectRequest; result: EmptyResult };
  disconnect: { request: DisconnectRequest; result: EmptyResult };
  publish: { request: PublishRequest; result: PublishResult };
  unpublish: { request: UnpublishRequest; result: EmptyResult };
  updateStream: { request: UpdateStreamRequest; result: EmptyResult };
  subscribe: { request: SubscribeRequest; result: SubscribeResult };
  answer: { request: AnswerRequest; result: EmptyResult };
  updateSubscriber: { request: UpdateSubscriberRequest; result: EmptyResult };
  unsubscribe: { request: UnsubscribeRequest; result: EmptyResult };
  iceCandidate: { request: IceCandidateRequest; result: EmptyResult };
  relay: { request: RelayRequest; result: EmptyResult };
  forceUnpublish: { request: ForceUnpublishRequest; result: EmptyResult };
  forceMuteStream: { request: ForceMuteStreamRequest; result: EmptyResult };
  forceMuteAll: { request: ForceMuteAllRequest; result: EmptyResult };
  disableForceMute: { request: DisableForceMuteRequest; result: EmptyResult };
}
export type RequestType = keyof RequestMap;

// ---------------------------------------------------------------------------------------------
// Server -> client

/** The successful reply to request `re`. Sequenced (`seq`) except for connect and resume replies. */
export interface ResponseMessage<T extends RequestType = RequestType> {
  type: 'response';
  re: number;
  seq?: number;
  result: RequestMap[T]['result'];
}

/**
 * A failed request (`re` set) or a protocol violation (`re` absent when the message had no usable
 * id). `code` and `name` are OpenTok's where one exists (see errors.ts).
 */
export interface ErrorMessage {
  type: 'error';
  re?: number;
  seq?: number;
  code: ErrorCode;
  name: string;
  message: string;
}

export interface ConnectionCreatedEvent {
  type: 'connectionCreated';
  seq?: number;
  bseq?: number;
  connection: ConnectionInfo;
}

export interface ConnectionDestroyedEvent {
  type: 'connectionDestroyed';
  seq?: number;
  bseq?: number;
  connectionId: string;
  reason: DisconnectReason;
}

export interface SignalEvent {
  type: 'signal';
  seq?: number;
  bseq?: number;
  /** Sender connection id; null when sent through the REST API. */
  from: string | null;
  signalType?: string;
  data: string;
}

/** This connection has ended (forced, or its own disconnect); the server closes the socket next. */
export interface DisconnectedEvent {
  type: 'disconnected';
  seq?: number;
  bseq?: number;
  reason: DisconnectReason;
}

/** A stream is live (its media connected). Sent to everyone, the publisher included. */
export interface StreamCreatedEvent {
  type: 'streamCreated';
  seq?: number;
  bseq?: number;
  stream: StreamInfo;
}

/** A stream ended. Sent to everyone who was told it exists, the publisher included. */
export interface StreamDestroyedEvent {
  type: 'streamDestroyed';
  seq?: number;
  bseq?: number;
  streamId: string;
  reason: StreamDestroyedReason;
}

export interface StreamPropertyChangedEvent {
  type: 'streamPropertyChanged';
  seq?: number;
  bseq?: number;
  streamId: string;
  changedProperty: StreamProperty;
  oldValue: boolean | VideoDimensions | null;
  newValue: boolean | VideoDimensions | null;
}

/** A moderator (or the REST API) muted everyone (`active` true) or ended that (`active` false). */
export interface MuteForcedEvent {
  type: 'muteForced';
  seq?: number;
  bseq?: number;
  active: boolean;
}

/** To the publisher only: a moderator muted your stream's audio; disable your microphone track. */
export interface StreamMuteForcedEvent {
  type: 'streamMuteForced';
  seq?: number;
  bseq?: number;
  streamId: string;
}

/**
 * Routed, to the publisher only: which simulcast encodings of its video someone needs, by rid.
 * The SDK sets `active` on each (RTCRtpSender.setParameters): layers no one watches are not sent.
 */
export interface VideoLayersEvent {
  type: 'videoLayers';
  seq: number;
  streamId: string;
  layers: { rid: string; active: boolean }[];
}

/**
 * Routed, to a subscriber: its downlink and this subscription's video. `videoDisableWarning` /
 * `videoDisableWarningLifted`: close to, or again away from, not carrying the lowest layer;
 * `videoDisabled` / `videoEnabled`: the SFU stopped or restarted the video (audio goes on).
 * The SDK raises the Subscriber events of those names (reason `quality`).
 */
export interface VideoQualityEvent {
  type: 'videoQuality';
  seq: number;
  subscriberId: string;
  streamId: string;
  event: 'videoDisableWarning' | 'videoDisableWarningLifted' | 'videoDisabled' | 'videoEnabled';
}

/** A subscription ended without you asking (its stream ended, or its media failed). */
export interface SubscriberDestroyedEvent {
  type: 'subscriberDestroyed';
  seq?: number;
  bseq?: number;
  subscriberId: string;
  streamId: string;
  reason: StreamDestroyedReason | 'unsubscribed';
}

/** Relayed, to the publisher: `connectionId` subscribed to your stream; offer to it through `relay`. */
export interface RelayStartEvent {
  type: 'relayStart';
  seq?: number;
  bseq?: number;
  subscriberId: string;
  streamId: string;
  connectionId: string;
}

/** Relayed: the other browser's offer, answer or candidate for one subscription. */
export interface RelayEvent {
  type: 'relay';
  seq?: number;
  bseq?: number;
  subscriberId: string;
  streamId: string;
  description?: SessionDescription;
  candidate?: IceCandidate | null;
}

/** An archive of this session started or stopped (OpenTok.js archiveStarted/archiveStopped). */
export interface ArchiveEvent {
  type: 'archiveStarted' | 'archiveStopped';
  seq?: number;
  bseq?: number;
  archiveId: string;
  name: string;
}

/**
 * v2: the connections that joined and left in one turn, in order, in one message (to clients
 * without connectionEventsSuppressed). The client handles each entry as the connectionCreated or
 * connectionDestroyed message it stands for; it skips an entry about itself, one about a
 * connection it already knows (created) or never knew (destroyed).
 */
export interface ConnectionEventsMessage {
  type: 'connectionEvents';
  bseq: number;
  events: Array<Omit<ConnectionCreatedEvent, 'seq' | 'bseq'> | Omit<ConnectionDestroyedEvent, 'seq' | 'bseq'>>;
}

/**
 * Live captions, to a subscriber that asked for them (subscribeToCaptions): the text recognised in
 * the stream's audio. Partial results (`isFinal` false) are revised until a final one ends the
 * phrase. Sequenced like every message for one connection.
 */
export interface CaptionEvent {
  type: 'caption';
  seq?: number;
  subscriberId: string;
  streamId: string;
  /** ≤ 1000 characters. */
  caption: string;
  isFinal: boolean;
}

export type ServerEvent =
  | ConnectionEventsMessage
  | ConnectionCreatedEvent
  | ConnectionDestroyedEvent
  | SignalEvent
  | DisconnectedEvent
  | StreamCreatedEvent
  | StreamDestroyedEvent
  | StreamPropertyChangedEvent
  | MuteForcedEvent
  | StreamMuteForcedEvent
  | VideoLayersEvent
  | VideoQualityEvent
  | SubscriberDestroyedEvent
  | RelayStartEvent
  | RelayEvent
  | ArchiveEvent
  | CaptionEvent;
export type ServerMessage = ResponseMessage | ErrorMessage | ServerEvent | PingMessage | PongMessage | ClusterNodesMessage;
export type ServerMessageType = ServerMessage['type'];
