// The outputs of one broadcast: each is an ffmpeg that copies the encoder's MPEG-TS (no second
// encode) into its format — HLS segments on our disk, or FLV pushed to an RTMP server. Each output
// has its own process, so an RTMP server that drops only restarts that target's copy: it goes
// `error`, is retried with a growing delay (`connecting`), and is `live` again once ffmpeg writes to
// it; `offline` once the broadcast stops.

import { join } from 'node:path';
import type { Logger } from '../logger.js';
import { progressParser } from '../archiving/ffmpeg.js';
import { LiveProcess } from './live-process.js';
import type { RtmpStatus } from './broadcast-store.js';

/** MPEG-TS packets are 188 bytes: a (re)started output is fed from a packet boundary. */
const TS_PACKET = 188;
/** Bytes an output may fall behind (a stalled RTMP server) before it is restarted. */
const MAX_BACKLOG = 16 * 1024 * 1024;
const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 30_000;

const TS_INPUT = ['-f', 'mpegts', '-i', 'pipe:0', '-map', '0', '-c', 'copy'];

/** One copy of the encoded stream into one destination, restarted when it fails. */
export class CopyOutput {
  readonly #args: string[];
  readonly #log: Logger;
  readonly #what: string;
  readonly #onStatus: (status: RtmpStatus) => void;
  #process: LiveProcess | null = null;
  #status: RtmpStatus = 'connecting';
  #stopped = false;
  #retryMs = RETRY_MIN_MS;
  #retryTimer: NodeJS.Timeout | undefined;
  /** Set while a (re)started process waits for the next TS packet boundary. */
  #aligned = false;

  constructor(what: string, outputArgs: string[], logger: Logger, onStatus: (status: RtmpStatus) => void) {
    this.#what = what;
    this.#args = [...TS_INPUT, ...outputArgs];
    this.#log = logger;
    this.#onStatus = onStatus;
  }

  get status(): RtmpStatus {
    return this.#status;
  }

  #set(status: RtmpStatus): void {
    if (status === this.#status) return;
    this.#status = status;
    this.#onStatus(status);
  }

  start(): void {
    if (this.#stopped) return;
    this.#set('connecting');
    const process = new LiveProcess({ what: this.#what, logger: this.#log, args: ['-progress', 'pipe:1', '-stats_period', '0.5', ...this.#args] });
    this.#process = process;
    this.#aligned = false;
    process.child.stdout.on(
      'data',
      progressParser((values) => {
        // Bytes written: the destination accepted the connection and the header.
        if (this.#process === process && Number(values.get('total_size') ?? 0) > 0) {
          this.#retryMs = RETRY_MIN_MS;
          this.#set('live');
        }
      }),
    );
    void process.exited.then(({ code }) => {
      if (this.#process !== process || this.#stopped) return;
      this.#process = null;
      this.#log.warn({ what: this.#what, code, retryInMs: this.#retryMs }, 'broadcast output dropped; reconnecting');
      this.#set('error');
      this.#retryTimer = setTimeout(() => this.start(), this.#retryMs);
      this.#retryMs = Math.min(RETRY_MAX_MS, this.#retryMs * 2);
    });
  }

  /** The encoder's next bytes; `offset` is where this chunk starts in the whole TS. */
  feed(chunk: Buffer, offset: number): void {
    const process = this.#process;
    if (!process || !process.running) return;
    const stdin = process.child.stdin;
    if (stdin.writableLength > MAX_BACKLOG) {
      this.#log.warn({ what: this.#what }, 'broadcast output stalled; restarting it');
      process.kill();
      return;
    }
    if (!this.#aligned) {
      const skip = (TS_PACKET - (offset % TS_PACKET)) % TS_PACKET;
      if (skip >= chunk.length) return;
      chunk = chunk.subarray(skip);
      this.#aligned = true;
    }
    stdin.write(chunk);
  }

  /** Ends the output cleanly (ffmpeg writes what it has and its trailer) and marks it `offline`. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#retryTimer);
    await this.#process?.stop(5000);
    this.#process = null;
    this.#status = 'offline';
    this.#onStatus('offline');
  }
}

export interface HlsSettings {
  dvr: boolean;
  lowLatency: boolean;
}

/** Segment length, seconds: low latency 1 s, otherwise 4 s (two 2 s GOPs). */
export function hlsSegmentSeconds(hls: HlsSettings | null): number {
  return hls?.lowLatency ? 1 : 4;
}

/** The encoder's keyframe interval: HLS segments are cut on keyframes. */
export function gopSeconds(hls: HlsSettings | null): number {
  return hls?.lowLatency ? 1 : 2;
}

/** DVR keeps a rolling window of up to two hours (OpenTok's); otherwise the last six segments. */
export const DVR_WINDOW_SECONDS = 7200;
const LIVE_LIST_SIZE = 6;

export function hlsOutputArgs(dir: string, hls: HlsSettings): string[] {
  const segment = hlsSegmentSeconds(hls);
  const listSize = hls.dvr ? Math.ceil(DVR_WINDOW_SECONDS / segment) : LIVE_LIST_SIZE;
  return [
    '-f',
    'hls',
    '-hls_time',
    String(segment),
    '-hls_list_size',
    String(listSize),
    // Segments leaving the playlist are deleted (after a short delay, for players still reading them).
    '-hls_flags',
    'delete_segments+independent_segments+program_date_time+temp_file',
    '-hls_delete_threshold',
    '2',
    '-hls_segment_type',
    'mpegts',
    // Numbers from the clock: an HLS muxer restarted after a failure never reuses a segment name.
    '-hls_start_number_source',
    'epoch',
    '-hls_segment_filename',
    join(dir, 'segment-%d.ts'),
    join(dir, 'index.m3u8'),
  ];
}

/** FLV to `serverUrl/streamName`, as OpenTok composes the RTMP URL. */
export function rtmpOutputArgs(serverUrl: string, streamName: string): string[] {
  const url = `${serverUrl.replace(/\/+$/, '')}/${streamName}`;
  return ['-f', 'flv', '-flvflags', 'no_duration_filesize', url];
}
