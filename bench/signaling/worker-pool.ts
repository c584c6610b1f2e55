// The client processes of the signaling benchmarks (signaling-suite.ts, cluster/signaling.bench.ts):
// each a signaling-worker.js holding thousands of connections, driven by requests over IPC.

import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { SignalingWorkerRequest } from './signaling-worker.js';

export class WorkerPool {
  readonly #children: ChildProcess[] = [];
  readonly #pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  #re = 1;

  constructor(count: number) {
    const path = fileURLToPath(new URL('./signaling-worker.js', import.meta.url));
    for (let i = 0; i < count; i++) {
      const child = fork(path, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      child.on('message', (m: { re: number; ok: boolean; result?: unknown; error?: string }) => {
        const p = this.#pending.get(m.re);
        this.#pending.delete(m.re);
        if (m.ok) p?.resolve(m.result);
        else p?.reject(new Error(m.error));
      });
      this.#children.push(child);
    }
  }

  get size(): number {
    return this.#children.length;
  }

  call<T>(index: number, request: SignalingWorkerRequest): Promise<T> {
    const re = this.#re++;
    return new Promise((resolve, reject) => {
      this.#pending.set(re, { resolve: resolve as (v: unknown) => void, reject });
      this.#children[index]!.send({ ...request, re });
    });
  }

  all<T>(request: SignalingWorkerRequest | ((i: number) => SignalingWorkerRequest)): Promise<T[]> {
    return Promise.all(this.#children.map((_, i) => this.call<T>(i, typeof request === 'function' ? request(i) : request)));
  }

  close(): void {
    for (const c of this.#children) c.kill();
  }
}
