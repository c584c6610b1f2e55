// "Any node answers" for the signaling WebSocket. A client's socket may reach any node; the first
// message (connect or resume) names the session, and the session lives on one home node. This
// node reads that message, finds (or chooses) the home in Redis, and then either hands the socket
// to its own SignalingServer or proxies it, message by message, to the home node's signaling path.
//
// Why a proxy rather than a redirect: OpenTok.js apps connect to one URL, and a proxy keeps them
// unchanged (no client change to follow a redirect, one socket whatever the topology). Every
// message of a connection still goes through the home node alone, so events stay in order with no
// cross-node sequencing. The cost is one loopback or LAN hop for clients that reached another node.

import { SIGNALING_PATH, CloseCodes } from '@colloquy/protocol';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import type { Logger } from '../logger.js';
import type { SignalingServer } from '../signaling/signaling-server.js';
import { nodeAuthHeaders, nodeForwardedClient } from './node-auth.js';
import type { NodeInfo, NodeRegistry } from './node-registry.js';

/** Time a client has to send its first message (as the signaling server's auth timeout). */
const FIRST_MESSAGE_TIMEOUT_MS = 10_000;
/** Largest first message accepted (a connect with a token is far smaller). */
const MAX_FIRST_MESSAGE_BYTES = 64 * 1024;
/** Messages a client may send before the home node's socket opens; more close the socket. */
const MAX_EARLY_MESSAGES = 256;

export interface SignalingRouterOptions {
  nodeId: string;
  secret: string;
  registry: NodeRegistry;
  signaling: SignalingServer;
  /** How long a proxy keeps trying a home that does not answer (its Redis key has yet to expire). */
  homeRetryMs: number;
  logger: Logger;
}

export class SignalingRouter {
  readonly #options: SignalingRouterOptions;
  readonly #log: Logger;
  readonly #wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FIRST_MESSAGE_BYTES, perMessageDeflate: false, clientTracking: false });
  readonly #open = new Set<WebSocket>();
  /** The home node's socket of each proxied client socket. */
  readonly #upstreams = new Map<WebSocket, WebSocket>();
  #closed = false;

  constructor(options: SignalingRouterOptions) {
    this.#options = options;
    this.#log = options.logger.child({ module: 'cluster' });
  }

  /** Takes an upgrade on the signaling path. */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (this.#closed) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\n');
      return;
    }
    // Another node proxies a client to us: it chose us as the session's home.
    if (nodeForwardedClient(this.#options.secret, 'signaling', request)) {
      this.#options.signaling.handleUpgrade(request, socket, head);
      return;
    }
    this.#wss.handleUpgrade(request, socket, head, (ws) => this.#onClient(ws, socket, request));
  }

  #onClient(ws: WebSocket, socket: Duplex, request: IncomingMessage): void {
    this.#open.add(ws);
    ws.once('close', () => this.#open.delete(ws));
    ws.on('error', () => {});
    const timer = setTimeout(() => ws.close(CloseCodes.AUTH_TIMEOUT, 'no connect or resume in time'), FIRST_MESSAGE_TIMEOUT_MS);
    ws.once('message', (data, isBinary) => {
      clearTimeout(timer);
      const sessionId = isBinary ? null : firstSessionId(data);
      if (sessionId === null) {
        // Not a connect or resume: the local signaling server answers it with the right protocol error.
        this.#open.delete(ws);
        this.#options.signaling.adoptSocket(ws, socket, request, data);
        return;
      }
      // Messages that come while the home is found are kept, in order, for whoever takes the socket.
      const early: RawData[] = [];
      const keep = (more: RawData): void => {
        if (early.length >= MAX_EARLY_MESSAGES) ws.close(CloseCodes.PROTOCOL_VIOLATION, 'too many messages before the session was reached');
        else early.push(more);
      };
      ws.on('message', keep);
      void this.#route(ws, socket, request, sessionId, data, early, keep);
    });
  }

  async #route(ws: WebSocket, socket: Duplex, request: IncomingMessage, sessionId: string, first: RawData, early: RawData[], keep: (m: RawData) => void): Promise<void> {
    const started = Date.now();
    let home: NodeInfo | null = null;
    try {
      home = await this.#options.registry.placeSession(sessionId);
    } catch (err) {
      this.#log.warn({ err: (err as Error).message, sessionId }, 'placement failed (redis)');
    }
    if (ws.readyState !== WebSocket.OPEN) return;
    if (home === null) {
      // No node can take it now (Redis down, all draining): the client tries again (resume) or fails its connect.
      ws.close(CloseCodes.GOING_AWAY, 'no node can take this session now');
      return;
    }
    if (home.id === this.#options.nodeId) {
      ws.off('message', keep);
      this.#open.delete(ws);
      this.#options.signaling.adoptSocket(ws, socket, request, first);
      for (const message of early) ws.emit('message', message, false);
      return;
    }
    this.#proxy(ws, request, home, sessionId, first, early, keep, started);
  }

  #proxy(client: WebSocket, request: IncomingMessage, home: NodeInfo, sessionId: string, first: RawData, early: RawData[], keep: (m: RawData) => void, started: number): void {
    const url = home.internalUrl.replace(/^http/, 'ws') + SIGNALING_PATH;
    // The home records the client's address, not ours (the proof binds it).
    const clientAddress = this.#options.signaling.clientAddressOf(request);
    // The home serves this client's subscriptions from here (media-span.ts): we say who we are.
    const headers = nodeAuthHeaders(this.#options.secret, { purpose: 'signaling', method: 'GET', url: SIGNALING_PATH, clientAddress, entryNode: this.#options.nodeId });
    const ua = request.headers['user-agent'];
    if (typeof ua === 'string') headers['user-agent'] = ua;
    const upstream = new WebSocket(url, { headers, perMessageDeflate: false, handshakeTimeout: 5000 });
    this.#upstreams.set(client, upstream);
    client.once('close', () => this.#upstreams.delete(client));
    let opened = false;
    upstream.on('open', () => {
      opened = true;
      client.off('message', keep);
      upstream.send(first, { binary: false });
      for (const message of early) upstream.send(message, { binary: false });
      client.on('message', (data, isBinary) => {
        if (upstream.readyState === WebSocket.OPEN) upstream.send(data, { binary: isBinary });
      });
      upstream.on('message', (data, isBinary) => {
        if (client.readyState === WebSocket.OPEN) client.send(data, { binary: isBinary });
      });
    });
    upstream.on('error', (err) => {
      if (opened) return; // 'close' follows
      this.#log.warn({ err: err.message, home: home.id, sessionId }, 'home node does not answer');
      // Its key has not expired yet: retry placement until it does (then the session is re-placed).
      if (client.readyState === WebSocket.OPEN && Date.now() - started < this.#options.homeRetryMs) {
        setTimeout(() => void this.#route(client, request.socket, request, sessionId, first, early, keep), 500).unref();
      } else {
        client.close(CloseCodes.GOING_AWAY, 'the session is not reachable now');
      }
    });
    upstream.on('close', (code, reason) => {
      if (!opened) return;
      // The home ended the socket (a reason code the client acts on), or the home died: a bare drop,
      // after which the client resumes (and, its connection lost with the node, joins again).
      if (client.readyState !== WebSocket.OPEN) return;
      if (sendable(code)) client.close(code, reason);
      else client.terminate();
    });
    client.on('close', (code, reason) => {
      if (upstream.readyState === WebSocket.OPEN) {
        if (sendable(code)) upstream.close(code, reason);
        else upstream.terminate();
      } else if (upstream.readyState === WebSocket.CONNECTING) {
        upstream.terminate();
      }
    });
  }

  /**
   * Closes the sockets it still holds or proxies (1001: clients resume elsewhere). The home's side
   * of a proxied socket is cut, not closed with a code: to the home that is a drop, so it keeps the
   * connection for the client's resume (a 1001 from a client means the page left).
   */
  close(): void {
    this.#closed = true;
    for (const upstream of this.#upstreams.values()) upstream.terminate();
    this.#upstreams.clear();
    for (const ws of this.#open) ws.close(CloseCodes.GOING_AWAY, 'server shutting down');
    this.#open.clear();
    this.#wss.close();
  }
}

/** Whether a close code received may be sent on (1005, 1006 and 1015 only describe a close, never travel). */
function sendable(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

/** The session id of a connect or resume message; null for anything else. */
function firstSessionId(data: RawData): string | null {
  try {
    const message = JSON.parse(data.toString()) as unknown;
    if (typeof message !== 'object' || message === null) return null;
    const { type, sessionId } = message as { type?: unknown; sessionId?: unknown };
    if ((type === 'connect' || type === 'resume') && typeof sessionId === 'string' && sessionId.length > 0 && sessionId.length <= 512) return sessionId;
    return null;
  } catch {
    return null;
  }
}
