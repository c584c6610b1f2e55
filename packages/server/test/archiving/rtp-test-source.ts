// A TEST media source, honest about being one: ffmpeg encodes lavfi test patterns (testsrc or a
// solid colour, a sine tone) to real RTP (VP8 or H.264 packetization-mode 1, Opus) over loopback
// UDP, and this class hands the parsed werift RtpPackets to archiving through the same
// ArchiveMediaSource interface the SFU will implement. Keyframe requests are counted (ffmpeg cannot
// answer them; it sends a keyframe every half second instead).

import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { RtpPacket } from 'werift';
import type { ArchiveMediaSource, ArchiveStream } from '../../src/archiving/interfaces.js';

export interface TestStreamOptions {
  streamId: string;
  /** Session the stream is published in (default: the source's). */
  sessionId?: string;
  video?: 'VP8' | 'H264' | null;
  audio?: boolean;
  /** lavfi video source, e.g. `testsrc=size=640x480:rate=30` or `color=c=red:size=320x240:rate=30`. */
  videoSource?: string;
  /** Sine tone frequency (Hz). */
  toneHz?: number;
  /** lavfi audio source instead of the plain tone. */
  audioSource?: string;
  /** Frames between keyframes (default 15: two a second). */
  keyframeInterval?: number;
  /** Seconds ffmpeg runs (it stops by itself). */
  seconds: number;
  videoType?: ArchiveStream['videoType'];
  layoutClassList?: string[];
  connectionData?: string;
}

interface RunningStream {
  sessionId: string;
  info: ArchiveStream;
  ffmpeg: ChildProcess;
  sockets: Socket[];
  packets: { audio: number; video: number };
  /** Video frames sent (packets with the marker bit). */
  videoFrames: number;
  stderr: string;
  exited: Promise<void>;
  startedAt: number;
}

export class TestRtpSource implements ArchiveMediaSource {
  readonly sessionId: string;
  readonly #streams = new Map<string, RunningStream>();
  readonly #listeners = new Map<string, Set<(p: RtpPacket) => void>>();
  readonly keyFrameRequests = new Map<string, number>();
  /** Optional packet filter for loss/reordering tests: returns the packets to deliver now. */
  transform: ((producerId: string, packet: RtpPacket) => RtpPacket[]) | null = null;

  constructor(sessionId: string) {
    this.sessionId = sessionId;
  }

  listStreams(sessionId: string): ArchiveStream[] {
    return [...this.#streams.values()].filter((s) => s.sessionId === sessionId).map((s) => s.info);
  }

  subscribe(producerId: string, onPacket: (packet: RtpPacket) => void): () => void {
    let set = this.#listeners.get(producerId);
    if (!set) this.#listeners.set(producerId, (set = new Set()));
    set.add(onPacket);
    return () => set!.delete(onPacket);
  }

  requestKeyFrame(producerId: string): void {
    this.keyFrameRequests.set(producerId, (this.keyFrameRequests.get(producerId) ?? 0) + 1);
  }

  subscriberCount(producerId: string): number {
    return this.#listeners.get(producerId)?.size ?? 0;
  }

  stream(streamId: string): RunningStream | undefined {
    return this.#streams.get(streamId);
  }

  /** Changes a live stream's layout classes (as PUT …/stream would). */
  setClasses(streamId: string, layoutClassList: string[]): ArchiveStream {
    const running = this.#streams.get(streamId);
    if (!running) throw new Error(`no stream ${streamId}`);
    running.info = { ...running.info, layoutClassList };
    return running.info;
  }

  /** Starts ffmpeg for one stream and resolves once its first packets arrived. */
  async addStream(options: TestStreamOptions): Promise<ArchiveStream> {
    const video = options.video === undefined ? 'VP8' : options.video;
    const audio = options.audio ?? true;
    const info: ArchiveStream = {
      streamId: options.streamId,
      connectionId: `conn-${options.streamId}`,
      connectionData: options.connectionData ?? `name=${options.streamId}`,
      videoType: options.videoType ?? 'camera',
      name: options.streamId,
      layoutClassList: options.layoutClassList ?? [],
      createdAt: Date.now(),
      audio: audio ? { producerId: `${options.streamId}-audio`, kind: 'audio', codec: 'opus', clockRate: 48000, channels: 2 } : null,
      video: video ? { producerId: `${options.streamId}-video`, kind: 'video', codec: video, clockRate: 90000 } : null,
    };
    const sockets: Socket[] = [];
    const bind = async (onMessage?: (msg: Buffer) => void) => {
      const socket = createSocket('udp4');
      if (onMessage) socket.on('message', onMessage);
      await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
      socket.setRecvBufferSize(4 * 1024 * 1024); // a busy test process must not drop loopback packets
      sockets.push(socket);
      return socket.address().port;
    };
    const packets = { audio: 0, video: 0 };
    // Assigned once ffmpeg is spawned; the socket handlers only run after that.
    let running: RunningStream;
    let firstPacket!: () => void;
    const gotFirst = new Promise<void>((resolve) => (firstPacket = resolve));
    const deliver = (track: 'audio' | 'video', producerId: string) => (msg: Buffer) => {
      const pt = msg[1]! & 0x7f;
      if (pt >= 72 && pt <= 76) return; // RTCP on the RTP port
      packets[track]++;
      if (track === 'video' && (msg[1]! & 0x80) !== 0) running.videoFrames++;
      firstPacket();
      let out = [RtpPacket.deSerialize(msg)];
      if (this.transform) out = this.transform(producerId, out[0]!);
      for (const packet of out) for (const listener of this.#listeners.get(producerId) ?? []) listener(packet);
    };
    const args = ['-hide_banner', '-loglevel', 'error', '-nostdin'];
    if (video) args.push('-re', '-f', 'lavfi', '-i', `${options.videoSource ?? 'testsrc=size=640x480:rate=30'}`);
    if (audio) args.push('-re', '-f', 'lavfi', '-i', options.audioSource ?? `sine=frequency=${options.toneHz ?? 440}:sample_rate=48000`);
    // -t is an output option: each output gets it, so ffmpeg ends by itself even if nobody kills it.
    const duration = ['-t', String(options.seconds)];
    const gop = String(options.keyframeInterval ?? 15);
    if (video) {
      const port = await bind(deliver('video', info.video!.producerId));
      const rtcp = await bind();
      args.push(...duration, '-map', '0:v');
      // A negative cpu-used is a fixed speed; a positive one lets libvpx spend a share of each frame's
      // time, which starves a loaded test machine.
      if (video === 'VP8') args.push('-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '-16', '-b:v', '600k', '-g', gop, '-keyint_min', gop);
      // Chrome sends SPS/PPS with every IDR; repeat-headers does the same here.
      else args.push('-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-profile:v', 'baseline', '-pix_fmt', 'yuv420p', '-g', gop, '-x264-params', 'repeat-headers=1', '-b:v', '600k');
      args.push('-payload_type', video === 'VP8' ? '96' : '102', '-ssrc', '1111', '-f', 'rtp', `rtp://127.0.0.1:${port}?rtcpport=${rtcp}&pkt_size=1200`);
    }
    if (audio) {
      const port = await bind(deliver('audio', info.audio!.producerId));
      const rtcp = await bind();
      args.push(...duration, '-map', `${video ? 1 : 0}:a`, '-c:a', 'libopus', '-b:a', '48k', '-application', 'voip', '-frame_duration', '20');
      args.push('-payload_type', '111', '-ssrc', '2222', '-f', 'rtp', `rtp://127.0.0.1:${port}?rtcpport=${rtcp}&pkt_size=1200`);
    }
    const ffmpeg = spawn('ffmpeg', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    running = { sessionId: options.sessionId ?? this.sessionId, info, ffmpeg, sockets, packets, videoFrames: 0, stderr: '', exited: undefined as unknown as Promise<void>, startedAt: performance.now() };
    ffmpeg.stderr!.on('data', (d: Buffer) => (running.stderr += d.toString()));
    running.exited = new Promise((resolve) => ffmpeg.once('exit', () => resolve()));
    this.#streams.set(options.streamId, running);
    await Promise.race([
      gotFirst,
      running.exited.then(() => {
        throw new Error(`ffmpeg exited before sending RTP: ${running.stderr}`);
      }),
    ]);
    return info;
  }

  /**
   * Resolves once the stream has sent `ms` more of media on each of its tracks (Opus packets are
   * 20 ms; video counts 30 fps frames): tests wait for media, not wall time, so that a loaded
   * machine slowing the sender down (video encoding most) does not leave them with less media than
   * they assert on.
   */
  async waitForMedia(streamId: string, ms: number, timeoutMs = 60_000): Promise<void> {
    const running = this.#streams.get(streamId);
    if (!running) throw new Error(`no stream ${streamId}`);
    const audioMs = () => running.packets.audio * 20;
    const videoMs = () => (running.videoFrames * 1000) / 30;
    const audioTarget = audioMs() + ms;
    const videoTarget = videoMs() + ms;
    // Media sent since the call on the slower track.
    const count = () =>
      ms - Math.max(0, running.info.audio ? audioTarget - audioMs() : 0, running.info.video ? videoTarget - videoMs() : 0);
    const target = ms;
    const deadline = performance.now() + timeoutMs;
    while (count() < target) {
      if (performance.now() > deadline) throw new Error(`stream ${streamId} sent ${count()} of ${target} ms of media in ${timeoutMs} ms`);
      if (running.ffmpeg.exitCode !== null) throw new Error(`ffmpeg for ${streamId} exited: ${running.stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Stops a stream's ffmpeg and sockets (the stream is then unpublished). */
  async removeStream(streamId: string): Promise<void> {
    const running = this.#streams.get(streamId);
    if (!running) return;
    this.#streams.delete(streamId);
    if (process.env['DEBUG_RTP']) {
      const seconds = (performance.now() - running.startedAt) / 1000;
      console.log(`source ${streamId}: ${running.packets.audio} audio packets in ${seconds.toFixed(1)} s (${Math.round((running.packets.audio / 50 / seconds) * 100)}% of real time)`);
    }
    running.ffmpeg.kill('SIGKILL');
    await running.exited;
    for (const socket of running.sockets) socket.close();
  }

  async close(): Promise<void> {
    await Promise.all([...this.#streams.keys()].map((id) => this.removeStream(id)));
  }
}
