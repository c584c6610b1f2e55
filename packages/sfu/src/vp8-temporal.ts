// Vp8TemporalLayers: one consumer's choice of VP8 temporal layers (L1T3: T0 at a quarter of the
// frame rate, T1 at half, T2 the rest). Frames above the layer being forwarded are dropped whole;
// what is forwarded keeps picture IDs consecutive and TL0PICIDX consistent (RFC 7741 §4.2), across
// those drops and across the spatial layer switches the consumer makes, because a receiver
// (libwebrtc's VP8 reference finder) waits for every picture ID it has not seen and for the
// previous TL0PICIDX before it decodes. Up to a higher temporal layer only at a frame with the
// layer-sync bit (or a keyframe); down at once, at the next frame. Plain numbers and preallocated
// arrays: no per-packet objects.

import type { Vp8Descriptor } from './codecs/vp8.js';

/** The highest temporal layer VP8 can signal (TID is 2 bits): "all layers". */
export const MAX_TEMPORAL_LAYER = 3;

/** Recent frames remembered (by input picture ID), so every packet of a frame, and a late one, gets the frame's decision. */
const FRAMES = 256;
/** A picture ID jump larger than this (a new encoder, a wrap we missed) restarts the mapping. */
const MAX_GAP = 64;
/**
 * A frame further behind the newest than this is taken as a new series (the publisher restarted
 * its picture IDs lower), not a late packet: no retransmission comes 256 frames (8 s) late.
 */
const MAX_BEHIND = FRAMES;

const UNKNOWN = 0;
const FORWARD = 1;
const DROPPED = 2;
/** A frame skipped in the input (lost or reordered): its output picture ID is reserved. */
const MISSING = 3;

export class Vp8TemporalLayers {
  /** The layer wanted (the subscriber's preferredFrameRate, or the allocator's cap). */
  #target = MAX_TEMPORAL_LAYER;
  /** The layer being forwarded. */
  #current = MAX_TEMPORAL_LAYER;
  /** Set by restart(): the next frame (a keyframe) bases the offsets on the output so far. */
  #rebase = true;
  #everForwarded = false;
  /** The highest TID the stream has carried: forwarding up to it is forwarding everything. */
  #highestTid = 0;
  #pictureIdOffset = 0;
  #tl0Offset = 0;
  #newestIn = -1;
  #lastOutPictureId = -1;
  #lastOutTl0 = -1;
  readonly #frameIn = new Int32Array(FRAMES).fill(-1);
  readonly #frameOut = new Int32Array(FRAMES);
  readonly #frameState = new Uint8Array(FRAMES);
  // Set by `filter` for the packet it forwarded.
  /** Output picture ID and TL0PICIDX (-1: field absent). */
  pictureId = -1;
  tl0PicIdx = -1;
  /** Whether the descriptor's fields differ from the output ones (the payload must be rewritten). */
  rewrite = false;
  // Counters.
  framesDropped = 0;
  switches = 0;

  get target(): number {
    return this.#target;
  }

  get current(): number {
    return this.#current;
  }

  /** The layer to forward up to (0..3; 3: all). Down takes effect at the next frame, up at a sync frame. */
  setTarget(layer: number): void {
    this.#target = Math.max(0, Math.min(MAX_TEMPORAL_LAYER, Math.floor(layer)));
  }

  /**
   * The consumer restarts its output at a keyframe (connect, resume, a spatial layer switch: a new
   * picture ID series): the next frame's picture ID follows the last one forwarded.
   */
  restart(): void {
    this.#rebase = true;
  }

  /**
   * Decides one packet, given its parsed descriptor and whether it starts a keyframe: true to
   * forward (then `pictureId`, `tl0PicIdx` and `rewrite` hold its output fields), false to drop.
   * Streams without picture IDs are forwarded whole (nothing could keep them continuous).
   */
  filter(d: Vp8Descriptor, keyFrame: boolean): boolean {
    const pid = d.pictureId;
    if (pid < 0) {
      this.pictureId = -1;
      this.tl0PicIdx = d.tl0PicIdx;
      this.rewrite = false;
      return true;
    }
    const modulus = d.pictureIdBits === 15 ? 1 << 15 : 1 << 7;
    if (this.#rebase) {
      // Rebase only on a frame start that may begin the output (the consumer passes keyframes).
      if (!d.frameStart) return false;
      this.#rebaseAt(pid, d.tl0PicIdx, modulus, d.temporalId);
    }
    const slot = pid & (FRAMES - 1);
    let state = this.#frameIn[slot] === pid ? this.#frameState[slot]! : UNKNOWN;
    if (state === UNKNOWN) {
      const ahead = (pid - this.#newestIn + modulus) % modulus;
      const behind = (modulus - ahead) % modulus;
      // Older than anything remembered (a late packet of a forgotten frame): dropped; but a
      // keyframe, or a frame far behind (the publisher restarted its series there), starts anew.
      if ((ahead === 0 || ahead >= modulus / 2) && !keyFrame && behind <= MAX_BEHIND) return false;
      if (ahead > MAX_GAP || ahead === 0) {
        this.#rebaseAt(pid, d.tl0PicIdx, modulus, d.temporalId);
      } else {
        // Reserve the output picture IDs of frames skipped in the input (lost, or arriving later).
        for (let p = (this.#newestIn + 1) % modulus; p !== pid; p = (p + 1) % modulus) this.#remember(p, MISSING, (p - this.#pictureIdOffset + modulus) % modulus);
      }
      this.#newestIn = pid;
      this.#chooseLayer(d, keyFrame);
      state = d.temporalId <= this.#current ? FORWARD : DROPPED;
      this.#remember(pid, state, (pid - this.#pictureIdOffset + modulus) % modulus);
      if (state === DROPPED) {
        // The frames after it close up its picture ID.
        this.#pictureIdOffset = (this.#pictureIdOffset + 1) % modulus;
        this.framesDropped++;
      }
    } else if (state === MISSING) {
      // A late frame in a reserved slot: forwarded if its layer is, or the slot stays a gap (a loss to the receiver).
      state = d.temporalId <= this.#current ? FORWARD : DROPPED;
      this.#frameState[slot] = state;
    }
    if (state !== FORWARD) return false;
    const outPid = this.#frameOut[slot]!;
    if (!this.#everForwarded || (outPid - this.#lastOutPictureId + modulus) % modulus < modulus / 2) this.#lastOutPictureId = outPid;
    this.#everForwarded = true;
    this.pictureId = outPid;
    const tl0 = d.tl0PicIdx < 0 ? -1 : (d.tl0PicIdx - this.#tl0Offset) & 0xff;
    if (tl0 >= 0 && d.temporalId === 0) this.#lastOutTl0 = tl0;
    this.tl0PicIdx = tl0;
    this.rewrite = outPid !== pid || tl0 !== d.tl0PicIdx;
    return true;
  }

  /** Switches at a new frame: down at once; up at a keyframe (to the target) or a layer-sync frame (to its layer). */
  #chooseLayer(d: Vp8Descriptor, keyFrame: boolean): void {
    const before = this.#current;
    const tid = d.temporalId;
    if (tid > this.#highestTid) this.#highestTid = tid;
    if (keyFrame || tid < 0) this.#current = this.#target;
    else if (this.#target < this.#current) this.#current = this.#target;
    else if (this.#target > this.#current && d.layerSync && tid > this.#current && tid <= this.#target) this.#current = tid >= this.#highestTid ? this.#target : tid;
    if (this.#current !== before) this.switches++;
  }

  /**
   * Starts a new mapping at input picture ID `pid` (of a frame of TID `tid`): the output continues
   * from the last frame forwarded (TL0PICIDX +1 for a T0 frame, the same for a T1/T2 one).
   */
  #rebaseAt(pid: number, tl0: number, modulus: number, tid: number): void {
    this.#rebase = false;
    this.#frameIn.fill(-1);
    this.#newestIn = (pid - 1 + modulus) % modulus;
    if (this.#everForwarded) {
      this.#pictureIdOffset = (pid - (this.#lastOutPictureId + 1) + 2 * modulus) % modulus;
      if (tl0 >= 0 && this.#lastOutTl0 >= 0) this.#tl0Offset = (tl0 - (this.#lastOutTl0 + (tid > 0 ? 0 : 1))) & 0xff;
    }
  }

  #remember(pid: number, state: number, outPid: number): void {
    const slot = pid & (FRAMES - 1);
    this.#frameIn[slot] = pid;
    this.#frameState[slot] = state;
    this.#frameOut[slot] = outPid;
  }
}
