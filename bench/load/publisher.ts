// A synthetic publisher: a werift peer connection that offers sendonly Opus + VP8 and sends the
// clip in real time (a video frame every 1/fps s, its packets back to back as a browser without a
// pacer does; an Opus packet every 20 ms), on the wall clock: when the process falls behind, it
// catches up by at most a few frames and counts what it skipped, so an overloaded generator shows. The last packet of each frame carries the frame trailer
// (frame-marker.ts). A keyframe request (PLI/FIR) restarts the clip at its keyframe, at most once
// per `keyFrameMinIntervalMs`, as an encoder would.

import { MediaStreamTrack, RtpHeader, RtpPacket, type RTCPeerConnection, type RTCRtpTransceiver } from 'werift';
import type { Clip } from './clip.js';
import { appendMarker, machineMs, MARKER_BYTES } from './frame-marker.js';
import { connected, createPeer, gathered } from './peer.js';
import type { SendCounters } from './worker-protocol.js';

/** Largest RTP payload we send, bytes (a browser keeps whole packets near 1200). */
const MAX_PAYLOAD = 1150;

/** What a publisher counts; the worker sums them into its window's `sent`. */
export type PublisherCounters = SendCounters;

/** One timer per process drives every publisher in it. */
const publishers = new Set<LoadPublisher>();
let ticker: NodeJS.Timeout | undefined;
const MAX_CATCH_UP = 3;

export class LoadPublisher {
  readonly pc: RTCPeerConnection;
  readonly counters: PublisherCounters = { videoPackets: 0, audioPackets: 0, bytes: 0, frames: 0, keyFrames: 0, keyFrameRequests: 0, nacks: 0, skipped: 0 };
  readonly #clip: Clip;
  readonly #keyFrameMinIntervalMs: number;
  #video: RTCRtpTransceiver | undefined;
  #audio: RTCRtpTransceiver | undefined;
  #startedAt = 0;
  #framesDue = 0;
  #audioDue = 0;
  #cursor = 0;
  #frameNo = 0;
  #keyFrameWanted = false;
  #lastForcedKeyFrame = -Infinity;
  #videoSeq = Math.floor(Math.random() * 0xffff);
  #videoTs = Math.floor(Math.random() * 0xffffffff);
  #audioSeq = Math.floor(Math.random() * 0xffff);
  #audioTs = Math.floor(Math.random() * 0xffffffff);
  #audioIndex = 0;

  constructor(options: { clip: Clip; bindIp: string; keyFrameMinIntervalMs?: number }) {
    this.#clip = options.clip;
    this.#keyFrameMinIntervalMs = options.keyFrameMinIntervalMs ?? 200;
    this.pc = createPeer(options.bindIp);
  }

  /** Our SDP offer, every ICE candidate included. */
  async offer(): Promise<string> {
    this.#audio = this.pc.addTransceiver(new MediaStreamTrack({ kind: 'audio' }), { direction: 'sendonly' });
    this.#video = this.pc.addTransceiver(new MediaStreamTrack({ kind: 'video' }), { direction: 'sendonly' });
    this.#video.sender.onPictureLossIndication.subscribe(() => this.#onKeyFrameRequest());
    this.#video.sender.onGenericNack.subscribe(() => this.counters.nacks++);
    await this.pc.setLocalDescription(await this.pc.createOffer());
    await gathered(this.pc);
    return this.pc.localDescription!.sdp;
  }

  async accept(answer: string): Promise<void> {
    await this.pc.setRemoteDescription({ type: 'answer', sdp: answer });
    await connected(this.pc);
  }

  start(): void {
    if (publishers.has(this)) return;
    this.#startedAt = performance.now();
    this.#framesDue = this.#audioDue = 0;
    publishers.add(this);
    ticker ??= setInterval(() => {
      const now = performance.now();
      for (const p of publishers) p.#tick(now);
    }, 5);
  }

  stop(): void {
    publishers.delete(this);
    if (publishers.size === 0 && ticker) {
      clearInterval(ticker);
      ticker = undefined;
    }
  }

  #tick(now: number): void {
    const elapsed = now - this.#startedAt;
    const frames = Math.floor((elapsed * this.#clip.spec.fps) / 1000) + 1;
    if (frames - this.#framesDue > MAX_CATCH_UP) {
      const skip = frames - this.#framesDue - MAX_CATCH_UP;
      this.counters.skipped += skip;
      this.#framesDue += skip;
      this.#videoTs = (this.#videoTs + (skip * 90000) / this.#clip.spec.fps) >>> 0; // media time goes on
    }
    for (; this.#framesDue < frames; this.#framesDue++) this.#sendFrame();
    const audio = Math.floor(elapsed / 20) + 1;
    if (audio - this.#audioDue > MAX_CATCH_UP) {
      const skip = audio - this.#audioDue - MAX_CATCH_UP;
      this.counters.skipped += skip;
      this.#audioDue += skip;
      this.#audioTs = (this.#audioTs + skip * 960) >>> 0;
    }
    for (; this.#audioDue < audio; this.#audioDue++) this.#sendAudio();
  }

  async close(): Promise<void> {
    this.stop();
    await this.pc.close();
  }

  #onKeyFrameRequest(): void {
    this.counters.keyFrameRequests++;
    this.#keyFrameWanted = true;
  }

  #sendFrame(): void {
    const t = this.#video;
    if (!t || this.pc.connectionState !== 'connected') return;
    const frames = this.#clip.video;
    if (this.#keyFrameWanted && performance.now() - this.#lastForcedKeyFrame >= this.#keyFrameMinIntervalMs) {
      this.#keyFrameWanted = false;
      this.#lastForcedKeyFrame = performance.now();
      this.#cursor = 0; // the clip's first frame is its keyframe
    }
    const frame = frames[this.#cursor]!;
    this.#cursor = (this.#cursor + 1) % frames.length;
    if (frame.keyFrame) {
      this.#keyFrameWanted = false;
      this.counters.keyFrames++;
    }
    this.#videoTs = (this.#videoTs + 90000 / this.#clip.spec.fps) >>> 0;
    const frameNo = this.#frameNo++;
    // Split evenly, leaving room for the VP8 descriptor and, on the last packet, the trailer.
    const size = frame.data.length;
    const count = Math.max(1, Math.ceil((size + MARKER_BYTES) / (MAX_PAYLOAD - 1)));
    const chunk = Math.ceil(size / count);
    const pt = t.codecs[0]!.payloadType;
    for (let i = 0; i < count; i++) {
      const part = frame.data.subarray(i * chunk, Math.min(size, (i + 1) * chunk));
      let payload: Buffer = Buffer.allocUnsafe(part.length + 1);
      payload[0] = i === 0 ? 0x10 : 0x00; // VP8 descriptor: S bit on the frame's first packet, partition 0
      part.copy(payload, 1);
      const last = i === count - 1;
      if (last) payload = appendMarker(payload, { frame: frameNo, sentAtMs: machineMs(), packets: count, keyFrame: frame.keyFrame });
      const header = new RtpHeader({ payloadType: pt, sequenceNumber: this.#videoSeq, timestamp: this.#videoTs, marker: last });
      this.#videoSeq = (this.#videoSeq + 1) & 0xffff;
      void t.sender.sendRtp(new RtpPacket(header, payload));
      this.counters.videoPackets++;
      this.counters.bytes += payload.length + 12;
    }
    this.counters.frames++;
  }

  #sendAudio(): void {
    const t = this.#audio;
    if (!t || this.pc.connectionState !== 'connected') return;
    const payload = this.#clip.audio[this.#audioIndex++ % this.#clip.audio.length]!;
    this.#audioTs = (this.#audioTs + 960) >>> 0;
    const header = new RtpHeader({ payloadType: t.codecs[0]!.payloadType, sequenceNumber: this.#audioSeq, timestamp: this.#audioTs, marker: false });
    this.#audioSeq = (this.#audioSeq + 1) & 0xffff;
    void t.sender.sendRtp(new RtpPacket(header, payload));
    this.counters.audioPackets++;
    this.counters.bytes += payload.length + 12;
  }
}
