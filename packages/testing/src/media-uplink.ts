// A publisher's uplink second by second, for the uplink test and benchmark: a harness page
// (media-harness.ts) publishes, usually from a Chromium in a netem namespace behind a rate limit,
// and each second we read what the browser sent (getStats outbound-rtp bytesSent, its estimate
// availableOutgoingBitrate), what the SFU received (its producers' bytes), and the loss on the
// wire as the SFU saw it: transport-wide sequence numbers reported lost in our transport
// feedback (transport-cc mode); in either mode, what was sent and did not arrive (deliveredLoss).

import type { PublisherTransport } from '@colloquy/sfu';
import type { Page } from 'playwright-core';

/** What a publisher sends in the uplink measurement (see sampleUplink). */
export type UplinkSource = 'noise' | 'pan' | 'camera';

export interface UplinkSample {
  /** Seconds since publishing started (end of the one-second interval). */
  second: number;
  /** What the browser sent, audio + video RTP (outbound-rtp bytesSent + headerBytesSent), kbit/s. */
  sentKbps: number;
  /** The RTP payload of that (outbound-rtp bytesSent: no headers, retransmissions included), kbit/s: what the SFU's count compares with. */
  payloadKbps: number;
  /** Everything on the transport (candidate-pair bytesSent: SRTP, RTCP; no IP/UDP headers), kbit/s. */
  wireKbps: number;
  /** What the video encoder was asked for (outbound-rtp targetBitrate), kbit/s. */
  targetKbps: number;
  /** The browser's own send estimate (candidate-pair availableOutgoingBitrate), kbit/s. */
  availableKbps: number | null;
  /** What the SFU's producers received (payload, retransmissions included), kbit/s. */
  receivedKbps: number;
  /** Packets of the interval reported lost in our transport feedback, %; null without transport-cc. */
  feedbackLossPercent: number | null;
  /** Video frame width sent. */
  width: number;
  /** Retransmissions the browser sent (outbound-rtp retransmittedBytesSent, audio + video), kbit/s. */
  rtxKbps: number;
  /** What the SFU's REMB said at the end of the interval (the cap in transport-cc mode), kbit/s. */
  rembKbps: number;
  /** NACKs (and PLIs) the SFU sent the publisher in the interval. */
  nacks: number;
  /** The round-trip time the browser took from our receiver reports for its video (remote-inbound-rtp roundTripTime), ms; null before one. */
  rttMs: number | null;
  /** Why the video encoder was held back for most of the interval (outbound-rtp qualityLimitationDurations): none, bandwidth, cpu, other. */
  limitation: string;
  /**
   * The longest span without an audio packet reaching the SFU that ended in the interval (or is
   * still open at its end), ms; null without audio. Timed by the SFU's event loop as its producer
   * hands packets on (an upper bound by that loop's stalls): what every subscriber gets at best.
   */
  audioGapMs: number | null;
}

interface PageStats {
  availableOutgoingBitrate: number | null;
  pairBytesSent: number;
  remoteInbound?: Record<string, { roundTripTime?: number } | undefined>;
  outbound: Record<
    string,
    | {
        packetsSent?: number;
        bytesSent?: number;
        headerBytesSent?: number;
        retransmittedBytesSent?: number;
        frameWidth?: number;
        targetBitrate?: number;
        qualityLimitationDurations?: Record<string, number>;
      }
    | undefined
  >;
}

/**
 * Publishes from `page` (a harness page) in `room` and samples the uplink every second for
 * `seconds` (bounded: one sample per second, nothing else waits), then closes the publisher.
 * `onSample` sees each sample as it comes (for printing).
 */
export async function sampleUplink(
  page: Page,
  publishers: Map<string, PublisherTransport>,
  options: {
    room: string;
    seconds: number;
    width?: number;
    height?: number;
    /** The video: noise (makeNoiseTrack, 15 fps; the default), pan (makePanTrack, 30 fps) or Chromium's fake camera. */
    source?: UplinkSource;
    /** @deprecated false: the fake camera (source 'camera'). */
    noise?: boolean;
    audio?: boolean;
    onSample?: (s: UplinkSample) => void;
  },
): Promise<UplinkSample[]> {
  const { transportId } = (await page.evaluate(
    (o) => (window as any).media.publish({ room: o.room, width: o.width, height: o.height, noise: o.source === 'noise', pan: o.source === 'pan', audio: o.audio }),
    {
      room: options.room,
      width: options.width ?? 480,
      height: options.height ?? 270,
      source: options.source ?? (options.noise === false ? 'camera' : 'noise'),
      audio: options.audio ?? true,
    },
  )) as { transportId: string };
  const transport = publishers.get(transportId);
  if (!transport) throw new Error(`no publisher transport ${transportId}`);
  // Audio's arrival gaps at the SFU (audioGapMs).
  let lastAudio: number | null = null;
  let audioGap = 0;
  const audioProducers = transport.producers.filter((p) => p.kind === 'audio');
  const stopListening = audioProducers.map((p) =>
    p.addRtpListener(() => {
      const t = performance.now();
      if (lastAudio !== null) audioGap = Math.max(audioGap, t - lastAudio);
      lastAudio = t;
    }),
  );
  const takeAudioGap = (now: number): number | null => {
    if (audioProducers.length === 0) return null;
    const gap = Math.round(Math.max(audioGap, lastAudio === null ? 0 : now - lastAudio));
    audioGap = 0;
    return gap;
  };
  const read = async (): Promise<{ at: number; page: PageStats; received: number; nacks: number; remb: number; reported: number; lost: number; feedback: boolean }> => {
    const stats = (await page.evaluate((id) => (window as any).media.stats(id), transportId)) as PageStats;
    const server = transport.getStats();
    return {
      at: performance.now(),
      page: stats,
      received: server.producers.reduce((n, p) => n + p.bytesReceived, 0),
      nacks: server.producers.reduce((n, p) => n + p.nackCount, 0),
      remb: server.rembBitrate,
      reported: server.transportFeedback?.reported ?? 0,
      lost: server.transportFeedback?.lost ?? 0,
      feedback: server.transportFeedback !== null,
    };
  };
  const bytesSent = (s: PageStats): number =>
    ['audio', 'video'].reduce((n, kind) => n + (s.outbound[kind]?.bytesSent ?? 0) + (s.outbound[kind]?.headerBytesSent ?? 0), 0);
  const payloadSent = (s: PageStats): number => ['audio', 'video'].reduce((n, kind) => n + (s.outbound[kind]?.bytesSent ?? 0), 0);
  const rtxSent = (s: PageStats): number => ['audio', 'video'].reduce((n, kind) => n + (s.outbound[kind]?.retransmittedBytesSent ?? 0), 0);
  // The reason that held the encoder longest over the interval (the durations are cumulative seconds).
  const limitation = (now: PageStats, before: PageStats): string => {
    const a = now.outbound['video']?.qualityLimitationDurations ?? {};
    const b = before.outbound['video']?.qualityLimitationDurations ?? {};
    let best = 'none';
    let longest = -1;
    for (const [reason, total] of Object.entries(a)) {
      const d = total - (b[reason] ?? 0);
      if (d > longest) [best, longest] = [reason, d];
    }
    return best;
  };
  const kbps = (bytes: number, seconds: number): number => Math.round((bytes * 8) / seconds / 1000);
  const samples: UplinkSample[] = [];
  const start = performance.now();
  let previous = await read();
  for (let second = 1; second <= options.seconds; second++) {
    await new Promise((r) => setTimeout(r, Math.max(0, start + second * 1000 - performance.now())));
    const now = await read();
    const elapsed = (now.at - previous.at) / 1000;
    const reported = now.reported - previous.reported;
    const sample: UplinkSample = {
      second,
      sentKbps: kbps(bytesSent(now.page) - bytesSent(previous.page), elapsed),
      payloadKbps: kbps(payloadSent(now.page) - payloadSent(previous.page), elapsed),
      wireKbps: kbps(now.page.pairBytesSent - previous.page.pairBytesSent, elapsed),
      targetKbps: Math.round((now.page.outbound['video']?.targetBitrate ?? 0) / 1000),
      availableKbps: now.page.availableOutgoingBitrate === null ? null : Math.round(now.page.availableOutgoingBitrate / 1000),
      receivedKbps: kbps(now.received - previous.received, elapsed),
      feedbackLossPercent: now.feedback && reported > 0 ? round1(((now.lost - previous.lost) * 100) / reported) : null,
      width: now.page.outbound['video']?.frameWidth ?? 0,
      rtxKbps: kbps(rtxSent(now.page) - rtxSent(previous.page), elapsed),
      nacks: now.nacks - previous.nacks,
      rembKbps: Math.round(now.remb / 1000),
      rttMs: now.page.remoteInbound?.['video']?.roundTripTime === undefined ? null : Math.round(now.page.remoteInbound['video'].roundTripTime * 1000),
      limitation: limitation(now.page, previous.page),
      audioGapMs: takeAudioGap(now.at),
    };
    samples.push(sample);
    options.onSample?.(sample);
    previous = now;
  }
  for (const stop of stopListening) stop();
  await page.evaluate((id) => (window as any).media.close(id), transportId);
  return samples;
}

/**
 * The share of the RTP payload sent over `samples` that the SFU did not receive, % (either mode;
 * payload against payload: the SFU counts no RTP headers, so comparing with sentKbps would show
 * the header share, 3–6 %, as loss; within a second, bytes in the bottleneck queue blur it, so
 * judge it over several).
 */
export function deliveredLoss(samples: UplinkSample[]): number {
  const sent = samples.reduce((n, s) => n + s.payloadKbps, 0);
  const received = samples.reduce((n, s) => n + s.receivedKbps, 0);
  return sent > 0 ? round1(Math.max(0, ((sent - received) * 100) / sent)) : 0;
}

/**
 * The first second from which the sent bitrate stays within [low, high] kbps; null if it never
 * does. Per second (windowSeconds 1), or as the mean of the last `windowSeconds` seconds (from the
 * window's first full second): a video encoder's output swings from second to second with the
 * picture and its keyframes, which a rolling mean shows apart from where the rate sits.
 */
export function settledAt(samples: UplinkSample[], low: number, high: number, windowSeconds = 1): number | null {
  let at: number | null = null;
  for (let i = windowSeconds - 1; i < samples.length; i++) {
    let sum = 0;
    for (let j = i - windowSeconds + 1; j <= i; j++) sum += samples[j]!.sentKbps;
    const rate = sum / windowSeconds;
    if (rate < low || rate > high) at = null;
    else at ??= samples[i]!.second;
  }
  return at;
}

const round1 = (x: number): number => Math.round(x * 10) / 10;
