// ReceiveRouter: which producer and layer a received RTP packet (an RtpView) belongs to, by SSRC
// once known. An SSRC not seen before is bound the first time, as werift's RtpRouter did: by its
// rid header extension (simulcast: the layer of that rid), its repaired-rid (the RTX stream of that
// layer), or its mid (a single-encoding track: media or RTX by payload type); SSRCs the SDP named
// (a=ssrc, a=ssrc-group:FID) are bound from the start. A packet of an RTX stream is unwrapped in
// place (RFC 4588) into its media stream's packet. Each bound SSRC keeps its receive statistics and,
// for video with NACK, its NACK generator. Browsers stop sending mid/rid once our receiver reports
// name the SSRC, so binding happens on the first packets and never again.

import { NackGenerator } from './nack-generator.js';
import { ReceiveStats } from './receive-stats.js';
import type { RtpView } from './rtp-view.js';

/** Where a track's packets go: its producer's receive(view, layer). */
export interface ReceiveTarget {
  receive(packet: RtpView, layer: number): void;
}

/** One received track as negotiated (one m-line). */
export interface ReceiveTrack {
  mid: string;
  clockRate: number;
  /** The media payload type. */
  payloadType: number;
  /** The RTX payload type (apt = payloadType), -1 without RTX. */
  rtxPayloadType: number;
  /** Simulcast rids, lowest layer first; empty for a single encoding. */
  rids: readonly string[];
  /** SSRCs the SDP named: media of layer 0 and its RTX (0: none). */
  ssrc: number;
  rtxSsrc: number;
  /** Generate NACKs for its media SSRCs (video with nack negotiated). */
  nack: boolean;
  target: ReceiveTarget;
}

/** One bound SSRC. */
export interface ReceiveBinding {
  readonly ssrc: number;
  readonly track: ReceiveTrack;
  readonly layer: number;
  /** An RTX stream: its packets are unwrapped into the layer's media stream. */
  readonly rtx: boolean;
  readonly stats: ReceiveStats;
  /** Media streams of NACK tracks only. */
  readonly nack: NackGenerator | null;
}

/** Header extension ids (from the negotiation; 0: not negotiated). */
export interface ReceiveExtensionIds {
  mid: number;
  rid: number;
  repairedRid: number;
}

/** SSRCs bound at most (a publisher has a few; this bounds what garbage could make). */
export const MAX_BINDINGS = 64;

const decoder = new TextDecoder();

export class ReceiveRouter {
  readonly #tracks: ReceiveTrack[];
  readonly #ids: ReceiveExtensionIds;
  readonly #bySsrc = new Map<number, ReceiveBinding>();
  /** The same bindings as an array, in binding order (the timers walk it without an iterator). */
  readonly #list: ReceiveBinding[] = [];
  /** Per track, per layer: the media binding (RTX packets unwrap to its SSRC). */
  readonly #media = new Map<ReceiveTrack, (ReceiveBinding | undefined)[]>();
  /** Called once per new binding (the transport registers the SSRC for werift's RTCP routing). */
  readonly #onBind: (binding: ReceiveBinding) => void;
  /** Packets of SSRCs that could not be bound, and of bound SSRCs with a foreign payload type. */
  unroutable = 0;
  /** RTX packets unwrapped, and RTX packets without an original (padding) or whose media SSRC is unknown. */
  rtxUnwrapped = 0;
  rtxDropped = 0;
  /** Set by route(): the returned packet was unwrapped from RTX. */
  retransmission = false;

  constructor(tracks: readonly ReceiveTrack[], ids: ReceiveExtensionIds, onBind: (binding: ReceiveBinding) => void = () => {}) {
    this.#tracks = [...tracks];
    this.#ids = ids;
    this.#onBind = onBind;
    for (const track of tracks) {
      this.#media.set(track, new Array<ReceiveBinding | undefined>(Math.max(1, track.rids.length)).fill(undefined));
      if (track.ssrc !== 0) this.#bind(track.ssrc, track, 0, false);
      if (track.rtxSsrc !== 0) this.#bind(track.rtxSsrc, track, 0, true);
    }
  }

  get bindings(): readonly ReceiveBinding[] {
    return this.#list;
  }

  binding(ssrc: number): ReceiveBinding | undefined {
    return this.#bySsrc.get(ssrc >>> 0);
  }

  /**
   * Routes one parsed packet, `now` in ms: the media binding it belongs to (an RTX packet is
   * unwrapped in place first, `retransmission` set), with its statistics and NACK state updated;
   * null to drop it.
   */
  route(view: RtpView, now: number): ReceiveBinding | null {
    this.retransmission = false;
    let binding = this.#bySsrc.get(view.ssrc) ?? this.#bindNew(view);
    if (binding === undefined) {
      this.unroutable++;
      return null;
    }
    const track = binding.track;
    if (binding.rtx) {
      binding.stats.receive(view.sequenceNumber, view.timestamp, now);
      const media = this.#media.get(track)![binding.layer];
      if (view.payloadType !== track.rtxPayloadType || media === undefined || view.unwrapRtx(media.ssrc, track.payloadType) < 0) {
        this.rtxDropped++;
        return null;
      }
      this.rtxUnwrapped++;
      this.retransmission = true;
      binding = media;
    } else if (view.payloadType !== track.payloadType) {
      this.unroutable++;
      return null;
    }
    binding.stats.receive(view.sequenceNumber, view.timestamp, now, this.retransmission);
    binding.nack?.receive(view.sequenceNumber, now);
    return binding;
  }

  /** An SSRC seen for the first time: bound by rid, repaired-rid or mid, if the packet says. */
  #bindNew(view: RtpView): ReceiveBinding | undefined {
    if (this.#bySsrc.size >= MAX_BINDINGS) return undefined;
    const ids = this.#ids;
    if (ids.rid !== 0 && view.extension(ids.rid)) {
      const rid = this.#text(view);
      for (const track of this.#tracks) {
        const layer = track.rids.indexOf(rid);
        if (layer >= 0) return this.#bind(view.ssrc, track, layer, false);
      }
      return undefined;
    }
    if (ids.repairedRid !== 0 && view.extension(ids.repairedRid)) {
      const rid = this.#text(view);
      for (const track of this.#tracks) {
        const layer = track.rids.indexOf(rid);
        if (layer >= 0 && track.rtxPayloadType >= 0) return this.#bind(view.ssrc, track, layer, true);
      }
      return undefined;
    }
    if (ids.mid !== 0 && view.extension(ids.mid)) {
      const mid = this.#text(view);
      const track = this.#tracks.find((t) => t.mid === mid);
      // A simulcast track's streams are told apart by rid: a packet with only its mid is not bound.
      if (track === undefined || track.rids.length > 1) return undefined;
      if (view.payloadType === track.payloadType) return this.#bind(view.ssrc, track, 0, false);
      if (view.payloadType === track.rtxPayloadType) return this.#bind(view.ssrc, track, 0, true);
    }
    return undefined;
  }

  #text(view: RtpView): string {
    const b = view.buffer;
    return decoder.decode(b.subarray(view.extensionOffset, view.extensionOffset + view.extensionLength));
  }

  #bind(ssrc: number, track: ReceiveTrack, layer: number, rtx: boolean): ReceiveBinding {
    const binding: ReceiveBinding = {
      ssrc: ssrc >>> 0,
      track,
      layer,
      rtx,
      stats: new ReceiveStats(ssrc, track.clockRate),
      nack: !rtx && track.nack ? new NackGenerator(ssrc) : null,
    };
    const old = this.#bySsrc.get(binding.ssrc);
    if (old !== undefined) this.#list.splice(this.#list.indexOf(old), 1);
    this.#bySsrc.set(binding.ssrc, binding);
    this.#list.push(binding);
    if (!rtx) this.#media.get(track)![layer] = binding;
    this.#onBind(binding);
    return binding;
  }
}
