// Running Debian's ffmpeg/ffprobe as child processes (never through a shell): progress from
// `-progress pipe:1`, the tail of stderr for error messages, and cancellation.

import { execFile, spawn } from 'node:child_process';
import { constants, setPriority } from 'node:os';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export interface FfmpegProgress {
  /** Seconds of output written so far. */
  outSeconds: number;
  /** Encoding speed relative to real time (e.g. 2.5), or null when ffmpeg has not said yet. */
  speed: number | null;
}

export interface FfmpegRun {
  /** Resolves when ffmpeg exits 0; rejects with its last error lines otherwise (or when cancelled). */
  done: Promise<void>;
  /** Kills ffmpeg (SIGKILL); `done` rejects with a cancellation error. */
  cancel(): void;
}

export class FfmpegError extends Error {
  override name = 'FfmpegError';
  readonly cancelled: boolean;
  constructor(message: string, cancelled = false) {
    super(message);
    this.cancelled = cancelled;
  }
}

const STDERR_TAIL = 4000;

export function runFfmpeg(args: string[], onProgress?: (p: FfmpegProgress) => void, binary = 'ffmpeg'): FfmpegRun {
  const child = spawn(binary, ['-hide_banner', '-nostdin', '-nostats', '-progress', 'pipe:1', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  // Compositions are batch work: they must never take the CPU from the real-time media path
  // (recorders, the SFU) running in this machine's other processes and threads.
  if (child.pid !== undefined) {
    try {
      setPriority(child.pid, constants.priority.PRIORITY_BELOW_NORMAL);
    } catch {
      // Not permitted here: run at normal priority.
    }
  }
  let stderr = '';
  let cancelled = false;
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-STDERR_TAIL);
  });
  child.stdout.on(
    'data',
    progressParser((values) => {
      // ffmpeg 5 prints out_time_us and, despite its name, microseconds in out_time_ms too.
      const us = values.get('out_time_us');
      if (us === undefined || !/^\d+$/.test(us)) return;
      const speed = values.get('speed');
      onProgress?.({ outSeconds: Number(us) / 1e6, speed: speed !== undefined && /^[\d.]+x$/.test(speed) ? Number(speed.slice(0, -1)) : null });
    }),
  );
  const done = new Promise<void>((resolve, reject) => {
    child.once('error', (err) => reject(new FfmpegError(`cannot run ${binary}: ${err.message}`)));
    child.once('close', (code, signal) => {
      if (cancelled) return reject(new FfmpegError(`${binary} cancelled`, true));
      if (code === 0) return resolve();
      const lines = stderr
        .split('\n')
        .map((l) => l.trim())
        .filter(Boolean)
        .slice(-5)
        .join(' | ');
      reject(new FfmpegError(`${binary} exited with ${code ?? signal}: ${lines || 'no error output'}`));
    });
  });
  return {
    done,
    cancel() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      cancelled = true;
      child.kill('SIGKILL');
    },
  };
}

export interface ProbedFile {
  /** Seconds; the demuxer's start time (ffmpeg subtracts it from every timestamp). */
  startTime: number;
  duration: number | null;
  hasAudio: boolean;
  hasVideo: boolean;
}

export async function probeFile(path: string): Promise<ProbedFile> {
  const { stdout } = await execFileP('ffprobe', ['-v', 'error', '-print_format', 'json', '-show_entries', 'format=start_time,duration:stream=codec_type', path], {
    maxBuffer: 1024 * 1024,
  });
  const json = JSON.parse(stdout) as { format?: { start_time?: string; duration?: string }; streams?: Array<{ codec_type?: string }> };
  const startTime = Number(json.format?.start_time ?? 0);
  const duration = json.format?.duration !== undefined ? Number(json.format.duration) : null;
  return {
    startTime: Number.isFinite(startTime) ? startTime : 0,
    duration: duration !== null && Number.isFinite(duration) ? duration : null,
    hasAudio: !!json.streams?.some((s) => s.codec_type === 'audio'),
    hasVideo: !!json.streams?.some((s) => s.codec_type === 'video'),
  };
}

/** Parses ffmpeg's `-progress pipe:1` output into blocks (one per `progress=` line). */
export function progressParser(onBlock: (values: Map<string, string>) => void): (chunk: Buffer) => void {
  let pending = '';
  let block = new Map<string, string>();
  return (chunk) => {
    pending += chunk.toString();
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl).trim();
      pending = pending.slice(nl + 1);
      const eq = line.indexOf('=');
      if (eq < 0) continue;
      block.set(line.slice(0, eq), line.slice(eq + 1));
      if (line.startsWith('progress=')) {
        onBlock(block);
        block = new Map();
      }
    }
  };
}
