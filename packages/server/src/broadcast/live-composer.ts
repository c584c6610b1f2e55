// The live composer: a session's streams composed into one picture and one mix in real time, with
// the archives' layouts (archiving/layout.ts, custom stylesheets included), and encoded ONCE (H.264
// + AAC in MPEG-TS) for every output of the broadcast. Each stream is decoded by its own ffmpeg
// (stream-decoder.ts) straight into the size of its box; this process paints the boxes on the
// canvas in z order and sums the audio at a steady 30 frames and 50 audio blocks a second of wall
// clock, and one ffmpeg encoder reads the raw picture (stdin) and the mix (fd 3). A layout change or
// a stream joining only changes where pictures are painted, so the encoded output never restarts.
// A SIP video call uses the same composer with another encoding: VP8 alone, as RTP to a UDP port
// (`encoding: { kind: 'vp8-rtp' }`), the phone's picture of the session.

import type { Logger } from '../logger.js';
import type { ArchiveMediaSource, ArchiveStream } from '../archiving/interfaces.js';
import { computeLayout, prioritize, type ArchiveLayout, type Box } from '../archiving/layout.js';
import { LiveProcess } from './live-process.js';
import { AUDIO_BYTES_PER_MS, AudioDecoder, SAMPLE_RATE, VideoDecoder } from './stream-decoder.js';

export const FPS = 30;
/** One audio block of the mix: 20 ms. */
const AUDIO_BLOCK_MS = 20;
const TICK_MS = 10;
/** Raw frames waiting in the encoder's pipe before the composer skips (the encoder is too slow). */
const MAX_QUEUED_FRAMES = 15;

export interface LiveComposerOptions {
  width: number;
  height: number;
  hasAudio: boolean;
  hasVideo: boolean;
  /** Video bits per second. */
  videoBitrate: number;
  /** Keyframe interval, seconds (HLS segments are cut on keyframes). */
  gopSeconds: number;
  x264Preset: string;
  media: ArchiveMediaSource;
  logger: Logger;
  /**
   * What the encoder makes: H.264 + AAC in MPEG-TS handed to `onData` (broadcasts; the default), or
   * VP8 alone (no audio) sent by ffmpeg's RTP muxer to `url` (rtp://host:port), packets of at most
   * `maxPacketSize` bytes, RTCP sender reports on the same port.
   */
  encoding?: { kind: 'mpegts' } | { kind: 'vp8-rtp'; url: string; payloadType: number; ssrc: number; maxPacketSize: number };
  /** The encoded MPEG-TS, as it comes (unused with `vp8-rtp`). */
  onData: (chunk: Buffer) => void;
  /** The encoder died (the broadcast cannot go on). */
  onFailure: (message: string) => void;
}

/** A stream in the composition, and what of it is used. */
export interface ComposedStream {
  stream: ArchiveStream;
  hasAudio: boolean;
  hasVideo: boolean;
  /** When it joined the broadcast (ms): the prioritization tie-break. */
  addedAt: number;
}

interface Member {
  streamId: string;
  video: VideoDecoder | null;
  audio: AudioDecoder | null;
  box: Box | null;
}

export class LiveComposer {
  readonly #o: LiveComposerOptions;
  readonly #log: Logger;
  readonly #members = new Map<string, Member>();
  #layout: ArchiveLayout;
  #streams: ComposedStream[] = [];
  #encoder: LiveProcess | null = null;
  #timer: NodeJS.Timeout | undefined;
  #t0 = 0;
  #videoFrames = 0;
  #audioBlocks = 0;
  readonly #canvas: Buffer;
  readonly #mix: Int16Array;
  readonly #mixBytes: Buffer;
  readonly #scratch: Buffer;
  #stopped = false;
  framesSkipped = 0;

  constructor(options: LiveComposerOptions, layout: ArchiveLayout) {
    this.#o = options;
    this.#log = options.logger;
    this.#layout = layout;
    this.#canvas = Buffer.alloc((options.width * options.height * 3) / 2);
    const blockBytes = AUDIO_BLOCK_MS * AUDIO_BYTES_PER_MS;
    this.#mixBytes = Buffer.alloc(blockBytes);
    this.#mix = new Int16Array(this.#mixBytes.buffer, this.#mixBytes.byteOffset, blockBytes / 2);
    this.#scratch = Buffer.alloc(blockBytes);
  }

  /** Starts the encoder and the clock. */
  start(): void {
    const { width, height, videoBitrate, gopSeconds } = this.#o;
    const rtp = this.#o.encoding?.kind === 'vp8-rtp' ? this.#o.encoding : null;
    if (rtp && this.#o.hasAudio) throw new Error('the VP8 RTP encoding carries no audio');
    const gop = String(Math.max(1, Math.round(gopSeconds * FPS)));
    const args = ['-f', 'rawvideo', '-pix_fmt', 'yuv420p', '-s', `${width}x${height}`, '-framerate', String(FPS), '-i', 'pipe:0'];
    if (this.#o.hasAudio) args.push('-f', 's16le', '-ar', String(SAMPLE_RATE), '-ac', '2', '-i', 'pipe:3');
    if (rtp) {
      // Real-time VP8 for a phone: no look-ahead frames, error-resilient (a lost packet spoils less),
      // keyframes every GOP (ffmpeg cannot be asked for one while it runs; see sip/README.md).
      args.push('-map', '0:v', '-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8', '-lag-in-frames', '0', '-error-resilient', '1', '-auto-alt-ref', '0', '-threads', '1');
      args.push('-g', gop, '-keyint_min', gop, '-b:v', String(videoBitrate), '-maxrate', String(videoBitrate), '-bufsize', String(videoBitrate));
      // ffmpeg's -ssrc is a signed 32-bit option: the same 32 bits, written as a signed number.
      args.push('-f', 'rtp', '-payload_type', String(rtp.payloadType), '-ssrc', String(rtp.ssrc | 0), `${rtp.url}?pkt_size=${rtp.maxPacketSize}&rtcpport=${new URL(rtp.url).port}`);
    } else {
      if (this.#o.hasVideo) {
        args.push('-map', '0:v', '-c:v', 'libx264', '-preset', this.#o.x264Preset, '-tune', 'zerolatency', '-profile:v', 'high', '-pix_fmt', 'yuv420p');
        args.push('-g', gop, '-keyint_min', gop, '-sc_threshold', '0', '-b:v', String(videoBitrate), '-maxrate', String(videoBitrate), '-bufsize', String(videoBitrate));
      }
      if (this.#o.hasAudio) args.push('-map', '1:a', '-c:a', 'aac', '-b:a', '128k', '-ar', String(SAMPLE_RATE), '-ac', '2');
      args.push('-muxdelay', '0', '-muxpreload', '0', '-flush_packets', '1', '-f', 'mpegts', 'pipe:1');
    }
    const encoder = new LiveProcess({ what: rtp ? 'SIP video encoder' : 'broadcast encoder', logger: this.#log, args, extraInputs: this.#o.hasAudio ? 1 : 0 });
    this.#encoder = encoder;
    // With RTP, stdout only carries ffmpeg's SDP: read and dropped.
    encoder.child.stdout.on('data', (chunk: Buffer) => (rtp ? undefined : this.#o.onData(chunk)));
    void encoder.exited.then(({ code, stderr }) => {
      if (!this.#stopped) this.#o.onFailure(`the encoder exited with ${code}: ${stderr.trim().split('\n').slice(-2).join(' | ') || 'no error output'}`);
    });
    this.#clearCanvas();
    this.#t0 = performance.now();
    this.#timer = setInterval(() => this.#tick(), TICK_MS);
  }

  /** The streams to compose (already filtered by stream mode and the broadcast's audio/video). */
  setStreams(streams: ComposedStream[]): void {
    this.#streams = streams;
    this.#relayout();
  }

  setLayout(layout: ArchiveLayout): void {
    this.#layout = layout;
    this.#relayout();
  }

  /** Streams in the composition now, as the REST `streams` field shows them. */
  streams(): Array<{ streamId: string; hasAudio: boolean; hasVideo: boolean }> {
    return this.#streams.map((s) => ({ streamId: s.stream.streamId, hasAudio: s.hasAudio, hasVideo: s.hasVideo }));
  }

  #relayout(): void {
    if (this.#stopped) return;
    const { width, height, media } = this.#o;
    const wanted = new Map(this.#streams.map((s) => [s.stream.streamId, s]));
    for (const [id, member] of this.#members) {
      if (!wanted.has(id)) {
        member.video?.close();
        member.audio?.close();
        this.#members.delete(id);
      }
    }
    const withVideo = this.#o.hasVideo ? this.#streams.filter((s) => s.hasVideo && s.stream.video) : [];
    const ordered = prioritize(
      withVideo.map((s) => ({ streamId: s.stream.streamId, connectionId: s.stream.connectionId, videoType: s.stream.videoType, layoutClassList: s.stream.layoutClassList, addedAt: s.addedAt })),
    );
    const boxes = new Map(computeLayout(this.#layout, ordered, width, height).map((b) => [b.streamId, b]));
    for (const s of this.#streams) {
      const id = s.stream.streamId;
      let member = this.#members.get(id);
      if (!member) {
        member = { streamId: id, video: null, audio: null, box: null };
        this.#members.set(id, member);
      }
      // Audio: a decoder per producer; a replaced producer (new track) gets a new one.
      const audioTrack = this.#o.hasAudio && s.hasAudio ? s.stream.audio : null;
      if (member.audio && member.audio.track.producerId !== audioTrack?.producerId) {
        member.audio.close();
        member.audio = null;
      }
      if (audioTrack && !member.audio) member.audio = new AudioDecoder(audioTrack, media, this.#log);
      // Video: decoded at its box's size; no box (beyond 16 streams, or `focus` on another) no decoder.
      const box = boxes.get(id) ?? null;
      const videoTrack = box ? s.stream.video : null;
      if (member.video && member.video.track.producerId !== videoTrack?.producerId) {
        member.video.close();
        member.video = null;
      }
      if (videoTrack && box) {
        const size = { width: Math.min(box.width, width), height: Math.min(box.height, height), fit: box.fit };
        if (member.video) member.video.resize(size);
        else member.video = new VideoDecoder(videoTrack, media, size, this.#log);
      }
      member.box = box;
    }
  }

  #tick(): void {
    const encoder = this.#encoder;
    if (!encoder || this.#stopped) return;
    const elapsed = performance.now() - this.#t0;
    const frameDue = Math.floor((elapsed * FPS) / 1000);
    const blocksDue = Math.floor(elapsed / AUDIO_BLOCK_MS);
    // Video and audio advance together, so their timestamps (frame and sample counts) stay in step.
    while (this.#o.hasAudio && this.#audioBlocks < blocksDue) {
      this.#mixBlock();
      encoder.extra[0]!.write(Buffer.from(this.#mixBytes));
      this.#audioBlocks++;
    }
    while (this.#videoFrames < frameDue) {
      const stdin = encoder.child.stdin;
      if (stdin.writableLength > MAX_QUEUED_FRAMES * this.#canvas.length) {
        // The encoder is behind (an overloaded machine): repeat nothing, skip this frame's time.
        this.framesSkipped++;
        this.#videoFrames = frameDue;
        break;
      }
      this.#paint();
      stdin.write(Buffer.from(this.#canvas));
      this.#videoFrames++;
    }
  }

  #mixBlock(): void {
    this.#mix.fill(0);
    for (const member of this.#members.values()) member.audio?.mixInto(this.#mix, this.#scratch);
  }

  #clearCanvas(): void {
    const { width, height } = this.#o;
    const luma = width * height;
    // Video black: Y 16, U and V 128.
    this.#canvas.fill(16, 0, luma);
    this.#canvas.fill(128, luma);
  }

  /** Paints every stream's latest picture into its box, lowest z first. */
  #paint(): void {
    this.#clearCanvas();
    const { width: W, height: H } = this.#o;
    const members = [...this.#members.values()].filter((m) => m.box && m.video?.latest && m.video.latestSize);
    members.sort((a, b) => a.box!.z - b.box!.z);
    for (const m of members) {
      const box = m.box!;
      const size = m.video!.latestSize!;
      // A picture decoded for another box size (a decoder restarting after a layout change) waits.
      if (size.width !== m.video!.size.width || size.height !== m.video!.size.height) continue;
      copyPlane(m.video!.latest!, 0, size.width, size.height, this.#canvas, 0, W, H, box.x, box.y);
      const srcU = size.width * size.height;
      const srcV = srcU + (size.width / 2) * (size.height / 2);
      const dstU = W * H;
      const dstV = dstU + (W / 2) * (H / 2);
      copyPlane(m.video!.latest!, srcU, size.width / 2, size.height / 2, this.#canvas, dstU, W / 2, H / 2, box.x / 2, box.y / 2);
      copyPlane(m.video!.latest!, srcV, size.width / 2, size.height / 2, this.#canvas, dstV, W / 2, H / 2, box.x / 2, box.y / 2);
    }
  }

  stats(): Record<string, unknown> {
    return {
      videoFrames: this.#videoFrames,
      framesSkipped: this.framesSkipped,
      streams: [...this.#members.values()].map((m) => ({ streamId: m.streamId, box: m.box, videoPacketsIn: m.video?.packetsIn ?? 0, videoFramesIn: m.video?.framesIn ?? 0, keyframeRequests: m.video?.keyframeRequests ?? 0, videoFramesDecoded: m.video?.framesOut ?? 0, decoderErrors: m.video?.stderrTail, audioFramesIn: m.audio?.framesIn ?? 0 })),
    };
  }

  /** Stops the clock and the decoders; the encoder flushes what it has. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#timer);
    for (const m of this.#members.values()) {
      m.video?.close();
      m.audio?.close();
    }
    this.#members.clear();
    await this.#encoder?.stop(5000);
  }
}

/** Copies a w×h plane into a W×H plane at (x, y), clipped to the destination. */
function copyPlane(src: Buffer, srcOffset: number, w: number, h: number, dst: Buffer, dstOffset: number, W: number, H: number, x: number, y: number): void {
  const cols = Math.min(w, W - x);
  if (cols <= 0) return;
  for (let row = 0; row < h && y + row < H; row++) {
    const s = srcOffset + row * w;
    src.copy(dst, dstOffset + (y + row) * W + x, s, s + cols);
  }
}
