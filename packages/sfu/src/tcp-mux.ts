// TcpMux: every peer connection's passive ICE-TCP candidate on ONE TCP port
// (`COLLOQUY_RTC_TCP_PORT`), for clients whose UDP is blocked and who have no TURN. It is what a
// firewall or a NAT can forward; werift alone listens on a new port per peer connection, bound to the
// announced address (which a server behind NAT does not have).
//
// A browser opens a TCP connection and sends RFC 4571 frames (a 2-byte length, then the packet).
// Its first frame is a STUN Binding request whose USERNAME is "ourUfrag:theirUfrag": our ufrag names
// the ICE agent (as in udp-mux.ts), and the socket is handed to that agent's werift
// `TcpPassiveProtocol` (its `registerSocket`), with the bytes read so far. From then on werift reads
// the socket as if it had accepted it itself: checks, DTLS and SRTP all flow on that one connection.
// A socket whose first frame is anything else, or that says nothing for FIRST_FRAME_TIMEOUT_MS, is
// closed and counted.
//
// The hook is the UDP mux's (ice-agent-hook.ts): an agent whose options carry a tag this mux serves
// (its `iceFilterCandidatePair`) gets its passive TCP protocol attached here instead of listening on
// a port of its own.

import { createServer, type Server, type Socket } from 'node:net';
import { agentTag, onEnsureProtocol, type IceAgent } from './ice-agent-hook.js';
import { stunBindingUsername } from './udp-mux.js';

type Address = [string, number];

/** The parts of werift's TcpPassiveProtocol this mux drives. */
interface PassiveProtocol {
  /** The announced address its candidate carries. */
  localIp?: string;
  connectionMade(localIp: string, portRange?: [number, number]): Promise<void>;
  registerSocket(socket: Socket, remoteAddr: Address | undefined): unknown;
  close(): Promise<void>;
}

/** How long a new connection may take to send its first frame (a STUN check) before it is closed. */
export const FIRST_FRAME_TIMEOUT_MS = 10_000;
/** Connections not yet handed to an agent, at most: a flood of idle sockets cannot grow without bound. */
export const MAX_PENDING_CONNECTIONS = 1024;
/** RFC 4571: 2-byte length. A first frame is a STUN request, far below this. */
const MAX_FIRST_FRAME_BYTES = 2048;

export interface TcpMuxStats {
  /** Passive protocols (one per ICE agent) attached now. */
  agents: number;
  /** Connections waiting for their first frame. */
  pending: number;
  /** Connections handed to an agent since start. */
  accepted: number;
  /** Connections closed because their first frame was not a check for one of our agents (or never came). */
  rejected: number;
}

interface Attached {
  agent: IceAgent;
  protocol: PassiveProtocol;
}

/** Each open mux by the tags (candidate-pair filters) whose agents it serves. */
const muxByTag = new WeakMap<object, TcpMux>();
let installed = false;

/** Makes werift's passive TCP protocols of tagged agents attach to their mux (idempotent). */
function installTcpMux(): void {
  if (installed) return;
  installed = true;
  onEnsureProtocol((agent, protocol) => {
    const tag = agentTag(agent);
    const mux = tag ? muxByTag.get(tag) : undefined;
    if (!mux || !isPassiveTcp(protocol)) return;
    const passive = protocol as PassiveProtocol;
    const close = passive.close.bind(passive);
    passive.connectionMade = async () => {
      mux.attach(agent, passive);
    };
    // The candidate werift writes carries this port.
    Object.defineProperty(passive, 'listeningPort', { get: () => mux.port });
    passive.close = async () => {
      mux.detach(passive);
      await close(); // closes the sockets handed to it; its own server never listened
    };
  });
}

/** werift's TcpPassiveProtocol, recognised by shape (it is not exported from werift's index). */
function isPassiveTcp(protocol: unknown): boolean {
  const p = protocol as { type?: unknown; server?: unknown; registerSocket?: unknown };
  return p.type === 'tcp' && typeof p.registerSocket === 'function' && p.server instanceof Object && typeof (p.server as Server).listen === 'function';
}

export class TcpMux {
  readonly #server: Server;
  readonly #attached = new Set<Attached>();
  readonly #pending = new Set<Socket>();
  /** Every open connection (pending or handed over): close() ends them all, so the server can close. */
  readonly #sockets = new Set<Socket>();
  #accepted = 0;
  #rejected = 0;
  #closed = false;

  private constructor(server: Server) {
    this.#server = server;
  }

  /** Listens on `port` (0: the system picks one, for tests), on `listenIp` or every interface. */
  static async open(options: { port: number; listenIp?: string | undefined }): Promise<TcpMux> {
    installTcpMux();
    const server = createServer({ noDelay: true });
    const mux = new TcpMux(server);
    server.on('connection', (socket) => mux.#onConnection(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port: options.port, exclusive: true, ...(options.listenIp ? { host: options.listenIp } : {}) }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', () => {}); // accept errors (EMFILE) must not end the process
    muxByTag.set(mux.candidatePairFilter, mux);
    return mux;
  }

  /** Give werift this as `iceFilterCandidatePair` when no UDP mux tags the agent: it keeps every pair. */
  readonly candidatePairFilter = (): boolean => true;

  /** Also serve agents tagged by another mux's filter (the UDP mux's, when both are on). */
  serveTag(tag: object): void {
    muxByTag.set(tag, this);
  }

  get port(): number {
    const address = this.#server.address();
    if (!address || typeof address === 'string') throw new Error('the TCP mux is not listening');
    return address.port;
  }

  stats(): TcpMuxStats {
    return { agents: this.#attached.size, pending: this.#pending.size, accepted: this.#accepted, rejected: this.#rejected };
  }

  attach(agent: IceAgent, protocol: PassiveProtocol): void {
    if (this.#closed) throw new Error('the TCP mux is closed');
    this.#attached.add({ agent, protocol });
  }

  detach(protocol: PassiveProtocol): void {
    for (const a of this.#attached) if (a.protocol === protocol) this.#attached.delete(a);
  }

  #onConnection(socket: Socket): void {
    if (this.#closed || this.#pending.size >= MAX_PENDING_CONNECTIONS) {
      this.#reject(socket);
      return;
    }
    this.#pending.add(socket);
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
    let buffered = Buffer.alloc(0);
    const timer = setTimeout(() => done(null), FIRST_FRAME_TIMEOUT_MS);
    timer.unref();
    const done = (owner: Attached | null): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('close', onClose);
      this.#pending.delete(socket);
      if (!owner || socket.destroyed) {
        this.#reject(socket);
        return;
      }
      this.#accepted++;
      const remote: Address | undefined = socket.remoteAddress && socket.remotePort ? [socket.remoteAddress, socket.remotePort] : undefined;
      // werift takes the socket from here; the bytes read so far are its first 'data'.
      owner.protocol.registerSocket(socket, remote);
      socket.emit('data', buffered);
    };
    const onData = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.length < 2) return;
      const length = buffered.readUInt16BE(0);
      if (length > MAX_FIRST_FRAME_BYTES) return done(null);
      if (buffered.length < 2 + length) return;
      const username = stunBindingUsername(buffered.subarray(2, 2 + length));
      const colon = username?.indexOf(':') ?? -1;
      done(username && colon > 0 ? this.#find(username.slice(0, colon), username.slice(colon + 1), socket.localAddress) : null);
    };
    const onError = (): void => done(null);
    const onClose = (): void => done(null);
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('close', onClose);
  }

  #reject(socket: Socket): void {
    this.#rejected++;
    socket.on('error', () => {});
    socket.destroy();
  }

  /**
   * The attached agent a check is for: ufrag collisions are told apart by the far end's ufrag (as
   * udp-mux.ts does), and of one agent's protocols (one per announced address) the one whose
   * address the browser connected to is preferred, so the pair werift makes names the right one.
   */
  #find(ufrag: string, remoteUfrag: string, localAddress: string | undefined): Attached | null {
    const local = localAddress?.replace(/^::ffff:/, '');
    let best: Attached | null = null;
    let bestScore = -1;
    for (const a of this.#attached) {
      const { agent } = a;
      if (agent.localUsername !== ufrag && !Object.hasOwn(agent.userHistory, ufrag)) continue;
      if (agent.remoteUsername && agent.remoteUsername !== remoteUfrag) continue;
      const score = (agent.remoteUsername === remoteUfrag ? 2 : 0) + (a.protocol.localIp === local ? 1 : 0);
      if (score > bestScore) {
        best = a;
        bestScore = score;
      }
    }
    return best;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    muxByTag.delete(this.candidatePairFilter);
    for (const { protocol } of [...this.#attached]) await protocol.close();
    for (const socket of this.#sockets) socket.destroy();
    this.#pending.clear();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
