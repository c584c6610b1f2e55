// Recorder: one stream's audio and video, from the SFU's RTP packets to one WebM (VP8/Opus) or MKV
// (H.264/Opus) file. Per track: jitter buffer -> depacketizer -> RTP time mapped to the recorder's
// clock; the tracks are interleaved in time order and written cluster by cluster (at most about a
// second behind), so a crash loses at most the last second. Video starts at a keyframe (asked for).

import type { RtpPacket } from './interfaces.js';
import type { Logger } from '../logger.js';
import { NAL, h264SpsSize, vp8KeyframeSize } from '@colloquy/sfu';
import {
  H264Depacketizer,
  OpusDepacketizer,
  Vp8Depacketizer,
  avcDecoderConfiguration,
  toAnnexB,
  toLengthPrefixed,
  type CodedFrame,
  type Depacketizer,
} from './depacketizer.js';
import type { ArchiveMediaSource, ArchiveTrack } from './interfaces.js';
import { JitterBuffer } from './jitter-buffer.js';
import { MAX_CLUSTER_MS, MatroskaWriter, type MatroskaTrack } from './matroska.js';

export interface RecorderOptions {
  /** File to create (must not exist). Use `recordingExtension()` for its extension. */
  path: string;
  audio: ArchiveTrack | null;
  video: ArchiveTrack | null;
  media: ArchiveMediaSource;
  /** The archive's clock: milliseconds of recorded time now. Offsets of the file are read from it. */
  archiveClock: () => number;
  logger: Logger;
  /** A write failed (disk full…): the recording stops growing; the owner decides what to do. */
  onError?: (err: Error) => void;
  /** The file is being created: its first frame sits at this archive time (ms). */
  onStarted?: (startOffsetMs: number) => void;
  /** How long to wait for the first video keyframe before writing the file without one (default 5000 ms). */
  keyframeTimeoutMs?: number;
  /** How long a frame waits so that the other track's earlier frames can be written before it (default 300 ms). */
  holdMs?: number;
}

export interface RecordingResult {
  path: string;
  size: number;
  durationMs: number;
  /** Archive time of the file's first frame, and of its end. */
  startOffsetMs: number;
  stopOffsetMs: number;
  hasAudio: boolean;
  hasVideo: boolean;
  frames: { audio: number; video: number };
  packetsLost: number;
}

/** `.mkv` when the video is H.264 (OpenTok's individual archives do the same), else `.webm`. */
export function recordingExtension(video: ArchiveTrack | null): 'webm' | 'mkv' {
  return video?.codec === 'H264' ? 'mkv' : 'webm';
}

/**
 * How a track's RTP time maps to the recorder's clock: ms = offset + (rtp - rtpBase) / clockRate.
 * The offset is the smallest (arrival - RTP time) seen while calibrating: the packet that met no
 * queue, no stall of our event loop. A discontinuity (sender restart) starts a new epoch.
 */
interface Epoch {
  rtpBase: number;
  offset: number;
  calibrateUntil: number;
}

interface QueuedFrame {
  epoch: Epoch;
  rtp: number;
  data: Buffer;
  keyframe: boolean;
}

interface TrackState {
  info: ArchiveTrack;
  number: number;
  jitter: JitterBuffer;
  depacketizer: Depacketizer;
  unsubscribe: () => void;
  epoch: Epoch | null;
  /** Unwrapping of RTP timestamps (packet order), and the last packet's arrival. */
  rtpRaw: number;
  rtpExt: number;
  lastArrival: number;
  /** Last timestamp handed to the writer, for per-track monotony. */
  lastWrittenMs: number;
  queue: QueuedFrame[];
  frames: number;
  lastKeyFrameRequest: number;
}

const TICK_MS = 100;
const KEYFRAME_RETRY_MS = 1000;
/**
 * RTP time is trusted between packets (arrival times jitter, and a stalled event loop delivers late
 * bursts); only a step this far from the arrival step is a discontinuity (a sender restart picks a
 * random timestamp), which starts a new epoch at the arrival time.
 */
const DISCONTINUITY_MS = 10_000;
/** How long a track's first packets calibrate its clock offset; the file is not started before. */
const CALIBRATION_MS = 1000;

export class Recorder {
  readonly path: string;
  readonly #opts: RecorderOptions;
  readonly #log: Logger;
  readonly #now = () => performance.now();
  readonly #tracks: TrackState[] = [];
  readonly #holdMs: number;
  readonly #keyframeTimeoutMs: number;
  #timer: NodeJS.Timeout | undefined;
  #startedAt = 0;
  #writer: MatroskaWriter | null = null;
  #creating: Promise<void> | null = null;
  #h264Format: 'avcc' | 'annexb' = 'avcc';
  #sps: Buffer | null = null;
  #pps: Buffer | null = null;
  #videoSize: { width: number; height: number } | null = null;
  #keyframeSeen = false;
  #fileBaseMs = 0;
  #startOffsetMs = 0;
  #state: 'new' | 'recording' | 'stopping' | 'stopped' = 'new';
  #failed: Error | null = null;

  constructor(options: RecorderOptions) {
    if (!options.audio && !options.video) throw new Error('a recorder needs an audio or a video track');
    this.path = options.path;
    this.#opts = options;
    this.#log = options.logger;
    this.#holdMs = options.holdMs ?? 300;
    this.#keyframeTimeoutMs = options.keyframeTimeoutMs ?? 5000;
  }

  get recording(): boolean {
    return this.#state === 'recording';
  }

  /** Subscribes to the producers and asks for a keyframe. */
  start(): void {
    if (this.#state !== 'new') return;
    this.#state = 'recording';
    this.#startedAt = this.#now();
    const { video, audio } = this.#opts;
    if (video) this.#addTrack(video, 1);
    if (audio) this.#addTrack(audio, video ? 2 : 1);
    this.#timer = setInterval(() => this.#tick(), TICK_MS);
    this.#timer.unref();
  }

  #addTrack(info: ArchiveTrack, number: number): void {
    const depacketizer: Depacketizer =
      info.kind === 'audio' ? new OpusDepacketizer() : info.codec === 'H264' ? new H264Depacketizer() : new Vp8Depacketizer();
    const track: TrackState = {
      info,
      number,
      depacketizer,
      jitter: undefined as unknown as JitterBuffer,
      unsubscribe: () => {},
      epoch: null,
      rtpRaw: 0,
      rtpExt: 0,
      lastArrival: 0,
      lastWrittenMs: -Infinity,
      queue: [],
      frames: 0,
      lastKeyFrameRequest: -Infinity,
    };
    track.jitter = new JitterBuffer({
      latencyMs: info.kind === 'video' ? 150 : 80,
      onPacket: (packet) => {
        // Padding-only packets (bandwidth probes) pass the jitter buffer for their sequence
        // numbers, then stop here.
        if (packet.payload.length === 0) return;
        const frame = track.depacketizer.push(packet);
        if (frame) this.#onFrame(track, frame);
      },
      onLoss: () => track.depacketizer.loss(),
    });
    this.#tracks.push(track);
    try {
      track.unsubscribe = this.#opts.media.subscribe(info.producerId, (packet) => this.#onPacket(track, packet));
    } catch (err) {
      this.#log.warn({ err, producerId: info.producerId }, 'cannot subscribe to producer');
    }
    if (info.kind === 'video') this.#requestKeyFrame(track);
  }

  #onPacket(track: TrackState, packet: RtpPacket): void {
    if (this.#state !== 'recording') return;
    const { header, payload } = packet;
    if (track.info.payloadType !== undefined && header.payloadType !== track.info.payloadType) return;
    const now = this.#now();
    this.#clock(track, header.timestamp, now);
    // Copy: the source may reuse the packet once we return.
    track.jitter.push({ sequenceNumber: header.sequenceNumber, timestamp: header.timestamp, marker: header.marker, payload: Buffer.from(payload) }, now);
  }

  /** Follows a track's RTP clock packet by packet: unwrapping, calibration, discontinuities. */
  #clock(track: TrackState, timestamp: number, now: number): void {
    if (track.epoch === null) {
      track.rtpRaw = timestamp;
      track.rtpExt = timestamp;
      track.lastArrival = now;
      track.epoch = { rtpBase: timestamp, offset: now, calibrateUntil: now + CALIBRATION_MS };
      return;
    }
    const delta = ((timestamp - track.rtpRaw + 0x80000000) >>> 0) - 0x80000000;
    track.rtpRaw = timestamp;
    track.rtpExt += delta;
    const rtpStepMs = (delta * 1000) / track.info.clockRate;
    const arrivalStepMs = now - track.lastArrival;
    track.lastArrival = now;
    const epoch = track.epoch;
    if (rtpStepMs < -DISCONTINUITY_MS / 10 || Math.abs(rtpStepMs - arrivalStepMs) > DISCONTINUITY_MS) {
      this.#log.debug({ kind: track.info.kind, rtpStepMs }, 'RTP timestamp discontinuity: new epoch');
      track.epoch = { rtpBase: track.rtpExt, offset: Math.max(now, track.lastWrittenMs + 1), calibrateUntil: now };
      return;
    }
    if (now < epoch.calibrateUntil) {
      const offset = now - ((track.rtpExt - epoch.rtpBase) * 1000) / track.info.clockRate;
      if (offset < epoch.offset) epoch.offset = offset;
    }
  }

  /** A frame's time on the recorder's clock. */
  #frameMs(track: TrackState, frame: QueuedFrame): number {
    return frame.epoch.offset + ((frame.rtp - frame.epoch.rtpBase) * 1000) / track.info.clockRate;
  }

  #requestKeyFrame(track: TrackState): void {
    const now = this.#now();
    if (now - track.lastKeyFrameRequest < KEYFRAME_RETRY_MS) return;
    track.lastKeyFrameRequest = now;
    try {
      this.#opts.media.requestKeyFrame(track.info.producerId);
    } catch (err) {
      this.#log.debug({ err }, 'keyframe request failed');
    }
  }

  /** Queues a frame with its RTP time in the track's epoch (its clock time is read when written). */
  #onFrame(track: TrackState, frame: CodedFrame): void {
    const epoch = track.epoch;
    if (!epoch) return;
    // The frame's timestamp, unwrapped next to the last packet's (frames lag packets a little).
    const rtp = track.rtpExt + (((frame.rtpTimestamp - track.rtpRaw + 0x80000000) >>> 0) - 0x80000000);

    let data = frame.data;
    if (frame.nalUnits) {
      for (const nal of frame.nalUnits) {
        const type = nal[0]! & 0x1f;
        if (type === NAL.SPS) {
          this.#sps = nal;
          this.#videoSize = h264SpsSize(nal) ?? this.#videoSize;
        } else if (type === NAL.PPS) this.#pps = nal;
      }
      if (frame.keyframe && (!this.#sps || !this.#pps) && !this.#writer && !this.#creating) {
        // An IDR without parameter sets is no start: wait for one that has them (Chrome repeats them).
        track.depacketizer.waitForKeyframe();
        return;
      }
      // Kept length-prefixed (AVC); turned into Annex B at write time if the file has no CodecPrivate.
      data = toLengthPrefixed(frame.nalUnits);
    } else if (track.info.kind === 'video' && frame.keyframe) {
      this.#videoSize = vp8KeyframeSize(frame.data) ?? this.#videoSize;
    }
    track.queue.push({ epoch, rtp, data, keyframe: frame.keyframe });
    track.frames++;
    if (track.info.kind === 'video' && frame.keyframe) this.#keyframeSeen = true;
    this.#maybeCreateWriter();
  }

  /**
   * Starts the file once it can be described (the first video keyframe, or no video track, or the
   * keyframe wait is over) and every track that has packets finished calibrating its clock.
   */
  #maybeCreateWriter(force = false): void {
    if (this.#writer || this.#creating || this.#failed) return;
    if (!this.#tracks.some((t) => t.queue.length > 0)) return;
    if (!force) {
      const now = this.#now();
      const describable = this.#keyframeSeen || !this.#opts.video || now - this.#startedAt >= this.#keyframeTimeoutMs;
      if (!describable) return;
      if (this.#tracks.some((t) => t.epoch && now < t.epoch.calibrateUntil)) return;
      if (!this.#keyframeSeen && this.#opts.video) this.#log.warn({ path: this.path }, 'no video keyframe yet: writing the file without waiting longer');
    }
    this.#createWriter();
  }

  #tick(): void {
    if (this.#state !== 'recording') return;
    const now = this.#now();
    for (const track of this.#tracks) {
      track.jitter.tick(now);
      if (track.info.kind === 'video' && track.depacketizer.waitingForKeyframe) this.#requestKeyFrame(track);
    }
    this.#maybeCreateWriter();
    this.#write(now - this.#holdMs);
  }

  #createWriter(): void {
    const first = Math.min(...this.#tracks.map((t) => (t.queue[0] ? this.#frameMs(t, t.queue[0]) : Infinity)));
    if (first === Infinity) return;
    const tracks: MatroskaTrack[] = [];
    const { video, audio } = this.#opts;
    if (video) {
      const track: MatroskaTrack = { number: 1, kind: 'video', codec: video.codec === 'H264' ? 'H264' : 'VP8' };
      if (this.#videoSize) {
        track.width = this.#videoSize.width;
        track.height = this.#videoSize.height;
      }
      if (video.codec === 'H264') {
        if (this.#sps && this.#pps) track.codecPrivate = avcDecoderConfiguration(this.#sps, this.#pps);
        else this.#h264Format = 'annexb'; // no parameter sets yet: ffmpeg reads Annex B without CodecPrivate
      }
      tracks.push(track);
    }
    if (audio) tracks.push({ number: video ? 2 : 1, kind: 'audio', codec: 'opus', channels: audio.channels ?? 2, sampleRate: audio.clockRate });
    this.#fileBaseMs = first;
    this.#startOffsetMs = Math.max(0, Math.round(this.#opts.archiveClock() - (this.#now() - first)));
    this.#opts.onStarted?.(this.#startOffsetMs);
    const docType = video?.codec === 'H264' ? 'matroska' : 'webm';
    this.#creating = MatroskaWriter.create(this.path, docType, tracks).then(
      (writer) => {
        this.#writer = writer;
        this.#creating = null;
        if (this.#state === 'recording') this.#write(this.#now() - this.#holdMs);
      },
      (err: Error) => {
        this.#creating = null;
        this.#fail(err);
      },
    );
  }

  /** Writes queued frames up to `untilMs`, oldest first across tracks; closes a cluster once old enough. */
  #write(untilMs: number): void {
    const writer = this.#writer;
    if (!writer || this.#failed) return;
    for (;;) {
      let next: TrackState | null = null;
      let nextMs = Infinity;
      for (const track of this.#tracks) {
        const head = track.queue[0];
        if (!head) continue;
        const ms = this.#frameMs(track, head);
        if (ms <= untilMs && ms < nextMs) {
          next = track;
          nextMs = ms;
        }
      }
      if (!next) break;
      const frame = next.queue.shift()!;
      const ms = Math.max(nextMs, next.lastWrittenMs + 1);
      next.lastWrittenMs = ms;
      let data = frame.data;
      if (next.info.codec === 'H264' && this.#h264Format === 'annexb') data = lengthPrefixedToAnnexB(data);
      try {
        writer.addFrame(next.number, ms - this.#fileBaseMs, data, frame.keyframe);
      } catch (err) {
        this.#fail(err as Error);
        return;
      }
    }
    if (Number.isFinite(untilMs)) writer.closeClusterIfOlderThan(untilMs - this.#fileBaseMs, MAX_CLUSTER_MS);
    writer.flush().catch((err: Error) => this.#fail(err));
  }

  #fail(err: Error): void {
    if (this.#failed) return;
    this.#failed = err;
    this.#log.error({ err, path: this.path }, 'recording failed');
    this.#opts.onError?.(err);
  }

  /**
   * Stops: unsubscribes, writes what the buffers hold, and finalizes the file. Null when no frame
   * was ever recorded (no file is left then).
   */
  async stop(): Promise<RecordingResult | null> {
    if (this.#state === 'stopping' || this.#state === 'stopped') throw new Error('recorder already stopped');
    const wasRecording = this.#state === 'recording';
    this.#state = 'stopping';
    clearInterval(this.#timer);
    for (const track of this.#tracks) track.unsubscribe();
    if (wasRecording) for (const track of this.#tracks) track.jitter.drain();
    if (this.#creating) await this.#creating;
    if (!this.#writer && !this.#failed) {
      this.#maybeCreateWriter(true);
      if (this.#creating) await this.#creating;
    }
    this.#state = 'stopped';
    const writer = this.#writer;
    if (!writer) return null;
    this.#write(Infinity);
    if (this.#failed) {
      await writer.abandon();
      throw this.#failed;
    }
    const withFrames = writer.tracksWithFrames;
    const { size, durationMs } = await writer.finalize();
    const audio = this.#tracks.find((t) => t.info.kind === 'audio');
    const video = this.#tracks.find((t) => t.info.kind === 'video');
    return {
      path: this.path,
      size,
      durationMs,
      startOffsetMs: this.#startOffsetMs,
      stopOffsetMs: this.#startOffsetMs + durationMs,
      // What the file holds: a track that never got a frame is voided at finalize.
      hasAudio: !!audio && withFrames.has(audio.number),
      hasVideo: !!video && withFrames.has(video.number),
      frames: { audio: audio?.frames ?? 0, video: video?.frames ?? 0 },
      packetsLost: this.#tracks.reduce((n, t) => n + t.jitter.packetsLost, 0),
    };
  }

  /** Archive time of the file's first frame (known once the file exists). */
  get startOffsetMs(): number | null {
    return this.#writer || this.#creating ? this.#startOffsetMs : null;
  }

  stats(): Record<string, unknown> {
    return {
      path: this.path,
      state: this.#state,
      bytes: this.#writer?.size ?? 0,
      tracks: this.#tracks.map((t) => ({
        kind: t.info.kind,
        codec: t.info.codec,
        frames: t.frames,
        queued: t.queue.length,
        packetsLost: t.jitter.packetsLost,
        packetsDropped: t.jitter.packetsDropped,
        waitingForKeyframe: t.depacketizer.waitingForKeyframe,
      })),
    };
  }
}

function lengthPrefixedToAnnexB(data: Buffer): Buffer {
  const nals: Buffer[] = [];
  for (let i = 0; i + 4 <= data.length; ) {
    const size = data.readUInt32BE(i);
    nals.push(data.subarray(i + 4, i + 4 + size));
    i += 4 + size;
  }
  return toAnnexB(nals);
}
