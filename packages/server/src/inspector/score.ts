// The quality score of a track and of a connection: 1 (unusable) to 5 (excellent), MOS-like.
//
// Network part, from the ITU-T G.107 E-model in the simplified form VoIP monitors use:
//   effective latency  L = rtt/2 + 2*jitter + 10 ms
//   R = 93.2 - L/40               when L < 160 ms
//   R = 93.2 - (L - 120)/10       otherwise
//   R = R - 2.5 * loss%           (loss in percent)
//   network score = 1 + 4 * clamp(R, 0, 93.2) / 93.2
// so a perfect network scores 5, 10 % loss about 3.9, 20 % loss about 2.8, a 1 s round trip about 3.3.
// Missing rtt or jitter count as 0 (the server's view of a publisher often has no rtt).
//
// Video part: a video track that gets less bitrate than its resolution needs looks worse even on a
// clean network. target = max(150 kbps, width * height * fps * 0.08 bits per pixel) (about 740
// kbps for 640x480 at 30 fps; 300 kbps when the resolution is unknown) and
//   video score = 1 + (network score - 1) * min(1, bitrate / target) ^ 0.5
// (square root: halving the bitrate is visible, not catastrophic). Audio tracks use the network
// score alone.
//
// A track's score is computed from its averages over the window asked for; a connection's score is
// the lowest score of the tracks it publishes or subscribes to (a call is as good as its worst
// link), from the server's samples when there are any, else from the client's getStats reports.

export interface TrackAverages {
  kind: 'audio' | 'video';
  bitrate: number | null;
  packetLoss: number | null;
  jitterMs: number | null;
  rttMs: number | null;
  frameRate: number | null;
  width: number | null;
  height: number | null;
}

const R_MAX = 93.2;

export function networkScore(packetLoss: number | null, rttMs: number | null, jitterMs: number | null): number {
  const latency = (rttMs ?? 0) / 2 + 2 * (jitterMs ?? 0) + 10;
  let r = latency < 160 ? R_MAX - latency / 40 : R_MAX - (latency - 120) / 10;
  r -= 2.5 * 100 * clamp(packetLoss ?? 0, 0, 1);
  return 1 + (4 * clamp(r, 0, R_MAX)) / R_MAX;
}

/** Bits per second a video track of this shape needs to look right. */
export function videoTargetBitrate(width: number | null, height: number | null, frameRate: number | null): number {
  if (!width || !height) return 300_000;
  return Math.max(150_000, width * height * (frameRate && frameRate > 0 ? frameRate : 30) * 0.08);
}

export function trackScore(t: TrackAverages): number {
  const network = networkScore(t.packetLoss, t.rttMs, t.jitterMs);
  if (t.kind === 'audio') return round2(network);
  const target = videoTargetBitrate(t.width, t.height, t.frameRate);
  const ratio = clamp((t.bitrate ?? 0) / target, 0, 1);
  return round2(1 + (network - 1) * Math.sqrt(ratio));
}

function clamp(x: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, x));
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
