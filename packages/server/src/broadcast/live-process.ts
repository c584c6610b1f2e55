// One long-running ffmpeg child of a live broadcast (never through a shell): its pipes, the tail of
// its stderr for the log, `-progress` key/values, and an end that is graceful first (stdin closed,
// ffmpeg writes its trailers) and forced after a grace period. Unlike archiving's batch ffmpeg
// runs, these are real-time work and keep the normal CPU priority.

import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import type { Logger } from '../logger.js';

const STDERR_TAIL = 2000;

export interface LiveProcessOptions {
  args: string[];
  logger: Logger;
  /** What this process is, for the log ("video decoder", "rtmp relay"…). */
  what: string;
  /** Extra pipes after stdin/stdout/stderr (fd 3, 4…), for inputs ffmpeg reads as pipe:3… */
  extraInputs?: number;
}

export class LiveProcess {
  readonly child: ChildProcessByStdio<Writable, Readable, Readable>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
  readonly extra: Writable[] = [];
  #stderr = '';
  #ended = false;
  #stopping = false;

  constructor(options: LiveProcessOptions) {
    const stdio: Array<'pipe'> = ['pipe', 'pipe', 'pipe'];
    for (let i = 0; i < (options.extraInputs ?? 0); i++) stdio.push('pipe');
    this.child = spawn('ffmpeg', ['-hide_banner', '-nostdin', '-loglevel', 'warning', ...options.args], { stdio }) as unknown as ChildProcessByStdio<Writable, Readable, Readable>;
    for (let i = 0; i < (options.extraInputs ?? 0); i++) this.extra.push(this.child.stdio[3 + i] as Writable);
    // A pipe that closes under a write (the process died) is reported by `exited`, not thrown.
    for (const w of [this.child.stdin, ...this.extra]) w.on('error', () => {});
    this.child.stderr.on('data', (chunk: Buffer) => {
      this.#stderr = (this.#stderr + chunk.toString()).slice(-STDERR_TAIL);
    });
    this.exited = new Promise((resolve) => {
      this.child.once('error', (err) => {
        this.#stderr += `\ncannot run ffmpeg: ${err.message}`;
      });
      this.child.once('close', (code, signal) => {
        this.#ended = true;
        if (code !== 0 && !this.#stopping) options.logger.warn({ what: options.what, code, signal, stderr: this.#stderr.trim().split('\n').slice(-3).join(' | ') }, 'live ffmpeg exited');
        resolve({ code, signal, stderr: this.#stderr });
      });
    });
  }

  get running(): boolean {
    return !this.#ended;
  }

  get stderrTail(): string {
    return this.#stderr;
  }

  /**
   * Ends the process: its inputs are closed (ffmpeg drains and writes its trailer); past
   * `graceMs` it is killed. Resolves when it has exited.
   */
  async stop(graceMs = 5000): Promise<void> {
    this.#stopping = true;
    if (this.#ended) return;
    this.child.stdin.end();
    for (const w of this.extra) w.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  /** Kills at once (the output is abandoned). */
  kill(): void {
    this.#stopping = true;
    if (!this.#ended) this.child.kill('SIGKILL');
  }
}
