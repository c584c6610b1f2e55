// How a Publisher's tracks are sent on each of its links (peer-link.ts): one sendonly transceiver
// per track, routed camera video as simulcast (rids q/h/f; scalableVideo: false makes it one
// encoding, scalableScreenshare: true makes a screen share simulcast too), other routed video as
// one encoding, all routed video with temporal layers where Chromium takes scalabilityMode;
// and the app's wishes — setMaxVideoBitrate, setPreferredFrameRate, setPreferredResolution,
// audioBitrate — and the SFU's videoLayers applied to every sender
// (RTCRtpSender.setParameters), and the publisher audio fallback's word (audio-fallback.ts): no
// video at all, or the lowest encoding alone while it probes the uplink. Capture and the DOM stay
// in publisher.ts.

import type { FallbackVideo } from './audio-fallback.js';
import type { Captured } from './devices.js';
import { log } from './logger.js';

/** What the app asked of the video encoding; unset fields leave the browser's choice. */
export interface EncodingWishes {
  maxBitrate?: number;
  maxFramerate?: number;
  resolution?: { width: number; height: number };
}

/**
 * Publisher audio fallback's probe (audio-fallback.ts): the lowest encoding at half its size again
 * and at most this bitrate. Switching an encoder on starts with a keyframe, and on a link that is
 * still weak a full-size one (and the retransmissions of its lost packets) stalled the audio for
 * seconds (measured: a 4.9 s audio gap at a subscriber during one probe on a 90 kbps uplink); a
 * quarter of the pixels makes a keyframe a fraction of that, and the cap keeps the probe near what
 * the lowest layer needs (150 kbps), enough for Chromium's estimator to show whether it fits.
 */
const PROBE_SCALE = 2;
const PROBE_MAX_BITRATE = 150_000;

/** Simulcast layers, lowest first: rid and how much the camera picture is scaled down. */
const SIMULCAST_LAYERS = [
  { rid: 'q', scale: 4 },
  { rid: 'h', scale: 2 },
  { rid: 'f', scale: 1 },
] as const;

/** How much an encoding of this rid is scaled down (1 for a single encoding). */
function layerScale(rid: string | undefined): number {
  return SIMULCAST_LAYERS.find((l) => l.rid === rid)?.scale ?? 1;
}

/**
 * The simulcast encodings for a camera picture of this size. Chromium sends at most as many layers
 * as its table allows for the picture (3 from 960x540, 2 from 480x270, else 1) and drops the *top*
 * encodings beyond that (measured: 640x480 with q/h/f sent q and h only), so we ask for exactly
 * that many, the full-size one always included: 3 from 960x540 pixels, h/f from 480x270, else one.
 */
export function simulcastEncodings(width: number, height: number): RTCRtpEncodingParameters[] {
  const pixels = width * height;
  const count = pixels >= 960 * 540 ? 3 : pixels >= 480 * 270 ? 2 : 1;
  if (count === 1) return [];
  return SIMULCAST_LAYERS.slice(3 - count).map(({ rid, scale }) => ({ rid, scaleResolutionDownBy: scale }));
}

export class SendEncodings {
  /** What the app asked of the video encoding (the Publisher's setters change it, then apply()). */
  readonly wishes: EncodingWishes = {};
  /** audioBitrate, when valid: the audio sender's maxBitrate (and Opus's maxaveragebitrate, in publisher.ts). */
  readonly audioBitrate: number | undefined;
  /** Routed simulcast: `active` per rid, as the server last asked (absent: active). */
  readonly #layerActive = new Map<string, boolean>();
  /** Publisher audio fallback: every wanted encoding, the lowest alone (a probe), or none. */
  #fallbackVideo: FallbackVideo = 'all';
  #queue: Promise<void> = Promise.resolve();
  readonly #cameraTrack: () => MediaStreamTrack | null;

  constructor(audioBitrate: number | undefined, cameraTrack: () => MediaStreamTrack | null) {
    this.audioBitrate = audioBitrate;
    this.#cameraTrack = cameraTrack;
  }

  /**
   * Adds our tracks to a new link's connection: one sendonly transceiver each. Routed, the video
   * has temporal layers (L1T3), and with `simulcast` (the publisher's scalableVideo for a camera,
   * scalableScreenshare for a screen share) it is sent as simulcast (one encoding for a small
   * picture); relayed, one plain encoding.
   */
  addTracks(pc: RTCPeerConnection, captured: Captured, routed = false, simulcast = false): void {
    const tracks = [captured.audio, captured.video].filter((t): t is MediaStreamTrack => t !== null);
    const stream = new MediaStream(tracks);
    for (const track of tracks) {
      if (track.kind !== 'video' || !routed) {
        pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
        continue;
      }
      const settings = simulcast ? (this.#cameraTrack() ?? track).getSettings() : {};
      const encodings = simulcast ? simulcastEncodings(settings.width ?? 0, settings.height ?? 0) : [];
      try {
        // Temporal layers let the SFU lower a subscriber's frame rate without a keyframe: a weak
        // link keeps a screen share's picture sharp at fewer frames a second.
        const layered = encodings.length === 0 ? [{}] : encodings;
        pc.addTransceiver(track, { direction: 'sendonly', streams: [stream], sendEncodings: layered.map((e) => ({ ...e, scalabilityMode: 'L1T3' })) });
      } catch {
        if (encodings.length === 0) pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
        else pc.addTransceiver(track, { direction: 'sendonly', streams: [stream], sendEncodings: encodings });
      }
    }
  }

  /**
   * Applies the wishes to the senders of these connections, one call after the other: interleaved
   * getParameters/setParameters pairs (a videoLayers message during a setMaxVideoBitrate) would
   * fail on a stale transaction id.
   */
  apply(pcs: RTCPeerConnection[]): Promise<void> {
    const run = this.#queue.then(() => this.#applyNow(pcs));
    this.#queue = run.catch(() => {});
    return run;
  }

  /** Routed simulcast: which of our encodings someone watches (the server's videoLayers). */
  setLayers(layers: { rid: string; active: boolean }[]): void {
    for (const { rid, active } of layers) this.#layerActive.set(rid, active);
  }

  /** Publisher audio fallback: what video to send (apply() to take effect). */
  setFallbackVideo(video: FallbackVideo): void {
    this.#fallbackVideo = video;
  }

  get fallbackVideo(): FallbackVideo {
    return this.#fallbackVideo;
  }

  async #applyNow(targets: RTCPeerConnection[]): Promise<void> {
    const wishes = this.wishes;
    const settings = this.#cameraTrack()?.getSettings();
    const scale =
      wishes.resolution && settings?.width && settings.height
        ? Math.max(1, settings.width / wishes.resolution.width, settings.height / wishes.resolution.height)
        : 1;
    for (const pc of targets) {
      await this.#applyAudioBitrate(pc);
      const sender = pc.getSenders().find((s) => s.track?.kind === 'video');
      if (!sender) continue;
      const parameters = sender.getParameters();
      if (!parameters.encodings || parameters.encodings.length === 0) continue; // not negotiated yet: applied then
      const fallback = this.#fallbackVideo;
      for (const [index, encoding] of parameters.encodings.entries()) {
        if (wishes.maxBitrate === undefined) delete encoding.maxBitrate;
        else encoding.maxBitrate = wishes.maxBitrate;
        if (wishes.maxFramerate === undefined) delete encoding.maxFramerate;
        else encoding.maxFramerate = wishes.maxFramerate;
        // A simulcast layer keeps its own scale on top of the wished one.
        encoding.scaleResolutionDownBy = scale * layerScale(encoding.rid);
        if (fallback === 'lowest' && index === 0) {
          encoding.scaleResolutionDownBy *= PROBE_SCALE;
          encoding.maxBitrate = Math.min(encoding.maxBitrate ?? PROBE_MAX_BITRATE, PROBE_MAX_BITRATE);
        }
        // Audio fallback: no video, or (probing) the lowest encoding alone — simulcast encodings are
        // listed lowest first — whatever the SFU asked; the track stays, only the encoder stops.
        if (fallback === 'none') encoding.active = false;
        else if (fallback === 'lowest') encoding.active = index === 0;
        else if (encoding.rid !== undefined) encoding.active = this.#layerActive.get(encoding.rid) ?? true;
        else encoding.active = true;
      }
      try {
        await sender.setParameters(parameters);
      } catch (err) {
        log.warn('could not apply the video encoding settings:', (err as Error).message);
      }
    }
  }

  /** audioBitrate as the audio sender's maxBitrate (besides Opus's maxaveragebitrate in the answer). */
  async #applyAudioBitrate(pc: RTCPeerConnection): Promise<void> {
    const bps = this.audioBitrate;
    const sender = pc.getSenders().find((s) => s.track?.kind === 'audio');
    if (bps === undefined || !sender) return;
    const parameters = sender.getParameters();
    if (!parameters.encodings || parameters.encodings.length === 0) return;
    for (const encoding of parameters.encodings) encoding.maxBitrate = bps;
    try {
      await sender.setParameters(parameters);
    } catch (err) {
      log.warn('could not apply audioBitrate:', (err as Error).message);
    }
  }
}
