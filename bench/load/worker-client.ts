// One load-generator worker process (worker.ts) seen from the process that drives it: requests
// and their replies matched by number, the events it sends unasked, and an orderly shutdown (a
// worker that hangs is killed). The load coordinator (load-run.ts) and the impairment benchmark's
// light subscribers (media/impairment-load-subscribers.ts) both drive workers through it.

import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { WorkerFirstFrame, WorkerProgress, WorkerReply, WorkerRequest } from './worker-protocol.js';

const WORKER_PATH = fileURLToPath(new URL('./worker.js', import.meta.url));

export type WorkerEvent = WorkerProgress | WorkerFirstFrame;

export class WorkerClient {
  readonly child: ChildProcess;
  #exited = false;
  #nextRe = 1;
  readonly #pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();

  /** `name` says which worker in errors; `onEvent` gets what it reports unasked (progress, first frames). */
  constructor(readonly name: string, onEvent: (event: WorkerEvent) => void = () => {}, execArgv: string[] = []) {
    this.child = fork(WORKER_PATH, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv });
    this.child.on('message', (raw) => {
      const m = raw as WorkerReply | WorkerEvent;
      if ('event' in m) {
        onEvent(m);
        return;
      }
      const p = this.#pending.get(m.re);
      if (!p) return;
      this.#pending.delete(m.re);
      if (m.ok) p.resolve(m.result);
      else p.reject(new Error(m.error));
    });
    this.child.on('exit', (code) => {
      this.#exited = true;
      for (const p of this.#pending.values()) p.reject(new Error(`${this.name} exited (${code})`));
      this.#pending.clear();
    });
  }

  get exited(): boolean {
    return this.#exited;
  }

  request(request: WorkerRequest): Promise<unknown> {
    if (this.#exited) return Promise.reject(new Error(`${this.name} has exited`));
    const re = this.#nextRe++;
    return new Promise((resolve, reject) => {
      this.#pending.set(re, { resolve, reject });
      this.child.send({ ...request, re });
    });
  }

  /** Asks the worker to leave its participants and exit; kills it if it hangs. */
  async shutdown(): Promise<void> {
    if (this.#exited) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    const hung = setTimeout(() => this.child.kill('SIGKILL'), 15_000);
    await this.request({ op: 'shutdown' }).catch(() => {});
    clearTimeout(hung);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  }
}
