// The downlink allocator of one client: shares its downlink's bandwidth estimate across the
// streams it receives, over all its subscriber connections (downlink.ts): audio first, then screen
// share video, then cameras. Each video gets a step (its spatial layers, and below the lowest at
// its full frame rate, that layer at fewer temporal layers): the best one that fits what is left
// after the lowest steps of the videos served after it, never above the subscriber's preferred
// layer. Down at once (a step taken is kept while its rate without headroom fits); up once the
// estimate has held for UP_HOLD_MS, or at once when a probe has just shown that the step fits.
// When even the lowest layer does not fit, a warning first, then, held for OFF_HOLD_MS, video
// off (OpenTok's audio fallback, where the stream allows it); when
// what is left is far below the lowest layer (under OFF_NOW_FACTOR of its need: the link is
// clearly gone, and every moment of video queued at the bottleneck delays the audio behind it),
// the warning and video off in the same round; the same when the round follows a saturation cut
// (the link was seen full: video held on for OFF_HOLD_MS queues ahead of the audio at the
// bottleneck, and at a 300 → 100 kbps limit runs that turned it off after ~1.9 s had audio gaps
// of ~500 ms). Back on (the warning lifted) once there has been room for ON_HOLD_MS to come back
// with (its onStep, or twice its lowest step: backOnNeed), or at once after a probe showed it; a
// video that is off is kept that room before the others take better steps. Pure logic on
// numbers: the subscriber transport feeds it and applies the result.

/** One video stream the connection carries, as the allocator sees it. */
export interface VideoSlot {
  /** Bits per second each layer needs, lowest first. */
  rates: readonly number[];
  /** The subscriber's preferred layer (the upper bound). */
  preferred: number;
  /** Screen shares are served before cameras. */
  screen: boolean;
  /** May this stream's video be switched off for lack of bandwidth (audio fallback allowed)? */
  fallback: boolean;
  /**
   * The step a video that is off comes back on at when it fits (default 0): the lowest spatial
   * layer at its full frame rate, when there are frame-rate steps below it. They keep a video on
   * through a drop; back on as soon as the lowest of them fits, it would flap on a link that
   * carries it only just (the adaptive Chromium test at 100 kbps: off, on at T0 two seconds
   * later, off again), so below its onStep it comes back only with room for BACK_ON_FACTOR × its
   * lowest step.
   */
  onStep?: number;
  /**
   * What the allocator keeps this video's state by from round to round (its consumer); without
   * it, its place in the list (which must then stay the same).
   */
  key?: unknown;
}

export interface VideoDecision {
  /** The layer to send (-1: video off). */
  layer: number;
  /** The downlink is close to not carrying the lowest layer (OpenTok's videoDisableWarning). */
  warning: boolean;
}

export const UP_HOLD_MS = 2000;
export const OFF_HOLD_MS = 1000;
export const ON_HOLD_MS = 2000;
/** Layer rates get this much headroom (packet overhead, keyframe bursts) to be taken. */
export const HEADROOM = 1.15;
/**
 * A layer already taken (above the lowest) is kept while its rate itself fits: no step down for a
 * rate that grew inside the headroom. A publisher's layers share its uplink, so when a subscriber
 * steps up from layer 1 to 2 and layer 1 pauses at the publisher, layer 2 grows into the freed
 * room (measured: ~640 → ~790 kbps); judged with the headroom it no longer fitted the estimate the
 * probe had just shown, and the impairment bench's subscriber went 1 → 2 → 1 every second or two
 * for 6 s after a lift. A real decrease (overuse, loss, saturation) cuts well under this.
 */
export const KEEP_HEADROOM = 1;
/** Warn below this multiple of what the lowest layer needs; lift the warning above LIFT. */
const WARN_FACTOR = 1.5;
const LIFT_FACTOR = 2;
/**
 * A video that is off comes back on (at what fits) once there is room for its onStep, or for this
 * multiple of its lowest step and at least BACK_ON_MARGIN over it: room to spare, against the
 * estimate's own noise (tens of kbps). Twice a tiny step is no margin: a flat picture's T0 at
 * 320 px (~10 kbps) came back on at a 100 kbps limit with 18 kbps of room.
 */
export const BACK_ON_FACTOR = 2;
export const BACK_ON_MARGIN = 50_000;
/** Video off at once (no hold) when what is left for it is below this share of the lowest layer's need. */
export const OFF_NOW_FACTOR = 0.3;

interface SlotState {
  /** The highest layer the bandwidth has been confirmed to carry (-1: none, video off). */
  allowed: number;
  warning: boolean;
  /** Since when a higher layer has fitted (or the lowest, while off), or null. */
  upSince: number | null;
  /** The video was off last round. */
  wasOff: boolean;
  /** Back on with little room: warn again only below the lowest layer's need itself. */
  recovered: boolean;
  /** Since when not even the lowest layer has fitted, or null. */
  lowSince: number | null;
  /** The video's onStep when `allowed` was set: its steps are indexed from there. */
  onStep: number;
}

export class DownlinkAllocator {
  #states = new Map<unknown, SlotState>();

  /**
   * One allocation round. `estimate` and `audio` in bits/s; `videos` in serving order among
   * equals (a video's state follows its `key`; one not in a round is forgotten). `probed`: a
   * probe has just shown the estimate (it tested the next step), so a step up or back on needs
   * no hold. `saturated`: the estimate has just been cut
   * because the link was seen full, so a video whose lowest layer no longer fits goes off now.
   * Returns a decision per video, in that order.
   */
  update(now: number, estimate: number, audio: number, videos: readonly VideoSlot[], probed = false, saturated = false): VideoDecision[] {
    const states = videos.map((video, i) => {
      const key = video.key ?? i;
      const onStep = video.onStep ?? 0;
      const state = this.#states.get(key) ?? { allowed: Infinity, wasOff: false, recovered: false, warning: false, upSince: null, lowSince: null, onStep };
      // Frame-rate steps appeared below its layers (the producer's first measure of them): the
      // step it has moves with them. Read as the same index, it fell from the top layer to the
      // lowest for a hold (the routed media test decoded 320 px where 640 was sent).
      if (state.onStep !== onStep) {
        if (state.allowed >= 0 && Number.isFinite(state.allowed)) state.allowed = Math.max(0, state.allowed + onStep - state.onStep);
        state.onStep = onStep;
      }
      return [key, state] as const;
    });
    this.#states = new Map(states);
    let budget = estimate - audio;
    const order = videos.map((_, i) => i).sort((a, b) => Number(videos[b]!.screen) - Number(videos[a]!.screen));
    const decisions: VideoDecision[] = new Array(videos.length);
    // Every video's lowest step before any video's better one: a video may use what is left after
    // the lowest steps of those served after it (as many of them as fit in all). Greedy in serving
    // order, two streams to a 500 kbps subscriber had the first on its 320 px layer at full frame
    // rate and the second off, where both fitted at a lower frame rate.
    // A video that is off is kept the room it comes back on with (backOnNeed: BACK_ON_FACTOR ×
    // its lowest step, or its onStep if less), when that fits after those before it: three
    // streams at a 500 kbps limit had the first at full frame rate and the other two off for the
    // whole limit, where all three fitted at a lower frame rate. Room kept for its lowest step
    // alone (less than it comes back on with) held the others down while it never came back and
    // the next step's probe, reckoned without that room, was never due (after a lift: the first
    // stream at T0 and the second off for 30 s on a free link).
    const lowest = (pos: number): number => {
      const i = order[pos]!;
      return states[i]![1].allowed < 0 ? backOnNeed(videos[i]!) : (videos[i]!.rates[0] ?? Infinity) * HEADROOM;
    };
    const reserve = new Array<number>(order.length).fill(0);
    let fitting = 0;
    for (let total = 0; fitting < order.length; fitting++) {
      total += lowest(fitting);
      if (total > budget) break;
    }
    for (let pos = order.length - 1, after = 0; pos >= 0; pos--) {
      reserve[pos] = after;
      if (pos < fitting) after += lowest(pos);
    }
    for (const [pos, i] of order.entries()) {
      const video = videos[i]!;
      const state = states[i]![1];
      // What this video may take.
      const room = budget - reserve[pos]!;
      const need = (layer: number): number => (video.rates[layer] ?? Infinity) * HEADROOM;
      const top = Math.min(video.preferred, video.rates.length - 1);
      // What the bandwidth alone allows (the preference aside), so that a preference raised
      // later is met at once when the estimate already carried it.
      let fit = -1;
      for (let layer = video.rates.length - 1; layer >= 0; layer--) {
        if (need(layer) <= room) {
          fit = layer;
          break;
        }
      }
      if (state.allowed === Infinity) state.allowed = Math.max(fit, 0); // first round: take what fits (the lowest at worst)
      // Off: back on at what fits once its onStep fits, or its lowest step with room to spare
      // (backOnNeed: on a link that carries the lowest step only just, it flapped on and off);
      // otherwise as if nothing fitted.
      if (state.allowed < 0 && fit < (video.onStep ?? 0) && room < backOnNeed(video)) fit = -1;
      // Not even the lowest layer fits: keep it until that has held, then off (if allowed).
      if (fit < 0) {
        state.lowSince ??= now;
        state.upSince = null;
        if (state.allowed > 0) state.allowed = 0;
        if (video.fallback && state.allowed === 0 && (now - state.lowSince >= OFF_HOLD_MS || saturated || room < need(0) * OFF_NOW_FACTOR)) state.allowed = -1;
      } else {
        state.lowSince = null;
        if (fit < state.allowed) {
          // Down at once, but not below a layer (above the lowest) whose own rate still fits.
          let keep = fit;
          for (let layer = Math.min(state.allowed, video.rates.length - 1); layer > Math.max(fit, 0); layer--) {
            if ((video.rates[layer] ?? Infinity) * KEEP_HEADROOM <= room) {
              keep = layer;
              break;
            }
          }
          state.allowed = keep;
          state.upSince = null;
        } else if (fit > state.allowed) {
          state.upSince ??= now;
          if (probed || now - state.upSince >= (state.allowed < 0 ? ON_HOLD_MS : UP_HOLD_MS)) {
            state.allowed = fit;
            state.upSince = null;
          }
        } else {
          state.upSince = null;
        }
      }
      if (!video.fallback) state.allowed = Math.max(state.allowed, 0);
      const layer = state.allowed < 0 ? -1 : Math.min(top, state.allowed);
      const backOn = state.wasOff && layer >= 0;
      state.wasOff = layer < 0;
      // The warning: close to (or below) what the lowest layer needs; lifted with room to spare.
      if (video.fallback) {
        // Just back on: no new warning unless the lowest layer stops fitting again (no flapping);
        // the warning is lifted with the video (it fitted for ON_HOLD_MS).
        if (backOn) state.recovered = true;
        if (room >= need(0) * LIFT_FACTOR) state.recovered = false;
        if (backOn) state.warning = false;
        else if (room < need(0) * (state.recovered ? 1 : WARN_FACTOR)) state.warning = true;
        else if (layer >= 0 && room >= need(0) * LIFT_FACTOR) state.warning = false;
      } else {
        state.warning = false;
      }
      // What it takes from the budget: its need with headroom, but a layer kept on its own rate
      // (KEEP_HEADROOM) takes no more than its room, so the reserve for the lowest steps of those
      // after it holds. Charged the headroom's 15 % beyond its room, a kept 320 px layer at full
      // frame rate left the second stream 6 kbps short of its T0 step, and a saturation round
      // turned that stream off (the impairment bench, after a probe at a 500 kbps limit).
      if (layer >= 0) budget -= Math.min(need(layer), Math.max(room, (video.rates[layer] ?? Infinity) * KEEP_HEADROOM));
      decisions[i] = { layer, warning: state.warning };
    }
    return decisions;
  }

  /**
   * What the connection would need for one more step (the first video below its preferred layer,
   * in serving order, one layer up, or back on at its onStep), or null when every video has what it
   * prefers: the rate a probe should test.
   */
  static nextStep(audio: number, videos: readonly VideoSlot[], decisions: readonly VideoDecision[]): number | null {
    let total = audio;
    let step: number | null = null;
    const order = videos.map((_, i) => i).sort((a, b) => Number(videos[b]!.screen) - Number(videos[a]!.screen));
    for (const i of order) {
      const video = videos[i]!;
      const layer = decisions[i]!.layer;
      const top = Math.min(video.preferred, video.rates.length - 1);
      // Back on: its onStep, more than the room it may come back with (backOnNeed), so that the
      // probe is no smaller: a smaller one (172 kbps for 192 ms at a 100 kbps tbf limit) passed
      // inside the limiter's token bucket as a success, and the video flapped on and off.
      if (step === null && layer < top) step = ((video.rates[layer < 0 ? (video.onStep ?? 0) : layer + 1] ?? 0) - (layer < 0 ? 0 : (video.rates[layer] ?? 0))) * HEADROOM;
      if (layer >= 0) total += (video.rates[layer] ?? 0) * HEADROOM;
    }
    return step === null ? null : total + step;
  }
}

/** The room a video that is off comes back on with (bits/s, with headroom): its onStep's need, or less, its lowest step's with room to spare (BACK_ON_FACTOR, BACK_ON_MARGIN). */
function backOnNeed(video: VideoSlot): number {
  const need = (step: number): number => (video.rates[step] ?? Infinity) * HEADROOM;
  return Math.min(need(video.onStep ?? 0), Math.max(BACK_ON_FACTOR * need(0), need(0) + BACK_ON_MARGIN));
}

/** What every video at its preferred step needs with the audio (bits/s, with headroom). */
export function preferredRate(audio: number, videos: readonly VideoSlot[]): number {
  let total = audio;
  for (const video of videos) total += (video.rates[Math.min(video.preferred, video.rates.length - 1)] ?? 0) * HEADROOM;
  return total;
}

/**
 * What a layer needs when it is not flowing (paused at the publisher, so unmeasured), from its
 * picture height: about what Chromium's own simulcast table gives those sizes.
 */
export function nominalLayerRate(height: number): number {
  if (height <= 0) return 150_000;
  if (height <= 180) return 150_000;
  if (height <= 270) return 300_000;
  if (height <= 360) return 500_000;
  if (height <= 540) return 900_000;
  return 1_700_000;
}
