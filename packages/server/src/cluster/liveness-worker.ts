// The liveness thread of a cluster node (liveness.ts starts it). It owns the node's Redis liveness
// key: the main thread hands it each heartbeat's NodeInfo, which it writes at once; while the main
// thread is late (busy: a join storm, a long GC, a loaded machine) it renews the key itself with
// the last info, so a busy node is not taken for dead and its sessions are not re-placed under it.
// Once the main thread has been silent for stallMs, it stops renewing: the key expires after the
// node TTL and the cluster treats the node as dead. A process that dies takes this thread with it,
// so death is still seen within the TTL.

import { parentPort, workerData } from 'node:worker_threads';
import { Redis } from 'ioredis';
import { NODES_KEY, nodeKey, type NodeInfo } from './node-registry.js';

export interface LivenessWorkerData {
  redisUrl: string;
  heartbeatMs: number;
  nodeTtlMs: number;
  stallMs: number;
}

/** Main thread → liveness thread. */
export type LivenessRequest = { type: 'publish'; id: number; info: NodeInfo } | { type: 'close' };

/** Liveness thread → main thread. */
export type LivenessReport =
  | { type: 'ack'; id: number; error?: string }
  /** The main thread was silent past stallMs: renewing stopped (the key expires). */
  | { type: 'lapsed'; silentMs: number }
  /** A renewal on the main thread's behalf failed (Redis). */
  | { type: 'renewFailed'; error: string }
  | { type: 'closed'; renewedForMain: number };

/** What the thread does at a tick, from how long the main thread has been silent. */
export function livenessAction(silentMs: number, heartbeatMs: number, stallMs: number): 'wait' | 'renew' | 'lapse' {
  // The main thread publishes every heartbeat itself; half a period of slack before stepping in.
  if (silentMs < heartbeatMs * 1.5) return 'wait';
  return silentMs <= stallMs ? 'renew' : 'lapse';
}

function run(port: NonNullable<typeof parentPort>, data: LivenessWorkerData): void {
  const redis = new Redis(data.redisUrl, { maxRetriesPerRequest: 2, connectTimeout: 5000 });
  // Errors reach the main thread through the commands that fail; the connection retries by itself.
  redis.on('error', () => {});
  let latest: NodeInfo | null = null;
  let lastMainAt = Date.now();
  let lapsed = false;
  let renewedForMain = 0;
  let closing = false;

  const write = (info: NodeInfo): Promise<unknown> => redis.multi().set(nodeKey(info.id), JSON.stringify(info), 'PX', data.nodeTtlMs).sadd(NODES_KEY, info.id).exec();

  const timer = setInterval(() => {
    if (closing || latest === null) return;
    const silentMs = Date.now() - lastMainAt;
    const action = livenessAction(silentMs, data.heartbeatMs, data.stallMs);
    if (action === 'renew') {
      renewedForMain++;
      write(latest).catch((err: Error) => port.postMessage({ type: 'renewFailed', error: err.message } satisfies LivenessReport));
    } else if (action === 'lapse' && !lapsed) {
      lapsed = true;
      port.postMessage({ type: 'lapsed', silentMs } satisfies LivenessReport);
    }
  }, Math.max(50, Math.round(data.heartbeatMs / 2)));

  port.on('message', (m: LivenessRequest) => {
    if (m.type === 'publish') {
      latest = m.info;
      lastMainAt = Date.now();
      lapsed = false;
      write(m.info).then(
        () => port.postMessage({ type: 'ack', id: m.id } satisfies LivenessReport),
        (err: Error) => port.postMessage({ type: 'ack', id: m.id, error: err.message } satisfies LivenessReport),
      );
    } else if (m.type === 'close') {
      closing = true;
      clearInterval(timer);
      void redis
        .quit()
        .catch(() => redis.disconnect())
        .finally(() => {
          port.postMessage({ type: 'closed', renewedForMain } satisfies LivenessReport);
          port.close();
        });
    }
  });
}

if (parentPort) run(parentPort, workerData as LivenessWorkerData);
