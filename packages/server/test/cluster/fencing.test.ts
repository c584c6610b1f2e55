// Fencing a session that moved (cluster/index.ts #dropMovedSessions), with two real nodes and a real
// redis-server: when a session's home key names another node (it was re-placed while its home
// looked dead: a main thread stuck past COLLOQUY_CLUSTER_STALL_MS, or cut off from Redis), the old
// home cuts that session's sockets at its next heartbeat, and leaves its other sessions alone; the
// clients' next join lands on the new home. The re-placement itself is made here by writing the
// key, as another node's placement would (placement.test.ts covers that part).

import { Colloquy } from '@colloquy/sdk-node';
import { startTestCluster, type TestCluster } from '@colloquy/testing/cluster';
import { ProtocolClient } from '@colloquy/testing/protocol';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let cluster: TestCluster;
let redis: Redis;

beforeAll(async () => {
  cluster = await startTestCluster({ nodes: 2 });
  redis = new Redis(cluster.redis.url);
}, 90_000);
afterAll(async () => {
  redis?.disconnect();
  await cluster?.close();
});

describe('a session re-placed while its home looked dead', () => {
  it('has its sockets on the old home cut, the other sessions kept, and its next joins go to the new home', async () => {
    const [n1, n2] = cluster.nodes as [TestCluster['nodes'][0], TestCluster['nodes'][0]];
    const sdk = new Colloquy(cluster.apiKey, cluster.apiSecret, n1.url);
    const moved = (await sdk.createSession({ mediaMode: 'routed' })).sessionId;
    const kept = (await sdk.createSession({ mediaMode: 'routed' })).sessionId;
    const token = (sessionId: string): string => sdk.generateToken(sessionId, { role: 'publisher' });
    // Both sessions placed on n1 (the first connect places a session on the least-loaded node:
    // join through whichever node, then read where it went).
    const a = await ProtocolClient.join(n1.url, moved, token(moved));
    const b = await ProtocolClient.join(n1.url, kept, token(kept));
    const homeOf = async (sessionId: string): Promise<string | null> => redis.get(`colloquy:session:${sessionId}:home`);
    const oldHome = await homeOf(moved);
    expect(oldHome).not.toBeNull();
    const newHome = oldHome === n1.id ? n2.id : n1.id;
    // b's session may have gone to the other node; what matters is that it is not touched.
    const keptHome = await homeOf(kept);

    // Another node took the session over (as its placement does once the old home's key lapsed).
    await redis.set(`colloquy:session:${moved}:home`, newHome);

    // The old home cuts the moved session's socket at its next heartbeat (every second): a bare
    // drop, as if the node had died, so the client resumes through the cluster.
    const closed = await a.waitClosed(15_000);
    expect(closed.code).toBe(1006);
    // The other session's client is untouched and still served.
    const echo = await b.request({ type: 'signal', signalType: 'still-here', data: 'x' });
    expect(echo.type).toBe('response');
    expect(b.closed).toBeNull();
    expect(await homeOf(kept)).toBe(keptHome);

    // A join of the moved session, through either node, lands on its new home: the old home's stale
    // copy does not take it.
    const again = await ProtocolClient.join(cluster.node(oldHome!).url, moved, token(moved));
    expect(await homeOf(moved)).toBe(newHome);
    const others = again.connectResult!.connections.map((c) => c.connectionId);
    expect(others).not.toContain(a.connectionId);
    await again.close();
    await b.close();
  }, 60_000);
});
