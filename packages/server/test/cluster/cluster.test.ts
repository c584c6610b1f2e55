// Colloquy as a cluster: redis-server and three `colloquy serve` processes on loopback sharing one
// database (tests/cluster). Two Chromium pages connect to two different nodes and see each other's
// video; a REST signal sent (OpenTok's Node SDK) to the third node reaches both; an archive started
// through one node is listed, stopped and downloaded through others; SIGKILL of the session's home
// node brings both pages back into the call on the surviving nodes.
// The shared database is a PostgreSQL the test starts on loopback (Debian's, as in production);
// COLLOQUY_TEST_CLUSTER_DATABASE=sqlite runs the same test on one SQLite file the three nodes share.

import { launchChromium, type TestBrowser, type TestPage } from '@colloquy/testing/browser';
import { startTestCluster, type ClusterNodeProcess, type TestCluster } from '@colloquy/testing/cluster';
import { startPostgres, type TestPostgres } from '@colloquy/testing/postgres';
import { PROTOCOL_VERSION, SIGNALING_PATH } from '@colloquy/protocol';
import { signJwt } from '@colloquy/tokens';
import { Redis } from 'ioredis';
import type { Server } from 'node:http';
import OpenTok from 'opentok';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decoding, logOf, servePage, until } from './cluster-page.js';
import { WebSocket } from 'ws';

/** A raw protocol connection (no SDK) to `node`: its connect reply, and every message after it. */
async function rawConnection(
  node: ClusterNodeProcess,
  apiKey: string,
  sessionId: string,
  token: string,
  headers: Record<string, string> = {},
): Promise<{ connectionId: string; nodes: string[]; messages: Array<{ type: string; nodes?: string[] }>; close: () => void }> {
  const ws = new WebSocket(node.url.replace(/^http/, 'ws') + SIGNALING_PATH, { headers });
  const messages: Array<{ type: string; nodes?: string[] }> = [];
  const reply = new Promise<{ connection: { connectionId: string }; nodes: string[] }>((resolve, reject) => {
    ws.on('error', reject);
    ws.on('message', (data) => {
      const message = JSON.parse(String(data));
      if (message.type === 'response' && message.re === 1) resolve(message.result);
      else if (message.type === 'error' && message.re === 1) reject(new Error(message.message));
      else messages.push(message);
    });
  });
  ws.on('open', () => ws.send(JSON.stringify({ type: 'connect', id: 1, version: PROTOCOL_VERSION, sessionId, token, apiKey })));
  const result = await reply;
  return { connectionId: result.connection.connectionId, nodes: result.nodes, messages, close: () => ws.close(1000) };
}

function promised<T>(run: (cb: (err: Error | null, value?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => run((err, value) => (err ? reject(err) : resolve(value as T))));
}

describe('cluster: three nodes, one Redis, one database', () => {
  let cluster: TestCluster;
  let browser: TestBrowser;
  let app: Server;
  let appUrl: string;
  let redis: Redis;
  let sessionId: string;
  let home: ClusterNodeProcess;
  let pageNodes: [ClusterNodeProcess, ClusterNodeProcess];
  let restNode: ClusterNodeProcess;
  let pages: [TestPage, TestPage];
  let streams: [string, string];
  let pg: TestPostgres | undefined;
  const ot = (node: ClusterNodeProcess): OpenTok => new OpenTok(cluster.apiKey, cluster.apiSecret, node.url);

  beforeAll(async () => {
    const database = process.env['COLLOQUY_TEST_CLUSTER_DATABASE'] ?? 'postgres';
    if (database !== 'sqlite' && database !== 'postgres') throw new Error('COLLOQUY_TEST_CLUSTER_DATABASE is postgres (the default) or sqlite');
    if (database === 'postgres') pg = await startPostgres();
    cluster = await startTestCluster({
      env: { COLLOQUY_ARCHIVE_AUTO_STOP_DELAY: '5', COLLOQUY_TRUST_PROXY: '127.0.0.1' },
      ...(pg ? { databaseUrl: await pg.createDatabase('cluster') } : {}),
    });
    redis = new Redis(cluster.redis.url);
    browser = await launchChromium();
    ({ server: app, url: appUrl } = await servePage());
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => app?.close(resolve));
    redis?.disconnect();
    await cluster?.close();
    await pg?.stop();
  }, 60_000);

  const joinPage = async (node: ClusterNodeProcess, name: string): Promise<TestPage> => {
    const p = await browser.newPage();
    await p.page.goto(`${appUrl}?node=${encodeURIComponent(node.url)}`);
    const token = ot(node).generateToken(sessionId, { role: 'moderator', data: name });
    const joined = (await p.page.evaluate(([k, s, t]) => (window as unknown as { join: (...a: string[]) => Promise<{ connectionId?: string }> }).join(k!, s!, t!), [cluster.apiKey, sessionId, token])) as { connectionId?: string };
    expect(joined.connectionId, JSON.stringify(joined)).toBeTruthy();
    return p;
  };

  it('two pages connected to different nodes see and decode each other', async () => {
    const [n1, n2, n3] = cluster.nodes as [ClusterNodeProcess, ClusterNodeProcess, ClusterNodeProcess];
    sessionId = (await promised<{ sessionId: string }>((cb) => ot(n3).createSession({ mediaMode: 'routed' }, cb as never))).sessionId;
    const first = await joinPage(n1, 'first');
    // The first connect placed the session on a home node (least loaded); the second page goes to
    // another node so that one page talks to the home and the other through a proxying node.
    const homeId = await redis.get(`colloquy:session:${sessionId}:home`);
    expect(homeId).toMatch(/^n[123]$/);
    home = cluster.node(homeId!);
    const second = home === n1 ? n2 : home;
    pageNodes = [n1, second];
    restNode = cluster.nodes.find((n) => n !== n1 && n !== second)!;
    pages = [first, await joinPage(second, 'second')];
    const published = await Promise.all(pages.map((p) => p.page.evaluate(() => (window as unknown as { publish: () => Promise<{ streamId?: string }> }).publish())));
    streams = published.map((r) => {
      expect(r.streamId, JSON.stringify(r)).toBeTruthy();
      return r.streamId!;
    }) as [string, string];
    await Promise.all([decoding(pages[0], streams[1], 10, 60_000, pages), decoding(pages[1], streams[0], 10, 60_000, pages)]);
    // The home node answers the stream list for the session, whichever node is asked.
    const listed = await promised<{ id: string }[]>((cb) => ot(restNode).listStreams(sessionId, cb as never));
    expect(listed.map((s) => s.id).sort()).toEqual([...streams].sort());
  }, 150_000);

  it('a REST signal sent to the third node reaches both pages', async () => {
    await promised((cb) => ot(restNode).signal(sessionId, null, { type: 'cluster', data: 'through the third node' }, cb as never));
    for (const p of pages) {
      await until(async () => (await logOf(p)).find((e) => e.type === 'signal' && e.signalType === 'signal:cluster' && e.data === 'through the third node'), 'the signal', 15_000, pages);
    }
  }, 30_000);

  it("a socket proxied to the home node is recorded there with its client's address, not the proxy's", async () => {
    // The nodes believe X-Forwarded-For from loopback (COLLOQUY_TRUST_PROXY below): the client is
    // 203.0.113.9 to the node it reached, and the home learns it from that node's signed header.
    const via = cluster.nodes.find((n) => n !== home)!;
    const raw = await rawConnection(via, cluster.apiKey, sessionId, ot(via).generateToken(sessionId, { data: 'behind a proxy' }), { 'x-forwarded-for': '203.0.113.9' });
    try {
      const auth = () => ({ 'x-opentok-auth': signJwt({ iss: cluster.apiKey, ist: 'project', iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 300 }, cluster.apiSecret) });
      const created = await until(
        async () => {
          const res = await fetch(`${via.url}/v2/project/${cluster.apiKey}/session/${sessionId}/events?type=connectionCreated`, { headers: auth() });
          const body = (await res.json()) as { items?: Array<{ connectionId?: string; details?: { ip?: string } }> };
          return body.items?.find((e) => e.connectionId === raw.connectionId);
        },
        'the connectionCreated of the proxied socket in the Inspector',
        20_000,
      );
      expect(created.details?.ip).toBe('203.0.113.9');
    } finally {
      raw.close();
    }
  }, 40_000);

  it('an archive started through one node is listed, stopped and downloaded through others', async () => {
    // Started through the REST node (not the home: the request is forwarded to where the media is).
    const archive = await promised<{ id: string; status: string }>((cb) => ot(restNode).startArchive(sessionId, { name: 'cluster archive' }, cb as never));
    expect(archive.status).toBe('started');
    const listed = await promised<{ id: string; status: string }[]>((cb) => ot(pageNodes[0]).listArchives({ sessionId }, cb as never));
    expect(listed.map((a) => [a.id, a.status])).toContainEqual([archive.id, 'started']);
    // Record a moment of media (the pages keep decoding meanwhile).
    await decoding(pages[0], streams[1], 45, 60_000, pages);
    const stopper = pageNodes[1] === home ? pageNodes[0] : pageNodes[1];
    const stopped = await promised<{ status: string }>((cb) => ot(stopper).stopArchive(archive.id, cb as never));
    expect(stopped.status).toBe('stopped');
    const done = await until(
      async () => {
        const a = await promised<{ status: string; url: string | null; size: number }>((cb) => ot(pageNodes[0]).getArchive(archive.id, cb as never));
        if (a.status === 'failed') throw new Error(`archive failed: ${JSON.stringify(a)}`);
        return a.status === 'available' ? a : null;
      },
      'the archive to be available',
      90_000,
    );
    expect(done.size).toBeGreaterThan(10_000);
    // Downloaded through a node that did not record it: it fetches the file from the recording node.
    const via = cluster.nodes.find((n) => n !== home)!;
    const url = new URL(done.url!);
    const download = await fetch(`${via.url}${url.pathname}${url.search}`);
    expect(download.status).toBe(200);
    const bytes = Buffer.from(await download.arrayBuffer());
    expect(bytes.length).toBe(done.size);
    expect(bytes.subarray(4, 8).toString('latin1')).toBe('ftyp');
  }, 150_000);

  it('a broadcast started through one node is read, given a layout and stopped through others (by its id alone)', async () => {
    const started = await promised<{ id: string; status: string }>((cb) => ot(restNode).startBroadcast(sessionId, { outputs: { hls: {} } }, cb as never));
    expect(started.status).toBe('started');
    const others = cluster.nodes.filter((n) => n !== home);
    // Each call names only the broadcast: the node asked sends it on to the home, where it runs.
    const read = await promised<{ id: string; status: string }>((cb) => ot(others[0]!).getBroadcast(started.id, cb as never));
    expect(read).toMatchObject({ id: started.id, status: 'started' });
    await promised((cb) => ot(others[1]!).setBroadcastLayout(started.id, 'verticalPresentation', null, null, cb as never));
    const stopped = await promised<{ status: string }>((cb) => ot(others[1]!).stopBroadcast(started.id, cb as never));
    expect(stopped.status).toBe('stopped');
    expect((await promised<{ status: string }>((cb) => ot(others[0]!).getBroadcast(started.id, cb as never))).status).toBe('stopped');
  }, 60_000);

  it('SIGTERM of the node a page is proxied through: the page resumes through another node, same connection and streams', async () => {
    const proxyNode = pageNodes.find((n) => n !== home)!;
    const page = pages[pageNodes.indexOf(proxyNode)]!;
    const other = pages.find((p) => p !== page)!;
    const connectionId = () => page.page.evaluate(() => (window as unknown as { session: { connection: { connectionId: string } } }).session.connection.connectionId);
    const before = await connectionId();
    // A connection held by the home node learns that the stopped node is gone (clusterNodes).
    const watcher = await rawConnection(home, cluster.apiKey, sessionId, ot(home).generateToken(sessionId, { data: 'watcher' }));
    expect(watcher.nodes[0]).toBe(home.url);
    const stoppedAt = Date.now();
    proxyNode.child.kill('SIGTERM');
    expect(await proxyNode.exited).toBe(0);
    await until(async () => watcher.messages.some((m) => m.type === 'clusterNodes' && m.nodes![0] === home.url && !m.nodes!.includes(proxyNode.url)), 'clusterNodes without the stopped node', 15_000, pages);
    watcher.close();
    const back = await until(async () => (await logOf(page)).find((e) => e.type === 'sessionReconnected' && e.at! >= stoppedAt)?.at, 'sessionReconnected', 20_000, pages);
    expect(await connectionId()).toBe(before);
    // No stream ended on either page, and both decode again: the page's subscription was served by
    // the stopped node (the node its socket reached), so the home ended it as a network drop and the
    // SDK subscribed again through the node the page reached now (Subscriber disconnected/connected).
    for (const p of pages) expect((await logOf(p)).filter((e) => e.type === 'streamDestroyed')).toEqual([]);
    await Promise.all([decoding(page, streams[page === pages[0] ? 1 : 0], 10, 30_000, pages), decoding(other, streams[other === pages[0] ? 1 : 0], 10, 30_000, pages)]);
    const resubscribed = (await logOf(page)).filter((e) => (e.type === 'subscriberDisconnected' || e.type === 'subscriberConnected') && e.at! >= stoppedAt).map((e) => e.type);
    expect(resubscribed).toEqual(['subscriberDisconnected', 'subscriberConnected']);
    console.log(`cluster: the page proxied through a node stopped with SIGTERM resumed after ${back - stoppedAt} ms`);
  }, 60_000);

  it('SIGKILL of the home node: both pages are back in the call on the surviving nodes; its recording fails', async () => {
    const recording = await promised<{ id: string; status: string }>((cb) => ot(restNode).startArchive(sessionId, { name: 'lost with its node' }, cb as never));
    expect(recording.status).toBe('started');
    const killedAt = Date.now();
    home.child.kill('SIGKILL');
    await home.exited;
    // Both pages: sessionReconnected within 10 s (joined again on a live node)…
    const reconnectedAt = await Promise.all(
      pages.map((p) => until(async () => (await logOf(p)).find((e) => e.type === 'sessionReconnected' && e.at! >= killedAt)?.at, 'sessionReconnected', 20_000, pages)),
    );
    const newHome = await redis.get(`colloquy:session:${sessionId}:home`);
    expect(newHome).not.toBe(home.id);
    expect(cluster.nodes.map((n) => n.id)).toContain(newHome);
    // …and each decodes the other's stream published again.
    const fresh = await Promise.all(
      pages.map((p) => until(async () => (await logOf(p)).find((e) => e.type === 'streamCreated' && e.at! >= killedAt && !streams.includes(e.streamId!))?.streamId, 'a new streamCreated', 20_000, pages)),
    );
    await Promise.all([decoding(pages[0], fresh[0]!, 10, 30_000, pages), decoding(pages[1], fresh[1]!, 10, 30_000, pages)]);
    const backAt = Date.now();
    const logs = await Promise.all(pages.map(logOf));
    // The old streams ended as a network drop.
    for (const log of logs) expect(log.filter((e) => e.type === 'streamDestroyed' && e.at! >= killedAt).map((e) => e.reason)).toContain('networkDisconnected');
    // The archive the dead node was recording ends as failed (a surviving node marks it).
    const lost = await until(
      async () => {
        const a = await promised<{ status: string; reason: string }>((cb) => ot(restNode).getArchive(recording.id, cb as never));
        return a.status === 'failed' ? a : null;
      },
      'the lost archive to be failed',
      20_000,
    );
    expect(lost.reason).toContain(home.id);
    console.log(`cluster failover: sessionReconnected after ${reconnectedAt.map((t) => t - killedAt).join(' / ')} ms; both decoding again after ${backAt - killedAt} ms`);
    for (const t of reconnectedAt) expect(t - killedAt).toBeLessThan(10_000);
  }, 120_000);
});
