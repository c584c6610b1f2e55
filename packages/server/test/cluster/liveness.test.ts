// A cluster node's liveness key, renewed from its own thread (src/cluster/liveness.ts), against a
// real redis-server: the key survives the main thread being stuck for longer than the node TTL
// (a busy node is not taken for dead), expires once the main thread has been silent past the stall
// limit (a stuck node is), comes back when the main thread publishes again, and is gone at close.
// The module starts a worker thread from its built file, so this test uses the built server (dist/,
// made by `npm test`'s build step).

import { spawn } from 'node:child_process';
import { startRedis, type RedisServer } from '@colloquy/testing/deploy';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeLiveness } from '../../dist/cluster/liveness.js';
import { livenessAction } from '../../dist/cluster/liveness-worker.js';
import { NodeRegistry, type NodeInfo } from '../../src/cluster/index.js';

const logger = pino({ level: 'silent' });
const HEARTBEAT_MS = 400;
const TTL_MS = 2000;
const STALL_MS = 8000;

function info(id: string): NodeInfo {
  return { id, publicUrl: 'http://127.0.0.1:1', internalUrl: 'http://127.0.0.1:1', draining: false, load: { cpuPercent: 0, forwardedPacketsPerSecond: 0, participants: 0 }, at: Date.now() };
}

/** Blocks this thread (the "main thread" of the node under test) for `ms`. */
function blockFor(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    /* a busy node */
  }
}

/**
 * Polls the key from another process (redis-cli in a shell loop, every 50 ms) until stop() is
 * called: the lines are EXISTS answers (1 or 0). It runs while this thread is blocked, so it sees
 * what Redis holds then.
 */
function pollKey(redis: RedisServer, key: string): { stop(): Promise<number[]> } {
  const child = spawn('bash', ['-c', `while :; do redis-cli -p ${redis.port} exists ${key}; sleep 0.05; done`], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    async stop() {
      child.kill('SIGKILL');
      await exited;
      return out.split('\n').filter((l) => l.trim() !== '').map((l) => Number(l.trim()));
    },
  };
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('cluster node liveness (its own thread)', () => {
  let redis: RedisServer;
  let client: Redis;
  beforeAll(async () => {
    redis = await startRedis();
    client = new Redis(redis.url);
  }, 60_000);
  afterAll(async () => {
    client?.disconnect();
    await redis?.close();
  });

  it('decides from how long the main thread was silent: wait, renew for it, or give up after the stall limit', () => {
    expect(livenessAction(0, 1000, 20_000)).toBe('wait');
    expect(livenessAction(1400, 1000, 20_000)).toBe('wait');
    expect(livenessAction(1600, 1000, 20_000)).toBe('renew');
    expect(livenessAction(20_000, 1000, 20_000)).toBe('renew');
    expect(livenessAction(20_001, 1000, 20_000)).toBe('lapse');
  });

  it('keeps a busy node alive past its TTL, lets a stuck one expire, and withdraws at close', async () => {
    const registry = new NodeRegistry({ redisUrl: redis.url, nodeId: 'busy', publicUrl: 'http://127.0.0.1:1', internalUrl: 'http://127.0.0.1:1', secret: 'liveness-test-secret-0123', heartbeatMs: HEARTBEAT_MS, nodeTtlMs: TTL_MS, stallMs: STALL_MS, pipeIp: '127.0.0.1', spanSessions: true }, logger);
    await registry.connect();
    const liveness = new NodeLiveness({ redisUrl: redis.url, heartbeatMs: HEARTBEAT_MS, nodeTtlMs: TTL_MS, stallMs: STALL_MS, fallback: (i) => registry.publish(i), logger });
    try {
      await liveness.publish(info('busy'));
      expect(await client.exists('colloquy:node:busy')).toBe(1);
      expect((await registry.liveNodes()).map((n) => n.id)).toEqual(['busy']);

      // The main thread is stuck for 2.5 TTLs (a join storm, a long GC): the key never lapses.
      const poller = pollKey(redis, 'colloquy:node:busy');
      await new Promise((r) => setTimeout(r, 300)); // the poller is running
      blockFor(2.5 * TTL_MS);
      // What the poller saw while this thread was stuck (it is stopped before the stall limit).
      const answers = await poller.stop();
      expect(answers.length).toBeGreaterThan(5);
      expect(answers.filter((a) => a !== 1)).toEqual([]);
      expect(await client.exists('colloquy:node:busy')).toBe(1);

      // It runs again and publishes; then it is silent past the stall limit (stuck for good): the
      // thread gives up, the key expires, and the node is dead to the cluster.
      await liveness.publish(info('busy'));
      const silentFrom = Date.now();
      await waitFor('the key to expire', async () => (await client.exists('colloquy:node:busy')) === 0, STALL_MS + TTL_MS + 5000);
      expect(Date.now() - silentFrom).toBeGreaterThanOrEqual(STALL_MS - 100);
      await waitFor('the lapse report', async () => liveness.lapsed);
      expect(await registry.liveNodes()).toEqual([]);

      // The main thread runs again: it publishes, and the node is back.
      await liveness.publish(info('busy'));
      expect(liveness.lapsed).toBe(false);
      expect(await client.exists('colloquy:node:busy')).toBe(1);
    } finally {
      await liveness.close();
      await registry.withdraw('busy');
      await registry.close();
    }
    // Closed and withdrawn: the thread renews nothing any more.
    await new Promise((r) => setTimeout(r, 3 * HEARTBEAT_MS));
    expect(await client.exists('colloquy:node:busy')).toBe(0);
    expect(liveness.renewedForMain).toBeGreaterThan(0);
  }, 60_000);

  it('finds the sessions of this node that another node took over', async () => {
    const registry = new NodeRegistry({ redisUrl: redis.url, nodeId: 'a', publicUrl: 'http://127.0.0.1:1', internalUrl: 'http://127.0.0.1:1', secret: 'liveness-test-secret-0123', heartbeatMs: HEARTBEAT_MS, nodeTtlMs: TTL_MS, stallMs: STALL_MS, pipeIp: '127.0.0.1', spanSessions: true }, logger);
    await registry.connect();
    try {
      await client.set('colloquy:session:s-mine:home', 'a');
      await client.set('colloquy:session:s-moved:home', 'b');
      const moved = await registry.homedElsewhere(['s-mine', 's-moved', 's-none'], 'a');
      expect([...moved]).toEqual([['s-moved', 'b']]);
    } finally {
      await registry.close();
    }
  });
});
