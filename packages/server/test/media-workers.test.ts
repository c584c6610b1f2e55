// Media worker threads (media-workers/): the units (how ports are split, where a subscriber goes,
// the request channel between threads), then a real server with a worker thread serving subscribers
// from the first one on (COLLOQUY_WORKERS_FROM=0): werift clients publish real VP8 + Opus and
// subscribe over signaling, half of them served by the worker's own SFU from one pipe. Then the
// subscribers leave (the pipe closes with the last), the worker is killed (its subscriber's
// subscription ends as a network drop) and a new subscriber is served by a fresh worker.

import { makeTestMedia } from '@colloquy/testing/media';
import { ProtocolClient } from '@colloquy/testing/protocol';
import { until } from '@colloquy/testing/wait';
import { MessageChannel } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ColloquyError } from '../src/errors.js';
import { chooseThread, MAIN_THREAD_WEIGHT, MIN_PORTS_PER_THREAD, splitPorts } from '../src/media-workers/media-workers.js';
import { ThreadLink } from '../src/media-workers/thread-link.js';
import OpenTok from 'opentok';
import { startTestServer, type TestServer } from './helpers.js';

describe('media threads: the units', () => {
  it('splits the UDP port range between the threads, or refuses a range too small; one port goes up by one per thread', () => {
    expect(splitPorts({ portRange: [40000, 49999], port: null, tcpPort: null }, 2)).toEqual([
      { portRange: [40000, 44999], port: null, tcpPort: null },
      { portRange: [45000, 49999], port: null, tcpPort: null },
    ]);
    const three = splitPorts({ portRange: [40000, 49999], port: null, tcpPort: null }, 3)!;
    expect(three.map((p) => p.portRange)).toEqual([
      [40000, 43332],
      [43333, 46665],
      [46666, 49999],
    ]);
    expect(splitPorts({ portRange: [40000, 40000 + 2 * MIN_PORTS_PER_THREAD - 2], port: null, tcpPort: null }, 2)).toBeNull();
    expect(splitPorts({ portRange: [40000, 49999], port: 7882, tcpPort: 7881 }, 3)!.map((p) => [p.port, p.tcpPort])).toEqual([
      [7882, 7881],
      [7883, 7882],
      [7884, 7883],
    ]);
    // Port 0 (the system picks) stays 0 for every thread; a port that would pass 65535 is refused.
    expect(splitPorts({ portRange: [40000, 49999], port: 0, tcpPort: null }, 2)!.map((p) => p.port)).toEqual([0, 0]);
    expect(splitPorts({ portRange: [40000, 49999], port: 65535, tcpPort: null }, 2)).toBeNull();
  });

  it('keeps subscribers on the main thread below the threshold, then picks the least loaded thread (the main thread\'s load weighted, main on a tie, never a worker that is not up)', () => {
    expect(MAIN_THREAD_WEIGHT).toBe(2);
    expect(chooseThread(3, [0], 16)).toBe(0);
    expect(chooseThread(16, [0], 16)).toBe(1);
    expect(chooseThread(16, [31], 16)).toBe(1);
    expect(chooseThread(16, [32], 16)).toBe(0);
    expect(chooseThread(20, [12, 9, 30], 16)).toBe(2);
    expect(chooseThread(20, [null, null], 16)).toBe(0);
    expect(chooseThread(1, [0], 0)).toBe(1);
    expect(chooseThread(1, [2], 0)).toBe(0);
    // At 1→300 on two threads with the default threshold (64): main ends with about a third.
    let main = 1;
    const worker = [0];
    for (let i = 0; i < 300; i++) chooseThread(main, worker, 64) === 0 ? main++ : worker[0]!++;
    expect(main - 1).toBeGreaterThanOrEqual(95);
    expect(main - 1).toBeLessThanOrEqual(105);
  });

  it('carries requests both ways with their answers and error kinds; a closed end fails what is pending and what follows', async () => {
    const { port1, port2 } = new MessageChannel();
    const main = new ThreadLink(port1, 'worker-1');
    const worker = new ThreadLink(port2, 'the main thread');
    worker.handler = async (body) => {
      if (body['op'] === 'echo') return { echoed: body['value'] };
      if (body['op'] === 'hang') return new Promise(() => {});
      throw new ColloquyError('not-found', 'no such subscriber here');
    };
    main.handler = async (body) => ({ fromMain: body['op'] });
    const notices: unknown[] = [];
    main.onNotice = (m) => notices.push(m);
    try {
      expect(await main.request({ op: 'echo', value: [1, 'two'] })).toEqual({ echoed: [1, 'two'] });
      expect(await worker.request({ op: 'videoQuality' })).toEqual({ fromMain: 'videoQuality' });
      const failed = await main.request({ op: 'unknown' }).catch((e: unknown) => e);
      expect(failed).toBeInstanceOf(ColloquyError);
      expect((failed as ColloquyError).kind).toBe('not-found');
      expect((failed as ColloquyError).message).toBe('no such subscriber here');
      port2.postMessage({ t: 'load', transports: 3 });
      await until(() => notices.length === 1 || undefined, 'the notice', 5000);
      expect(notices[0]).toEqual({ t: 'load', transports: 3 });
      const hanging = main.request({ op: 'hang' });
      main.close('the thread exited');
      const gone = await hanging.catch((e: unknown) => e);
      expect((gone as ColloquyError).kind).toBe('unavailable');
      expect((gone as Error).message).toMatch(/worker-1: the thread exited/);
      expect(((await main.request({ op: 'echo' }).catch((e: unknown) => e)) as ColloquyError).kind).toBe('unavailable');
    } finally {
      port1.close();
      port2.close();
    }
  });
});

describe('media threads: a server with a worker thread', () => {
  let t: TestServer;
  const clients: ProtocolClient[] = [];

  beforeAll(async () => {
    // Subscribers spread from the first one on; the Inspector samples every second (workers report as often).
    t = await startTestServer({ COLLOQUY_WORKERS: '2', COLLOQUY_WORKERS_FROM: '0', COLLOQUY_QUALITY_SAMPLE_MS: '1000', COLLOQUY_METRICS_TOKEN: 'metrics-token-0123456789' });
  }, 60_000);

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => {})));
    await t?.close();
  }, 60_000);

  const metric = async (name: string): Promise<number> => {
    const text = await (await fetch(`${t.url}/metrics`, { headers: { authorization: 'Bearer metrics-token-0123456789' } })).text();
    return text
      .split('\n')
      .filter((l) => l.startsWith(name + ' ') || l.startsWith(name + '{'))
      .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
  };

  it('serves subscribers on the worker from one pipe per stream, with media, keyframe requests, figures and metrics; leaving closes the pipe', async () => {
    const ot = new OpenTok(t.apiKey, t.apiSecret, t.url);
    const sessionId = await new Promise<string>((resolve, reject) => ot.createSession({ mediaMode: 'routed' }, (err, s) => (err ? reject(err) : resolve(s!.sessionId))));
    const join = async (name: string): Promise<ProtocolClient> => {
      const client = await ProtocolClient.join(t.url, sessionId, ot.generateToken(sessionId, { role: 'publisher', data: name }));
      clients.push(client);
      return client;
    };
    const publisherClient = await join('publisher');
    const { streamId, publisher } = await publisherClient.publish({ media: makeTestMedia({ seconds: 4, gop: 60, bitrate: '500k' }), name: 'webinar' });
    const plisBefore = publisher.pliReceived;

    // Three subscribers: the worker (started for the first), the worker again (the main thread's
    // publisher weighs two), then the main thread (a tie: 2 × 1 against 2).
    const viewers = [await join('a'), await join('b'), await join('c')];
    const subs = [];
    for (const viewer of viewers) subs.push(await viewer.subscribe(streamId));
    const session = t.server.sessions.live(sessionId)!;
    const servedBy = subs.map((s) => session.subscriptions.get(s.subscriberId)!.remote?.nodeId ?? 'main');
    expect(servedBy).toEqual(['worker-1', 'worker-1', 'main']);
    // A client's next subscriber goes where its others are (their downlink is one: sfu
    // downlink.ts), not to the least loaded thread (the worker, by load, here).
    const second = await viewers[2]!.subscribe(streamId);
    expect(session.subscriptions.get(second.subscriberId)!.remote?.nodeId ?? 'main').toBe('main');
    await viewers[2]!.request({ type: 'unsubscribe', subscriberId: second.subscriberId });
    await until(() => !session.subscriptions.has(second.subscriberId) || undefined, 'the second subscription gone', 15_000);
    for (const { peer } of subs) {
      await until(() => (peer.of('video').some((p) => p.keyFrameStart) && peer.of('video').length > 100 && peer.of('audio').length > 50) || undefined, 'VP8 and Opus at every subscriber', 30_000);
    }
    // The worker's subscribers joined with keyframe requests that crossed the pipe back to the publisher.
    expect(publisher.pliReceived).toBeGreaterThan(plisBefore);
    const stats = t.server.mediaWorkers.stats();
    expect(stats).toMatchObject({ threads: 2, pipes: 1, remoteSubscriptions: 2 });
    expect(stats.workers[0]).toMatchObject({ name: 'worker-1', up: true, subscribers: 2 });
    // Metrics count the worker's peer connections and forwarded packets with the main thread's
    // (1 publisher + 1 subscriber here, 2 subscribers there).
    await until(async () => ((await metric('colloquy_media_transports')) === 4 || undefined), 'four peer connections in the metrics', 15_000);
    const forwardedHere = t.server.media.routers.flatMap((r) => (r.getStats() as { subscribers: { consumers: { packetsSent: number }[] }[] }).subscribers.flatMap((s) => s.consumers)).reduce((n, c) => n + c.packetsSent, 0);
    await until(async () => ((await metric('colloquy_forwarded_packets_total')) > forwardedHere + 200 || undefined), 'the worker\'s forwarded packets in the metrics', 15_000);
    // The Inspector's figures for a worker-served subscriber come from the worker's reports.
    const remote = session.subscriptions.get(subs[0]!.subscriberId)!;
    await until(() => remote.remoteConsumerSamples.some((c) => c.kind === 'video' && c.bitrate > 0) || undefined, 'the worker\'s figures of its subscriber', 15_000);

    // One worker subscriber leaves: the pipe stays for the other, which keeps receiving.
    await viewers[0]!.request({ type: 'unsubscribe', subscriberId: subs[0]!.subscriberId });
    await until(() => (t.server.mediaWorkers.stats().workers[0]!.subscribers === 1 && t.server.mediaWorkers.stats().workers[0]!.transports === 1) || undefined, 'one subscriber left on the worker', 15_000);
    expect(t.server.mediaWorkers.stats().pipes).toBe(1);
    const before = subs[1]!.peer.of('video').length;
    await until(() => subs[1]!.peer.of('video').length > before + 30 || undefined, 'media still flowing to the other worker subscriber', 15_000);

    // The worker dies: its subscriber's subscription ends as a network drop (the client is told),
    // the pipe goes, and the next subscriber is served by a fresh worker thread.
    await t.server.mediaWorkers.terminate('worker-1');
    await viewers[1]!.waitFor((m) => m.type === 'subscriberDestroyed' && m['subscriberId'] === subs[1]!.subscriberId, 15_000);
    await until(() => (t.server.mediaWorkers.stats().pipes === 0 && t.server.mediaWorkers.stats().remoteSubscriptions === 0) || undefined, 'the dead worker\'s pipe and subscription gone', 15_000);
    const again = await viewers[1]!.subscribe(streamId);
    expect(session.subscriptions.get(again.subscriberId)!.remote?.nodeId).toBe('worker-1');
    await until(() => (again.peer.of('video').some((p) => p.keyFrameStart) && again.peer.of('video').length > 60) || undefined, 'VP8 from the fresh worker', 30_000);
    // The main thread's subscriber never noticed.
    const mainBefore = subs[2]!.peer.of('video').length;
    await until(() => subs[2]!.peer.of('video').length > mainBefore + 30 || undefined, 'media still flowing on the main thread', 15_000);

    // The publisher leaves: the stream ends, and with it the pipe to the worker.
    await publisherClient.close();
    await until(() => (t.server.mediaWorkers.stats().pipes === 0 && t.server.mediaWorkers.stats().remoteSubscriptions === 0) || undefined, 'the pipe closed with the stream', 15_000);
  }, 180_000);
});

describe('media threads: one UDP port', () => {
  it('a worker thread has its own one port (the system picks it here), and its subscriber gets media through it', async () => {
    const t = await startTestServer({ COLLOQUY_RTC_PORT: '0', COLLOQUY_WORKERS: '2', COLLOQUY_WORKERS_FROM: '0' });
    const clients: ProtocolClient[] = [];
    try {
      const ot = new OpenTok(t.apiKey, t.apiSecret, t.url);
      const sessionId = await new Promise<string>((resolve, reject) => ot.createSession({ mediaMode: 'routed' }, (err, s) => (err ? reject(err) : resolve(s!.sessionId))));
      const join = async (): Promise<ProtocolClient> => {
        const client = await ProtocolClient.join(t.url, sessionId, ot.generateToken(sessionId, { role: 'publisher' }));
        clients.push(client);
        return client;
      };
      const { streamId } = await (await join()).publish({ media: makeTestMedia({ seconds: 4, gop: 60, bitrate: '300k' }), name: 'cam' });
      const { subscriberId, peer } = await (await join()).subscribe(streamId);
      expect(t.server.sessions.live(sessionId)!.subscriptions.get(subscriberId)!.remote?.nodeId).toBe('worker-1');
      const worker = t.server.mediaWorkers.stats().workers[0]!;
      expect(worker.udpPort).toBeGreaterThan(0);
      expect(worker.udpPort).not.toBe(t.server.media.udpMux!.port);
      await until(() => (peer.of('video').some((p) => p.keyFrameStart) && peer.of('video').length > 60) || undefined, 'VP8 through the worker\'s port', 30_000);
    } finally {
      await Promise.all(clients.map((c) => c.close().catch(() => {})));
      await t.close();
    }
  }, 120_000);
});
