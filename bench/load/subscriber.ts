// A synthetic subscriber: a werift peer connection that answers the server's offer and measures
// every stream it receives (stream-stats.ts). Two receive paths: 'light' (default; clear headers,
// only frame ends decrypted: light-receive.ts) and 'full' (werift decrypts and parses everything
// and sends receiver reports and NACKs as a browser would, at several times the CPU).
// Options for a browser-like downlink: `transportCc` (light path) answers with the transport-wide
// sequence number and sends transport feedback every FEEDBACK_INTERVAL_MS, as Chromium does, so the
// SFU estimates this subscriber's downlink and shares it across its streams (without it the SFU has
// nothing to go by and sends every stream at its top layer); `readFrameStarts` reads each video
// frame's first packet too (keyframes and picture width of a browser publisher's stream, which
// carries no trailer of ours: vp8-frame-start.ts).

import { FEEDBACK_INTERVAL_MS, TransportFeedbackWriter } from '@colloquy/sfu/transport-feedback-writer';
import type { RTCDtlsTransport, RTCPeerConnection } from 'werift';
import { readMarker } from './frame-marker.js';
import { decryptPayload, readClearHeader, readHeaderExtensionUint16, useLightReceive, type ClearHeader } from './light-receive.js';
import { connected, createPeer, gathered, payloadTypes, transportCcId } from './peer.js';
import { StreamStats } from './stream-stats.js';
import { readVp8FrameStart } from './vp8-frame-start.js';

export type ReceiveMode = 'light' | 'full';

export class LoadSubscriber {
  readonly pc: RTCPeerConnection;
  /** By SSRC. */
  readonly streams = new Map<number, StreamStats>();
  /** performance.now() when the subscription was asked for (set by the caller). */
  startedAt = performance.now();
  /** Packets whose payload type is not a media codec of the offer (retransmissions, padding…). */
  otherPackets = 0;
  readonly #mode: ReceiveMode;
  #types = new Map<number, { kind: 'audio' | 'video'; clockRate: number }>();
  readonly #header: ClearHeader = { payloadType: 0, marker: false, sequenceNumber: 0, timestamp: 0, ssrc: 0 };
  readonly #readFrameStarts: boolean;
  /** Transport feedback (transportCc): the writer, the extension id it reads, the timer that sends. */
  readonly #feedback: TransportFeedbackWriter | null;
  #transportCcId = 0;
  #feedbackTimer: ReturnType<typeof setInterval> | undefined;
  /** Transport feedback messages sent. */
  feedbackSent = 0;

  constructor(options: { bindIp: string; mode?: ReceiveMode; transportCc?: boolean; readFrameStarts?: boolean }) {
    this.#mode = options.mode ?? 'light';
    if (options.transportCc && this.#mode !== 'light') throw new Error('transportCc needs the light receive path (werift would send transport feedback of its own)');
    this.#readFrameStarts = options.readFrameStarts === true;
    this.#feedback = options.transportCc ? new TransportFeedbackWriter((Math.random() * 0xffffffff) >>> 0) : null;
    this.pc = createPeer(options.bindIp, { transportCc: options.transportCc === true });
    if (this.#mode === 'full') {
      this.pc.onTrack.subscribe((track) => {
        track.onReceiveRtp.subscribe((rtp) => {
          const at = performance.now();
          const stats = this.#count(rtp.header, rtp.payload.length + 12, at);
          if (stats?.kind !== 'video') return;
          if (stats.frameStarted && this.#readFrameStarts) stats.onFrameStart(readVp8FrameStart(rtp.payload));
          if (rtp.header.marker) stats.onFrameEnd(readMarker(rtp.payload), at);
        });
      });
    }
  }

  /** Takes the server's offer, returns our answer (every ICE candidate included). */
  async answer(offer: string): Promise<string> {
    this.#types = payloadTypes(offer);
    await this.pc.setRemoteDescription({ type: 'offer', sdp: offer });
    if (this.#mode === 'light') {
      // DTLS starts after our answer: tag the transports before that.
      for (const t of this.pc.getTransceivers()) useLightReceive(t.receiver.dtlsTransport, (packet, srtp) => this.#onSrtp(packet, srtp));
    }
    await this.pc.setLocalDescription(await this.pc.createAnswer());
    await gathered(this.pc);
    const answer = this.pc.localDescription!.sdp;
    if (this.#feedback) this.#startFeedback(answer);
    return answer;
  }

  /** Transport feedback for what the answer numbered (werift answers with the offer's id), every FEEDBACK_INTERVAL_MS. */
  #startFeedback(answer: string): void {
    this.#transportCcId = transportCcId(answer);
    const dtls = this.pc.getTransceivers()[0]?.receiver.dtlsTransport as RTCDtlsTransport | undefined;
    if (this.#transportCcId === 0 || !dtls) throw new Error('transportCc: the answer did not take the transport-wide sequence number');
    const writer = this.#feedback!;
    this.#feedbackTimer = setInterval(() => {
      if (dtls.state !== 'connected') return;
      const messages = writer.takeFeedback();
      if (messages.length === 0) return;
      this.feedbackSent += messages.length;
      // werift serializes what it is given: our bytes, as the SFU sends its own feedback (srtp-path.ts).
      dtls.sendRtcp(messages.map((bytes) => ({ serialize: () => bytes }) as unknown as Parameters<RTCDtlsTransport['sendRtcp']>[0][number])).catch(() => {});
    }, FEEDBACK_INTERVAL_MS);
  }

  connected(timeoutMs?: number): Promise<void> {
    return connected(this.pc, timeoutMs);
  }

  /** Time from `startedAt` to the first whole keyframe of the first video stream, ms; null before. */
  get timeToFirstFrameMs(): number | null {
    for (const s of this.streams.values()) if (s.kind === 'video' && s.firstFrameAt !== null) return s.firstFrameAt - this.startedAt;
    return null;
  }

  async close(): Promise<void> {
    clearInterval(this.#feedbackTimer);
    await this.pc.close();
  }

  /** Counts one packet by its header: the stream it belongs to, or null for a payload type we did not ask for. */
  #count(h: { payloadType: number; ssrc: number; sequenceNumber: number; timestamp: number }, bytes: number, at: number): StreamStats | null {
    const type = this.#types.get(h.payloadType);
    if (!type) {
      this.otherPackets++;
      return null;
    }
    let stats = this.streams.get(h.ssrc);
    if (!stats) {
      stats = new StreamStats(type.kind, type.clockRate);
      this.streams.set(h.ssrc, stats);
    }
    stats.onPacket(h.sequenceNumber, h.timestamp, bytes, at);
    return stats;
  }

  #onSrtp(packet: Buffer, srtp: Parameters<Parameters<typeof useLightReceive>[1]>[1]): void {
    const h = this.#header;
    if (!readClearHeader(packet, h)) return;
    const at = performance.now();
    // Every packet numbered transport-wide counts for the feedback, retransmissions and padding too.
    if (this.#transportCcId !== 0) {
      const seq = readHeaderExtensionUint16(packet, this.#transportCcId);
      if (seq >= 0) this.#feedback!.onPacket(seq, at, h.ssrc);
    }
    const stats = this.#count(h, packet.length, at);
    if (stats?.kind !== 'video') return;
    let payload: Buffer | null | undefined; // decrypted once, when needed (a one-packet frame both begins and ends)
    const read = (): Buffer | null => (payload === undefined ? (payload = decryptPayload(srtp, packet, stats.rolloverCount)) : payload);
    if (stats.frameStarted && this.#readFrameStarts) {
      const p = read();
      stats.onFrameStart(p ? readVp8FrameStart(p) : null);
    }
    if (h.marker) {
      const p = read();
      stats.onFrameEnd(p ? readMarker(p) : null, at);
    }
  }
}
