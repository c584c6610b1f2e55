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
  let pending = '';
  let current: Partial<FfmpegProgress> = {};
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-STDERR_TAIL);
  });
  child.stdout.on('data', (chunk: Buffer) => {
    pending += chunk.toString();
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl).trim();
      pending = pending.slice(nl + 1);
      const eq = line.indexOf('=');
      if (eq < 0) continue;
      const key = line.slice(0, eq);
      const value = line.slice(eq + 1);
      // ffmpeg 5 prints out_time_us and, despite its name, microseconds in out_time_ms too.
      if (key === 'out_time_us' && /^\d+$/.test(value)) current.outSeconds = Number(value) / 1e6;
      else if (key === 'speed') current.speed = /^[\d.]+x$/.test(value) ? Number(value.slice(0, -1)) : null;
      else if (key === 'progress') {
        if (current.outSeconds !== undefined) onProgress?.({ outSeconds: current.outSeconds, speed: current.speed ?? null });
        current = {};
      }
    }
  });
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
