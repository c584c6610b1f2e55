// A synthetic subscriber: a werift peer connection that answers the server's offer and measures
// every stream it receives (stream-stats.ts). Two receive paths: 'light' (default; clear headers,
// only frame ends decrypted: light-receive.ts) and 'full' (werift decrypts and parses everything
// and sends receiver reports and NACKs as a browser would, at several times the CPU).

import type { RTCPeerConnection } from 'werift';
import { readMarker } from './frame-marker.js';
import { decryptPayload, readClearHeader, useLightReceive, type ClearHeader } from './light-receive.js';
import { connected, createPeer, gathered, payloadTypes } from './peer.js';
import { StreamStats } from './stream-stats.js';

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

  constructor(options: { bindIp: string; mode?: ReceiveMode }) {
    this.#mode = options.mode ?? 'light';
    this.pc = createPeer(options.bindIp);
    if (this.#mode === 'full') {
      this.pc.onTrack.subscribe((track) => {
        track.onReceiveRtp.subscribe((rtp) => {
          const at = performance.now();
          const stats = this.#count(rtp.header, rtp.payload.length + 12, at);
          if (stats?.kind === 'video' && rtp.header.marker) stats.onFrameEnd(readMarker(rtp.payload), at);
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
    return this.pc.localDescription!.sdp;
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
    const stats = this.#count(h, packet.length, at);
    if (stats?.kind === 'video' && h.marker) {
      const payload = decryptPayload(srtp, packet, stats.rolloverCount);
      stats.onFrameEnd(payload ? readMarker(payload) : null, at);
    }
  }
}
