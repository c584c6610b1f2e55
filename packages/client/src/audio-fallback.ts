// Publisher audio fallback (OpenTok.js's `audioFallback: {publisher: true}`), routed sessions: when
// the publisher's own uplink cannot carry even the lowest video layer, the Publisher warns
// (videoDisableWarning), then stops sending video (videoDisabled, reason 'quality') and keeps the
// audio; when the uplink can carry the lowest layer again, the video comes back by itself
// (videoEnabled, reason 'quality'). Subscribers of the stream hear of it from the server
// (updateStream videoDisabledForQuality): they get videoDisabled/videoEnabled with reason
// 'quality', as for the SFU's own per-subscriber fallback; stream.hasVideo does not change (the
// publisher did not turn its video off, the network did). Our OpenTok notes list the events and
// the option, not which reason OpenTok's subscribers see for the publisher's fallback: 'quality'
// is our choice. Relayed sessions: not used (OpenTok's audio fallback is a routed feature; peer
// to peer, each link's own congestion control lowers the video).
//
// This file is pure: a state machine fed with one UplinkSample a second (uplinkSample() reads it
// from the publisher's RTCStatsReport) that answers with the events to fire and what video to send.
// The uplink is bad when Chromium's own estimate (candidate-pair availableOutgoingBitrate) is below
// what the lowest layer needs, when the receiver reports heavy loss (remote-inbound-rtp
// fractionLost), or when the encoder is bandwidth-limited to a target far below the lowest
// layer's need. While the video is off only the audio flows, and a sender that sends little never
// raises its estimate (GCC caps it near what it sends), so recovery is probed: now and then the
// lowest layer alone is switched on for a few seconds (Chromium probes the link when the
// allocation grows) and the video comes back if the uplink carries it.

/** One reading of the publisher's uplink (uplinkSample()). Absent fields are unknown. */
export interface UplinkSample {
  /** Milliseconds, monotonic. */
  at: number;
  /** Chromium's send-side estimate (candidate-pair availableOutgoingBitrate), bits per second. */
  availableOutgoingBitrate?: number;
  /** The highest fraction of packets lost (0–1) the receiver reported for our video or audio. */
  lossFraction?: number;
  /** A video encoding is limited by bandwidth (outbound-rtp qualityLimitationReason 'bandwidth'). */
  bandwidthLimited?: boolean;
  /** The video encoder's target bitrate over every active encoding (outbound-rtp targetBitrate), bps. */
  targetBitrate?: number;
  /** Video is being sent: some encoding active and its bytes growing (a stream nobody watches is paused by the SFU: no verdict then). */
  videoSending: boolean;
}

export interface AudioFallbackConfig {
  /** What the lowest layer needs to be worth sending, bps (Chromium's target for a 320x180 simulcast layer is 150 kbps). */
  lowestLayerBps: number;
  /** Receiver-reported loss at or above which the uplink is bad. */
  lossBad: number;
  /** A bad uplink this long (ms) raises videoDisableWarning. */
  warnAfterMs: number;
  /** Still bad this long after the warning (ms): the video goes off. */
  disableAfterMs: number;
  /** A good uplink this long (ms) lifts a warning, or, while probing, brings the video back. */
  recoverAfterMs: number;
  /** First wait (ms) from switching the video off to the first probe; doubles after each failed probe. */
  probeIntervalMs: number;
  /** The longest wait between probes (ms). */
  probeIntervalMaxMs: number;
  /**
   * A probe must show a good uplink this long (ms) to bring the video back: longer than a warning's
   * recovery, because while only audio flows Chromium lets its estimate drift far above the link
   * (measured: 648 kbps on a 90 kbps uplink) and the loss reports lag, so a probe can look good for
   * a second or two before its video fills the queue.
   */
  probeRecoverAfterMs: number;
  /** How long a probe may take to show a good uplink (ms) before the video goes off again. */
  probeMaxMs: number;
  /**
   * A probe that still hears of heavy loss (lossBad) this long after it started (ms) ends at once:
   * on a link that is still weak the probe's video would only crowd out the audio. Not on the
   * estimate: a probe starts from whatever the estimate was (low after a failed probe, or drifted
   * far above the link while only audio flowed) and it is what the probe is there to move; ending
   * probes on "the estimate fell" or "the estimate is still low" stopped good probes on a recovered
   * link and kept the video off 30 s in two runs.
   */
  probeAbortAfterMs: number;
}

export const DEFAULT_AUDIO_FALLBACK_CONFIG: AudioFallbackConfig = {
  lowestLayerBps: 150_000,
  lossBad: 0.15,
  warnAfterMs: 2_000,
  disableAfterMs: 3_000,
  recoverAfterMs: 2_000,
  probeIntervalMs: 4_000,
  probeIntervalMaxMs: 20_000,
  probeRecoverAfterMs: 3_000,
  probeMaxMs: 6_000,
  probeAbortAfterMs: 1_500,
};

export type AudioFallbackEvent = 'videoDisableWarning' | 'videoDisableWarningLifted' | 'videoDisabled' | 'videoEnabled';

/** What video the publisher sends: every (wanted) layer, the lowest one alone (a probe), or none. */
export type FallbackVideo = 'all' | 'lowest' | 'none';

export type AudioFallbackState = 'ok' | 'warning' | 'off' | 'probing';

export interface AudioFallbackStep {
  events: AudioFallbackEvent[];
  video: FallbackVideo;
}

export class AudioFallbackMachine {
  readonly config: AudioFallbackConfig;
  #state: AudioFallbackState = 'ok';
  /** Since when the uplink has been bad (ok/warning/probing), or null. */
  #badSince: number | null = null;
  /** Since when the uplink has been good (warning/probing), or null. */
  #goodSince: number | null = null;
  /** When the warning was raised. */
  #warnedAt = 0;
  /** off: when the next probe starts; probing: when it started. */
  #probeAt = 0;
  #probeInterval: number;

  constructor(config: Partial<AudioFallbackConfig> = {}) {
    this.config = { ...DEFAULT_AUDIO_FALLBACK_CONFIG, ...config };
    this.#probeInterval = this.config.probeIntervalMs;
  }

  get state(): AudioFallbackState {
    return this.#state;
  }

  /** The video is off for quality (subscribers were told), probing or not. */
  get videoDisabled(): boolean {
    return this.#state === 'off' || this.#state === 'probing';
  }

  get video(): FallbackVideo {
    return this.#state === 'off' ? 'none' : this.#state === 'probing' ? 'lowest' : 'all';
  }

  /** Whether this sample says the uplink cannot carry the lowest layer. */
  isBad(s: UplinkSample): boolean {
    const c = this.config;
    if (s.availableOutgoingBitrate !== undefined && s.availableOutgoingBitrate < c.lowestLayerBps) return true;
    if (s.lossFraction !== undefined && s.lossFraction >= c.lossBad) return true;
    if (s.bandwidthLimited === true && s.targetBitrate !== undefined && s.targetBitrate < c.lowestLayerBps / 2) return true;
    return false;
  }

  /** Whether this sample says the uplink carries the lowest layer (an estimate is needed for that). */
  isGood(s: UplinkSample): boolean {
    return s.availableOutgoingBitrate !== undefined && !this.isBad(s);
  }

  /** Feeds one sample; returns the events to fire (in order) and the video to send from now on. */
  feed(s: UplinkSample): AudioFallbackStep {
    const events: AudioFallbackEvent[] = [];
    const c = this.config;
    const now = s.at;
    switch (this.#state) {
      case 'ok':
      case 'warning': {
        if (!s.videoSending) {
          // Nothing to judge (the SFU paused every layer, or publishVideo(false)): start over.
          this.#badSince = null;
          this.#goodSince = null;
          break;
        }
        if (this.isBad(s)) {
          this.#goodSince = null;
          this.#badSince ??= now;
          if (this.#state === 'ok' && now - this.#badSince >= c.warnAfterMs) {
            this.#state = 'warning';
            this.#warnedAt = now;
            events.push('videoDisableWarning');
          } else if (this.#state === 'warning' && now - this.#warnedAt >= c.disableAfterMs) {
            this.#state = 'off';
            this.#badSince = null;
            this.#probeInterval = c.probeIntervalMs;
            this.#probeAt = now + this.#probeInterval;
            events.push('videoDisabled');
          }
        } else {
          this.#badSince = null;
          if (this.#state === 'warning') {
            this.#goodSince ??= now;
            if (now - this.#goodSince >= c.recoverAfterMs) {
              this.#state = 'ok';
              this.#goodSince = null;
              events.push('videoDisableWarningLifted');
            }
          }
        }
        break;
      }
      case 'off':
        if (now >= this.#probeAt) {
          this.#state = 'probing';
          this.#probeAt = now;
          this.#goodSince = null;
        }
        break;
      case 'probing':
        // The first second of a probe says nothing good yet: the estimate is the audio-only one
        // (which Chromium lets drift up while little is sent) and the loss report predates the probe.
        if (this.isGood(s) && now - this.#probeAt >= c.probeAbortAfterMs) {
          this.#goodSince ??= now;
          if (now - this.#goodSince >= c.probeRecoverAfterMs) {
            this.#state = 'ok';
            this.#goodSince = null;
            this.#badSince = null;
            this.#probeInterval = c.probeIntervalMs;
            events.push('videoEnabled');
          }
        } else {
          this.#goodSince = null;
        }
        const lossy = s.lossFraction !== undefined && s.lossFraction >= c.lossBad;
        const failing = lossy && now - this.#probeAt >= c.probeAbortAfterMs;
        if (this.#state === 'probing' && (failing || now - this.#probeAt >= c.probeMaxMs)) {
          // The uplink did not carry the lowest layer: off again, and wait longer before the next try.
          this.#state = 'off';
          this.#probeInterval = Math.min(this.#probeInterval * 2, c.probeIntervalMaxMs);
          this.#probeAt = now + this.#probeInterval;
        }
        break;
    }
    return { events, video: this.video };
  }

  /** Back to the start (the stream ended, or the publisher publishes again). */
  reset(): void {
    this.#state = 'ok';
    this.#badSince = null;
    this.#goodSince = null;
    this.#probeInterval = this.config.probeIntervalMs;
  }
}

/** Counters kept between two readings of the stats (uplinkSample's `previous`). */
export interface UplinkCounters {
  videoBytesSent: number;
}

/**
 * Reads an UplinkSample from the publisher's RTCStatsReport (any iterable of stats objects, so that
 * tests can pass plain objects). `previous` holds the counters of the last reading (updated here).
 */
export function uplinkSample(report: Iterable<Record<string, unknown>>, at: number, previous: UplinkCounters): UplinkSample {
  let available: number | undefined;
  let loss: number | undefined;
  let bandwidthLimited = false;
  let target = 0;
  let hasTarget = false;
  let videoBytes = 0;
  let activeEncodings = 0;
  const pairs = new Map<string, Record<string, unknown>>();
  let selectedPairId: string | undefined;
  for (const s of report) {
    const type = s['type'];
    if (type === 'transport' && typeof s['selectedCandidatePairId'] === 'string') selectedPairId = s['selectedCandidatePairId'];
    if (type === 'candidate-pair') pairs.set(String(s['id']), s);
    if (type === 'remote-inbound-rtp' && typeof s['fractionLost'] === 'number') loss = Math.max(loss ?? 0, s['fractionLost']);
    if (type === 'outbound-rtp' && s['kind'] === 'video') {
      if (typeof s['bytesSent'] === 'number') videoBytes += s['bytesSent'];
      if (s['active'] === false) continue;
      activeEncodings++;
      if (s['qualityLimitationReason'] === 'bandwidth') bandwidthLimited = true;
      if (typeof s['targetBitrate'] === 'number') {
        target += s['targetBitrate'];
        hasTarget = true;
      }
    }
  }
  const pair = (selectedPairId !== undefined ? pairs.get(selectedPairId) : undefined) ?? [...pairs.values()].find((p) => p['nominated'] === true && p['state'] === 'succeeded');
  if (pair && typeof pair['availableOutgoingBitrate'] === 'number') available = pair['availableOutgoingBitrate'];
  const sending = activeEncodings > 0 && videoBytes > previous.videoBytesSent;
  previous.videoBytesSent = videoBytes;
  return {
    at,
    ...(available !== undefined ? { availableOutgoingBitrate: available } : {}),
    ...(loss !== undefined ? { lossFraction: loss } : {}),
    bandwidthLimited,
    ...(hasTarget ? { targetBitrate: target } : {}),
    videoSending: sending,
  };
}
