// Our SRTP on a werift peer connection's packet path, once werift's DTLS handshake is done. werift
// keeps ICE and DTLS; we take the SRTP keying material its handshake exported and
//   - send consumers' RTP ourselves: encrypt and hand it to the ICE pair's UDP socket directly
//     (werift's sendRtp makes a cipher, concatenates buffers and chains three promises per
//     packet). With the native module that is one sendto() on the socket's descriptor, from one
//     scratch buffer (the send is done when the call returns); otherwise a send slot and Node's
//     dgram send;
//   - decrypt received SRTP/SRTCP with ours, by giving werift's DTLS transport our decryptor in
//     place of its own (for RTCP, which werift still parses and routes, and for RTP until a
//     publisher's own receive path takes it: receive-path.ts decrypts with this session's
//     inbound context itself);
//   - encrypt the RTCP werift's DTLS transport sends for us (reports, NACK, PLI, REMB) with ours,
//     each sender SSRC's SRTCP index continuing from where werift's encryptor left it.

import type { Socket } from 'node:dgram';
import { SrtpAuthenticationError, type RTCDtlsTransport, type RtcpPacket } from 'werift';
import type { OutgoingHeader, RtpSink } from './consumer.js';
import { dgramState, nativePacket, type DgramStateView, type NativeHandle, type NativePacket } from './native.js';
import { SrtpSession, type SrtpKeyingMaterial } from './srtp/index.js';
import { SRTCP_MAX_OVERHEAD, type SrtcpContext } from './srtp/srtcp-context.js';
import { SRTP_MAX_OVERHEAD } from './srtp/srtp-context.js';
import { sendBatch, SEND_SLOT_BYTES, type BatchedSender } from './udp-send-batch.js';

/** What werift's SrtpSession keeps of the handshake (its `config`, not typed public). */
interface WeriftSrtpConfig {
  profile: number;
  keys: { localMasterKey: Buffer; localMasterSalt: Buffer; remoteMasterKey: Buffer; remoteMasterSalt: Buffer };
}

/** The keying material werift's DTLS handshake exported, or null before SRTP started. */
export function keyingMaterialOf(dtls: RTCDtlsTransport): SrtpKeyingMaterial | null {
  const config = (dtls.srtp as unknown as { config?: WeriftSrtpConfig } | undefined)?.config;
  if (!config?.keys) return null;
  return { profile: config.profile, ...config.keys };
}

/** The parts of werift's ICE connection and candidate pair the send path reads. */
interface IceConnectionView {
  state: string;
  nominated?: CandidatePairView;
  send(data: Buffer): Promise<void>;
}
interface UdpTransportView {
  socket?: Socket;
  closed?: boolean;
}
interface CandidatePairView {
  protocol: { type?: string; transport?: UdpTransportView };
  remoteAddr: [string, number];
  packetsSent: number;
  bytesSent: number;
}

/** Send slots per transport: enough for a NACK burst within one event-loop turn. */
const SEND_SLOTS = 32;
/** Largest RTP packet a slot holds (header + payload), plus the SRTP tag. */
const SLOT_SIZE = 1500 + SRTP_MAX_OVERHEAD;
if (SLOT_SIZE > SEND_SLOT_BYTES) throw new Error('a send batch slot must hold a full SRTP packet');

/**
 * Slots become reusable once the sends that used them reached the kernel. Node hands an unconnected
 * socket's send to libuv on the next process tick (after its address "lookup"), then writes it at
 * once unless the socket's send queue is backed up. So: a transport reuses slots only within
 * SEND_SLOTS sends per event-loop turn (counted against a shared epoch that a setImmediate
 * advances), and never while its socket has queued sends; otherwise it allocates.
 */
let epoch = 0;
let epochScheduled = false;
function advanceEpoch(): void {
  epoch++;
  epochScheduled = false;
}

/** Where the native send encrypts: the send is synchronous, so one buffer serves every transport. */
let nativeScratch: Buffer | undefined;
const EAGAIN = -11;
const ENOBUFS = -105;

/** The native send's address of host:port from this socket's family, or null (Node's send then). */
function nativeAddressFor(native: NativePacket, socket: Socket, host: string, port: number): NativeHandle | null {
  try {
    return native.udpAddress(host, port, socket.address().family === 'IPv6');
  } catch {
    return null; // not bound, or a host the native send does not take
  }
}

/**
 * A subscriber transport's RTP sink: our SRTP and a direct UDP send. Falls back to werift's ICE
 * connection `send` when the selected pair is not a plain UDP socket (e.g. TURN or TCP).
 */
export class SrtpSendPath implements RtpSink, BatchedSender {
  readonly session: SrtpSession;
  readonly #dtls: RTCDtlsTransport;
  readonly #connection: IceConnectionView;
  /** Allocated on first send (a publisher's transport never sends RTP). */
  #slots: Buffer | undefined;
  #nextSlot = 0;
  #slotEpoch = -1;
  #slotsThisEpoch = 0;
  // The selected pair and what we read from it, refreshed when ICE selects another.
  #pair: CandidatePairView | undefined;
  #udp: UdpTransportView | undefined;
  #socket: Socket | undefined;
  #host = '';
  #port = 0;
  /** The native send's view of the selected pair: the socket's state and the far end's address. */
  #nativeState: DgramStateView | undefined;
  #nativeAddress: NativeHandle | null = null;
  /** Sends handed to Node's queue (the socket's buffer was full) and not done yet: later ones follow them. */
  #nodeSendsPending = 0;
  readonly #nodeSendDone = (): void => {
    this.#nodeSendsPending--;
  };
  #packetsSent = 0;
  #nativeSent = 0;
  /** What our receive path refused and how much RTCP ours protected (set by attachOurSrtp). */
  counters: SrtcpCounters = { droppedRtp: 0, droppedRtcp: 0, rtcpSent: 0 };

  readonly #native: NativePacket | null;

  /** `native`: the native module's send (the default when it is built), or null for Node's dgram send. */
  constructor(dtls: RTCDtlsTransport, material: SrtpKeyingMaterial, native: NativePacket | null = nativePacket) {
    this.#dtls = dtls;
    this.#native = native;
    this.#connection = (dtls.iceTransport as unknown as { connection: IceConnectionView }).connection;
    this.session = new SrtpSession(material);
  }

  sendRtp(payload: Buffer, header: OutgoingHeader): void {
    const connection = this.#connection;
    const pair = connection.nominated;
    if (pair === undefined || connection.state === 'closed' || connection.state === 'failed') return;
    if (pair !== this.#pair) this.#select(pair);
    // The socket closes with the peer connection; sending on a closed dgram socket throws.
    if (this.#udp !== undefined && this.#udp.closed) return;
    const length = header.bytes.length + payload.length;
    if (this.#nativeAddress !== null && length + SRTP_MAX_OVERHEAD <= SLOT_SIZE) {
      const handle = this.#nativeState!.handle;
      const fd = handle?.fd;
      if (fd === undefined || fd < 0) return; // closed under us
      // While a received batch is handled, sends queue and leave with it (udp-send-batch.ts); not
      // while Node's queue holds earlier ones of this socket, which must go first.
      const batch = sendBatch !== null && sendBatch.open && this.#nodeSendsPending === 0 ? sendBatch : null;
      const out = batch !== null ? batch.nextSlot() : (nativeScratch ??= Buffer.alloc(SLOT_SIZE));
      const n = this.session.outbound.protect(header.bytes, payload, out);
      if (n < 0) return;
      if (batch !== null) {
        batch.queue(fd, this.#nativeAddress, n, this);
        this.#nativeSent++;
        this.#counted(pair, n);
        return;
      }
      const result = this.#sendOnSocket(fd, out, n, true);
      if (result === 'lost') return;
      if (result === 'native') this.#nativeSent++;
      this.#counted(pair, n);
      return;
    }
    const out = this.#buffer(length + SRTP_MAX_OVERHEAD);
    const n = this.session.outbound.protect(header.bytes, payload, out);
    if (n < 0) return;
    const packet = out.length === n ? out : out.subarray(0, n);
    const socket = this.#socket;
    if (socket !== undefined) {
      try {
        socket.send(packet, this.#port, this.#host);
      } catch {
        return; // closing under us: the packet is lost, the fan-out to other consumers goes on
      }
    } else {
      connection.send(packet).catch(() => {});
    }
    this.#counted(pair, n);
  }

  /** A datagram the send batch could not send: a full socket buffer hands it to Node's queue, as sendRtp does. */
  sendFailed(datagram: Buffer, errno: number): void {
    this.#nativeSent--;
    if (errno !== EAGAIN && errno !== ENOBUFS) return; // lost, as a failed sendto() loses it
    if (this.#socket === undefined || (this.#udp !== undefined && this.#udp.closed)) return;
    this.#queueOnNode(Buffer.from(datagram));
  }

  /**
   * Sends a compound of RTCP `packets` (plain bytes) protected by our SRTCP, at once: through the
   * native send where the selected pair is plain UDP, else Node's. False where it cannot (no pair
   * yet, closed, or a pair that is not plain UDP): the caller sends through werift.
   */
  sendRtcp(packets: readonly Buffer[]): boolean {
    const connection = this.#connection;
    const pair = connection.nominated;
    if (pair === undefined || connection.state === 'closed' || connection.state === 'failed') return false;
    if (pair !== this.#pair) this.#select(pair);
    const socket = this.#socket;
    if (socket === undefined || (this.#udp !== undefined && this.#udp.closed)) return false;
    const srtcp = (this.#dtls.srtcp as unknown as { encrypt(rtcp: Buffer): Buffer }).encrypt(packets.length === 1 ? packets[0]! : Buffer.concat(packets));
    this.#dtls.bytesSent += srtcp.length;
    this.#dtls.packetsSent++;
    pair.packetsSent++;
    pair.bytesSent += srtcp.length;
    const fd = this.#nativeState?.handle?.fd;
    // A send lost here (an error other than a full buffer, or the socket closing under us) is lost
    // as werift's own send would lose it.
    if (this.#nativeAddress !== null && fd !== undefined && fd >= 0) this.#sendOnSocket(fd, srtcp, srtcp.length, false);
    else this.#queueOnNode(srtcp);
    return true;
  }

  /**
   * Sends `n` bytes of `packet` on the pair's socket now with the native sendto(). After a full
   * socket buffer, Node's sends go first until they are done, so packets keep their order: then,
   * and when this one finds the buffer full, Node's send queues it (a copy, when `packet` is a
   * reused buffer) until the buffer drains.
   */
  #sendOnSocket(fd: number, packet: Buffer, n: number, reused: boolean): 'native' | 'queued' | 'lost' {
    if (this.#nodeSendsPending === 0) {
      const sent = this.#native!.udpSend(fd, this.#nativeAddress!, packet, n);
      if (sent >= 0) return 'native';
      if (sent !== EAGAIN && sent !== ENOBUFS) return 'lost';
    }
    return this.#queueOnNode(reused ? Buffer.from(packet.subarray(0, n)) : packet) ? 'queued' : 'lost';
  }

  /** Node's queued send of `packet` (which must stay untouched until sent); false if the socket is closing under us. */
  #queueOnNode(packet: Buffer): boolean {
    try {
      this.#socket!.send(packet, this.#port, this.#host, this.#nodeSendDone);
    } catch {
      return false;
    }
    this.#nodeSendsPending++;
    return true;
  }

  #counted(pair: CandidatePairView, n: number): void {
    this.#packetsSent++;
    // Keep werift's transport statistics true (its getStats reads them).
    pair.packetsSent++;
    pair.bytesSent += n;
    this.#dtls.packetsSent++;
    this.#dtls.bytesSent += n;
  }

  /** For transports' dump(): which SRTP runs and what it did. */
  dump(): {
    implementation: 'colloquy';
    profile: string;
    packetsSent: number;
    nativeSent: number;
    rtcpSent: number;
    droppedRtp: number;
    droppedRtcp: number;
  } {
    return {
      implementation: 'colloquy',
      profile: this.session.profile.name,
      packetsSent: this.#packetsSent,
      nativeSent: this.#nativeSent,
      rtcpSent: this.counters.rtcpSent,
      droppedRtp: this.counters.droppedRtp,
      droppedRtcp: this.counters.droppedRtcp,
    };
  }

  #select(pair: CandidatePairView): void {
    this.#pair = pair;
    const transport = pair.protocol.transport;
    const plainUdp = pair.protocol.type === 'stun' && transport?.socket !== undefined;
    this.#udp = plainUdp ? transport : undefined;
    this.#socket = plainUdp ? transport!.socket : undefined;
    [this.#host, this.#port] = pair.remoteAddr;
    const native = this.#native;
    this.#nativeState = this.#socket === undefined || native === null ? undefined : dgramState(this.#socket);
    this.#nativeAddress = this.#nativeState === undefined ? null : nativeAddressFor(native!, this.#socket!, this.#host, this.#port);
  }

  /** Sends Node still queues on the socket; a socket closed under us (it throws then) counts as busy. */
  #queuedSends(socket: Socket): number {
    try {
      return socket.getSendQueueCount();
    } catch {
      return 1;
    }
  }

  /** A send slot, or a fresh buffer when slots may still be in flight (see SEND_SLOTS). */
  #buffer(size: number): Buffer {
    if (size > SLOT_SIZE) return Buffer.allocUnsafe(size);
    if (this.#slotEpoch !== epoch) {
      this.#slotEpoch = epoch;
      this.#slotsThisEpoch = 0;
    }
    if (!epochScheduled) {
      epochScheduled = true;
      setImmediate(advanceEpoch);
    }
    if (this.#slotsThisEpoch >= SEND_SLOTS || (this.#socket !== undefined && this.#queuedSends(this.#socket) > 0)) {
      return Buffer.allocUnsafe(size);
    }
    this.#slotsThisEpoch++;
    const slot = this.#nextSlot;
    this.#nextSlot = (slot + 1) % SEND_SLOTS;
    this.#slots ??= Buffer.alloc(SEND_SLOTS * SLOT_SIZE);
    return this.#slots.subarray(slot * SLOT_SIZE, slot * SLOT_SIZE + SLOT_SIZE);
  }
}

/** Which SRTP implementation the packet path uses: ours (default) or werift's own. */
export type SrtpImplementation = 'colloquy' | 'werift';

const attached = new WeakMap<RTCDtlsTransport, SrtpSendPath>();

/** What a transport's dump() shows of its SRTP: ours with its figures, or werift's. */
export function srtpDump(dtls: RTCDtlsTransport | undefined): ReturnType<SrtpSendPath['dump']> | { implementation: 'werift' } | null {
  if (!dtls) return null;
  return attached.get(dtls)?.dump() ?? (dtls.srtpStarted ? { implementation: 'werift' } : null);
}

/**
 * Puts our SRTP on a connected DTLS transport, once: receiving (werift's decryptors replaced), the
 * RTCP werift sends (its SRTCP encryptor replaced) and a send path for consumers. Null if werift
 * has not started SRTP. Idempotent, so a transport that reconnects keeps one session (and with it
 * the rollover counters the browser expects).
 */
export function attachOurSrtp(dtls: RTCDtlsTransport): SrtpSendPath | null {
  const existing = attached.get(dtls);
  if (existing) return existing;
  const material = keyingMaterialOf(dtls);
  if (material === null) return null;
  const path = new SrtpSendPath(dtls, material);
  path.counters = useOurSrtp(dtls, path.session);
  attached.set(dtls, path);
  return path;
}

/**
 * Whether RTCP may go out on this DTLS transport: werift reads it connected, or it reads "failed"
 * after the handshake while ours protects its SRTP (attached at the handshake, with the keys it
 * exported). werift's DTLS state machine has turned "failed" after the handshake (its handshake
 * handler failing on a late copy of a flight: dtls-handshake-guard.ts) while the keys and the ICE
 * path were fine and media went on; without RTCP then (transport feedback, receiver reports, REMB,
 * NACK, PLI) a publisher's Chromium cut its estimate to its floor and sent its lowest layer for good.
 */
export function rtcpWritable(dtls: RTCDtlsTransport): boolean {
  return dtls.state === 'connected' || (dtls.state === 'failed' && attached.has(dtls));
}

/**
 * Sends RTCP `packets` (bytes) on `dtls`: by our send path at once where our SRTP runs on it and
 * the pair is plain UDP, else through werift's sendRtcp (which serializes, protects by the same
 * SRTCP context, and sends on its ICE connection asynchronously). RTCP is a few packets a second,
 * but each through werift's path cost ~250 µs of cold code on this VM (REMB alone was 2 % of a
 * 1→1 call's server CPU).
 */
export function sendRtcp(dtls: RTCDtlsTransport, packets: readonly Buffer[], onError: (err: unknown) => void): void {
  if (packets.length === 0) return;
  if (attached.get(dtls)?.sendRtcp(packets)) return;
  const rtcp = packets.map((bytes) => ({ serialize: () => bytes }) as unknown as RtcpPacket);
  dtls.sendRtcp(rtcp).catch(onError);
}

/** What our SRTP did on a DTLS transport werift runs: packets refused, RTCP compounds protected. */
export interface SrtcpCounters {
  droppedRtp: number;
  droppedRtcp: number;
  rtcpSent: number;
}

/** The part of werift's SRTCP session (its sending context) read to continue its index. */
interface WeriftSrtcpView {
  localContext?: { srtcpSSRCStates?: Record<number, { srtcpIndex: number } | undefined> };
}

/**
 * Makes werift's DTLS transport use ours: received SRTP and SRTCP are decrypted in place (in the
 * datagram's own buffer), and the RTCP it sends (`sendRtcp`: reports, NACK, PLI, REMB) is protected
 * by ours. werift keeps parsing and routing what reaches it (RTCP; RTP only where our receive path
 * is not running). A packet ours refuses is dropped the way werift drops
 * one: by its authentication error.
 */
export function useOurSrtp(dtls: RTCDtlsTransport, session: SrtpSession): SrtcpCounters {
  const counters: SrtcpCounters = { droppedRtp: 0, droppedRtcp: 0, rtcpSent: 0 };
  dtls.srtp = withDecrypt(dtls.srtp, (data) => session.inbound.unprotect(data), () => counters.droppedRtp++, 'SRTP');
  const srtcp = withDecrypt(dtls.srtcp, (data) => session.inboundRtcp.unprotect(data), () => counters.droppedRtcp++, 'SRTCP');
  srtcp.encrypt = rtcpEncryptor(session.outboundRtcp, dtls.srtcp as unknown as WeriftSrtcpView, counters);
  dtls.srtcp = srtcp;
  return counters;
}

/**
 * werift's `SrtcpSession.encrypt` done by ours. werift may have sent SRTCP before we took over
 * (index 1, 2, … per sender SSRC): the far end's replay window has seen those indexes, so each
 * SSRC's first packet through ours continues from werift's last. The buffer is fresh per packet:
 * werift's send is asynchronous and RTCP is a few packets per second.
 */
function rtcpEncryptor(ours: SrtcpContext, werift: WeriftSrtcpView, counters: SrtcpCounters): (rtcp: Buffer) => Buffer {
  return (rtcp: Buffer): Buffer => {
    if (rtcp.length >= 8) {
      const ssrc = rtcp.readUInt32BE(4);
      if (ours.nextIndex(ssrc) === undefined) {
        const last = werift.localContext?.srtcpSSRCStates?.[ssrc]?.srtcpIndex;
        if (last !== undefined) ours.setNextIndex(ssrc, last + 1);
      }
    }
    const out = Buffer.allocUnsafe(rtcp.length + SRTCP_MAX_OVERHEAD);
    const n = ours.protect(rtcp, out);
    // Only our own RTCP serializer feeds this; a malformed compound is a bug, never sent in clear.
    if (n < 0) throw new Error(`SRTCP: cannot protect a malformed RTCP packet (${n})`);
    counters.rtcpSent++;
    return out.subarray(0, n);
  };
}

/** werift's session object with `decrypt` replaced: in place, throwing werift's error on refusal. */
function withDecrypt<T extends object>(
  weriftSession: T,
  unprotect: (data: Buffer) => number,
  onDrop: () => void,
  what: string,
): T & { decrypt(data: Buffer): Buffer; encrypt(data: Buffer): Buffer } {
  const session = Object.create(weriftSession) as T & { decrypt(data: Buffer): Buffer; encrypt(data: Buffer): Buffer };
  session.decrypt = (data: Buffer): Buffer => {
    const n = unprotect(data);
    if (n < 0) {
      onDrop();
      throw new SrtpAuthenticationError(`${what} packet refused (${n})`);
    }
    return data.subarray(0, n);
  };
  return session;
}
