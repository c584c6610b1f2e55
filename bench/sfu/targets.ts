// The servers the SFU benchmark compares, started and stopped by it: Colloquy (the bench server
// process: real server, media SDP through its test-only endpoint until the protocol carries
// publish/subscribe) and Janus VideoRoom (Debian's janus, configured by files the benchmark writes).

import { ColloquyTarget } from '../load/targets/colloquy.js';
import type { TargetSpec } from '../load/targets/target.js';
import { startColloquy } from '../servers/colloquy-process.js';
import { startJanus } from '../servers/janus-process.js';

export type TargetName = 'colloquy' | 'janus';

export interface RunningTarget {
  name: TargetName;
  spec: TargetSpec;
  pid: number;
  /** Version or notes shown in results. */
  description: string;
  /** Colloquy: how SDP reaches the SFU (signaling, or the bench server's test-only endpoint). */
  mediaPath?: 'signaling' | 'bench-endpoint';
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
  const server = await startColloquy({ mediaIp: network.address });
  const base = { kind: 'colloquy' as const, url: server.url, apiKey: server.apiKey, apiSecret: server.apiSecret };
  // Publish/subscribe over signaling when the protocol has them (BENCH_COLLOQUY_MEDIA=endpoint forces the bypass).
  const signaling = process.env['BENCH_COLLOQUY_MEDIA'] !== 'endpoint' && (await ColloquyTarget.hasSignalingMedia(base));
  return {
    name,
    spec: signaling ? base : { ...base, mediaEndpoint: server.control },
    pid: server.pid,
    mediaPath: signaling ? 'signaling' : 'bench-endpoint',
    description:
      'the Colloquy server in one Node.js process (bench/servers/colloquy-bench-server.ts); ' +
      (signaling ? 'publish/subscribe over the signaling WebSocket' : 'SDP through the bench server\'s test-only endpoint, bypassing signaling (the protocol has no publish/subscribe yet)'),
    control: { post: (path, body) => server.controlPost(path, body) },
    stop: () => server.stop(),
  };
}
