// A cluster node's liveness in Redis, kept from a thread of its own (liveness-worker.ts).
//
// Why a thread: the key expires nodeTtlMs (3 s) after its last renewal, and a node whose key
// expired is dead to the cluster: the next client of its sessions re-places them on another node.
// Renewed from the main thread, a node that was only busy for a few seconds (15,000 clients
// joining, a long GC, a loaded machine) lost its key while it still held its sessions' connections:
// the bench of 15,000 signaling connections saw "no node can take this session now" on a single
// busy node. The thread renews while the main thread is late, up to stallMs; a process that dies
// takes the thread with it, so a dead node is still seen within the TTL.

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Logger } from '../logger.js';
import type { LivenessReport, LivenessRequest, LivenessWorkerData } from './liveness-worker.js';
import type { NodeInfo } from './node-registry.js';

export interface NodeLivenessOptions extends LivenessWorkerData {
  /** Publishes from the main thread: used if the liveness thread is gone (it crashed). */
  fallback: (info: NodeInfo) => Promise<void>;
  logger: Logger;
}

export class NodeLiveness {
  readonly #options: NodeLivenessOptions;
  readonly #log: Logger;
  #worker: Worker | null;
  readonly #pending = new Map<number, { resolve(): void; reject(err: Error): void }>();
  #next = 1;
  #closed = false;
  #closing: Promise<void> | null = null;
  /** Times the thread renewed the key while the main thread was late (known after close()). */
  renewedForMain = 0;
  /** The thread stopped renewing after a stall, and the main thread has not published since. */
  lapsed = false;

  constructor(options: NodeLivenessOptions) {
    this.#options = options;
    this.#log = options.logger;
    const url = new URL('./liveness-worker.js', import.meta.url);
    if (!existsSync(fileURLToPath(url))) throw new Error(`the cluster liveness thread ${fileURLToPath(url)} is missing: run the built server (npm run build)`);
    const data: LivenessWorkerData = { redisUrl: options.redisUrl, heartbeatMs: options.heartbeatMs, nodeTtlMs: options.nodeTtlMs, stallMs: options.stallMs };
    const worker = new Worker(url, { workerData: data, name: 'colloquy-liveness' });
    worker.unref();
    worker.on('message', (m: LivenessReport) => this.#onReport(m));
    worker.on('error', (err) => this.#log.error({ err: err.message }, 'cluster liveness thread failed: liveness is published from the main thread'));
    worker.once('exit', () => {
      this.#worker = null;
      for (const p of this.#pending.values()) p.reject(new Error('the liveness thread exited'));
      this.#pending.clear();
    });
    this.#worker = worker;
  }

  /** Writes this heartbeat's info (resolves once Redis has it). */
  publish(info: NodeInfo): Promise<void> {
    if (this.#closed) return Promise.resolve();
    const worker = this.#worker;
    if (worker === null) return this.#options.fallback(info);
    this.lapsed = false;
    const id = this.#next++;
    return new Promise<void>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      worker.postMessage({ type: 'publish', id, info } satisfies LivenessRequest);
    });
  }

  /** Stops renewing (the caller then withdraws the key). */
  close(): Promise<void> {
    this.#closed = true;
    const worker = this.#worker;
    if (worker === null) return Promise.resolve();
    this.#closing ??= new Promise<void>((resolve) => {
      const kill = setTimeout(() => void worker.terminate(), 3000);
      kill.unref();
      worker.once('exit', () => {
        clearTimeout(kill);
        resolve();
      });
      worker.postMessage({ type: 'close' } satisfies LivenessRequest);
    });
    return this.#closing;
  }

  #onReport(m: LivenessReport): void {
    switch (m.type) {
      case 'ack': {
        const p = this.#pending.get(m.id);
        this.#pending.delete(m.id);
        if (m.error === undefined) p?.resolve();
        else p?.reject(new Error(m.error));
        break;
      }
      case 'lapsed':
        this.lapsed = true;
        this.#log.error({ silentMs: m.silentMs }, 'this node stopped renewing its liveness: its main thread was stuck; the cluster may re-place its sessions');
        break;
      case 'renewFailed':
        this.#log.warn({ err: m.error }, 'cluster liveness renewal failed');
        break;
      case 'closed':
        this.renewedForMain = m.renewedForMain;
        break;
    }
  }
}
