// The servers the SFU benchmark compares, started and stopped by it: Colloquy (the real server in
// its own process, with the bench control endpoint) and Janus VideoRoom (Debian's janus, configured
// by files the benchmark writes).

import { availableParallelism } from 'node:os';
import type { TargetSpec } from '../load/targets/target.js';
import { startColloquy } from '../servers/colloquy-process.js';
import { startJanus } from '../servers/janus-process.js';

/**
 * `colloquy`: a UDP port per peer connection (as every published figure was measured; the server's
 * default is one port since 2026-12-05) and a media thread per core (the default);
 * `colloquy-one-port`: one UDP port for every peer connection; `colloquy-1-thread`: every
 * subscriber on the main thread (COLLOQUY_WORKERS=1), to measure what the worker threads add.
 */
export type TargetName = 'colloquy' | 'colloquy-one-port' | 'colloquy-1-thread' | 'janus';

export interface RunningTarget {
  name: TargetName;
  spec: TargetSpec;
  pid: number;
  /** Version or notes shown in results. */
  description: string;
  /** Colloquy only: the bench server's control endpoint (profiler, GC, stats). */
  control?: { post<T>(path: string, body?: unknown): Promise<T> };
  stop(): Promise<void>;
}

export async function startTarget(name: TargetName, network: { address: string; interfaceName: string }): Promise<RunningTarget> {
  if (name === 'janus') {
    const janus = await startJanus({ iceInterface: network.address });
    return {
      name,
      spec: { kind: 'janus', url: janus.url },
      pid: janus.pid,
      description: `Janus ${janus.version} VideoRoom (Debian package), WebSocket API`,
      stop: () => janus.stop(),
    };
  }
  const threads = name === 'colloquy-1-thread' ? 1 : availableParallelism();
  const server = await startColloquy({ mediaIp: network.address, rtc: name === 'colloquy-one-port' ? 'one-port' : 'range', env: { COLLOQUY_WORKERS: String(threads) } });
  return {
    name,
    spec: { kind: 'colloquy', url: server.url, apiKey: server.apiKey, apiSecret: server.apiSecret },
    pid: server.pid,
    description: `the Colloquy server in one Node.js process (bench/servers/colloquy-bench-server.ts), publish/subscribe over its signaling WebSocket; ${name === 'colloquy-one-port' ? 'one UDP port for every peer connection' : 'a UDP port per peer connection'}; ${threads === 1 ? 'one media thread' : `${threads} media threads (subscribers past 64 peer connections on the main thread spread to worker threads)`}`,
    control: { post: (path, body) => server.controlPost(path, body) },
    stop: () => server.stop(),
  };
}
