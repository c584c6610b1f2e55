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

/** A published stream as other clients see it (OpenTok.js Stream). Nobody can publish yet in v1. */
export interface StreamInfo {
  streamId: string;
  /** The publishing connection. */
  connectionId: string;
  name: string;
  hasAudio: boolean;
  hasVideo: boolean;
  /** null for an audio-only stream. */
  videoType: VideoType | null;
  videoDimensions: { width: number; height: number } | null;
  /** Epoch milliseconds. */
  creationTime: number;
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
  /** PROTOCOL_VERSION the client speaks. */
  version: number;
  sessionId: string;
  token: string;
  /** The API key (or application ID) the app passed to OT.initSession; must be the token's project when given. */
  apiKey?: string;
  /** SDK name and version, for the Inspector. */
  sdk?: { name: string; version: string };
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
}

export interface PongMessage {
  type: 'pong';
  ack?: number;
}

/** Acknowledges sequenced server messages up to `seq`, so the server can drop them from its replay buffer. */
export interface AckMessage {
  type: 'ack';
  seq: number;
}

export type ClientRequest = ConnectRequest | ResumeRequest | SignalRequest | ForceDisconnectRequest | DisconnectRequest;
export type ClientMessage = ClientRequest | PingMessage | PongMessage | AckMessage;
export type ClientMessageType = ClientMessage['type'];

// ---------------------------------------------------------------------------------------------
// Replies: each request type has one result type (a later `publish` slots in here with {answer}).

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
  session: { sessionId: string; mediaMode: 'routed' | 'relayed' };
  /** How often each side pings, and how long silence means a dead socket (ms). */
  heartbeat: { intervalMs: number; timeoutMs: number };
  /** How long the server keeps the connection after its socket drops (ms). */
  resumeGraceMs: number;
}

export interface ResumeResult {
  /** The last request id the server processed for this connection: resend only requests after it. */
  lastRequestId: number;
  /** How many missed messages follow this reply (they carry their original seq). */
  replayed: number;
}

export type EmptyResult = Record<string, never>;

/** Request type -> its message and result: `request<'signal'>()` is typed end to end. */
export interface RequestMap {
  connect: { request: ConnectRequest; result: ConnectResult };
  resume: { request: ResumeRequest; result: ResumeResult };
  signal: { request: SignalRequest; result: EmptyResult };
  forceDisconnect: { request: ForceDisconnectRequest; result: EmptyResult };
  disconnect: { request: DisconnectRequest; result: EmptyResult };
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
  seq: number;
  connection: ConnectionInfo;
}

export interface ConnectionDestroyedEvent {
  type: 'connectionDestroyed';
  seq: number;
  connectionId: string;
  reason: DisconnectReason;
}

export interface SignalEvent {
  type: 'signal';
  seq: number;
  /** Sender connection id; null when sent through the REST API. */
  from: string | null;
  signalType?: string;
  data: string;
}

/** This connection has ended (forced, or its own disconnect); the server closes the socket next. */
export interface DisconnectedEvent {
  type: 'disconnected';
  seq: number;
  reason: DisconnectReason;
}

export type ServerEvent = ConnectionCreatedEvent | ConnectionDestroyedEvent | SignalEvent | DisconnectedEvent;
export type ServerMessage = ResponseMessage | ErrorMessage | ServerEvent | PingMessage | PongMessage;
export type ServerMessageType = ServerMessage['type'];
