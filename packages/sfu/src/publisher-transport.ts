// PublisherTransport: the server end of one publisher's peer connection. The browser offers
// (sendonly audio and/or video), we answer; each received track becomes a Producer. It tells the
// publisher how much it may send (REMB, the session cap), answers its transport-wide sequence
// numbers with transport feedback so that the browser's own estimator finds the real uplink
// (transport-feedback-writer.ts). Once connected with our SRTP, received RTP takes our own path
// (receive-path.ts: decrypt, one parse, routing, RTX, receive statistics, receiver reports and
// NACKs); before that, and with werift's SRTP, werift's receiver does it.

import { randomUUID } from 'node:crypto';
import {
  RtcpSrPacket,
  type GenericNack,
  RTCRtpCodecParameters,
  type RTCDtlsTransport,
  type RTCRtpReceiver,
  type RTCRtpTransceiver,
  type RtpPacket,
} from 'werift';
import { MediaError, conflict, invalid } from './errors.js';
import type { Logger } from 'pino';
import type { VideoCodecName } from './codecs.js';
import { createPublisherPeer, waitForGathering, type IceSettings } from './peer-config.js';
import { Producer, type ProducerLink } from './producer.js';
import { checkPublisherOffer, checkSdp } from './sdp-checks.js';
import { PeerTransport } from './peer-transport.js';
import { codecInfo } from './transport-common.js';
import type { MediaKind, TransportState } from './types.js';
import { BitrateController, DEFAULT_UPLINK_ESTIMATION, REMB_INTERVAL_MS, type UplinkEstimation } from './bitrate-controller.js';
import { EXT } from './peer-config.js';
import { FEEDBACK_INTERVAL_MS, TransportFeedbackWriter } from './transport-feedback-writer.js';
import { attachOurSrtp, rtcpWritable, sendRtcp, type SrtpImplementation, type SrtpSendPath } from './srtp-path.js';
import { writeRemb } from './rtcp-writer.js';
import { ReceivePath, readArrivalSignals, type ArrivalSignals } from './receive-path.js';
import { ReceiveRouter, type ReceiveTrack } from './receive-router.js';
import { RtpView } from './rtp-view.js';
import { everyPeriod, type ClockTask } from './media-clock.js';

export type PublisherTransportEvents = {
  stateChange: [TransportState];
  /** A producer was created by acceptOffer. */
  producer: [Producer];
  close: [];
};

export interface PublisherTransportOptions {
  id: string;
  ice: IceSettings;
  srtp: SrtpImplementation;
  videoCodec: VideoCodecName;
  /** Most bits per second this publisher may send (REMB cap). */
  maxIncomingBitrate: number;
  /** How the publisher learns its uplink (bitrate-controller.ts). Default 'transport-cc'. */
  uplinkEstimation?: UplinkEstimation;
  logger: Logger;
}

/** werift keeps these per receiver but does not type them public; we read them for stats only. */
interface ReceiverInternals {
  remoteStreams: Record<number, { jitter: number } | undefined>;
  nackCountBySsrc: Record<number, number | undefined>;
  rtcpSsrc: number;
  /** RTX SSRC → media SSRC, from the offer's a=ssrc-group:FID. */
  ssrcByRtx?: Record<number, number>;
}

/** What of werift's receiver our receive path stops (its RR loop, its NACK timer) and feeds (RTCP routing). */
interface ReceiverLoops {
  rtcpRunning: boolean;
  rtcpCancel: AbortController;
  nack: { close(): void };
}

/** Where a publisher's own estimator starts in transport-cc mode (capped by the session's cap). */
const START_BITRATE = 1_000_000;

export class PublisherTransport extends PeerTransport<PublisherTransportEvents> {
  readonly kind = 'publisher';
  readonly videoCodec: VideoCodecName;
  readonly #bitrate: BitrateController;
  #producers: Producer[] = [];
  #offerAccepted = false;
  #timer: ClockTask | undefined;
  #feedbackTimer: NodeJS.Timeout | undefined;
  #rtcpSsrc = 0;
  readonly uplinkEstimation: UplinkEstimation;
  /** Our transport feedback (transport-cc mode), made when the connection first comes up. */
  #feedback: TransportFeedbackWriter | undefined;
  /** The header extension ids the publisher's transport-wide sequence numbers come under. */
  readonly #transportCcIds = new Set<number>();
  /** 'remb-delay': the header extension ids of the publisher's abs-send-time (our delay-based REMB's signal). */
  readonly #absSendTimeIds = new Set<number>();
  #feedbackSent = 0;
  /** The received tracks as negotiated, for our receive path (one per producer). */
  readonly #receiveTracks: ReceiveTrack[] = [];
  readonly #receiverOf = new Map<ReceiveTrack, RTCRtpReceiver>();
  /** Header extension ids by URI, from the negotiation (BUNDLE: one id space). */
  readonly #extensionIds = new Map<string, number>();
  /** Our receive path, from the first connect with our SRTP. */
  #receivePath: ReceivePath | undefined;
  /** Packets werift delivered (before our path, or with werift's SRTP) are parsed into this view. */
  readonly #weriftView = new RtpView();

  constructor(options: PublisherTransportOptions) {
    const uplinkEstimation = options.uplinkEstimation ?? DEFAULT_UPLINK_ESTIMATION;
    super({ id: options.id, pc: createPublisherPeer(options.ice, options.videoCodec, uplinkEstimation === 'transport-cc'), srtp: options.srtp, logger: options.logger });
    this.videoCodec = options.videoCodec;
    this.uplinkEstimation = uplinkEstimation;
    this.#bitrate = new BitrateController(options.maxIncomingBitrate);
  }

  get producers(): readonly Producer[] {
    return this.#producers;
  }

  /** Most bits per second the publisher is allowed (the REMB cap). */
  get maxIncomingBitrate(): number {
    return this.#bitrate.max;
  }

  set maxIncomingBitrate(bps: number) {
    this.#bitrate.max = bps;
  }

  /**
   * Takes the browser's offer and returns our answer with ICE candidates included (no server-side
   * trickle: gathering is a socket bind). One producer per received audio/video track.
   */
  async acceptOffer(sdp: unknown): Promise<{ answer: string; producers: Producer[] }> {
    if (this.closed) throw new MediaError('not-allowed', 'transport is closed');
    if (this.#offerAccepted) throw conflict('this transport already accepted an offer');
    const offer = checkSdp(sdp, 'offer');
    checkPublisherOffer(offer);
    this.#offerAccepted = true;
    try {
      await this.pc.setRemoteDescription({ type: 'offer', sdp: offer });
    } catch (err) {
      throw invalid(`unusable SDP offer: ${(err as Error).message}`);
    }
    if (this.closed) throw new MediaError('not-allowed', 'transport closed while answering');
    const producers: Producer[] = [];
    try {
      for (const transceiver of this.pc.getTransceivers()) {
        const producer = this.#createProducer(transceiver);
        if (producer) producers.push(producer);
      }
      if (producers.length === 0) throw invalid(`the offer has no track this session can receive (Opus audio, ${this.videoCodec} video)`);
      const answer = await this.pc.createAnswer();
      await this.negotiation.setLocalDescription(answer);
      await waitForGathering(this.pc);
      if (this.closed) throw new MediaError('not-allowed', 'transport closed while answering');
    } catch (err) {
      for (const producer of producers) producer.close();
      throw err;
    }
    this.#producers = producers;
    for (const producer of producers) this.emit('producer', producer);
    this.logger.debug({ transportId: this.id, producers: producers.map((p) => p.dump()) }, 'publisher offer accepted');
    return { answer: this.localSdp(), producers };
  }

  #createProducer(transceiver: RTCRtpTransceiver): Producer | null {
    const kind = transceiver.kind as MediaKind;
    const receiver = transceiver.receiver;
    // Simulcast: werift made one track per rid (offer order: lowest layer first, as the SDK sends).
    const ridTracks = receiver.tracks.filter((t) => t.rid);
    const simulcast = kind === 'video' && ridTracks.length > 1;
    const track = receiver.track;
    if (!simulcast && !track.ssrc) {
      transceiver.setDirection('inactive');
      return null;
    }
    const chosen = chooseCodec(transceiver.codecs, kind, this.videoCodec);
    if (!chosen) {
      transceiver.setDirection('inactive');
      return null;
    }
    // Answer with exactly one codec (and its RTX), so the browser sends what consumers expect.
    // Simulcast goes without RTX: werift cannot tell whose repair an RTX packet of a rid stream
    // is, so Chromium answers NACKs on the media SSRCs instead (the rewriter takes duplicates).
    const answered = kind === 'video' && this.uplinkEstimation === 'transport-cc' ? this.#withStartBitrate(chosen) : chosen;
    transceiver.codecs = transceiver.codecs
      .filter((c) => c === chosen || (!simulcast && c.name.toLowerCase() === 'rtx' && c.parameters?.includes(`apt=${chosen.payloadType}`)))
      .map((c) => (c === chosen ? answered : c));
    transceiver.setDirection('recvonly');
    const internals = receiver as unknown as ReceiverInternals;
    if (simulcast) nackPerSsrc(receiver);
    this.#rtcpSsrc ||= internals.rtcpSsrc;
    // werift would answer transport-cc with its own feedback generator (not usable, see
    // transport-feedback-writer.ts): a placeholder in its slot keeps it from making one.
    (receiver as unknown as { receiverTWCC: unknown }).receiverTWCC = { handleTWCC: () => {}, twccRunning: false };
    const extensionUris: (string | undefined)[] = [];
    for (const ext of transceiver.headerExtensions) {
      extensionUris[ext.id] = ext.uri;
      this.#extensionIds.set(ext.uri, ext.id);
      if (ext.uri === EXT.transportCc && this.uplinkEstimation === 'transport-cc') this.#transportCcIds.add(ext.id);
      if (ext.uri === EXT.absSendTime && this.uplinkEstimation === 'remb-delay') this.#absSendTimeIds.add(ext.id);
    }
    const link: ProducerLink = {
      sendPli: (ssrc) => void receiver.sendRtcpPLI(ssrc),
      receiveStats: (ssrc) => this.#receivePath?.receiveStats(ssrc) ?? internals.remoteStreams[ssrc],
      nackCount: (ssrc) => (this.#receivePath?.nackCount(ssrc) ?? 0) + (internals.nackCountBySsrc[ssrc] ?? 0),
    };
    const producer = new Producer({
      id: randomUUID(),
      kind,
      codec: codecInfo(chosen),
      ssrc: simulcast ? 0 : track.ssrc!,
      ...(simulcast ? { rids: ridTracks.map((t) => t.rid!) } : {}),
      streamId: this.id,
      extensionUris,
      link,
    });
    const rtx = simulcast ? undefined : transceiver.codecs.find((c) => c.name.toLowerCase() === 'rtx');
    const mediaSsrc = simulcast ? 0 : track.ssrc!;
    const rtxSsrc = Object.entries(internals.ssrcByRtx ?? {}).find(([, media]) => media === mediaSsrc)?.[0];
    const receiveTrack: ReceiveTrack = {
      mid: transceiver.mid ?? '',
      clockRate: chosen.clockRate,
      payloadType: chosen.payloadType,
      rtxPayloadType: rtx?.payloadType ?? -1,
      rids: simulcast ? ridTracks.map((t) => t.rid!) : [],
      ssrc: mediaSsrc,
      rtxSsrc: rtx && rtxSsrc !== undefined ? Number(rtxSsrc) : 0,
      nack: kind === 'video' && (chosen.rtcpFeedback ?? []).some((f) => f.type === 'nack' && !f.parameter),
      target: producer,
    };
    this.#receiveTracks.push(receiveTrack);
    this.#receiverOf.set(receiveTrack, receiver);
    // werift's path (packets before our receive path starts, or all of them with werift's SRTP):
    // its RtpPacket becomes our view, so the producer sees one packet type.
    const fromWerift = (packet: RtpPacket, layer: number): void => {
      if (this.#weriftView.parse(packet.serialize())) producer.receive(this.#weriftView, layer);
    };
    if (simulcast) {
      ridTracks.forEach((ridTrack, layer) => {
        this.subscriptions.push(ridTrack.onReceiveRtp.subscribe((packet) => fromWerift(packet, layer)));
      });
    } else {
      this.subscriptions.push(track.onReceiveRtp.subscribe((packet) => fromWerift(packet, 0)));
    }
    this.subscriptions.push(
      receiver.onRtcp.subscribe((packet) => {
        if (!(packet instanceof RtcpSrPacket)) return;
        producer.handleSenderReport(packet.ssrc, packet.senderInfo.rtpTimestamp);
        this.#receivePath?.handleSenderReport(packet.ssrc, packet.senderInfo.ntpTimestamp);
      }),
    );
    producer.on('close', () => {
      this.#producers = this.#producers.filter((p) => p !== producer);
    });
    return producer;
  }

  /**
   * The video codec as answered in transport-cc mode: with `x-google-start-bitrate`, where
   * Chromium's estimator starts (its default, 300 kbps, leaves a simulcast publisher on its lowest
   * layer until probes succeed, and probes measured through a busy server often fall short).
   * Chromium reads it from the answer's fmtp. The producer keeps the offered parameters.
   */
  #withStartBitrate(codec: RTCRtpCodecParameters): RTCRtpCodecParameters {
    const kbps = Math.round(Math.min(this.#bitrate.max, START_BITRATE) / 1000);
    const parameters = [codec.parameters, `x-google-start-bitrate=${kbps}`].filter((p) => p).join(';');
    return new RTCRtpCodecParameters({ ...codec, parameters });
  }

  protected onStateChange(state: TransportState): void {
    // Received SRTP/SRTCP is decrypted by ours from here on (see srtp-path.ts).
    if (state === 'connected' && this.srtp === 'colloquy') {
      const dtls = this.pc.dtlsTransports[0];
      const path = dtls ? attachOurSrtp(dtls) : null;
      if (dtls && path && !this.#receivePath && this.#receiveTracks.length > 0) this.#startReceivePath(dtls, path);
    }
    if (state === 'connected' && !this.#timer) {
      // A REMB right away lands inside Chromium's start phase (first 2 s without loss), where it
      // trusts a receiver estimate and jumps to it instead of ramping up 8 % per second.
      this.#tick();
      this.#timer = everyPeriod(REMB_INTERVAL_MS, () => this.#tick());
      this.#startFeedback();
      this.#startWeriftArrivals();
    }
  }

  /**
   * Received RTP goes our way from here on (receive-path.ts). werift's receivers stop their own
   * receiver reports and NACK timers (ours replace them); each SSRC we bind is registered in
   * werift's RTP router so that its RTCP (sender reports) still reaches the receiver.
   */
  #startReceivePath(dtls: RTCDtlsTransport, srtp: SrtpSendPath): void {
    const ids = this.#extensionIds;
    const werift = (this.pc as unknown as { router: { registerRtpReceiver(receiver: RTCRtpReceiver, ssrc: number): void; ssrcTable: Record<number, unknown> } }).router;
    const receivers = this.pc.getTransceivers().map((t) => t.receiver);
    const receiverOf = this.#receiverOf;
    const router = new ReceiveRouter(
      this.#receiveTracks,
      { mid: ids.get(EXT.mid) ?? 0, rid: ids.get(EXT.rid) ?? 0, repairedRid: ids.get(EXT.repairedRid) ?? 0 },
      (binding) => {
        const receiver = receiverOf.get(binding.track);
        if (receiver && !werift.ssrcTable[binding.ssrc]) werift.registerRtpReceiver(receiver, binding.ssrc);
      },
    );
    for (const receiver of receivers) {
      const loops = receiver as unknown as ReceiverLoops;
      loops.rtcpRunning = false;
      loops.rtcpCancel.abort();
      loops.nack.close();
    }
    this.#receivePath = new ReceivePath({
      dtls,
      srtp: srtp.session.inbound,
      router,
      rtcpSsrc: this.#rtcpSsrc,
      ...this.#arrivalSignals(),
      onSrtpDrop: () => srtp.counters.droppedRtp++,
      logger: this.logger,
    });
    this.#receivePath.start();
  }

  /**
   * What the uplink estimation takes of every arriving packet: transport-wide sequence numbers to
   * our transport feedback ('transport-cc'), abs-send-time to the bitrate controller, whose
   * delay-based cut is sent as REMB at once ('remb-delay'; bitrate-controller.ts).
   */
  #arrivalSignals(): ArrivalSignals {
    return {
      transportCcIds: [...this.#transportCcIds],
      onTransportSequence: (seq, arrival, ssrc) => this.#feedback?.onPacket(seq, arrival, ssrc),
      absSendTimeIds: [...this.#absSendTimeIds],
      onAbsSendTime: (absSendTime, arrival, size, ssrc, seq) => {
        if (this.#bitrate.onPacket(absSendTime, arrival, size, ssrc, seq)) this.#sendRemb(this.#bitrate.estimate);
      },
    };
  }

  /**
   * The same signals from what werift still delivers (before our receive path starts, or all of
   * it with werift's SRTP): onRtp fires as soon as a datagram is decrypted, before werift routes
   * it, in the same event-loop turn as the socket read. Our receive path reads them in its one parse.
   */
  #startWeriftArrivals(): void {
    const dtls = this.pc.dtlsTransports[0];
    if (!dtls || (this.#transportCcIds.size === 0 && this.#absSendTimeIds.size === 0)) return;
    const signals = this.#arrivalSignals();
    const view = new RtpView();
    this.subscriptions.push(
      dtls.onRtp.subscribe((packet) => {
        const bytes = packet.serialize();
        if (view.parse(bytes)) readArrivalSignals(view, performance.now(), bytes.length, signals);
      }),
    );
  }

  /** transport-cc mode: our transport feedback, answered every FEEDBACK_INTERVAL_MS. */
  #startFeedback(): void {
    const dtls = this.pc.dtlsTransports[0];
    if (this.#transportCcIds.size === 0 || !dtls || this.#feedback) return;
    const writer = new TransportFeedbackWriter(this.#rtcpSsrc);
    this.#feedback = writer;
    this.#feedbackTimer = setInterval(() => {
      if (!rtcpWritable(dtls)) return;
      const messages = writer.takeFeedback();
      if (messages.length === 0) return;
      this.#feedbackSent += messages.length;
      sendRtcp(dtls, messages, (err) => this.logger.debug({ err }, 'transport feedback send failed'));
    }, FEEDBACK_INTERVAL_MS);
  }

  #tick(): void {
    const now = performance.now();
    let incoming = 0;
    let worstLoss = 0;
    let layerWaiting = false;
    const videoSsrcs: number[] = [];
    for (const producer of this.#producers) {
      producer.sample(now);
      incoming += producer.bitrate;
      if (producer.kind === 'video') {
        for (const layer of producer.layers) {
          if (layer.ssrc !== 0) videoSsrcs.push(layer.ssrc);
          // A simulcast layer someone needs (not paused by us) that is not arriving.
          if (producer.layerCount > 1 && layer.active && !producer.layerFlowing(layer.index)) layerWaiting = true;
        }
        worstLoss = Math.max(worstLoss, producer.fractionLost);
      }
    }
    if (videoSsrcs.length === 0) return;
    // With transport feedback, Chromium's estimator handles delay and loss; REMB is only the cap.
    const estimate = this.#feedback ? this.#bitrate.max : this.#bitrate.update(incoming, worstLoss, now, layerWaiting);
    this.#sendRemb(estimate, videoSsrcs);
  }

  #sendRemb(estimate: number, videoSsrcs = this.#videoSsrcs()): void {
    const dtls = this.pc.dtlsTransports[0];
    if (videoSsrcs.length === 0 || !dtls || !rtcpWritable(dtls)) return;
    sendRtcp(dtls, [writeRemb(this.#rtcpSsrc, estimate, videoSsrcs)], (err) => this.logger.debug({ err }, 'REMB send failed'));
  }

  #videoSsrcs(): number[] {
    const ssrcs: number[] = [];
    for (const producer of this.#producers) {
      if (producer.kind === 'video') for (const layer of producer.layers) if (layer.ssrc !== 0) ssrcs.push(layer.ssrc);
    }
    return ssrcs;
  }

  getStats(): {
    id: string;
    state: TransportState;
    uplinkEstimation: UplinkEstimation;
    rembBitrate: number;
    maxIncomingBitrate: number;
    /** transport-cc mode: packets numbered transport-wide seen, of those reported how many lost, how many came after their number was reported, feedback messages sent. */
    transportFeedback: { packets: number; reported: number; lost: number; late: number; messages: number } | null;
    producers: ReturnType<Producer['getStats']>[];
  } {
    return {
      id: this.id,
      state: this.state,
      uplinkEstimation: this.uplinkEstimation,
      rembBitrate: this.#feedback ? this.#bitrate.max : this.#bitrate.estimate,
      maxIncomingBitrate: this.#bitrate.max,
      transportFeedback: this.#feedback
        ? { packets: this.#feedback.packetsSeen, reported: this.#feedback.packetsReported, lost: this.#feedback.packetsLost, late: this.#feedback.packetsLate, messages: this.#feedbackSent }
        : null,
      producers: this.#producers.map((p) => p.getStats()),
    };
  }

  dump(): Record<string, unknown> {
    return this.dumpWith({
      videoCodec: this.videoCodec,
      uplinkEstimation: this.uplinkEstimation,
      producers: this.#producers.map((p) => p.dump()),
      receivePath: this.#receivePath?.dump() ?? null,
    });
  }

  /** close(): producers first (and so their consumers), then the base closes the peer connection. */
  protected closeMedia(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    clearInterval(this.#feedbackTimer);
    this.#feedbackTimer = undefined;
    this.#receivePath?.close();
    for (const producer of [...this.#producers]) producer.close();
    this.#producers = [];
  }
}

/**
 * werift's receiver keeps one NACK tracker with a single sequence space, which interleaved
 * simulcast SSRCs would turn into bogus NACK storms. This gives each SSRC its own tracker of the
 * same class (werift does not export it), reporting through the receiver's own onPacketLost.
 */
function nackPerSsrc(receiver: RTCRtpReceiver): void {
  interface NackTracker {
    addPacket(packet: RtpPacket): void;
    close(): void;
    onPacketLost: { subscribe(f: (nack: GenericNack) => void): unknown };
  }
  const internals = receiver as unknown as { nack: NackTracker; onPacketLost: { execute(nack: GenericNack): void } };
  const original = internals.nack;
  const Tracker = original.constructor as new (receiver: RTCRtpReceiver) => NackTracker;
  const bySsrc = new Map<number, NackTracker>();
  internals.nack = {
    addPacket(packet: RtpPacket): void {
      let tracker = bySsrc.get(packet.header.ssrc);
      if (tracker === undefined) {
        tracker = new Tracker(receiver);
        tracker.onPacketLost.subscribe((nack) => internals.onPacketLost.execute(nack));
        bySsrc.set(packet.header.ssrc, tracker);
      }
      tracker.addPacket(packet);
    },
    close(): void {
      original.close();
      for (const tracker of bySsrc.values()) tracker.close();
      bySsrc.clear();
    },
    onPacketLost: original.onPacketLost,
  };
}

/** Picks the one codec a publisher must send: Opus for audio; the session's codec for video. */
function chooseCodec(codecs: RTCRtpCodecParameters[], kind: MediaKind, video: VideoCodecName): RTCRtpCodecParameters | undefined {
  if (kind === 'audio') return codecs.find((c) => c.mimeType.toLowerCase() === 'audio/opus');
  const wanted = video === 'VP8' ? 'video/vp8' : 'video/h264';
  const candidates = codecs.filter((c) => c.mimeType.toLowerCase() === wanted);
  if (video === 'VP8') return candidates[0];
  // H.264: packetization-mode=1 (FU-A) and a baseline profile every browser decodes, if offered.
  const fmtp = (c: RTCRtpCodecParameters) => (c.parameters ?? '').toLowerCase();
  const mode1 = candidates.filter((c) => fmtp(c).includes('packetization-mode=1'));
  return (
    mode1.find((c) => /profile-level-id=42e0/.test(fmtp(c))) ??
    mode1.find((c) => /profile-level-id=4200/.test(fmtp(c))) ??
    mode1[0] ??
    candidates[0]
  );
}
