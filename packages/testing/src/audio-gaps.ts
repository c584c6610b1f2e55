// The longest audible audio gap of a subscriber, from its inbound audio's concealedSamples read
// over time (RTCInboundRtpStreamStats; 48 kHz samples the jitter buffer played as concealment: no
// audio had arrived for them). Shared by the client's Chromium tests and the impairment benchmark.

/** One reading of a subscriber's audio: when (ms, any clock) and its concealedSamples so far. */
export interface ConcealmentReading {
  at: number;
  concealedSamples: number;
}

/** A reading interval concealed over this share of its time continues a run of concealment (the playout's 10 ms frames and the stats' own timing leave the rest). */
const FULL_SHARE = 0.8;

/**
 * The longest run of concealment with no audio between, in ms. Counted from sample counts, not
 * reading times, so a late reading does not lengthen it (as it does a packet gap found by
 * polling): intervals concealed over FULL_SHARE of their time continue a run; one concealed in
 * part ends the run it continues and starts the next (its concealment counted in both: an upper
 * bound, which two single losses' concealments in neighbouring readings also reach, ~40 ms).
 */
export function longestAudibleGapMs(readings: readonly ConcealmentReading[]): number {
  let longest = 0;
  let run = 0;
  for (let i = 1; i < readings.length; i++) {
    const concealedMs = (readings[i]!.concealedSamples - readings[i - 1]!.concealedSamples) / 48;
    if (concealedMs <= 0) run = 0;
    else if (concealedMs >= FULL_SHARE * (readings[i]!.at - readings[i - 1]!.at)) run += concealedMs;
    else {
      longest = Math.max(longest, run + concealedMs);
      run = concealedMs;
    }
    longest = Math.max(longest, run);
  }
  return Math.round(longest);
}
