// A session that spans nodes (media-span/media-span.ts, cluster/media-link.ts, media/pipe-transport.ts): redis-server and three
// `colloquy serve` processes on loopback. The session's home is n1, where a werift client publishes
// real VP8 + Opus. Two werift subscribers reach n2 and a Chromium page reaches n3: each is served by
// the SFU of the node it reached, which gets the stream ONCE over an RTP pipe from n1 (one pipe to
// n2 for its two subscribers). The nodes' /metrics prove where media flows; the page decodes the
// video; the pipes close with the last subscriber of a node, with a node that dies (SIGKILL of n3:
// the page subscribes again through the node it resumed at) and with the stream. The home's
// Inspector has each remote subscriber's quality, from the figures its serving node reports.

import { launchChromium, type TestBrowser, type TestPage } from '@colloquy/testing/browser';
import { signJwt } from '@colloquy/tokens';
import { CLUSTER_SECRET, nodeMetric, startTestCluster, type ClusterNodeProcess, type TestCluster } from '@colloquy/testing/cluster';
import { makeTestMedia } from '@colloquy/testing/media';
import { ProtocolClient } from '@colloquy/testing/protocol';
import { Redis } from 'ioredis';
import type { Server } from 'node:http';
import OpenTok from 'opentok';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MEDIA_PATH } from '../../src/cluster/media-link.js';
import { nodeAuthHeaders } from '../../src/cluster/node-auth.js';
import { decoding, logOf, servePage, until } from './cluster-page.js';

describe('cluster: a session spanning nodes', () => {
  let cluster: TestCluster;
  let browser: TestBrowser;
  let app: Server;
  let appUrl: string;
  let redis: Redis;
  const clients: ProtocolClient[] = [];

  beforeAll(async () => {
    // The Inspector samples every second (edges report their subscribers to the home as often).
    cluster = await startTestCluster({ env: { COLLOQUY_QUALITY_SAMPLE_MS: '1000' } });
    redis = new Redis(cluster.redis.url);
    browser = await launchChromium();
    ({ server: app, url: appUrl } = await servePage());
  }, 120_000);

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => {})));
    await browser?.close();
    await new Promise((resolve) => app?.close(resolve));
    redis?.disconnect();
    await cluster?.close();
  }, 60_000);

  it('takes media requests from nodes of the cluster only, and checks them', async () => {
    const node = cluster.nodes[1]!;
    const post = (body: unknown, headers: Record<string, string> = {}): Promise<Response> =>
      fetch(`${node.url}${MEDIA_PATH}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
    expect((await post({ op: 'openPipe' })).status).toBe(403);
    const signed = (secret: string): Record<string, string> => nodeAuthHeaders(secret, { purpose: 'media', method: 'POST', url: MEDIA_PATH, clientAddress: 'n1' });
    expect((await post({ op: 'openPipe' }, signed('not-the-cluster-secret-0123'))).status).toBe(403);
    // A signaling proof does not open media requests.
    expect((await post({ op: 'openPipe' }, nodeAuthHeaders(CLUSTER_SECRET, { purpose: 'signaling', method: 'POST', url: MEDIA_PATH, clientAddress: 'n1' }))).status).toBe(403);
    expect((await post({ op: 'nope' }, signed(CLUSTER_SECRET))).status).toBe(400);
    expect((await post({ op: 'openPipe', sessionId: 's', streamId: 'x', videoCodec: 'AV1', producers: [] }, signed(CLUSTER_SECRET))).status).toBe(400);
    expect((await post({ op: 'subscribe', sessionId: 's', streamId: 'x', subscriptionId: 'y', state: {} }, signed(CLUSTER_SECRET))).status).toBe(404);
    // An edge's subscriber figures are checked before anything is kept (a subscription it does not serve is ignored).
    const sample = { kind: 'video', bitrate: 1, fractionLost: 0, jitter: 0, roundTripTime: null, nackCount: 0, pliCount: 0, layer: null, paused: false };
    expect((await post({ op: 'subscriberStats', stats: 'all' }, signed(CLUSTER_SECRET))).status).toBe(400);
    expect((await post({ op: 'subscriberStats', stats: [{ subscriptionId: 'y', consumers: [{ ...sample, kind: 'data' }] }] }, signed(CLUSTER_SECRET))).status).toBe(400);
    expect((await post({ op: 'subscriberStats', stats: [{ subscriptionId: 'y', consumers: [{ ...sample, fractionLost: 2 }] }] }, signed(CLUSTER_SECRET))).status).toBe(400);
    expect((await post({ op: 'subscriberStats', stats: [{ subscriptionId: 'y', consumers: [sample] }] }, signed(CLUSTER_SECRET))).status).toBe(200);
  });

  it('serves each subscriber from the node it reached, over one pipe per node, and closes the pipes after', async () => {
    const [home, edge2, edge3] = cluster.nodes as [ClusterNodeProcess, ClusterNodeProcess, ClusterNodeProcess];
    const ot = new OpenTok(cluster.apiKey, cluster.apiSecret, home.url);
    const sessionId = await new Promise<string>((resolve, reject) => ot.createSession({ mediaMode: 'routed' }, (err, s) => (err ? reject(err) : resolve(s!.sessionId))));
    // The session's home is n1 (placed before anyone connects, as placement would write it).
    await redis.set(`colloquy:session:${sessionId}:home`, home.id);
    const token = (data: string): string => ot.generateToken(sessionId, { role: 'publisher', data });
    const join = async (node: ClusterNodeProcess, name: string): Promise<ProtocolClient> => {
      const client = await ProtocolClient.join(node.url, sessionId, token(name));
      clients.push(client);
      return client;
    };

    const publisherClient = await join(home, 'publisher');
    const { streamId, publisher } = await publisherClient.publish({ media: makeTestMedia({ seconds: 4, gop: 60, bitrate: '500k' }), name: 'webinar' });
    const plisBefore = publisher.pliReceived;

    // Two subscribers on n2: one pipe n1 → n2 feeds both.
    const viewers = [await join(edge2, 'viewer-a'), await join(edge2, 'viewer-b')];
    const remoteConnections = [...viewers.map((v) => v.connectionId)];
    const subs = [];
    for (const viewer of viewers) subs.push(await viewer.subscribe(streamId));
    // A Chromium page on n3 subscribes (the page's streamCreated handler) and decodes.
    const page: TestPage = await browser.newPage();
    await page.page.goto(`${appUrl}?node=${encodeURIComponent(edge3.url)}`);
    const joined = (await page.page.evaluate(([k, s, t]) => (window as unknown as { join: (...a: string[]) => Promise<{ connectionId?: string }> }).join(k!, s!, t!), [cluster.apiKey, sessionId, token('viewer-c')])) as { connectionId?: string };
    expect(joined.connectionId, JSON.stringify(joined)).toBeTruthy();
    remoteConnections.push(joined.connectionId!);
    await decoding(page, streamId, 15, 60_000, [page]);

    // The werift subscribers on n2 get the real VP8 stream: keyframes and a steady flow.
    for (const { peer } of subs) {
      await until(async () => peer.of('video').some((p) => p.keyFrameStart) && peer.of('video').length > 100 && peer.of('audio').length > 50, 'VP8 and Opus at a subscriber on n2', 30_000, [page]);
    }
    // Keyframe requests of the edges' consumers crossed the pipes back to the publisher.
    expect(publisher.pliReceived).toBeGreaterThan(plisBefore);

    // Where the media flows, from each node's own figures.
    expect(await nodeMetric(home, 'colloquy_cluster_pipes', 'direction="out"')).toBe(2);
    expect(await nodeMetric(home, 'colloquy_cluster_remote_subscribers', 'role="home"')).toBe(3);
    expect(await nodeMetric(edge2, 'colloquy_cluster_pipes', 'direction="in"')).toBe(1);
    expect(await nodeMetric(edge2, 'colloquy_cluster_remote_subscribers', 'role="edge"')).toBe(2);
    expect(await nodeMetric(edge3, 'colloquy_cluster_pipes', 'direction="in"')).toBe(1);
    expect(await nodeMetric(edge3, 'colloquy_cluster_remote_subscribers', 'role="edge"')).toBe(1);
    // n2 and n3 forward to their subscribers; n1 forwards to no subscriber (it only feeds the pipes).
    await until(async () => (await nodeMetric(edge2, 'colloquy_forwarded_packets_total')) > 200 && (await nodeMetric(edge3, 'colloquy_forwarded_packets_total')) > 100, 'forwarding on n2 and n3', 20_000, [page]);
    expect(await nodeMetric(home, 'colloquy_forwarded_packets_total')).toBe(0);
    // Two subscribers on n2 from one pipe: n2 sends about twice what it receives. The counters
    // are cumulative: a subscriber whose video began at a later keyframe (60 frames apart) keeps
    // the ratio under 2 for a while (1.41 once, read at once on a loaded machine), so it is waited for.
    const { piped2, forwarded2 } = await until(
      async () => {
        const piped = await nodeMetric(edge2, 'colloquy_cluster_pipe_packets', 'direction="in"');
        const forwarded = await nodeMetric(edge2, 'colloquy_forwarded_packets_total');
        return forwarded > piped * 1.5 && { piped2: piped, forwarded2: forwarded };
      },
      'n2 forwarding about twice what its pipe brings',
      20_000,
      [page],
    );
    const pipedOut = await nodeMetric(home, 'colloquy_cluster_pipe_packets', 'direction="out"');
    expect(piped2).toBeGreaterThan(100);
    expect(pipedOut).toBeGreaterThanOrEqual(piped2);
    expect(forwarded2).toBeGreaterThan(piped2 * 1.5);

    // The home's Inspector has each remote subscriber's video quality (bitrate above zero), from
    // what n2 and n3 report of the consumers they serve; asked of any node (here n2).
    const now = (): number => Math.floor(Date.now() / 1000);
    const auth = { 'X-OPENTOK-AUTH': signJwt({ iss: cluster.apiKey, ist: 'project', iat: now(), exp: now() + 300 }, cluster.apiSecret) };
    type Track = { source: string; kind: string; connectionId: string; points: Array<{ bitrate: number }> };
    let tracks: Track[] = [];
    await until(
      async () => {
        const res = await fetch(`${edge2.url}/v2/project/${cluster.apiKey}/session/${sessionId}/quality?source=subscriber`, { headers: auth });
        tracks = ((await res.json()) as { tracks: Track[] }).tracks;
        return remoteConnections.every((id) => tracks.some((t) => t.connectionId === id && t.kind === 'video' && t.points.some((p) => p.bitrate > 0)));
      },
      'subscriber quality of the remote subscribers in the Inspector',
      20_000,
      [page],
    );

    // One of n2's subscribers leaves: the pipe stays for the other.
    await viewers[0]!.request({ type: 'unsubscribe', subscriberId: subs[0]!.subscriberId });
    await until(async () => (await nodeMetric(edge2, 'colloquy_cluster_remote_subscribers', 'role="edge"')) === 1, 'one subscriber left on n2', 15_000);
    expect(await nodeMetric(edge2, 'colloquy_cluster_pipes', 'direction="in"')).toBe(1);
    const before = subs[1]!.peer.of('video').length;
    await until(async () => subs[1]!.peer.of('video').length > before + 30, 'media still flowing to the other n2 subscriber', 15_000);
    // The last one leaves (its client disconnects): the pipe to n2 closes at both ends.
    await viewers[1]!.close();
    await until(async () => (await nodeMetric(edge2, 'colloquy_cluster_pipes', 'direction="in"')) === 0 && (await nodeMetric(home, 'colloquy_cluster_pipes', 'direction="out"')) === 1, 'the pipe to n2 closed', 15_000);

    // n3 dies (SIGKILL) with the page's media on it: once its Redis key expired the home drops the
    // pipe and ends the subscription as a network drop; the page, resumed through another node,
    // subscribes again there (Subscriber disconnected, connected) and decodes the stream again.
    const killedAt = Date.now();
    edge3.child.kill('SIGKILL');
    await edge3.exited;
    await until(async () => (await logOf(page)).find((e) => e.type === 'subscriberConnected' && e.at! >= killedAt), 'the page subscribed again', 30_000, [page]);
    expect((await logOf(page)).filter((e) => e.at! >= killedAt).map((e) => e.type)).toContain('subscriberDisconnected');
    await decoding(page, streamId, 10, 30_000, [page]);
    // Served now by the node its socket reached (n1 itself, or n2 over a new pipe): no pipe to n3 is left.
    const out = await nodeMetric(home, 'colloquy_cluster_pipes', 'direction="out"');
    expect(out).toBe(await nodeMetric(edge2, 'colloquy_cluster_pipes', 'direction="in"'));
    expect(await nodeMetric(home, 'colloquy_cluster_remote_subscribers', 'role="home"')).toBe(out);
    console.log(`span: the page was back on its stream ${Date.now() - killedAt} ms after its media node was killed (served by ${out === 1 ? 'n2 over a pipe' : 'n1'})`);

    // The publisher leaves: the stream ends, and with it any pipe; the page sees streamDestroyed.
    await publisherClient.close();
    await until(async () => (await nodeMetric(edge2, 'colloquy_cluster_pipes', 'direction="in"')) === 0 && (await nodeMetric(home, 'colloquy_cluster_pipes', 'direction="out"')) === 0, 'every pipe closed', 15_000);
    await until(async () => (await logOf(page)).find((e) => e.type === 'streamDestroyed' && e.streamId === streamId), 'streamDestroyed on the page', 15_000, [page]);
  }, 180_000);
});
