// A SIP call's audio, both ways, at 48 kHz mono inside:
// - phone -> session: RTP from the phone (PCMU/PCMA at 8 kHz, or Opus), decoded, brought to 48 kHz
//   and handed to the SessionPublisher (media/audio), which sends it as the SIP participant's stream;
// - session -> phone: every other stream's audio (or only those `streams` names), mixed every 20 ms
//   by a SessionAudioMixer (media/audio), encoded in the call's codec and sent to the phone;
// - DTMF: RFC 4733 telephone-events from the phone become `dtmf` events (once per digit, on its end
//   packets); `sendDtmf` plays digits to the phone the same way.
// A `secure` call offers RTP/SAVP with an SDES key and sends and takes only SRTP (srtp.ts); an answer
// without a key we can use ends the call rather than fall back to plain RTP.
// Opus is `opusscript` (libopus compiled to WebAssembly); G.711 is g711.ts.

import { createSocket, type Socket } from 'node:dgram';
import OpusScript from 'opusscript';
import { RtpHeader, RtpPacket } from 'werift';
import type { Logger } from '../logger.js';
import { downsampleFrom48k, FRAME_48K as FRAME, pcmFromBuffer, SessionAudioMixer, upsampleTo48k, type SessionPublisher } from '../session-audio/index.js';
import type { SessionManager } from '../sessions/session-manager.js';
import { TypedEmitter } from '../typed-emitter.js';
import { decodeG711, encodeG711 } from './g711.js';
import { buildOffer, readRemoteSdp, type NegotiatedAudio } from './sdp.js';
import { newSdesKey, SdesSrtp } from './srtp.js';
import { JitterBuffer, type RtpInput } from '../archiving/jitter-buffer.js';

const DTMF_EVENTS = '0123456789*#ABCD';

export type CallMediaEvents = {
  dtmf: [digit: string];
};

export interface CallMediaStats {
  /** Re-INVITEs whose SDP the media followed. */
  remoteUpdates: number;
  packetsFromPhone: number;
  packetsToPhone: number;
  framesToSession: number;
  /** SRTP packets from the phone that failed authentication (or came before the answer's key). */
  srtpRejected: number;
  /** Of those, the ones refused by the SRTP replay window (a packet already received, or too old). */
  srtpReplayed: number;
  /** The phone's packets given up on as lost, and dropped as duplicates or too late (the jitter buffer). */
  phonePacketsLost: number;
  phonePacketsLate: number;
}

/** What the jitter buffer holds of a phone's packet: its fields and payload type. */
interface PhonePacket extends RtpInput {
  payloadType: number;
}

/** How long a packet after a gap waits for the missing one before it is taken as lost. */
const REORDER_WAIT_MS = 60;

export class CallMedia extends TypedEmitter<CallMediaEvents> {
  readonly #socket: Socket;
  readonly #port: number;
  readonly #publisher: SessionPublisher;
  readonly #streams: string[] | null;
  readonly #log: Logger;
  readonly #version = Math.floor(Date.now() / 1000);
  /** Our SDES key when the call is secure (in our offer; it encrypts what we send). */
  readonly #localKey: string | null;
  #srtp: SdesSrtp | null = null;
  /**
   * The phone's packets back in sequence order before they are decoded into one continuous PCM
   * stream (a packet that overtook another would otherwise play in the wrong place). Timing jitter
   * is left to the subscribers' own jitter buffers; this one only reorders, waiting at most
   * REORDER_WAIT_MS for a missing packet. One per SSRC: a new SSRC is a new sequence.
   */
  #jitter: JitterBuffer | null = null;
  #jitterSsrc: number | null = null;
  #remote: NegotiatedAudio | null = null;
  /** Where the far end's RTP comes from (symmetric RTP): our packets go there once known. */
  #latched: { address: string; port: number } | null = null;
  #phoneDecoder: OpusScript | null = null;
  #phoneEncoder: OpusScript | null = null;
  #mixer: SessionAudioMixer | null = null;
  #seq = Math.floor(Math.random() * 0xffff);
  #timestamp = Math.floor(Math.random() * 0xffffffff) >>> 0;
  readonly #ssrc = (Math.random() * 0xffffffff) >>> 0;
  /** RFC 4733: the timestamp of the last event we reported (end packets repeat it). */
  #lastDtmfTimestamp = -1;
  /** Digits waiting to be played to the phone, and the one playing (20 ms packets). */
  #dtmfQueue: string[] = [];
  #dtmfPlaying: { event: number; timestamp: number; sent: number; endSent: number; gap: number } | null = null;
  #closed = false;
  readonly stats: CallMediaStats = { remoteUpdates: 0, packetsFromPhone: 0, packetsToPhone: 0, framesToSession: 0, srtpRejected: 0, srtpReplayed: 0, phonePacketsLost: 0, phonePacketsLate: 0 };

  private constructor(socket: Socket, publisher: SessionPublisher, streams: string[] | null, secure: boolean, logger: Logger) {
    super();
    this.#localKey = secure ? newSdesKey() : null;
    this.#socket = socket;
    this.#port = socket.address().port;
    this.#publisher = publisher;
    this.#streams = streams;
    this.#log = logger;
    socket.on('message', (msg, rinfo) => this.#onRtp(msg, rinfo.address, rinfo.port));
    socket.on('error', (err) => this.#log.warn({ err }, 'SIP RTP socket error'));
  }

  static async open(params: { bindAddress: string | null; publisher: SessionPublisher; streams: string[] | null; secure: boolean; logger: Logger }): Promise<CallMedia> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ port: 0, ...(params.bindAddress ? { address: params.bindAddress } : {}) }, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    return new CallMedia(socket, params.publisher, params.streams, params.secure, params.logger);
  }

  /** Our offer; with `video`, a VP8 video m-line too (the call's CallVideo says its port and key). */
  localSdp(address: string, video?: { port: number; srtpKey?: string }): string {
    return buildOffer({ address, port: this.#port, sessionVersion: this.#version, ...(this.#localKey ? { srtpKey: this.#localKey } : {}), ...(video ? { video } : {}) });
  }

  /** True when the call's media is SRTP. */
  get secure(): boolean {
    return this.#localKey !== null;
  }

  get codec(): NegotiatedAudio['codec'] | null {
    return this.#remote?.codec ?? null;
  }

  /** The far end answered: start sending to it and mixing the session for it. */
  start(remoteSdp: string, sessions: SessionManager, sessionId: string, ownStreamId: string): void {
    const remote = readRemoteSdp(remoteSdp);
    this.#srtp = this.#srtpFor(remote);
    this.#remote = remote;
    if (this.#remote.codec === 'opus') {
      this.#phoneDecoder = new OpusScript(48000, 1, OpusScript.Application.VOIP);
      this.#phoneEncoder = new OpusScript(48000, 1, OpusScript.Application.VOIP);
    }
    this.#mixer = new SessionAudioMixer({
      sessions,
      sessionId,
      streams: this.#streams,
      exclude: [ownStreamId],
      onFrame: (pcm48) => this.#sendFrame(pcm48),
      logger: this.#log,
    });
    this.#mixer.start();
  }

  /** A re-INVITE's offer: follow the new address (hold keeps the codec). */
  updateRemote(sdp: string): void {
    const next = readRemoteSdp(sdp);
    if (this.#remote && next.codec !== this.#remote.codec) {
      throw new Error(`the far end changed codec from ${this.#remote.codec} to ${next.codec} mid-call`);
    }
    // A new key from the far end starts a new SRTP context for what it sends (RFC 4568 §7.1.4).
    if (this.#localKey !== null && next.srtpKey !== this.#remote?.srtpKey) this.#srtp = this.#srtpFor(next);
    this.#remote = next;
    this.#latched = null;
    this.stats.remoteUpdates++;
  }

  /** The SRTP context for a secure call's far end (null for a plain call); throws when its SDP has no key we can use. */
  #srtpFor(remote: NegotiatedAudio): SdesSrtp | null {
    if (this.#localKey === null) return null;
    if (remote.srtpKey === null) throw new Error('the call is secure and the far end answered without an SRTP key (AES_CM_128_HMAC_SHA1_80)');
    return new SdesSrtp(this.#localKey, remote.srtpKey);
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

  /** One 20 ms frame of the session's mix, on the mixer's clock: to the phone. */
  #sendFrame(pcm48: Int16Array): void {
    const remote = this.#remote;
    if (this.#closed || !remote) return;
    // The same clock lets the jitter buffer give up on a missing packet when nothing else arrives.
    this.#jitter?.tick(performance.now());
    if (this.#dtmfPlaying || this.#dtmfQueue.length > 0) {
      if (this.#sendDtmfPacket(remote)) return;
    }
    let payload: Buffer;
    let samples: number;
    if (remote.codec === 'opus') {
      payload = this.#phoneEncoder!.encode(Buffer.from(pcm48.buffer), FRAME);
      samples = FRAME;
    } else {
      payload = encodeG711(remote.codec, downsampleFrom48k(pcm48, 8000));
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
    this.#socket.send(this.#srtp ? this.#srtp.protect(datagram) : datagram, to.port, to.address);
    this.stats.packetsToPhone++;
  }

  #onRtp(datagram: Buffer, address: string, port: number): void {
    const remote = this.#remote;
    if (this.#closed || !remote || datagram.length < 12) return;
    if ((datagram[1]! & 0x7f) >= 72 && (datagram[1]! & 0x7f) <= 76) return; // RTCP on the RTP port (rtcp-mux)
    // A secure call takes only packets that authenticate with the far end's key, before they can
    // move the latch: a stranger cannot hijack the media path.
    let msg = datagram;
    if (this.#localKey !== null) {
      const plain = this.#srtp?.unprotect(datagram) ?? null;
      if (plain === null) {
        this.stats.srtpRejected++;
        this.stats.srtpReplayed = this.#srtp?.replayed ?? this.stats.srtpReplayed;
        return;
      }
      msg = plain;
    }
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
    let packet: RtpPacket;
    try {
      packet = RtpPacket.deSerialize(msg);
    } catch {
      return;
    }
    this.stats.packetsFromPhone++;
    const h = packet.header;
    if (this.#jitter === null || h.ssrc !== this.#jitterSsrc) {
      this.#jitter?.drain();
      this.#jitterSsrc = h.ssrc;
      this.#jitter = new JitterBuffer({
        latencyMs: REORDER_WAIT_MS,
        maxPackets: 16,
        // The buffer hands back what it was given: a PhonePacket.
        onPacket: (p) => this.#fromPhone(p as PhonePacket),
        onLoss: (count) => (this.stats.phonePacketsLost += count),
      });
    }
    const late = this.#jitter.packetsDropped;
    const phonePacket: PhonePacket = { sequenceNumber: h.sequenceNumber, timestamp: h.timestamp, marker: h.marker, payload: packet.payload, payloadType: h.payloadType };
    this.#jitter.push(phonePacket, performance.now());
    this.stats.phonePacketsLate += this.#jitter.packetsDropped - late;
  }

  /** One of the phone's packets, in sequence order: a DTMF event, or audio for the session. */
  #fromPhone(packet: PhonePacket): void {
    const remote = this.#remote;
    if (this.#closed || !remote) return;
    const pt = packet.payloadType;
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
      pcm48 = pcmFromBuffer(pcm);
    } else {
      pcm48 = upsampleTo48k(decodeG711(remote.codec, packet.payload), 8000);
    }
    const before = this.#publisher.framesSent;
    this.#publisher.sendPcm(pcm48);
    this.stats.framesToSession += this.#publisher.framesSent - before;
  }

  #onTelephoneEvent(packet: PhonePacket): void {
    const p = packet.payload;
    if (p.length < 4) return;
    const event = p[0]!;
    const endBit = (p[1]! & 0x80) !== 0;
    const ts = packet.timestamp;
    if (!endBit || ts === this.#lastDtmfTimestamp) return;
    this.#lastDtmfTimestamp = ts;
    const digit = DTMF_EVENTS[event];
    if (digit) this.emit('dtmf', digit);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#mixer?.close();
    this.#phoneDecoder?.delete();
    this.#phoneEncoder?.delete();
    this.#socket.close();
    this.removeAllListeners();
  }
}
