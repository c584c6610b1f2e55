// One published track decoded live for the broadcast composer: the SFU's RTP packets go through
// archiving's jitter buffer and depacketizer (whole frames, keyframe-gated after a loss), are framed
// for ffmpeg on the fly (VP8 and Opus in a live WebM, H.264 as Annex B) and decoded by an ffmpeg
// child: video to raw YUV 4:2:0 already scaled into the stream's box, audio to 48 kHz stereo s16le.

import type { RtpPacket } from '../archiving/interfaces.js';
import type { Logger } from '../logger.js';
import { H264Depacketizer, OpusDepacketizer, Vp8Depacketizer, toAnnexB, type CodedFrame, type Depacketizer } from '../archiving/depacketizer.js';
import { element, encodeId, encodeSize, ID, uint } from '../archiving/ebml.js';
import { fitFilter } from '../archiving/composer.js';
import type { ArchiveMediaSource, ArchiveTrack } from '../archiving/interfaces.js';
import { JitterBuffer } from '../archiving/jitter-buffer.js';
import { buildHeader, type MatroskaTrack } from '../archiving/matroska.js';
import { LiveProcess } from './live-process.js';

/** Live: a shorter wait for a late packet than the archive recorder's 150 ms. */
const VIDEO_JITTER_MS = 120;
const AUDIO_JITTER_MS = 60;
const TICK_MS = 20;
const KEYFRAME_RETRY_MS = 500;
/** Decoded audio kept per stream before the oldest is dropped (bounds the latency a stall adds). */
const MAX_AUDIO_BUFFER_MS = 400;
export const SAMPLE_RATE = 48_000;
export const AUDIO_BYTES_PER_MS = (SAMPLE_RATE * 2 * 2) / 1000;

/** Where a stream's picture goes, and how it is fitted. Width and height are even. */
export interface DecodeSize {
  width: number;
  height: number;
  fit: 'contain' | 'cover';
}

/**
 * The arguments ffmpeg needs to read our live framing with as little buffering as it can. Not
 * `-fflags nobuffer`: it drops the packets read while probing, which is the keyframe we start on.
 */
const LOW_DELAY_INPUT = ['-flags', 'low_delay', '-probesize', '32', '-analyzeduration', '0', '-threads', '1'];

/** A live Matroska/WebM of one track: the head once, then one cluster per frame. */
class LiveMatroska {
  readonly head: Buffer;
  readonly #t0 = performance.now();
  #last = -1;

  constructor(track: MatroskaTrack) {
    this.head = buildHeader('webm', [track]).bytes;
  }

  cluster(data: Buffer, keyframe: boolean): Buffer {
    // Arrival time, kept increasing: the decoder only needs order (the composer shows the latest frame).
    const ms = Math.max(this.#last + 1, Math.round(performance.now() - this.#t0));
    this.#last = ms;
    const head = Buffer.from([0x81, 0, 0, keyframe ? 0x80 : 0]);
    const body = Buffer.concat([uint(ID.Timestamp, ms), element(ID.SimpleBlock, [head, data])]);
    return Buffer.concat([encodeId(ID.Cluster), encodeSize(body.length), body]);
  }
}

abstract class TrackDecoder {
  protected readonly log: Logger;
  protected readonly media: ArchiveMediaSource;
  readonly track: ArchiveTrack;
  protected readonly depacketizer: Depacketizer;
  readonly #jitter: JitterBuffer;
  readonly #unsubscribe: () => void;
  readonly #timer: NodeJS.Timeout;
  protected closed = false;
  packetsIn = 0;
  framesIn = 0;
  keyframeRequests = 0;

  constructor(track: ArchiveTrack, media: ArchiveMediaSource, logger: Logger) {
    this.track = track;
    this.media = media;
    this.log = logger;
    this.depacketizer = track.kind === 'audio' ? new OpusDepacketizer() : track.codec === 'H264' ? new H264Depacketizer() : new Vp8Depacketizer();
    this.#jitter = new JitterBuffer({
      latencyMs: track.kind === 'video' ? VIDEO_JITTER_MS : AUDIO_JITTER_MS,
      onPacket: (packet) => {
        if (packet.payload.length === 0) return;
        const frame = this.depacketizer.push(packet);
        if (frame) {
          this.framesIn++;
          this.onFrame(frame);
        }
      },
      onLoss: () => this.depacketizer.loss(),
    });
    this.#timer = setInterval(() => {
      this.#jitter.tick(performance.now());
      // After a loss nothing passes until a keyframe: ask the publisher again until one comes (a
      // WebRTC sender sends one only when asked).
      if (track.kind === 'video' && this.depacketizer.waitingForKeyframe) this.onWaitingForKeyframe();
    }, TICK_MS);
    this.#timer.unref();
    let unsubscribe = () => {};
    try {
      unsubscribe = media.subscribe(track.producerId, (packet: RtpPacket) => {
        if (this.closed) return;
        const { header, payload } = packet;
        if (track.payloadType !== undefined && header.payloadType !== track.payloadType) return;
        this.packetsIn++;
        this.#jitter.push({ sequenceNumber: header.sequenceNumber, timestamp: header.timestamp, marker: header.marker, payload: Buffer.from(payload) }, performance.now());
      });
    } catch (err) {
      this.log.warn({ err, producerId: track.producerId }, 'cannot subscribe to producer');
    }
    this.#unsubscribe = unsubscribe;
  }

  protected abstract onFrame(frame: CodedFrame): void;

  protected onWaitingForKeyframe(): void {}

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.#timer);
    this.#unsubscribe();
  }
}

/**
 * A stream's video, decoded and scaled to its box. `latest` is the last whole picture (I420, the
 * box's size). A new size restarts the decoder at the next keyframe (asked for at once).
 */
export class VideoDecoder extends TrackDecoder {
  #size: DecodeSize;
  #process: LiveProcess | null = null;
  #framing: LiveMatroska | null = null;
  #lastKeyRequest = -Infinity;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  latest: Buffer | null = null;
  /** The size `latest` has. */
  latestSize: DecodeSize | null = null;
  framesOut = 0;

  /** The running decoder's last error output (stats). */
  get stderrTail(): string {
    return this.#process?.stderrTail.slice(-300) ?? '';
  }

  constructor(track: ArchiveTrack, media: ArchiveMediaSource, size: DecodeSize, logger: Logger) {
    super(track, media, logger);
    this.#size = size;
    this.#askKeyframe();
  }

  get size(): DecodeSize {
    return this.#size;
  }

  /** Moves the stream to a box of another size: a new decoder from the next keyframe. */
  resize(size: DecodeSize): void {
    if (size.width === this.#size.width && size.height === this.#size.height && size.fit === this.#size.fit) return;
    this.#size = size;
    this.#restart();
  }

  #restart(): void {
    this.#process?.kill();
    this.#process = null;
    this.#pending = [];
    this.#pendingBytes = 0;
    this.depacketizer.waitForKeyframe();
    this.#askKeyframe();
  }

  protected override onWaitingForKeyframe(): void {
    this.#askKeyframe();
  }

  #askKeyframe(): void {
    const now = performance.now();
    if (now - this.#lastKeyRequest < KEYFRAME_RETRY_MS) return;
    this.#lastKeyRequest = now;
    this.keyframeRequests++;
    try {
      this.media.requestKeyFrame(this.track.producerId);
    } catch (err) {
      this.log.debug({ err }, 'keyframe request failed');
    }
  }

  protected onFrame(frame: CodedFrame): void {
    if (this.closed) return;
    if (!this.#process || !this.#process.running) {
      if (!frame.keyframe) {
        this.#askKeyframe();
        return;
      }
      this.#start();
    }
    const stdin = this.#process!.child.stdin;
    if (stdin.writableLength > 4 * 1024 * 1024) {
      // The decoder does not keep up: start again from a keyframe rather than fall further behind.
      this.log.warn({ producerId: this.track.producerId }, 'video decoder behind: restarting at the next keyframe');
      this.#restart();
      return;
    }
    if (this.#framing) stdin.write(this.#framing.cluster(frame.data, frame.keyframe));
    else stdin.write(toAnnexB(frame.nalUnits ?? [frame.data]));
  }

  #start(): void {
    const { width, height, fit } = this.#size;
    const h264 = this.track.codec === 'H264';
    const input = h264 ? ['-f', 'h264'] : ['-f', 'webm'];
    const process = new LiveProcess({
      what: 'video decoder',
      logger: this.log,
      args: [
        ...LOW_DELAY_INPUT,
        ...input,
        '-i',
        'pipe:0',
        '-an',
        '-vf',
        `${fitFilter(width, height, fit)},format=yuv420p`,
        '-fps_mode',
        'passthrough',
        '-flush_packets',
        '1',
        '-f',
        'rawvideo',
        '-pix_fmt',
        'yuv420p',
        'pipe:1',
      ],
    });
    this.#process = process;
    this.#framing = h264 ? null : new LiveMatroska({ number: 1, kind: 'video', codec: 'VP8', width, height });
    if (this.#framing) process.child.stdin.write(this.#framing.head);
    const frameBytes = (width * height * 3) / 2;
    const size = { ...this.#size };
    process.child.stdout.on('data', (chunk: Buffer) => {
      if (this.#process !== process) return;
      this.#pending.push(chunk);
      this.#pendingBytes += chunk.length;
      while (this.#pendingBytes >= frameBytes) {
        const all = this.#pending.length === 1 ? this.#pending[0]! : Buffer.concat(this.#pending, this.#pendingBytes);
        this.latest = Buffer.from(all.subarray(0, frameBytes));
        this.latestSize = size;
        this.framesOut++;
        const rest = all.subarray(frameBytes);
        this.#pending = rest.length > 0 ? [rest] : [];
        this.#pendingBytes = rest.length;
      }
    });
    void process.exited.then(() => {
      // Died on its own (bad data): the next keyframe starts another.
      if (this.#process === process && !this.closed) this.#restart();
    });
  }

  override close(): void {
    super.close();
    this.#process?.kill();
    this.#process = null;
  }
}

/** A stream's audio, decoded to 48 kHz stereo s16le into a bounded buffer the mixer reads. */
export class AudioDecoder extends TrackDecoder {
  #process: LiveProcess | null = null;
  readonly #framing = new LiveMatroska({ number: 1, kind: 'audio', codec: 'opus', channels: 2, sampleRate: SAMPLE_RATE });
  #chunks: Buffer[] = [];
  #bytes = 0;
  /** False until enough is buffered to ride out jitter; false again after running dry. */
  #primed = false;

  protected onFrame(frame: CodedFrame): void {
    if (this.closed) return;
    if (!this.#process || !this.#process.running) this.#start();
    this.#process!.child.stdin.write(this.#framing.cluster(frame.data, true));
  }

  #start(): void {
    const process = new LiveProcess({
      what: 'audio decoder',
      logger: this.log,
      args: [...LOW_DELAY_INPUT, '-f', 'webm', '-i', 'pipe:0', '-vn', '-flush_packets', '1', '-f', 's16le', '-ar', String(SAMPLE_RATE), '-ac', '2', 'pipe:1'],
    });
    this.#process = process;
    process.child.stdin.write(this.#framing.head);
    process.child.stdout.on('data', (chunk: Buffer) => {
      this.#chunks.push(chunk);
      this.#bytes += chunk.length;
      const max = MAX_AUDIO_BUFFER_MS * AUDIO_BYTES_PER_MS;
      if (this.#bytes > max) this.#drop(this.#bytes - max / 2);
    });
  }

  /** Adds the next `out.length` bytes of this stream's audio into `out` (s16le stereo); silence when dry. */
  mixInto(out: Int16Array, scratch: Buffer): void {
    const need = out.length * 2;
    if (!this.#primed) {
      if (this.#bytes < 60 * AUDIO_BYTES_PER_MS) return;
      this.#primed = true;
    }
    if (this.#bytes < need) {
      this.#primed = false;
      return;
    }
    this.#read(scratch, need);
    for (let i = 0; i < out.length; i++) out[i] = Math.max(-32768, Math.min(32767, out[i]! + scratch.readInt16LE(i * 2)));
  }

  #read(into: Buffer, n: number): void {
    let off = 0;
    while (off < n) {
      const head = this.#chunks[0]!;
      const take = Math.min(head.length, n - off);
      head.copy(into, off, 0, take);
      off += take;
      if (take === head.length) this.#chunks.shift();
      else this.#chunks[0] = head.subarray(take);
    }
    this.#bytes -= n;
  }

  #drop(n: number): void {
    n -= n % 4;
    while (n > 0 && this.#chunks.length > 0) {
      const head = this.#chunks[0]!;
      if (head.length <= n) {
        this.#chunks.shift();
        this.#bytes -= head.length;
        n -= head.length;
      } else {
        this.#chunks[0] = head.subarray(n);
        this.#bytes -= n;
        n = 0;
      }
    }
  }

  override close(): void {
    super.close();
    this.#process?.kill();
    this.#process = null;
  }
}
