// getStats in OpenTok.js's shapes, read from a peer connection's RTCStatsReport, and the small
// per-track summary the SDK sends the server every few seconds for the Inspector (bitrates and
// loss computed against the previous summary).

import type { ClientTrackStats } from '@colloquy/protocol';

export interface PublisherStatsShape {
  audio: { bytesSent: number; packetsLost: number; packetsSent: number };
  video: { bytesSent: number; packetsLost: number; packetsSent: number; frameRate: number };
  timestamp: number;
}

export interface SubscriberStatsShape {
  audio: { bytesReceived: number; packetsLost: number; packetsReceived: number };
  video: { bytesReceived: number; packetsLost: number; packetsReceived: number; frameRate?: number; width?: number; height?: number };
  timestamp: number;
}

type Stat = Record<string, unknown> & { type: string; kind?: string; id: string };
const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

function values(report: RTCStatsReport): Stat[] {
  const out: Stat[] = [];
  report.forEach((s) => out.push(s as Stat));
  return out;
}

/** OpenTok's Publisher stats for one peer connection. */
export function publisherStats(report: RTCStatsReport): PublisherStatsShape {
  const all = values(report);
  const shape: PublisherStatsShape = {
    audio: { bytesSent: 0, packetsLost: 0, packetsSent: 0 },
    video: { bytesSent: 0, packetsLost: 0, packetsSent: 0, frameRate: 0 },
    timestamp: Date.now(),
  };
  for (const s of all) {
    if (s.type === 'outbound-rtp' && (s.kind === 'audio' || s.kind === 'video')) {
      const t = shape[s.kind];
      t.bytesSent += num(s['bytesSent']);
      t.packetsSent += num(s['packetsSent']);
      if (s.kind === 'video') shape.video.frameRate = num(s['framesPerSecond']);
    } else if (s.type === 'remote-inbound-rtp' && (s.kind === 'audio' || s.kind === 'video')) {
      shape[s.kind].packetsLost += Math.max(0, num(s['packetsLost']));
    }
  }
  return shape;
}

/** OpenTok's Subscriber stats for one peer connection. */
export function subscriberStats(report: RTCStatsReport): SubscriberStatsShape {
  const shape: SubscriberStatsShape = {
    audio: { bytesReceived: 0, packetsLost: 0, packetsReceived: 0 },
    video: { bytesReceived: 0, packetsLost: 0, packetsReceived: 0 },
    timestamp: Date.now(),
  };
  for (const s of values(report)) {
    if (s.type !== 'inbound-rtp' || (s.kind !== 'audio' && s.kind !== 'video')) continue;
    const t = shape[s.kind];
    t.bytesReceived += num(s['bytesReceived']);
    t.packetsReceived += num(s['packetsReceived']);
    t.packetsLost += Math.max(0, num(s['packetsLost']));
    if (s.kind === 'video') {
      if (typeof s['framesPerSecond'] === 'number') shape.video.frameRate = s['framesPerSecond'];
      if (typeof s['frameWidth'] === 'number') shape.video.width = s['frameWidth'];
      if (typeof s['frameHeight'] === 'number') shape.video.height = s['frameHeight'];
    }
  }
  return shape;
}

interface Counters {
  at: number;
  bytes: number;
  packets: number;
  lost: number;
}

/**
 * Turns successive reports of one peer connection into Inspector track summaries. Keeps the
 * previous counters per RTP stream id to compute rates over the interval.
 */
export class TrackSummarizer {
  readonly #last = new Map<string, Counters>();

  summarize(report: RTCStatsReport, streamId: string | undefined): ClientTrackStats[] {
    const all = values(report);
    let rttMs: number | undefined;
    for (const s of all) {
      if (s.type === 'candidate-pair' && s['nominated'] && typeof s['currentRoundTripTime'] === 'number') rttMs = s['currentRoundTripTime'] * 1000;
    }
    const out: ClientTrackStats[] = [];
    for (const s of all) {
      const send = s.type === 'outbound-rtp';
      if ((!send && s.type !== 'inbound-rtp') || (s.kind !== 'audio' && s.kind !== 'video')) continue;
      const now = num(s['timestamp']) || Date.now();
      const bytes = num(send ? s['bytesSent'] : s['bytesReceived']);
      const packets = num(send ? s['packetsSent'] : s['packetsReceived']);
      let lost = num(s['packetsLost']);
      if (send) {
        const remote = all.find((r) => r.type === 'remote-inbound-rtp' && r['localId'] === s.id);
        lost = num(remote?.['packetsLost']);
        if (remote && typeof remote['roundTripTime'] === 'number') rttMs = remote['roundTripTime'] * 1000;
      }
      const previous = this.#last.get(s.id);
      this.#last.set(s.id, { at: now, bytes, packets, lost });
      if (!previous || now <= previous.at) continue;
      const seconds = (now - previous.at) / 1000;
      const dPackets = Math.max(0, packets - previous.packets);
      const dLost = Math.max(0, lost - previous.lost);
      const track: ClientTrackStats = {
        direction: send ? 'send' : 'receive',
        kind: s.kind,
        bitrate: Math.round((Math.max(0, bytes - previous.bytes) * 8) / seconds),
        packetLoss: dPackets + dLost > 0 ? Math.min(1, dLost / (dPackets + dLost)) : 0,
      };
      if (streamId) track.streamId = streamId;
      if (!send && typeof s['jitter'] === 'number') track.jitterMs = Math.round(s['jitter'] * 1000);
      if (rttMs !== undefined) track.rttMs = Math.round(rttMs);
      if (s.kind === 'video') {
        if (typeof s['framesPerSecond'] === 'number') track.frameRate = s['framesPerSecond'];
        if (typeof s['frameWidth'] === 'number') track.width = s['frameWidth'];
        if (typeof s['frameHeight'] === 'number') track.height = s['frameHeight'];
        if (typeof s['nackCount'] === 'number') track.nackCount = s['nackCount'];
        if (typeof s['pliCount'] === 'number') track.pliCount = s['pliCount'];
      }
      out.push(track);
    }
    return out;
  }
}
