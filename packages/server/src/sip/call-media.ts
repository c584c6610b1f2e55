// A SIP call's audio, both ways, at 48 kHz mono inside:
// - phone -> session: RTP from the phone (PCMU/PCMA at 8 kHz, or Opus), decoded, brought to 48 kHz,
//   encoded to Opus in 20 ms frames and sent by the SessionPublisher as the SIP participant's stream;
// - session -> phone: every other stream's Opus (or only those `streams` names), tapped from the
//   SFU's producers (Producer.addRtpListener, as archiving does), decoded, mixed every 20 ms on a
//   clock, encoded in the call's codec and sent to the phone's RTP address;
// - DTMF: RFC 4733 telephone-events from the phone become `dtmf` events (once per digit, on its end
//   packets); `sendDtmf` plays digits to the phone the same way.
// Opus is `opusscript` (libopus compiled to WebAssembly); G.711 is g711.ts.

import { createSocket, type Socket } from 'node:dgram';
import OpusScript from 'opusscript';
import { RtpHeader, RtpPacket } from 'werift';
import type { Logger } from '../logger.js';
import type { Session, SessionManager, Stream } from '../sessions/session-manager.js';
import { TypedEmitter } from '../typed-emitter.js';
import { decodeG711, encodeG711 } from './g711.js';
import { buildOffer, OFFER_PAYLOAD_TYPES, readRemoteSdp, type NegotiatedAudio } from './sdp.js';
import type { SessionPublisher } from './session-publisher.js';

const FRAME = 960; // 20 ms at 48 kHz
const MAX_QUEUE = FRAME * 10; // 200 ms per source: older audio is dropped, latency stays bounded
const DTMF_EVENTS = '0123456789*#ABCD';

export type CallMediaEvents = {
  dtmf: [digit: string];
};

interface Source {
  streamId: string;
  decoder: OpusScript;
  queue: Int16Array[];
  queued: number;
  unsubscribe: () => void;
}

export interface CallMediaStats {
  /** Re-INVITEs whose SDP the media followed. */
  remoteUpdates: number;
  packetsFromPhone: number;
  packetsToPhone: number;
  framesToSession: number;
}

export class CallMedia extends TypedEmitter<CallMediaEvents> {
  readonly #socket: Socket;
  readonly #port: number;
  readonly #publisher: SessionPublisher;
  readonly #streams: Set<string> | null;
  readonly #log: Logger;
  readonly #version = Math.floor(Date.now() / 1000);
  #remote: NegotiatedAudio | null = null;
  /** Where the far end's RTP comes from (symmetric RTP): our packets go there once known. */
  #latched: { address: string; port: number } | null = null;
  #encoderToSession: OpusScript | null = null;
  #phoneDecoder: OpusScript | null = null;
  #phoneEncoder: OpusScript | null = null;
  /** 48 kHz samples from the phone waiting for a full Opus frame. */
  #fromPhone = new Int16Array(FRAME * 4);
  #fromPhoneLength = 0;
  readonly #sources = new Map<string, Source>();
  #timer: NodeJS.Timeout | undefined;
  #clockStart = 0;
  #framesSent = 0;
  #seq = Math.floor(Math.random() * 0xffff);
  #timestamp = Math.floor(Math.random() * 0xffffffff) >>> 0;
  readonly #ssrc = (Math.random() * 0xffffffff) >>> 0;
  /** RFC 4733: the timestamp of the last event we reported (end packets repeat it). */
  #lastDtmfTimestamp = -1;
  /** Digits waiting to be played to the phone, and the one playing (20 ms packets). */
  #dtmfQueue: string[] = [];
  #dtmfPlaying: { event: number; timestamp: number; sent: number; endSent: number; gap: number } | null = null;
  #stopSessionWatch: (() => void) | null = null;
  #closed = false;
  readonly stats: CallMediaStats = { remoteUpdates: 0, packetsFromPhone: 0, packetsToPhone: 0, framesToSession: 0 };

  private constructor(socket: Socket, publisher: SessionPublisher, streams: string[] | null, logger: Logger) {
    super();
    this.#socket = socket;
    this.#port = socket.address().port;
    this.#publisher = publisher;
    this.#streams = streams ? new Set(streams) : null;
    this.#log = logger;
    socket.on('message', (msg, rinfo) => this.#onRtp(msg, rinfo.address, rinfo.port));
    socket.on('error', (err) => this.#log.warn({ err }, 'SIP RTP socket error'));
  }

  static async open(params: { bindAddress: string | null; publisher: SessionPublisher; streams: string[] | null; logger: Logger }): Promise<CallMedia> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ port: 0, ...(params.bindAddress ? { address: params.bindAddress } : {}) }, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    return new CallMedia(socket, params.publisher, params.streams, params.logger);
  }

  localSdp(address: string): string {
    return buildOffer({ address, port: this.#port, sessionVersion: this.#version });
  }

  get codec(): NegotiatedAudio['codec'] | null {
    return this.#remote?.codec ?? null;
  }

  /** The far end answered: start sending to it and mixing the session for it. */
  start(remoteSdp: string, sessions: SessionManager, sessionId: string, ownStreamId: string): void {
    this.#remote = readRemoteSdp(remoteSdp);
    this.#encoderToSession = new OpusScript(48000, 1, OpusScript.Application.VOIP);
    if (this.#remote.codec === 'opus') {
      this.#phoneDecoder = new OpusScript(48000, 1, OpusScript.Application.VOIP);
      this.#phoneEncoder = new OpusScript(48000, 1, OpusScript.Application.VOIP);
    }
    const session = sessions.live(sessionId);
    if (session) {
      for (const stream of session.streams.values()) if (stream.live) this.#addSource(stream, ownStreamId);
    }
    const onCreated = (s: Session, stream: Stream) => {
      if (s.id === sessionId) this.#addSource(stream, ownStreamId);
    };
    const onDestroyed = (s: Session, stream: Stream) => {
      if (s.id === sessionId) this.#removeSource(stream.id);
    };
    sessions.on('streamCreated', onCreated);
    sessions.on('streamDestroyed', onDestroyed);
    this.#stopSessionWatch = () => {
      sessions.off('streamCreated', onCreated);
      sessions.off('streamDestroyed', onDestroyed);
    };
    this.#clockStart = performance.now();
    this.#timer = setInterval(() => this.#tick(), 10);
  }

  /** A re-INVITE's offer: follow the new address (hold keeps the codec). */
  updateRemote(sdp: string): void {
    const next = readRemoteSdp(sdp);
    if (this.#remote && next.codec !== this.#remote.codec) {
      throw new Error(`the far end changed codec from ${this.#remote.codec} to ${next.codec} mid-call`);
    }
    this.#remote = next;
    this.#latched = null;
    this.stats.remoteUpdates++;
  }

  /** Queues DTMF digits (0-9 * # A-D, and p: a 500 ms pause) for the phone, RFC 4733. */
  sendDtmf(digits: string): void {
    for (const d of digits) {
      const digit = d === 'p' ? d : d.toUpperCase();
      if (digit === 'p' || DTMF_EVENTS.includes(digit)) this.#dtmfQueue.push(digit);
    }
  }

  get canSendDtmf(): boolean {
    return this.#remote?.telephoneEventPt !== null && this.#remote !== null;
  }

  #addSource(stream: Stream, ownStreamId: string): void {
    if (stream.id === ownStreamId || this.#sources.has(stream.id)) return;
    if (this.#streams && !this.#streams.has(stream.id)) return;
    const producer = stream.producer('audio');
    if (!producer || producer.codec.name !== 'opus') return;
    const source: Source = { streamId: stream.id, decoder: new OpusScript(48000, 1, OpusScript.Application.VOIP), queue: [], queued: 0, unsubscribe: () => {} };
    source.unsubscribe = producer.addRtpListener((packet) => {
      if (packet.payload.length === 0) return;
      let pcm: Buffer;
      try {
        pcm = source.decoder.decode(packet.payload);
      } catch {
        return;
      }
      const samples = new Int16Array(pcm.buffer.slice(pcm.byteOffset, pcm.byteOffset + pcm.byteLength));
      source.queue.push(samples);
      source.queued += samples.length;
      while (source.queued > MAX_QUEUE && source.queue.length > 1) source.queued -= source.queue.shift()!.length;
    });
    this.#sources.set(stream.id, source);
  }

  #removeSource(streamId: string): void {
    const source = this.#sources.get(streamId);
    if (!source) return;
    source.unsubscribe();
    source.decoder.delete();
    this.#sources.delete(streamId);
  }

  /** The send clock: one 20 ms frame to the phone per 20 ms of wall time since start (catching up at most 5). */
  #tick(): void {
    if (this.#closed || !this.#remote) return;
    try {
      this.#catchUp();
    } catch (err) {
      // One bad frame must not stop the call's clock.
      this.#log.warn({ err }, 'SIP audio frame failed');
    }
  }

  #catchUp(): void {
    const due = Math.floor((performance.now() - this.#clockStart) / 20);
    let budget = 5;
    while (this.#framesSent < due && budget-- > 0) {
      this.#sendFrame();
      this.#framesSent++;
    }
    if (this.#framesSent < due) this.#framesSent = due; // fell far behind: skip, do not burst
  }

  #sendFrame(): void {
    const remote = this.#remote!;
    const mix = new Int32Array(FRAME);
    for (const source of this.#sources.values()) {
      let filled = 0;
      while (filled < FRAME && source.queue.length > 0) {
        const head = source.queue[0]!;
        const take = Math.min(head.length, FRAME - filled);
        for (let i = 0; i < take; i++) mix[filled + i]! += head[i]!;
        filled += take;
        if (take === head.length) source.queue.shift();
        else source.queue[0] = head.subarray(take);
        source.queued -= take;
      }
    }
    const pcm48 = new Int16Array(FRAME);
    for (let i = 0; i < FRAME; i++) pcm48[i] = Math.max(-32768, Math.min(32767, mix[i]!));
    if (this.#dtmfPlaying || this.#dtmfQueue.length > 0) {
      if (this.#sendDtmfPacket(remote)) return;
    }
    let payload: Buffer;
    let samples: number;
    if (remote.codec === 'opus') {
      payload = this.#phoneEncoder!.encode(Buffer.from(pcm48.buffer), FRAME);
      samples = FRAME;
    } else {
      payload = encodeG711(remote.codec, downsample6(pcm48));
      samples = FRAME / 6;
    }
    this.#sendRtp(remote.payloadType, payload, samples, false);
  }

  /** RFC 4733 sending: each digit 100 ms of event packets, three end packets, 60 ms silence after. Returns true when it used this frame. */
  #sendDtmfPacket(remote: NegotiatedAudio): boolean {
    const pt = remote.telephoneEventPt;
    if (pt === null) {
      this.#dtmfQueue = [];
      return false;
    }
    const clock = remote.codec === 'opus' ? 48000 : 8000;
    const perFrame = clock / 50;
    if (!this.#dtmfPlaying) {
      const digit = this.#dtmfQueue.shift()!;
      this.#dtmfPlaying =
        digit === 'p'
          ? { event: -1, timestamp: this.#timestamp, sent: 0, endSent: 3, gap: -22 } // 25 frames of plain audio
          : { event: DTMF_EVENTS.indexOf(digit), timestamp: this.#timestamp, sent: 0, endSent: 0, gap: 0 };
    }
    const p = this.#dtmfPlaying;
    if (p.endSent >= 3) {
      // Inter-digit gap: plain audio for three frames (a pause: 25).
      if (++p.gap >= 3) this.#dtmfPlaying = null;
      return false;
    }
    const toneFrames = 5;
    const end = p.sent >= toneFrames;
    const duration = Math.min(toneFrames, p.sent + 1) * perFrame;
    const payload = Buffer.alloc(4);
    payload[0] = p.event;
    payload[1] = (end ? 0x80 : 0) | 10; // end bit, volume -10 dBm0
    payload.writeUInt16BE(duration, 2);
    const header = new RtpHeader({ payloadType: pt, sequenceNumber: this.#seq, timestamp: p.timestamp, marker: p.sent === 0, ssrc: this.#ssrc });
    this.#seq = (this.#seq + 1) & 0xffff;
    this.#send(new RtpPacket(header, payload).serialize());
    if (end) p.endSent++;
    else p.sent++;
    // The media clock runs on during the event.
    this.#timestamp = (this.#timestamp + perFrame) >>> 0;
    return true;
  }

  #sendRtp(payloadType: number, payload: Buffer, samples: number, marker: boolean): void {
    const remote = this.#remote;
    if (!remote || remote.direction === 'inactive' || remote.direction === 'sendonly') {
      this.#timestamp = (this.#timestamp + samples) >>> 0;
      return;
    }
    const header = new RtpHeader({ payloadType, sequenceNumber: this.#seq, timestamp: this.#timestamp, marker, ssrc: this.#ssrc });
    this.#seq = (this.#seq + 1) & 0xffff;
    this.#timestamp = (this.#timestamp + samples) >>> 0;
    this.#send(new RtpPacket(header, payload).serialize());
  }

  #send(datagram: Buffer): void {
    const remote = this.#remote!;
    const to = this.#latched ?? remote;
    this.#socket.send(datagram, to.port, to.address);
    this.stats.packetsToPhone++;
  }

  #onRtp(msg: Buffer, address: string, port: number): void {
    const remote = this.#remote;
    if (this.#closed || !remote || msg.length < 12) return;
    // Symmetric RTP (RFC 4961) with latching: the far end's SDP may name an address it does not send
    // from (NAT, several interfaces). We latch onto the first source that sends, and from then on
    // take RTP only from it and send to it; a re-INVITE unlatches.
    if (this.#latched === null) {
      this.#latched = { address, port };
      if (address !== remote.address || port !== remote.port) this.#log.debug({ address, port, sdp: `${remote.address}:${remote.port}` }, 'SIP RTP latched to its source');
    } else if (address !== this.#latched.address || port !== this.#latched.port) {
      return;
    }
    const version = msg[0]! >> 6;
    if (version !== 2) return;
    const pt = msg[1]! & 0x7f;
    if (pt >= 72 && pt <= 76) return; // RTCP on the RTP port (rtcp-mux)
    let packet: RtpPacket;
    try {
      packet = RtpPacket.deSerialize(msg);
    } catch {
      return;
    }
    this.stats.packetsFromPhone++;
    if (pt === remote.telephoneEventPt) {
      this.#onTelephoneEvent(packet);
      return;
    }
    if (pt !== remote.payloadType) return;
    let pcm48: Int16Array;
    if (remote.codec === 'opus') {
      let pcm: Buffer;
      try {
        pcm = this.#phoneDecoder!.decode(packet.payload);
      } catch {
        return;
      }
      pcm48 = new Int16Array(pcm.buffer.slice(pcm.byteOffset, pcm.byteOffset + pcm.byteLength));
    } else {
      pcm48 = upsample6(decodeG711(remote.codec, packet.payload));
    }
    this.#toSession(pcm48);
  }

  #toSession(pcm48: Int16Array): void {
    if (this.#fromPhoneLength + pcm48.length > this.#fromPhone.length) {
      const bigger = new Int16Array(Math.max(this.#fromPhone.length * 2, this.#fromPhoneLength + pcm48.length));
      bigger.set(this.#fromPhone.subarray(0, this.#fromPhoneLength));
      this.#fromPhone = bigger;
    }
    this.#fromPhone.set(pcm48, this.#fromPhoneLength);
    this.#fromPhoneLength += pcm48.length;
    let offset = 0;
    while (this.#fromPhoneLength - offset >= FRAME) {
      const frame = this.#fromPhone.slice(offset, offset + FRAME);
      offset += FRAME;
      const opus = this.#encoderToSession!.encode(Buffer.from(frame.buffer), FRAME);
      this.#publisher.sendOpus(opus, FRAME);
      this.stats.framesToSession++;
    }
    if (offset > 0) {
      this.#fromPhone.copyWithin(0, offset, this.#fromPhoneLength);
      this.#fromPhoneLength -= offset;
    }
    // Never let the phone's backlog grow (a burst after a pause): keep at most 2 frames.
    if (this.#fromPhoneLength > FRAME * 2) this.#fromPhoneLength = 0;
  }

  #onTelephoneEvent(packet: RtpPacket): void {
    const p = packet.payload;
    if (p.length < 4) return;
    const event = p[0]!;
    const endBit = (p[1]! & 0x80) !== 0;
    const ts = packet.header.timestamp;
    if (!endBit || ts === this.#lastDtmfTimestamp) return;
    this.#lastDtmfTimestamp = ts;
    const digit = DTMF_EVENTS[event];
    if (digit) this.emit('dtmf', digit);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    this.#stopSessionWatch?.();
    for (const id of [...this.#sources.keys()]) this.#removeSource(id);
    this.#encoderToSession?.delete();
    this.#phoneDecoder?.delete();
    this.#phoneEncoder?.delete();
    this.#socket.close();
    this.removeAllListeners();
  }
}

/** 8 kHz to 48 kHz by linear interpolation. */
export function upsample6(pcm8: Int16Array): Int16Array {
  const out = new Int16Array(pcm8.length * 6);
  for (let i = 0; i < pcm8.length; i++) {
    const a = pcm8[i]!;
    const b = i + 1 < pcm8.length ? pcm8[i + 1]! : a;
    for (let k = 0; k < 6; k++) out[i * 6 + k] = a + ((b - a) * k) / 6;
  }
  return out;
}

/** 48 kHz to 8 kHz: the mean of each 6 samples (a boxcar low-pass before decimation). */
export function downsample6(pcm48: Int16Array): Int16Array {
  const out = new Int16Array(Math.floor(pcm48.length / 6));
  for (let i = 0; i < out.length; i++) {
    let sum = 0;
    for (let k = 0; k < 6; k++) sum += pcm48[i * 6 + k]!;
    out[i] = sum / 6;
  }
  return out;
}
