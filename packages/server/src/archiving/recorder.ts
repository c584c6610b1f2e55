// Recorder: one stream's audio and video, from the SFU's RTP packets to one WebM (VP8/Opus) or MKV
// (H.264/Opus) file. Per track: jitter buffer -> depacketizer -> RTP time mapped to the recorder's
// clock; the tracks are interleaved in time order and written cluster by cluster (at most about a
// second behind), so a crash loses at most the last second. Video starts at a keyframe (asked for).

import type { RtpPacket } from 'werift';
import type { Logger } from '../logger.js';
import {
  H264Depacketizer,
  NAL,
  OpusDepacketizer,
  Vp8Depacketizer,
  avcDecoderConfiguration,
  h264SpsSize,
  toAnnexB,
  toLengthPrefixed,
  vp8KeyframeSize,
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

interface QueuedFrame {
  ms: number;
  data: Buffer;
  keyframe: boolean;
}

interface TrackState {
  info: ArchiveTrack;
  number: number;
  jitter: JitterBuffer;
  depacketizer: Depacketizer;
  unsubscribe: () => void;
  anchor: { rtp: number; wall: number } | null;
  lastArrival: number;
  rtpRaw: number;
  rtpExt: number;
  lastMs: number;
  queue: QueuedFrame[];
  frames: number;
  lastKeyFrameRequest: number;
  /** Arrival time of the packet the depacketizer is handling. */
  arrivedAt: number;
}

const TICK_MS = 100;
const KEYFRAME_RETRY_MS = 1000;
/**
 * RTP time is trusted between frames (arrival times jitter, and a stalled event loop delivers late
 * bursts); only a step this far from the arrival step is a discontinuity (a sender restart picks a
 * random timestamp), and re-anchors the track at the arrival time.
 */
const DISCONTINUITY_MS = 10_000;

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
      anchor: null,
      lastArrival: 0,
      rtpRaw: 0,
      rtpExt: 0,
      lastMs: -Infinity,
      queue: [],
      frames: 0,
      lastKeyFrameRequest: -Infinity,
      arrivedAt: 0,
    };
    track.jitter = new JitterBuffer({
      latencyMs: info.kind === 'video' ? 150 : 80,
      onPacket: (packet) => {
        // Padding-only packets (bandwidth probes) pass the jitter buffer for their sequence
        // numbers, then stop here.
        if (packet.payload.length === 0) return;
        track.arrivedAt = packet.arrivedAt;
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
    // Copy: the source may reuse the packet once we return.
    track.jitter.push(
      { sequenceNumber: header.sequenceNumber, timestamp: header.timestamp, marker: header.marker, payload: Buffer.from(payload), arrivedAt: this.#now() },
      this.#now(),
    );
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

  /** Maps a frame's RTP time to the recorder's clock and queues it. */
  #onFrame(track: TrackState, frame: CodedFrame): void {
    if (track.anchor === null) {
      track.rtpRaw = frame.rtpTimestamp;
      track.rtpExt = frame.rtpTimestamp;
      track.anchor = { rtp: track.rtpExt, wall: track.arrivedAt };
    } else {
      const delta = ((frame.rtpTimestamp - track.rtpRaw + 0x80000000) >>> 0) - 0x80000000;
      track.rtpRaw = frame.rtpTimestamp;
      track.rtpExt += delta;
      const rtpStepMs = (delta * 1000) / track.info.clockRate;
      if (rtpStepMs < -DISCONTINUITY_MS / 10 || Math.abs(rtpStepMs - (track.arrivedAt - track.lastArrival)) > DISCONTINUITY_MS) {
        this.#log.debug({ kind: track.info.kind, rtpStepMs }, 'RTP timestamp discontinuity: re-anchoring');
        track.anchor = { rtp: track.rtpExt, wall: Math.max(track.arrivedAt, track.lastMs + 1) };
      }
    }
    track.lastArrival = track.arrivedAt;
    let ms = track.anchor.wall + ((track.rtpExt - track.anchor.rtp) * 1000) / track.info.clockRate;
    if (ms <= track.lastMs) ms = track.lastMs + 1;
    track.lastMs = ms;

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
    track.queue.push({ ms, data, keyframe: frame.keyframe });
    track.frames++;
    if (!this.#writer && !this.#creating && track.info.kind === 'video' && frame.keyframe) this.#createWriter();
    else if (!this.#writer && !this.#creating && !this.#opts.video) this.#createWriter();
  }

  #tick(): void {
    if (this.#state !== 'recording') return;
    const now = this.#now();
    for (const track of this.#tracks) {
      track.jitter.tick(now);
      if (track.info.kind === 'video' && track.depacketizer.waitingForKeyframe) this.#requestKeyFrame(track);
    }
    if (!this.#writer && !this.#creating && now - this.#startedAt >= this.#keyframeTimeoutMs && this.#tracks.some((t) => t.queue.length > 0)) {
      this.#log.warn({ path: this.path }, 'no video keyframe yet: writing the file without waiting longer');
      this.#createWriter();
    }
    this.#write(now - this.#holdMs);
  }

  #createWriter(): void {
    const first = Math.min(...this.#tracks.map((t) => t.queue[0]?.ms ?? Infinity));
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
      for (const track of this.#tracks) {
        const head = track.queue[0];
        if (head && head.ms <= untilMs && (!next || head.ms < next.queue[0]!.ms)) next = track;
      }
      if (!next) break;
      const frame = next.queue.shift()!;
      let data = frame.data;
      if (next.info.codec === 'H264' && this.#h264Format === 'annexb') data = lengthPrefixedToAnnexB(data);
      try {
        writer.addFrame(next.number, frame.ms - this.#fileBaseMs, data, frame.keyframe);
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
    if (!this.#writer && !this.#failed && this.#tracks.some((t) => t.queue.length > 0)) {
      this.#createWriter();
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
    const { size, durationMs } = await writer.finalize();
    const audio = this.#tracks.find((t) => t.info.kind === 'audio');
    const video = this.#tracks.find((t) => t.info.kind === 'video');
    return {
      path: this.path,
      size,
      durationMs,
      startOffsetMs: this.#startOffsetMs,
      stopOffsetMs: this.#startOffsetMs + durationMs,
      hasAudio: !!audio,
      hasVideo: !!video,
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
