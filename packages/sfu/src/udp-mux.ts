// UdpMux: every peer connection of the SFU on ONE UDP port (`COLLOQUY_RTC_PORT`), as firewalls and
// container platforms want. One socket receives for all; each datagram goes to the peer connection
// it belongs to:
// - from a remote address already known: to the peer connection that address was bound to;
// - otherwise only a STUN Binding request is accepted: its USERNAME is "ourUfrag:theirUfrag", and
//   our ufrag names the ICE agent (werift's `Connection.localUsername`), which binds the address.
// Everything else from an unknown address is dropped (counted). After ICE, DTLS and SRTP come from
// the address the checks came from, so the address binding carries them (mediasoup's WebRtcServer
// and LiveKit's UDP mux work the same way).
//
// werift gathers one socket per host candidate (`StunProtocol.connectionMade` binds a
// `UdpTransport`). Through the hook on werift's `Connection.ensureProtocol` (ice-agent-hook.ts), an
// agent made with a mux's `candidatePairFilter` (werift's `iceFilterCandidatePair`, passed through by
// reference; it keeps every pair) gets a `MuxedUdpTransport` on the shared socket instead: the rest of werift (checks, DTLS) and our SRTP path (which sends on `transport.socket`)
// see an ordinary UDP transport. Range mode (a socket per peer connection) is untouched.

import { createSocket, type Socket } from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { StunProtocol } from 'werift';
import { agentTag, onEnsureProtocol, type IceAgent } from './ice-agent-hook.js';
import { isRtp } from './srtp/rtp-header.js';
import { BatchedReceiver } from './udp-receiver.js';

type Address = [string, number];


const STUN_MAGIC_COOKIE = 0x2112a442;
const STUN_BINDING_REQUEST = 0x0001;
const STUN_ATTR_USERNAME = 0x0006;

/** The USERNAME of a STUN Binding request (RFC 5389 §15.3), or null for anything else. */
export function stunBindingUsername(msg: Buffer): string | null {
  if (msg.length < 20 || (msg[0]! & 0xc0) !== 0) return null;
  if (msg.readUInt16BE(0) !== STUN_BINDING_REQUEST || msg.readUInt32BE(4) !== STUN_MAGIC_COOKIE) return null;
  const end = Math.min(msg.length, 20 + msg.readUInt16BE(2));
  let offset = 20;
  while (offset + 4 <= end) {
    const type = msg.readUInt16BE(offset);
    const length = msg.readUInt16BE(offset + 2);
    if (offset + 4 + length > end) return null;
    if (type === STUN_ATTR_USERNAME) return msg.toString('utf8', offset + 4, offset + 4 + length);
    offset += 4 + ((length + 3) & ~3);
  }
  return null;
}

/** One ICE agent's view of the shared socket: werift's UdpTransport interface. */
export class MuxedUdpTransport {
  readonly type = 'udp';
  closed = false;
  rinfo: { address: string; port: number } | undefined;
  onData: (data: Buffer, addr: Address) => void = () => {};
  /** Remote addresses bound to this transport ("ip:port"), released on close. */
  readonly remotes = new Set<string>();
  /**
   * Set while our receive path takes this transport's RTP (receive-path.ts), which keeps none of
   * its bytes: only then does an RTP datagram read in batches reach it without a copy.
   */
  rtpTakenInPlace = false;

  constructor(
    readonly mux: UdpMux,
    readonly agent: IceAgent,
  ) {}

  get socket(): Socket {
    return this.mux.socket;
  }

  get address(): AddressInfo {
    return this.mux.socket.address();
  }

  get host(): string {
    return this.address.address;
  }

  get port(): number {
    return this.address.port;
  }

  /** Whether a STUN request naming `ufrag` is for this agent (its current ufrag or an earlier one). */
  owns(ufrag: string): boolean {
    return this.agent.localUsername === ufrag || Object.hasOwn(this.agent.userHistory, ufrag);
  }

  /** The far end's ufrag is the one this agent was given (or not known yet). */
  talksTo(remoteUfrag: string): boolean {
    return !this.agent.remoteUsername || this.agent.remoteUsername === remoteUfrag;
  }

  deliver(data: Buffer, address: string, port: number): void {
    if (this.closed) return;
    this.rinfo = { address, port };
    this.onData(data, [address, port]);
  }

  send = async (data: Buffer, addr?: Address): Promise<void> => {
    if (this.closed) return;
    const to = addr ?? (this.rinfo ? [this.rinfo.address, this.rinfo.port] : undefined);
    if (!to) return;
    this.mux.socket.send(data, to[1], to[0]);
  };

  close = async (): Promise<void> => {
    if (this.closed) return;
    this.closed = true;
    this.mux.detach(this);
  };
}

export interface UdpMuxStats {
  /** ICE agents attached now. */
  transports: number;
  /** Remote addresses bound now. */
  remotes: number;
  /** Datagrams from an unknown address that were not a STUN Binding request for one of our agents. */
  dropped: number;
  /** The socket's receive buffer as the kernel granted it (capped by net.core.rmem_max). */
  recvBufferBytes: number;
}

/** The receive buffer asked for: every peer connection's inbound packets wait in this one buffer while the event loop is busy. */
export const MUX_RECV_BUFFER_BYTES = 8 << 20;

/** Each open mux by its candidate-pair filter: the tag an ICE agent carries in its options. */
const muxes = new WeakMap<object, UdpMux>();
let installed = false;

/** Makes werift's ICE agents whose port range is one mux's port use that mux (idempotent). */
function installUdpMux(): void {
  if (installed) return;
  installed = true;
  onEnsureProtocol((agent, protocol) => {
    const tag = agentTag(agent);
    const mux = tag ? muxes.get(tag) : undefined;
    if (!mux || !(protocol instanceof StunProtocol)) return;
    const stun = protocol as unknown as {
      transport: unknown;
      connectionMade: (useIpv4: boolean) => Promise<void>;
      datagramReceived(data: Buffer, addr: Address): void;
    };
    stun.connectionMade = async (useIpv4: boolean) => {
      if (!useIpv4) throw new Error('the UDP mux is IPv4 only');
      const transport = mux.attach(agent);
      transport.onData = (data, addr) => stun.datagramReceived(data, addr);
      stun.transport = transport;
    };
  });
}

export class UdpMux {
  readonly socket: Socket;
  readonly #transports = new Set<MuxedUdpTransport>();
  readonly #byRemote = new Map<string, MuxedUdpTransport>();
  #dropped = 0;
  #closed = false;
  readonly #recvBufferBytes: number;

  private constructor(socket: Socket) {
    this.socket = socket;
    this.#recvBufferBytes = socket.getRecvBufferSize();
    // Read in batches where the native module is built (udp-receiver.ts). Its slots are reused, so
    // a datagram gets a copy unless it is RTP for a transport whose RTP our receive path takes
    // (which keeps nothing of it): werift may keep what it is given.
    const batched = BatchedReceiver.start(socket, (data, source) => this.#onDatagram(data, source.address, source.port, true));
    if (batched === null) socket.on('message', (msg, rinfo) => this.#onDatagram(msg, rinfo.address, rinfo.port, false));
    // A send to an unreachable browser reports ICMP errors here; they must not end the socket.
    socket.on('error', () => {});
  }

  /** Binds the shared socket (`port` 0: the system picks one, for tests). */
  static async open(options: { port: number; listenIp?: string | undefined }): Promise<UdpMux> {
    installUdpMux();
    const socket = createSocket({ type: 'udp4', reuseAddr: false });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ port: options.port, ...(options.listenIp ? { address: options.listenIp } : {}) }, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    // Many peer connections share these buffers: a burst for one must not drop another's packets.
    for (const [set, size] of [
      [(n: number) => socket.setRecvBufferSize(n), MUX_RECV_BUFFER_BYTES],
      [(n: number) => socket.setSendBufferSize(n), MUX_RECV_BUFFER_BYTES],
    ] as const) {
      try {
        set(size);
      } catch {
        // The kernel's cap (net.core.rmem_max) applies; the default still works.
      }
    }
    const mux = new UdpMux(socket);
    muxes.set(mux.candidatePairFilter, mux);
    return mux;
  }

  /** Give werift this as `iceFilterCandidatePair`: it keeps every pair, and marks the agent as ours. */
  readonly candidatePairFilter = (): boolean => true;

  get port(): number {
    return this.socket.address().port;
  }

  stats(): UdpMuxStats {
    return { transports: this.#transports.size, remotes: this.#byRemote.size, dropped: this.#dropped, recvBufferBytes: this.#recvBufferBytes };
  }

  attach(agent: IceAgent): MuxedUdpTransport {
    if (this.#closed) throw new Error('the UDP mux is closed');
    const transport = new MuxedUdpTransport(this, agent);
    this.#transports.add(transport);
    return transport;
  }

  detach(transport: MuxedUdpTransport): void {
    this.#transports.delete(transport);
    for (const key of transport.remotes) {
      if (this.#byRemote.get(key) === transport) this.#byRemote.delete(key);
    }
    transport.remotes.clear();
  }

  /** `reused`: msg is a batch slot, valid during this call only (copied unless our receive path takes it). */
  #onDatagram(msg: Buffer, address: string, port: number, reused: boolean): void {
    const key = `${address}:${port}`;
    const known = this.#byRemote.get(key);
    if (known) {
      known.deliver(reused && !(known.rtpTakenInPlace && isRtp(msg)) ? Buffer.from(msg) : msg, address, port);
      return;
    }
    const username = stunBindingUsername(msg);
    const colon = username?.indexOf(':') ?? -1;
    const owner = username && colon > 0 ? this.#find(username.slice(0, colon), username.slice(colon + 1)) : undefined;
    if (!owner) {
      this.#dropped++;
      return;
    }
    // werift still checks the request's MESSAGE-INTEGRITY with the agent's password; a forged one
    // binds an address that then reaches only werift's checks and DTLS, never a session's media.
    owner.remotes.add(key);
    this.#byRemote.set(key, owner);
    owner.deliver(reused ? Buffer.from(msg) : msg, address, port);
  }

  /**
   * The attached agent a check is for. werift's ufrags are 4 hex digits, so two agents of a busy
   * server share one now and then (1 in 65,536 per pair): the far end's ufrag, the other half of the
   * USERNAME, tells them apart. Of one agent's transports (several host candidates) the first wins.
   */
  #find(ufrag: string, remoteUfrag: string): MuxedUdpTransport | undefined {
    let loose: MuxedUdpTransport | undefined;
    for (const t of this.#transports) {
      if (!t.owns(ufrag)) continue;
      if (t.agent.remoteUsername === remoteUfrag) return t;
      if (!loose && t.talksTo(remoteUfrag)) loose = t;
    }
    return loose;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    muxes.delete(this.candidatePairFilter);
    for (const t of [...this.#transports]) await t.close();
    await new Promise<void>((resolve) => this.socket.close(() => resolve()));
  }
}
