// "Any node answers" for the signaling WebSocket. A client's socket may reach any node; the first
// message (connect or resume) names the session, and the session lives on one home node. This
// node reads that message, finds (or chooses) the home in Redis, and then either hands the socket
// to its own SignalingServer or carries it over this node's signaling link to the home
// (signaling-link.ts: one link per pair of nodes for all such clients).
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
import { sendFrameBatched, trackSocket } from '../signaling/write-batching.js';
import { nodeAuthHeaders, nodeForwardedClient } from './node-auth.js';
import type { NodeInfo, NodeRegistry } from './node-registry.js';
import { EdgeLink, earlyMessageKeeper, HomeLinkEnd } from './signaling-link.js';

/** Time a client has to send its first message (as the signaling server's auth timeout). */
const FIRST_MESSAGE_TIMEOUT_MS = 10_000;
/** Largest first message accepted (a connect with a token is far smaller). */
const MAX_FIRST_MESSAGE_BYTES = 64 * 1024;
/** Where a node opens its signaling link to another (signaling-link.ts): the signaling path's own. */
export const SIGNALING_LINK_PATH = `${SIGNALING_PATH}?link=1`;
/** Largest link message (a turn's records; the writer sends at about 1 MB). */
const MAX_LINK_MESSAGE_BYTES = 64 * 1024 * 1024;
/** What may wait unread in a link to an edge before the link is ended (its clients resume). */
const MAX_LINK_BUFFERED_BYTES = 64 * 1024 * 1024;

export interface SignalingRouterOptions {
  nodeId: string;
  secret: string;
  registry: NodeRegistry;
  signaling: SignalingServer;
  /** How long a proxy keeps trying a home that does not answer (its Redis key has yet to expire). */
  homeRetryMs: number;
  /** A home not heard from on its link for this long is taken as hung (the cluster's stall limit). */
  linkHungAfterMs: number;
  /** The node that serves the subscriptions of clients that came over `edgeNode`'s link (null: this one). */
  mediaNodeOf: (edgeNode: string) => string | null;
  logger: Logger;
}

export class SignalingRouter {
  readonly #options: SignalingRouterOptions;
  readonly #log: Logger;
  readonly #wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FIRST_MESSAGE_BYTES, perMessageDeflate: false, clientTracking: false });
  readonly #open = new Set<WebSocket>();
  /** This node's links to the homes of the sessions its clients are in, by home node id. */
  readonly #links = new Map<string, EdgeLink>();
  /** Other nodes' links to this one (this node is the home of their clients' sessions). */
  readonly #homeLinks = new Set<WebSocket>();
  readonly #linkWss = new WebSocketServer({ noServer: true, maxPayload: MAX_LINK_MESSAGE_BYTES, perMessageDeflate: false, clientTracking: false });
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
    // Another node's link: it carries the clients it took for sessions homed here.
    if (request.url === SIGNALING_LINK_PATH) {
      const edge = nodeForwardedClient(this.#options.secret, 'signaling-link', request)?.entryNode ?? null;
      if (edge === null) {
        socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\n');
        return;
      }
      this.#acceptLink(request, socket, head, edge);
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
      const keep = earlyMessageKeeper(ws, early);
      ws.on('message', keep);
      void this.#route(ws, socket, request, sessionId, data, early, keep);
    });
  }

  async #route(ws: WebSocket, socket: Duplex, request: IncomingMessage, sessionId: string, first: RawData, early: RawData[], keep: (m: RawData) => void, started = Date.now()): Promise<void> {
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
    this.#proxy(ws, socket, request, home, sessionId, first, early, keep, started);
  }

  #proxy(client: WebSocket, socket: Duplex, request: IncomingMessage, home: NodeInfo, sessionId: string, first: RawData, early: RawData[], keep: (m: RawData) => void, started: number): void {
    client.off('message', keep);
    // The home's frames are written straight to the client's TCP socket (write-batching.ts).
    trackSocket(client, socket);
    // The home records the client's address, not ours.
    const address = this.#options.signaling.clientAddressOf(request);
    this.#linkTo(home).add(client, address, String(request.headers['user-agent'] ?? ''), first, early, (err, sent) => {
      this.#log.warn({ err: err.message, home: home.id, sessionId }, 'home node does not answer');
      // Its key has not expired yet: retry placement until it does (then the session is re-placed).
      if (Date.now() - started < this.#options.homeRetryMs) {
        const again = [...sent];
        const keepAgain = earlyMessageKeeper(client, again);
        client.on('message', keepAgain);
        setTimeout(() => void this.#route(client, socket, request, sessionId, first, again, keepAgain, started), 500).unref();
      } else {
        client.close(CloseCodes.GOING_AWAY, 'the session is not reachable now');
      }
    });
  }

  /** This node's link to `home` (signaling-link.ts), opened on first use and again after it ended. */
  #linkTo(home: NodeInfo): EdgeLink {
    const existing = this.#links.get(home.id);
    if (existing?.usable) return existing;
    const url = home.internalUrl.replace(/^http/, 'ws') + SIGNALING_LINK_PATH;
    const headers = nodeAuthHeaders(this.#options.secret, { purpose: 'signaling-link', method: 'GET', url: SIGNALING_LINK_PATH, clientAddress: this.#options.nodeId, entryNode: this.#options.nodeId });
    const link = new EdgeLink({
      url,
      headers,
      maxSocketBufferBytes: this.#options.signaling.maxSocketBufferBytes,
      writeFrame: sendFrameBatched,
      hungAfterMs: this.#options.linkHungAfterMs,
    });
    link.setMaxListeners(0);
    this.#links.set(home.id, link);
    const forget = (): void => {
      if (this.#links.get(home.id) === link) this.#links.delete(home.id);
    };
    link.on('failed', forget);
    link.on('close', () => {
      forget();
      this.#log.info({ home: home.id }, 'signaling link to the home node ended; its clients resume');
    });
    link.on('protocolError', (err: Error) => this.#log.error({ err: err.message, home: home.id }, 'signaling link: bad record from the home node'));
    link.on('hung', () => this.#log.warn({ home: home.id }, 'signaling link: the home node stopped answering pings; ending the link'));
    return link;
  }

  /** Another node's link to this one: its clients are this signaling server's, as if connected here. */
  #acceptLink(request: IncomingMessage, socket: Duplex, head: Buffer, edgeNode: string): void {
    this.#linkWss.handleUpgrade(request, socket, head, (ws) => {
      const end = new HomeLinkEnd(ws, this.#options.signaling, {
        mediaNode: this.#options.mediaNodeOf(edgeNode),
        maxBufferedBytes: MAX_LINK_BUFFERED_BYTES,
        onError: (err) => this.#log.error({ err: err.message, edge: edgeNode }, 'signaling link: bad record from the edge node'),
      });
      this.#homeLinks.add(ws);
      ws.once('close', () => this.#homeLinks.delete(ws));
      this.#log.debug({ edge: edgeNode, clients: end.clients }, 'signaling link from an edge node');
    });
  }

  /**
   * Closes the sockets it still holds or proxies (1001: clients resume elsewhere). The home's side
   * of a proxied socket is cut, not closed with a code: to the home that is a drop, so it keeps the
   * connection for the client's resume (a 1001 from a client means the page left).
   */
  close(): void {
    this.#closed = true;
    for (const link of this.#links.values()) link.terminate();
    this.#links.clear();
    for (const ws of this.#homeLinks) ws.terminate();
    this.#homeLinks.clear();
    for (const ws of this.#open) ws.close(CloseCodes.GOING_AWAY, 'server shutting down');
    this.#open.clear();
    this.#wss.close();
  }
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
