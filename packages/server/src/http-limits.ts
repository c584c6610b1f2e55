// Limits on raw HTTP connections, before any request is parsed: a client must not be able to hold
// thousands of sockets open by sending nothing, or half a request. Node's timeouts bound how long
// one socket may take to send its headers (HEADERS_TIMEOUT_MS) and its whole request
// (REQUEST_TIMEOUT_MS), and how long a kept-alive socket may sit idle (KEEP_ALIVE_TIMEOUT_MS);
// PendingConnectionLimit caps how many sockets one address may have open that have not yet sent a
// complete request head (or upgraded to a WebSocket). Trusted proxies (COLLOQUY_TRUST_PROXY) are
// not capped: every client behind them shares their address.

import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from './logger.js';
import type { ProxyTrust } from './proxy-trust.js';

/** Time a new connection has to send its request head. */
export const HEADERS_TIMEOUT_MS = 10_000;
/** Time a request has to arrive whole (bodies are at most 1 MB; downloads are responses, not bounded by this). */
export const REQUEST_TIMEOUT_MS = 30_000;
/** An idle kept-alive socket is closed after this long. */
export const KEEP_ALIVE_TIMEOUT_MS = 5_000;

export class PendingConnectionLimit {
  readonly #max: number;
  readonly #trust: ProxyTrust;
  readonly #log: Logger;
  readonly #pending = new Map<string, Set<Duplex>>();
  /** Addresses refused lately, so a flood is logged once a minute per address, not per socket. */
  readonly #warned = new Map<string, number>();

  constructor(server: Server, options: { maxPerAddress: number; trust: ProxyTrust; logger: Logger }) {
    this.#max = options.maxPerAddress;
    this.#trust = options.trust;
    this.#log = options.logger;
    server.on('connection', (socket: Socket) => this.#onConnection(socket));
    // A request head arrived: the socket is a client's, no longer half-open.
    server.on('request', (request) => this.settle(request.socket));
  }

  /** How many half-open sockets an address holds (tests, stats). */
  pendingOf(address: string): number {
    return this.#pending.get(address)?.size ?? 0;
  }

  /** The socket sent a request head or upgraded (the signaling plugin calls this for upgrades). */
  settle(socket: Duplex): void {
    const address = (socket as Socket).remoteAddress;
    if (address === undefined) return;
    const set = this.#pending.get(address);
    if (!set?.delete(socket)) return;
    if (set.size === 0) this.#pending.delete(address);
  }

  #onConnection(socket: Socket): void {
    const address = socket.remoteAddress;
    if (address === undefined || this.#trust(address, 0)) return;
    let set = this.#pending.get(address);
    if (!set) {
      set = new Set();
      this.#pending.set(address, set);
    }
    if (set.size >= this.#max) {
      socket.destroy();
      const now = Date.now();
      if ((this.#warned.get(address) ?? 0) < now - 60_000) {
        this.#warned.set(address, now);
        if (this.#warned.size > 10_000) this.#warned.clear();
        this.#log.warn({ ip: address, max: this.#max }, 'too many half-open connections from one address; refusing more');
      }
      return;
    }
    set.add(socket);
    socket.once('close', () => this.settle(socket));
  }
}
