// The signaling WebSocket endpoint (/v2/signaling): authenticates each socket with its first
// message (connect with a token, or resume with a connection id and secret), then turns protocol
// messages into calls on sessions/ and hands replies and events to the connection's Channel.
// Everything a client sends is validated here; a bad message gets a protocol error, a client that
// keeps misbehaving is cut off, and nothing one client does reaches another except through
// sessions/.

import {
  CloseCodes,
  ErrorCodes,
  PROTOCOL_VERSION_2,
  PROTOCOL_VERSIONS,
  checkSignal,
  type ClientMessage,
  type ClientRequest,
  type ConnectRequest,
  type ConnectResult,
  type ConnectionInfo,
  type IceServerInfo,
  type ErrorCode,
  type RequestMap,
  type ResumeRequest,
} from '@colloquy/protocol';
import { parseClientMessage } from '@colloquy/protocol/schemas';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { TokenError, verifyClientToken, type ClientTokenClaims } from '../auth/client-token.js';
import type { Logger } from '../logger.js';
import { TokenBucket } from '../sessions/token-bucket.js';
import { clientActor, type Session, type SessionManager } from '../sessions/session-manager.js';
import type { ProjectStore } from '../store/projects.js';
import { SessionBroadcast, textFrame } from './broadcast-log.js';
import { Channel, type ChannelOptions, type OutgoingMessage } from './channel.js';
import { connectionListJson, withConnectionList } from './connection-list.js';
import { JoinAdmission } from './join-admission.js';
import { errorMessage, protocolError } from './errors.js';
import type { ClientSocket, FrameSink } from './socket.js';
import { sendFrameBatched, trackSocket } from './write-batching.js';
import { every, type ClockTask } from '../ops/thread-clock.js';

export interface SignalingOptions extends ChannelOptions {
  heartbeatMs: number;
  /** Silence longer than this ends a socket (default three heartbeats). */
  heartbeatTimeoutMs: number;
  /** Largest frame accepted; a larger one closes the socket (1009). */
  maxPayloadBytes: number;
  /** Time a new socket has to send connect or resume. */
  authTimeoutMs: number;
  /** Protocol errors tolerated per socket before it is cut off. */
  maxProtocolErrors: number;
  /** Messages per socket: burst and sustained rate before it counts as a flood and is cut off. */
  messageBurst: number;
  messagesPerSecond: number;
  clockSkewSeconds: number;
  /** The client's address for the Inspector (proxy-trust.ts: X-Forwarded-For only from trusted proxies). */
  clientAddress: (request: IncomingMessage) => string;
  /** The TURN servers (with credentials for this connection) a client is given on connect; none when absent. */
  iceServers?: (connectionId: string) => IceServerInfo[];
  /** Connections one session may hold; a connect beyond gets OpenTok's 1027 (`COLLOQUY_MAX_CONNECTIONS_PER_SESSION`). */
  maxConnectionsPerSession: number;
  /** Joins (connect requests) admitted per second across the server; more wait their turn (`COLLOQUY_JOIN_RATE`). */
  joinsPerSecond: number;
  /** Cluster mode: the public URLs of the live nodes, told to clients on connect (ConnectResult.nodes). */
  clusterNodes?: () => string[];
}

export const DEFAULT_SIGNALING_OPTIONS: Omit<SignalingOptions, 'resumeGraceMs' | 'heartbeatMs' | 'heartbeatTimeoutMs' | 'clockSkewSeconds'> = {
  clientAddress: (request) => request.socket.remoteAddress ?? '',
  maxConnectionsPerSession: 15_000,
  joinsPerSecond: 2_000,
  maxPayloadBytes: 64 * 1024,
  authTimeoutMs: 10_000,
  maxProtocolErrors: 20,
  messageBurst: 400,
  messagesPerSecond: 200,
  maxBufferedMessages: 4096,
  maxBufferedBytes: 4 * 1024 * 1024,
  maxSocketBufferBytes: 8 * 1024 * 1024,
};

/** How long a cut-off socket keeps its close frame's chance to reach the client before it is destroyed. */
const CUT_OFF_GRACE_MS = 200;

/**
 * The heartbeat visits the sockets in this many slices, one every heartbeatMs / SWEEP_SLICES: each
 * socket is still pinged (and checked for silence) once a period, but 15,000 sockets are not all
 * written in one turn — that burst (15,000 writes, a few hundred ms) held up any signal arriving
 * during it, every 5 s.
 */
const SWEEP_SLICES = 10;

/** `{"type":"ping"}` as one server text frame, built once for every socket and every period. */
const PING_FRAME = textFrame(JSON.stringify({ type: 'ping' } satisfies OutgoingMessage));

/** One socket's state, before and after it is bound to a connection. */
interface Peer {
  ws: ClientSocket;
  ip: string;
  mediaNode: string | null;
  userAgent: string;
  channel: Channel | null;
  /** Its connect waits for admission (join rate). */
  joining: boolean;
  lastHeard: number;
  protocolErrors: number;
  /** Cut off: everything it still sends is dropped unread and unlogged. */
  cutOff: boolean;
  messages: TokenBucket;
  authTimer: NodeJS.Timeout | undefined;
  /** The heartbeat slice it is visited in. */
  slice: Set<Peer>;
}

export class SignalingServer {
  readonly #sessions: SessionManager;
  readonly #projects: ProjectStore;
  readonly #options: SignalingOptions;
  readonly #log: Logger;
  readonly #wss: WebSocketServer;
  readonly #peers = new Map<ClientSocket, Peer>();
  /** Live channels by connection id (including those waiting for a resume). */
  readonly #channels = new Map<string, Channel>();
  /** Protocol v2 broadcast logs of the sessions that have v2 clients. */
  readonly #broadcasts = new Map<Session, SessionBroadcast>();
  readonly #admission: JoinAdmission;
  readonly #heartbeat: ClockTask;
  /** The peers by heartbeat slice (SWEEP_SLICES), filled in turn; the next slice to visit. */
  readonly #slices: Array<Set<Peer>> = Array.from({ length: SWEEP_SLICES }, () => new Set<Peer>());
  #nextSlice = 0;
  #accepted = 0;
  /** When the heartbeat sweep last ran: a sweep that runs late means this process stalled. */
  #lastSweepAt = Date.now();
  /** When the process last ran again after a stall: a client's silence counts from then at the earliest. */
  #listeningSince = 0;
  #closed = false;
  /** Valid client messages received since start, by type (the /metrics counter reads it). */
  readonly messagesReceived = new Map<string, number>();

  constructor(sessions: SessionManager, projects: ProjectStore, options: SignalingOptions, logger: Logger) {
    this.#sessions = sessions;
    this.#projects = projects;
    this.#options = options;
    this.#log = logger.child({ module: 'signaling' });
    this.#wss = new WebSocketServer({ noServer: true, maxPayload: options.maxPayloadBytes, perMessageDeflate: false, clientTracking: false });
    this.#admission = new JoinAdmission(options.joinsPerSecond);
    this.#heartbeat = every(Math.max(1, options.heartbeatMs / SWEEP_SLICES), () => this.#sweep());
  }

  /** Number of open sockets and of connections (attached or waiting for a resume), for tests and metrics. */
  stats(): { sockets: number; channels: number } {
    return { sockets: this.#peers.size, channels: this.#channels.size };
  }

  /**
   * Cluster mode: the live nodes changed; every connection held here learns the new list (a client
   * that connected before a node joined would otherwise never try it when its own node dies).
   */
  announceClusterNodes(nodes: string[]): void {
    if (this.#closed) return;
    const text = JSON.stringify({ type: 'clusterNodes', nodes });
    for (const channel of this.#channels.values()) if (!channel.ended) channel.sendUnsequencedText(text);
  }

  /**
   * Cluster mode: the session now lives on another node (it was re-placed while this node looked
   * dead). Its sockets here are cut, as a dead node's would be: each client resumes through the
   * cluster, reaches the session's new home, and joins there (its connection here ends after the
   * resume grace, with no one left to tell). Returns how many sockets were cut.
   */
  dropSession(sessionId: string): number {
    let dropped = 0;
    for (const peer of [...this.#peers.values()]) {
      if (peer.channel?.session.id !== sessionId) continue;
      peer.ws.terminate();
      dropped++;
    }
    return dropped;
  }

  /** A client socket holding more than this unread is dropped (channel.ts; the cluster's edges too). */
  get maxSocketBufferBytes(): number {
    return this.#options.maxSocketBufferBytes;
  }

  /** The address of the client behind an upgrade request (after the operator's proxy trust). */
  clientAddressOf(request: IncomingMessage): string {
    return this.#options.clientAddress(request);
  }

  /** Takes over an HTTP upgrade request for the signaling path. */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (this.#closed) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\n');
      return;
    }
    this.#wss.handleUpgrade(request, socket, head, (ws) => {
      trackSocket(ws, socket);
      this.#accept(ws, this.#identify(request));
    });
  }

  /**
   * Cluster mode: a socket cluster/ upgraded and read the first message of (connect or resume), for
   * a session this node is the home of. It goes on as if this server had accepted it.
   */
  adoptSocket(ws: WebSocket, socket: Duplex, request: IncomingMessage, first: RawData): void {
    if (this.#closed) {
      ws.close(CloseCodes.GOING_AWAY, 'server shutting down');
      return;
    }
    trackSocket(ws, socket);
    this.#accept(ws, this.#identify(request));
    ws.emit('message', first, false);
  }

  /**
   * Cluster mode: a client that reached another node, carried here over that node's signaling link
   * (cluster/signaling-link.ts). `frames` takes the frames written to it; the client's messages
   * arrive as the socket's 'message' events. `mediaNode`: the node that serves its subscriptions.
   */
  adoptLinked(ws: ClientSocket, frames: FrameSink, client: { ip: string; userAgent: string; mediaNode: string | null }): void {
    if (this.#closed) {
      ws.close(CloseCodes.GOING_AWAY, 'server shutting down');
      return;
    }
    trackSocket(ws, frames);
    this.#accept(ws, { ip: client.ip, userAgent: client.userAgent.slice(0, 512), mediaNode: client.mediaNode });
  }

  /** Who is behind an upgrade request: its address and user agent (its media are served here). */
  #identify(request: IncomingMessage): { ip: string; userAgent: string; mediaNode: string | null } {
    return {
      ip: this.#options.clientAddress(request),
      mediaNode: null,
      userAgent: String(request.headers['user-agent'] ?? '').slice(0, 512),
    };
  }

  /** Closes every socket (1001) and stops; sessions/ ends the connections afterwards. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#heartbeat.cancel();
    this.#admission.close();
    for (const channel of this.#channels.values()) channel.dispose();
    const peers = [...this.#peers.values()];
    for (const peer of peers) {
      clearTimeout(peer.authTimer);
      peer.ws.close(CloseCodes.GOING_AWAY, 'server shutting down');
    }
    // Give clients a moment to answer the close frame, then cut whoever did not.
    await Promise.race([
      Promise.all(peers.map((p) => (p.ws.readyState === WebSocket.CLOSED ? Promise.resolve() : new Promise((resolve) => p.ws.once('close', resolve))))),
      new Promise((resolve) => setTimeout(resolve, 500).unref?.()),
    ]);
    for (const peer of this.#peers.values()) peer.ws.terminate();
    this.#peers.clear();
    for (const slice of this.#slices) slice.clear();
    this.#wss.close();
  }

  #accept(ws: ClientSocket, client: { ip: string; userAgent: string; mediaNode: string | null }): void {
    const peer: Peer = {
      ws,
      ip: client.ip,
      mediaNode: client.mediaNode,
      userAgent: client.userAgent,
      channel: null,
      joining: false,
      lastHeard: Date.now(),
      protocolErrors: 0,
      cutOff: false,
      messages: new TokenBucket(this.#options.messageBurst, this.#options.messagesPerSecond),
      authTimer: undefined,
      slice: this.#slices[this.#accepted++ % SWEEP_SLICES]!,
    };
    this.#peers.set(ws, peer);
    peer.slice.add(peer);
    peer.authTimer = setTimeout(() => {
      if (!peer.channel) ws.close(CloseCodes.AUTH_TIMEOUT, 'no connect or resume in time');
    }, this.#options.authTimeoutMs);
    peer.authTimer.unref?.();
    // A socket error (bad frame, oversized frame, reset) is followed by 'close'; log and let that clean up.
    ws.on('error', (err) => this.#log.debug({ err: err.message, ip: peer.ip }, 'socket error'));
    ws.on('message', (data, isBinary) => this.#onMessage(peer, data, isBinary));
    ws.on('close', (code) => this.#onSocketClosed(peer, code));
  }

  #onSocketClosed(peer: Peer, code: number): void {
    clearTimeout(peer.authTimer);
    this.#peers.delete(peer.ws);
    peer.slice.delete(peer);
    if (peer.channel) {
      this.#log.debug({ connectionId: peer.channel.connection.id, code }, 'socket closed');
      // A client that closes with 1000 (normal) or 1001 (going away: the browser closes every socket
      // of a tab that is closed or reloaded) is leaving: waiting the resume grace period would leave a
      // frozen participant and a ghost stream for everyone else. Other codes (1005 without a status,
      // 1006 lost) are network drops and keep the grace period. While the server shuts down, the
      // 1001 is our own close echoed back: the connections end with the server, not as leaves.
      if (!this.#closed && (code === CloseCodes.NORMAL || code === CloseCodes.GOING_AWAY)) peer.channel.leave(peer.ws);
      else peer.channel.detach(peer.ws);
    }
  }

  #onMessage(peer: Peer, data: RawData, isBinary: boolean): void {
    if (peer.cutOff) return;
    peer.lastHeard = Date.now();
    if (!peer.messages.take()) {
      this.#cutOff(peer, 'too many messages');
      return;
    }
    if (isBinary) {
      this.#protocolError(peer, ErrorCodes.MALFORMED_MESSAGE, 'binary frames are not part of the protocol');
      return;
    }
    const parsed = parseClientMessage(rawText(data));
    if (!parsed.ok) {
      this.#protocolError(peer, parsed.code, parsed.message, parsed.re);
      return;
    }
    this.messagesReceived.set(parsed.message.type, (this.messagesReceived.get(parsed.message.type) ?? 0) + 1);
    try {
      this.#dispatch(peer, parsed.message);
    } catch (err) {
      this.#failed(peer, err, parsed.message);
    }
  }

  /** A request threw: the client gets the protocol error (internal ones are logged). */
  #failed(peer: Peer, err: unknown, request: ClientMessage): void {
    const { message, internal } = protocolError(err, 'id' in request ? request.id : undefined);
    if (internal) this.#log.error({ err, type: request.type }, 'signaling request failed');
    this.#reply(peer, message);
  }

  #dispatch(peer: Peer, message: ClientMessage): void {
    switch (message.type) {
      case 'ping':
        peer.channel?.ack(message.ack, message.bseqAck);
        send(peer.ws, { type: 'pong' });
        return;
      case 'pong':
        peer.channel?.ack(message.ack, message.bseqAck);
        return;
      case 'ack':
        peer.channel?.ack(message.seq, message.bseq);
        return;
      case 'clientStats':
      case 'clientError': {
        // Reports, not requests: no id, no reply; dropped when the connection is gone.
        const channel = peer.channel;
        if (!channel || channel.ended) return;
        if (message.type === 'clientStats') this.#sessions.reportClientStats(channel.connection, { tracks: message.tracks });
        else this.#sessions.reportClientError(channel.connection, withoutType(message));
        return;
      }
      case 'connect':
      case 'resume':
        if (peer.channel || peer.joining) {
          this.#protocolError(peer, ErrorCodes.ALREADY_CONNECTED, 'this socket already carries a connection', message.id);
          return;
        }
        if (!PROTOCOL_VERSIONS.includes(message.version)) {
          send(peer.ws, errorMessage(ErrorCodes.UNSUPPORTED_VERSION, `protocol version ${message.version} is not supported; this server speaks ${PROTOCOL_VERSIONS.join(', ')}`, message.id));
          peer.ws.close(CloseCodes.AUTH_FAILED, 'unsupported protocol version');
          return;
        }
        if (message.type === 'connect') {
          // A join storm is admitted at the join rate: the rest wait (in order), nobody is refused.
          peer.joining = true;
          clearTimeout(peer.authTimer);
          this.#admission.admit(() => {
            if (peer.ws.readyState !== WebSocket.OPEN || peer.channel || this.#closed) {
              peer.joining = false;
              return;
            }
            // Still `joining` while the session record is read: other requests wait for the answer.
            this.#connect(peer, message)
              .catch((err) => this.#failed(peer, err, message))
              .finally(() => (peer.joining = false));
          });
        } else this.#resume(peer, message);
        return;
      default:
        this.#request(peer, message);
    }
  }

  async #connect(peer: Peer, message: ConnectRequest): Promise<void> {
    const fail = (code: ErrorCode, text: string): void => {
      this.#log.info({ ip: peer.ip, code, reason: text }, 'connect refused');
      send(peer.ws, errorMessage(code, text, message.id));
      peer.ws.close(CloseCodes.AUTH_FAILED, 'connect refused');
    };
    // A live session's record is the one read when it started: no database read per join in a storm.
    const record = this.#sessions.live(message.sessionId)?.record ?? (await this.#sessions.find(message.sessionId));
    if (peer.ws.readyState !== WebSocket.OPEN || this.#closed) return;
    if (!record) {
      fail(ErrorCodes.INVALID_SESSION_ID, 'Invalid session ID: no such session on this server');
      return;
    }
    let claims: ClientTokenClaims;
    try {
      claims = verifyClientToken(message.token, {
        projects: this.#projects,
        sessionId: message.sessionId,
        clockSkewSeconds: this.#options.clockSkewSeconds,
      });
    } catch (err) {
      if (err instanceof TokenError) {
        fail(ErrorCodes.AUTHENTICATION_ERROR, `Invalid token: ${err.message}`);
        return;
      }
      throw err;
    }
    if (message.apiKey !== undefined && message.apiKey.toLowerCase() !== claims.projectId) {
      fail(ErrorCodes.AUTHENTICATION_ERROR, 'The API key does not match the token');
      return;
    }
    if (claims.projectId !== record.projectId) {
      fail(ErrorCodes.AUTHENTICATION_ERROR, 'Invalid token: the session belongs to another project');
      return;
    }
    const live = this.#sessions.live(record.id);
    if (live && live.connections.size >= this.#options.maxConnectionsPerSession) {
      fail(ErrorCodes.CONNECTION_LIMIT_EXCEEDED, `The session already has ${live.connections.size} connections, the most this server allows`);
      return;
    }
    const version = Math.max(...[message.version, ...(message.versions ?? [])].filter((v) => PROTOCOL_VERSIONS.includes(v)));
    const { session, connection } = this.#sessions.join(record, claims, { userAgent: peer.userAgent, ip: peer.ip, sdk: message.sdk ?? null, mediaNode: peer.mediaNode });
    const suppressed = message.connectionEventsSuppressed === true;
    const broadcast = version >= PROTOCOL_VERSION_2 ? this.#broadcastOf(session) : null;
    const channel = new Channel(session, connection, this.#options, this.#log, (c) => this.#channels.delete(c.connection.id), suppressed, broadcast);
    this.#channels.set(connection.id, channel);
    this.#bind(peer, channel);
    // v2: connections whose connectionCreated is still pending come in that batch instead.
    const connections = suppressed ? '[]' : (broadcast?.connectionListFor(connection) ?? connectionListJson(session, connection));
    const result = (list: ConnectionInfo[]): ConnectResult => ({
      connection: connection.info(),
      resumeSecret: channel.resumeSecret,
      capabilities: connection.capabilities,
      permissions: [...connection.permissions].filter((p) => p !== 'signal'),
      connections: list,
      streams: session.liveStreams().map((s) => s.info()),
      session: { sessionId: session.id, mediaMode: record.mediaMode, e2ee: record.e2ee },
      heartbeat: { intervalMs: this.#options.heartbeatMs, timeoutMs: this.#options.heartbeatTimeoutMs },
      resumeGraceMs: this.#options.resumeGraceMs,
      ...(this.#options.iceServers ? { iceServers: this.#options.iceServers(connection.id) } : {}),
      ...(this.#options.clusterNodes ? { nodes: this.#options.clusterNodes() } : {}),
      ...(broadcast ? { version: PROTOCOL_VERSION_2, bseq: channel.baseBseq } : {}),
    });
    channel.sendUnsequencedText(withConnectionList((list) => ({ type: 'response', re: message.id, result: result(list) }), connections));
    // A session being recorded says so to newcomers, as to everyone when the archive started.
    for (const notice of this.#sessions.activeArchiveNotices(session.id)) {
      channel.send({ type: notice.type, archiveId: notice.archiveId, name: notice.name });
    }
  }

  #resume(peer: Peer, message: ResumeRequest): void {
    const refuse = (text: string): void => {
      this.#log.info({ ip: peer.ip, connectionId: message.connectionId, reason: text }, 'resume refused');
      send(peer.ws, errorMessage(ErrorCodes.RESUME_FAILED, text, message.id));
      peer.ws.close(CloseCodes.RESUME_FAILED, 'resume refused');
    };
    const channel = this.#channels.get(message.connectionId);
    // One answer for unknown, ended and wrong-secret alike: a guesser learns nothing.
    if (!channel || channel.ended || channel.session.id !== message.sessionId || !channel.secretMatches(message.resumeSecret)) {
      refuse('The connection cannot be resumed: it is unknown, has ended, or the secret is wrong');
      return;
    }
    const lastBseq = message.lastBseq ?? channel.baseBseq;
    if (!channel.canResumeFrom(message.lastSeq, lastBseq)) {
      refuse('The connection cannot be resumed: messages it missed are no longer available');
      channel.end('networkDisconnected');
      return;
    }
    // Cluster: its next subscriptions are served by the node its socket reaches now.
    channel.connection.mediaNode = peer.mediaNode;
    const replaced = this.#bind(peer, channel);
    if (replaced) {
      const old = this.#peers.get(replaced);
      if (old) old.channel = null;
      replaced.close(CloseCodes.REPLACED, 'resumed on another socket');
    }
    const replayed = channel.countAfter(message.lastSeq, lastBseq);
    const nodes = this.#options.clusterNodes?.();
    channel.sendUnsequenced({ type: 'response', re: message.id, result: { lastRequestId: channel.lastRequestId, replayed, ...(nodes ? { nodes } : {}) } });
    channel.replayAfter(message.lastSeq, lastBseq);
    this.#log.debug({ connectionId: channel.connection.id, replayed }, 'resumed');
  }

  /** The session's v2 broadcast logs, made with its first v2 client and dropped after its last. */
  #broadcastOf(session: Session): SessionBroadcast {
    let broadcast = this.#broadcasts.get(session);
    if (!broadcast) {
      broadcast = new SessionBroadcast(session, this.#options, () => this.#broadcasts.delete(session));
      this.#broadcasts.set(session, broadcast);
    }
    return broadcast;
  }

  #bind(peer: Peer, channel: Channel): ClientSocket | null {
    clearTimeout(peer.authTimer);
    peer.channel = channel;
    return channel.attach(peer.ws);
  }

  /** Requests that need a connection: everything but connect and resume. */
  #request(peer: Peer, message: Exclude<ClientRequest, ConnectRequest | ResumeRequest>): void {
    const channel = peer.channel;
    if (!channel) {
      this.#protocolError(peer, ErrorCodes.NOT_CONNECTED, 'not connected: send connect (or resume) first', message.id);
      return;
    }
    if (channel.ended) {
      send(peer.ws, errorMessage(ErrorCodes.NOT_CONNECTED, 'this connection has left the session', message.id));
      return;
    }
    if (!channel.acceptRequestId(message.id)) {
      this.#protocolError(peer, ErrorCodes.OUT_OF_ORDER, `request id ${message.id} is not greater than the last one (${channel.lastRequestId})`, message.id);
      return;
    }
    const connection = channel.connection;
    const sessions = this.#sessions;
    switch (message.type) {
      case 'signal': {
        const data = message.data ?? '';
        const problem = checkSignal(message.signalType, data);
        if (problem) {
          const tooLong = problem.problem === 'type-too-long' || problem.problem === 'data-too-long';
          channel.send(errorMessage(tooLong ? ErrorCodes.SIGNAL_TOO_LONG : ErrorCodes.SIGNAL_INVALID, problem.message, message.id));
          return;
        }
        this.#sessions.signal(clientActor(connection), message.to ?? null, message.signalType, data);
        channel.send({ type: 'response', re: message.id, result: {} });
        return;
      }
      case 'forceDisconnect':
        this.#sessions.forceDisconnect(clientActor(connection), message.connectionId);
        channel.send({ type: 'response', re: message.id, result: {} });
        return;
      case 'disconnect':
        channel.send({ type: 'response', re: message.id, result: {} });
        channel.end('clientDisconnected');
        return;
      case 'publish':
        this.#async(channel, message.id, message.type, async () => {
          const { stream, sdp, muteForced } = await sessions.publish(connection, {
            name: message.name ?? '',
            videoType: message.videoType ?? null,
            hasAudio: message.hasAudio,
            hasVideo: message.hasVideo,
            videoDimensions: message.videoDimensions ?? null,
            frameRate: message.frameRate ?? null,
            publishCaptions: message.publishCaptions ?? false,
            subscriberAudioFallback: message.audioFallback?.subscriber ?? true,
            publisherAudioFallback: message.audioFallback?.publisher ?? false,
            ...(message.sdp === undefined ? {} : { sdp: message.sdp }),
            e2ee: message.e2ee === true,
          });
          return sdp === undefined ? { streamId: stream.id, muteForced } : { streamId: stream.id, sdp, muteForced };
        });
        return;
      case 'unpublish':
        sessions.unpublish(connection, message.streamId, message.reason ?? 'clientDisconnected');
        break;
      case 'updateStream':
        sessions.updateStream(connection, message.streamId, {
          ...(message.hasAudio === undefined ? {} : { hasAudio: message.hasAudio }),
          ...(message.hasVideo === undefined ? {} : { hasVideo: message.hasVideo }),
          ...(message.videoDimensions === undefined ? {} : { videoDimensions: message.videoDimensions }),
          ...(message.publishCaptions === undefined ? {} : { publishCaptions: message.publishCaptions }),
          ...(message.videoDisabledForQuality === undefined ? {} : { videoDisabledForQuality: message.videoDisabledForQuality }),
        });
        break;
      case 'subscribe':
        this.#async(channel, message.id, message.type, async () => {
          const { subscription, sdp } = await sessions.subscribe(connection, message.streamId, {
            audio: message.subscribeToAudio ?? true,
            video: message.subscribeToVideo ?? true,
            preferredResolution: message.preferredResolution ?? null,
            preferredFrameRate: message.preferredFrameRate ?? null,
            captions: message.subscribeToCaptions ?? false,
            audioFallbackEnabled: message.audioFallbackEnabled ?? true,
          });
          const quality = subscription.videoDisabledForQuality ? { videoDisabledForQuality: true as const } : {};
          return sdp === undefined ? { subscriberId: subscription.id, ...quality } : { subscriberId: subscription.id, sdp, ...quality };
        });
        return;
      case 'answer':
        this.#async(channel, message.id, message.type, async () => {
          await sessions.answer(connection, message.subscriberId, message.sdp);
          return {};
        });
        return;
      case 'iceCandidate':
        this.#async(channel, message.id, message.type, async () => {
          const target = message.streamId !== undefined ? { streamId: message.streamId } : { subscriberId: message.subscriberId! };
          await sessions.addIceCandidate(connection, target, message.candidate);
          return {};
        });
        return;
      case 'relay':
        sessions.relay(connection, message.subscriberId, {
          ...(message.description === undefined ? {} : { description: message.description }),
          ...(message.candidate === undefined ? {} : { candidate: message.candidate }),
        });
        break;
      case 'updateSubscriber':
        sessions.updateSubscriber(connection, message.subscriberId, {
          ...(message.subscribeToAudio === undefined ? {} : { audio: message.subscribeToAudio }),
          ...(message.subscribeToVideo === undefined ? {} : { video: message.subscribeToVideo }),
          ...(message.preferredResolution === undefined ? {} : { preferredResolution: message.preferredResolution }),
          ...(message.preferredFrameRate === undefined ? {} : { preferredFrameRate: message.preferredFrameRate }),
          ...(message.subscribeToCaptions === undefined ? {} : { captions: message.subscribeToCaptions }),
        });
        break;
      case 'unsubscribe':
        sessions.unsubscribe(connection, message.subscriberId);
        break;
      case 'forceUnpublish':
        sessions.forceUnpublish(clientActor(connection), message.streamId);
        break;
      case 'forceMuteStream':
        sessions.forceMuteStream(clientActor(connection), message.streamId);
        break;
      case 'forceMuteAll':
        sessions.muteAll(clientActor(connection), true, message.excludedStreamIds ?? []);
        break;
      case 'disableForceMute':
        sessions.muteAll(clientActor(connection), false, []);
        break;
    }
    // The synchronous requests that fell through succeeded.
    channel.send({ type: 'response', re: message.id, result: {} });
  }

  /**
   * Runs a request that waits on media (SDP negotiation). Its id is already accepted, so a resumed
   * client never runs it twice; the reply (or error) is sent when it settles — numbered and
   * buffered like any message, so a client that dropped meanwhile gets it in its replay.
   */
  #async<T extends 'publish' | 'subscribe' | 'answer' | 'iceCandidate'>(channel: Channel, id: number, type: T, run: () => Promise<RequestMap[T]['result']>): void {
    run().then(
      (result) => channel.send({ type: 'response', re: id, result }),
      (err: unknown) => {
        const { message, internal } = protocolError(err, id);
        if (internal) this.#log.error({ err, type }, 'signaling request failed');
        else this.#log.debug({ connectionId: channel.connection.id, type, code: message.code, reason: message.message }, 'request refused');
        channel.send(message);
      },
    );
  }

  /** Replies on the peer's channel (numbered) when it has one, else straight on the socket. */
  #reply(peer: Peer, message: OutgoingMessage): void {
    if (peer.channel && !peer.channel.ended) peer.channel.send(message);
    else send(peer.ws, message);
  }

  #protocolError(peer: Peer, code: ErrorCode, text: string, re?: number): void {
    peer.protocolErrors++;
    this.#log.debug({ ip: peer.ip, code, text }, 'protocol error');
    if (peer.protocolErrors > this.#options.maxProtocolErrors) {
      this.#cutOff(peer, 'too many protocol errors');
      return;
    }
    this.#reply(peer, errorMessage(code, text, re));
  }

  /**
   * Ends a misbehaving socket, and its connection with it: no resume. Logged once. The close frame
   * says why; the socket then stops being read (the rest of a flood is never parsed, and frames
   * already read are dropped, see #onMessage) and is destroyed CUT_OFF_GRACE_MS later rather than
   * left open for a close handshake a flooding client never completes.
   */
  #cutOff(peer: Peer, why: string): void {
    if (peer.cutOff) return;
    peer.cutOff = true;
    this.#log.warn({ ip: peer.ip, connectionId: peer.channel?.connection.id, why }, 'cutting off client');
    const channel = peer.channel;
    peer.channel = null;
    const ws = peer.ws;
    if (ws.readyState === WebSocket.OPEN) ws.close(CloseCodes.PROTOCOL_VIOLATION, why);
    ws.pause();
    const terminate = setTimeout(() => ws.terminate(), CUT_OFF_GRACE_MS);
    terminate.unref?.();
    ws.once('close', () => clearTimeout(terminate));
    channel?.end('networkDisconnected', CloseCodes.PROTOCOL_VIOLATION);
  }

  /**
   * Pings the sockets of the next heartbeat slice (each slice comes round once a heartbeat period),
   * and drops those that have gone silent (their connections wait for a resume).
   */
  #sweep(): void {
    const now = Date.now();
    // A sweep far behind its schedule means the event loop was blocked (a long GC, a heap
    // snapshot, an overloaded CPU): nobody could be heard meanwhile (the clients' pongs of that time
    // are still unread in the sockets, and the timer phase runs before they are read). Judging
    // silence across the stall would cut every client for the server's own stall, so silence counts
    // from when the process runs again: each client has a whole timeout from then to be heard.
    const stalledMs = now - this.#lastSweepAt - this.#options.heartbeatMs / SWEEP_SLICES;
    this.#lastSweepAt = now;
    if (stalledMs >= this.#options.heartbeatMs) {
      this.#listeningSince = now;
      this.#log.warn({ stalledMs, sockets: this.#peers.size }, 'event loop stalled; silence counts from now');
    }
    const slice = this.#slices[this.#nextSlice]!;
    this.#nextSlice = (this.#nextSlice + 1) % SWEEP_SLICES;
    for (const peer of slice) {
      if (now - Math.max(peer.lastHeard, this.#listeningSince) > this.#options.heartbeatTimeoutMs) {
        this.#log.debug({ ip: peer.ip, connectionId: peer.channel?.connection.id }, 'heartbeat timeout');
        peer.ws.terminate();
        continue;
      }
      if (peer.channel && peer.ws.readyState === WebSocket.OPEN) sendFrameBatched(peer.ws, PING_FRAME);
    }
  }

}

function withoutType<T extends { type: string }>(message: T): Omit<T, 'type'> {
  const { type: _type, ...rest } = message;
  return rest;
}

function send(ws: ClientSocket, message: OutgoingMessage): void {
  if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message));
}

function rawText(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}


