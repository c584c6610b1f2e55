// The hooks archiving uses (sessions/archive-source.ts), against real published streams: the
// streams of a session with their producers and codecs, a raw-RTP tap, keyframe requests, the
// session events, and archiveStarted/archiveStopped reaching clients (also newcomers).

import { makeTestMedia } from '@colloquy/testing/media';
import { ProtocolClient, waitUntil } from '@colloquy/testing/protocol';
import { Colloquy } from '@colloquy/sdk-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { archiveMediaSource, archiveSessionState, type ArchiveStreamView } from '../src/sessions/archive-source.js';
import { startTestServer, type TestServer } from './helpers.js';

let t: TestServer;
let sdk: Colloquy;
beforeAll(async () => {
  t = await startTestServer();
  sdk = new Colloquy(t.apiKey, t.apiSecret, t.url);
});
afterAll(async () => t.close());

describe('archive hooks', () => {
  it('list streams with producers, tap RTP, request keyframes, watch events, broadcast archive events', async () => {
    const media = archiveMediaSource(t.server.sessions);
    const state = archiveSessionState(t.server.sessions);
    const events: string[] = [];
    const updated: ArchiveStreamView[] = [];
    const unwatch = state.watch({
      connectionCountChanged: (_sid, count) => events.push(`count ${count}`),
      streamAdded: (_sid, s) => events.push(`added ${s.name}`),
      streamRemoved: () => events.push('removed'),
      streamUpdated: (_sid, s) => {
        events.push(`updated ${s.layoutClassList.join(',')}`);
        updated.push(s);
      },
    });
    const { sessionId } = await sdk.createSession({ mediaMode: 'routed' });
    const alice = await ProtocolClient.join(t.url, sessionId, sdk.generateToken(sessionId, { data: 'alice', initialLayoutClassList: ['focus'] }));
    const { streamId } = await alice.publish({ media: makeTestMedia({ seconds: 2 }), name: 'Alice' });
    expect(state.connectionCount(sessionId)).toBe(1);

    const [stream] = media.listStreams(sessionId);
    expect(stream).toMatchObject({
      streamId,
      connectionId: alice.connectionId,
      connectionData: 'alice',
      videoType: 'camera',
      name: 'Alice',
      layoutClassList: ['focus'],
      audio: { kind: 'audio', codec: 'opus', clockRate: 48000 },
      video: { kind: 'video', codec: 'VP8', clockRate: 90000 },
    });
    expect(stream!.video!.payloadType).toBeGreaterThan(0);

    const packets: number[] = [];
    const stop = media.subscribe(stream!.video!.producerId, (p) => packets.push(p.header.sequenceNumber));
    await waitUntil(() => packets.length > 20, 5000, 'tapped RTP');
    stop();
    const count = packets.length;
    await new Promise((r) => setTimeout(r, 200));
    expect(packets.length).toBe(count);

    const producer = t.server.sessions.live(sessionId)!.router!.getProducer(stream!.video!.producerId)!;
    const plis = producer.getStats().pliCount;
    media.requestKeyFrame(stream!.video!.producerId);
    expect(producer.getStats().pliCount).toBeGreaterThanOrEqual(plis);
    expect(media.subscribe('no-such-producer', () => {})).toBeTypeOf('function');

    await sdk.client.request('PUT', `session/${sessionId}/stream`, { items: [{ id: streamId, layoutClassList: ['full', 'big'] }] });
    expect(updated.at(-1)!.layoutClassList).toEqual(['full', 'big']);

    // Archive events reach the session's clients, and newcomers hear of archives already running.
    state.broadcast(sessionId, { type: 'archiveStarted', id: 'a-1', name: 'demo' });
    expect(await alice.waitFor((m) => m.type === 'archiveStarted')).toMatchObject({ archiveId: 'a-1', name: 'demo' });
    t.server.sessions.activeArchiveNotices = (sid) => (sid === sessionId ? [{ type: 'archiveStarted', archiveId: 'a-1', name: 'demo' }] : []);
    const bob = await ProtocolClient.join(t.url, sessionId, sdk.generateToken(sessionId));
    expect(await bob.waitFor((m) => m.type === 'archiveStarted')).toMatchObject({ archiveId: 'a-1', name: 'demo' });
    t.server.sessions.activeArchiveNotices = () => [];
    state.broadcast(sessionId, { type: 'archiveStopped', id: 'a-1', name: 'demo' });
    await bob.waitFor((m) => m.type === 'archiveStopped');

    await alice.request({ type: 'unpublish', streamId });
    await bob.close();
    await alice.close();
    unwatch();
    expect(events).toEqual(['count 1', 'added Alice', 'updated full,big', 'count 2', 'removed', 'count 1', 'count 0']);
    expect(media.listStreams(sessionId)).toEqual([]);
  });
});
