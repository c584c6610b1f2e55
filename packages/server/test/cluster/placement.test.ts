// Cluster settings and session placement against a real redis-server on loopback: the least-loaded
// live node gets a new session, draining nodes get none, a dead node's sessions are re-placed once
// its key expires, and a session that ended is placed afresh.

import { startRedis, type RedisServer } from '@colloquy/testing/deploy';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { leastLoaded, NodeRegistry, type NodeInfo } from '../../src/cluster/index.js';
import { clusterSettings, databaseFile, type ClusterSettings } from '../../src/cluster/settings.js';
import { CLIENT_ADDRESS_HEADER, ENTRY_NODE_HEADER, isNodeAuth, NODE_AUTH_HEADER, nodeAuthHeaders, nodeForwardedClient } from '../../src/cluster/node-auth.js';
import type { IncomingMessage } from 'node:http';
import { ConfigError, loadConfig } from '../../src/config.js';

const SECRET = 'placement-test-secret-0123456789';
const logger = pino({ level: 'silent' });

function info(id: string, participants: number, draining = false): NodeInfo {
  return { id, publicUrl: `http://127.0.0.1:1${id.slice(1)}`, internalUrl: `http://127.0.0.1:1${id.slice(1)}`, draining, load: { cpuPercent: 0, forwardedPacketsPerSecond: 0, participants }, at: Date.now() };
}

describe('cluster settings', () => {
  const base = { COLLOQUY_REDIS_URL: 'redis://127.0.0.1:6379', COLLOQUY_NODE_ID: 'n1', COLLOQUY_PUBLIC_URL: 'http://10.0.0.1:3000/', COLLOQUY_CLUSTER_SECRET: SECRET };

  it('is off (null) without COLLOQUY_REDIS_URL, and a cluster-only setting alone is refused', () => {
    expect(loadConfig({}).cluster).toBeNull();
    expect(loadConfig({}).databaseFile).toBeNull();
    expect(() => loadConfig({ COLLOQUY_NODE_ID: 'n1' })).toThrow(ConfigError);
  });

  it('reads a complete cluster setup and refuses incomplete or malformed ones', () => {
    const settings = clusterSettings(base)!;
    expect(settings).toMatchObject({ nodeId: 'n1', publicUrl: 'http://10.0.0.1:3000', internalUrl: 'http://10.0.0.1:3000', heartbeatMs: 1000, nodeTtlMs: 3000, stallMs: 20_000 });
    expect(clusterSettings({ ...base, COLLOQUY_INTERNAL_URL: 'http://192.168.0.1:3000' })!.internalUrl).toBe('http://192.168.0.1:3000');
    // Pipes to other nodes bind the internal address when it is an IP, else loopback, or what is set.
    expect(settings.pipeIp).toBe('10.0.0.1');
    expect(clusterSettings({ ...base, COLLOQUY_INTERNAL_URL: 'http://node1.internal:3000' })!.pipeIp).toBe('127.0.0.1');
    expect(clusterSettings({ ...base, COLLOQUY_CLUSTER_PIPE_IP: '192.168.0.7' })!.pipeIp).toBe('192.168.0.7');
    // Sessions span nodes unless turned off.
    expect(settings.spanSessions).toBe(true);
    expect(clusterSettings({ ...base, COLLOQUY_CLUSTER_SPAN_SESSIONS: 'off' })!.spanSessions).toBe(false);
    expect(clusterSettings({ ...base, COLLOQUY_CLUSTER_STALL_MS: '60000' })!.stallMs).toBe(60_000);
    for (const [name, value, message] of [
      ['COLLOQUY_REDIS_URL', 'localhost:6379', /redis:\/\//],
      ['COLLOQUY_NODE_ID', '', /COLLOQUY_NODE_ID/],
      ['COLLOQUY_NODE_ID', 'a b', /COLLOQUY_NODE_ID/],
      ['COLLOQUY_PUBLIC_URL', '', /COLLOQUY_PUBLIC_URL/],
      ['COLLOQUY_PUBLIC_URL', 'ftp://x', /http/],
      ['COLLOQUY_CLUSTER_SECRET', 'short', /at least 16/],
      ['COLLOQUY_CLUSTER_NODE_TTL_MS', '1500', /twice/],
      ['COLLOQUY_CLUSTER_STALL_MS', '2000', /at least COLLOQUY_CLUSTER_NODE_TTL_MS/],
      ['COLLOQUY_CLUSTER_STALL_MS', 'soon', /COLLOQUY_CLUSTER_STALL_MS/],
      ['COLLOQUY_CLUSTER_PIPE_IP', 'node1', /COLLOQUY_CLUSTER_PIPE_IP/],
      ['COLLOQUY_CLUSTER_SPAN_SESSIONS', 'maybe', /COLLOQUY_CLUSTER_SPAN_SESSIONS/],
    ] as const) {
      expect(() => loadConfig({ ...base, [name]: value }), `${name}=${value}`).toThrow(message);
    }
  });

  it('takes a shared SQLite file from COLLOQUY_DATABASE_URL=sqlite:… and refuses other schemes here', () => {
    expect(databaseFile({ COLLOQUY_DATABASE_URL: 'sqlite:/tmp/x/colloquy.db' })).toBe('/tmp/x/colloquy.db');
    expect(databaseFile({ COLLOQUY_DATABASE_URL: 'sqlite:///tmp/x/colloquy.db' })).toBe('/tmp/x/colloquy.db');
    expect(() => loadConfig({ COLLOQUY_DATABASE_URL: 'mysql://u:p@h/db' })).toThrow(/sqlite:/);
  });

  it('signs node-to-node requests with the cluster secret, bound to the request line, the client address and a minute', () => {
    const line = { purpose: 'rest' as const, method: 'POST', url: '/v2/project/1/session/S/signal', clientAddress: '203.0.113.7' };
    const now = 1_800_000_000_000;
    const headers = nodeAuthHeaders(SECRET, line, now);
    const auth = headers[NODE_AUTH_HEADER];
    expect(headers[CLIENT_ADDRESS_HEADER]).toBe('203.0.113.7');
    expect(isNodeAuth(SECRET, auth, line, now)).toBe(true);
    expect(isNodeAuth(SECRET, auth, line, now + 59_000)).toBe(true);
    // A replay later, on another path, for another client, another purpose or with another secret: refused.
    expect(isNodeAuth(SECRET, auth, line, now + 61_000)).toBe(false);
    expect(isNodeAuth(SECRET, auth, { ...line, url: '/v2/project/1/session/S/connection/C' }, now)).toBe(false);
    expect(isNodeAuth(SECRET, auth, { ...line, method: 'DELETE' }, now)).toBe(false);
    expect(isNodeAuth(SECRET, auth, { ...line, clientAddress: '198.51.100.1' }, now)).toBe(false);
    expect(isNodeAuth(SECRET, auth, { ...line, purpose: 'signaling' }, now)).toBe(false);
    expect(isNodeAuth('another-secret-0123456789', auth, line, now)).toBe(false);
    for (const bad of [undefined, '', 'x', `${Math.floor(now / 1000)}.`, auth + 'A', ['a', 'b']]) expect(isNodeAuth(SECRET, bad, line, now)).toBe(false);
    // On an incoming request: the client address is what the proof names, and only then.
    const request = (h: Record<string, string>) => ({ method: 'GET', url: '/v2/signaling', headers: h }) as unknown as IncomingMessage;
    const signed = nodeAuthHeaders(SECRET, { purpose: 'signaling', method: 'GET', url: '/v2/signaling', clientAddress: '203.0.113.7' });
    expect(nodeForwardedClient(SECRET, 'signaling', request(signed))).toEqual({ clientAddress: '203.0.113.7', entryNode: null });
    // A proxied socket names the node it entered at (that node serves its subscriptions): covered by the proof.
    const entered = nodeAuthHeaders(SECRET, { purpose: 'signaling', method: 'GET', url: '/v2/signaling', clientAddress: '203.0.113.7', entryNode: 'n2' });
    expect(entered[ENTRY_NODE_HEADER]).toBe('n2');
    expect(nodeForwardedClient(SECRET, 'signaling', request(entered))).toEqual({ clientAddress: '203.0.113.7', entryNode: 'n2' });
    expect(nodeForwardedClient(SECRET, 'signaling', request({ ...entered, [ENTRY_NODE_HEADER]: 'n3' }))).toBeNull();
    expect(nodeForwardedClient(SECRET, 'signaling', request({ ...signed, [ENTRY_NODE_HEADER]: 'n2' }))).toBeNull();
    expect(nodeForwardedClient(SECRET, 'signaling', request({ ...entered, [ENTRY_NODE_HEADER]: 'bad node id!' }))).toBeNull();
    // Media requests between nodes are their own purpose: a signaling proof does not open them.
    expect(nodeForwardedClient(SECRET, 'media', request(signed))).toBeNull();
    expect(nodeForwardedClient(SECRET, 'signaling', request({ ...signed, [CLIENT_ADDRESS_HEADER]: '10.0.0.1' }))).toBeNull();
    expect(nodeForwardedClient(SECRET, 'rest', request(signed))).toBeNull();
    expect(nodeForwardedClient(SECRET, 'signaling', request({ [CLIENT_ADDRESS_HEADER]: '203.0.113.7' }))).toBeNull();
  });

  it('chooses the least-loaded node that is not draining', () => {
    expect(leastLoaded([info('n1', 5), info('n2', 1), info('n3', 0, true)])?.id).toBe('n2');
    expect(leastLoaded([info('n1', 0, true)])).toBeNull();
  });
});

describe('session placement in Redis', () => {
  let redis: RedisServer;
  const registries: NodeRegistry[] = [];
  const registry = async (nodeTtlMs = 3000): Promise<NodeRegistry> => {
    const settings: ClusterSettings = { redisUrl: redis.url, nodeId: 'x', publicUrl: 'http://127.0.0.1:1', internalUrl: 'http://127.0.0.1:1', secret: SECRET, heartbeatMs: 100, nodeTtlMs, stallMs: 20_000, pipeIp: '127.0.0.1', spanSessions: true };
    const r = new NodeRegistry(settings, logger);
    await r.connect();
    registries.push(r);
    return r;
  };

  beforeAll(async () => {
    redis = await startRedis();
  }, 30_000);
  afterAll(async () => {
    for (const r of registries) await r.close();
    await redis?.close();
  });

  it('places a session on the least-loaded node, once; a draining node takes none', async () => {
    const r = await registry();
    await r.publish(info('n1', 3));
    await r.publish(info('n2', 1));
    await r.publish(info('n3', 0, true));
    expect((await r.placeSession('s1'))?.id).toBe('n2');
    // Placed: the same answer whatever the loads now.
    await r.publish(info('n1', 0));
    expect((await r.placeSession('s1'))?.id).toBe('n2');
    expect((await r.homeOf('s1'))?.id).toBe('n2');
    // Ended on n2: the next connect places it afresh.
    await r.releaseSession('s1', 'n1');
    expect((await r.homeOf('s1'))?.id).toBe('n2');
    await r.releaseSession('s1', 'n2');
    expect(await r.homeOf('s1')).toBeNull();
    expect((await r.placeSession('s1'))?.id).toBe('n1');
  });

  it("re-places a dead node's session once its key expired, and concurrent placements agree", async () => {
    const r = await registry(400);
    const other = await registry(400);
    for (const id of ['n1', 'n2', 'n3']) await r.withdraw(id);
    await r.publish(info('d1', 0));
    expect((await r.placeSession('s2'))?.id).toBe('d1');
    // d1 stops publishing; d2 keeps going.
    const beat = setInterval(() => void r.publish(info('d2', 2)), 100);
    try {
      await r.publish(info('d2', 2));
      const deadline = Date.now() + 5000;
      while ((await r.node('d1')) !== null && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
      expect(await r.homeOf('s2')).toBeNull();
      const [a, b] = await Promise.all([r.placeSession('s2'), other.placeSession('s2')]);
      expect(a?.id).toBe('d2');
      expect(b?.id).toBe('d2');
      expect((await r.liveNodes()).map((n) => n.id)).not.toContain('d1');
    } finally {
      clearInterval(beat);
    }
  });
});
