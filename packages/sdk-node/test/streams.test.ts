// listStreams, getStream, setStreamClassLists, forceMuteStream, forceMuteAll and disableForceMute
// against a real server, with streams really published (werift peers through the signaling
// protocol and the SFU, as a browser would).

import { makeTestMedia } from '@colloquy/testing/media';
import { ProtocolClient } from '@colloquy/testing/protocol';
import { startTestServer, type TestServer } from '@colloquy/testing/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Colloquy, NotFoundError } from '../src/index.js';

let t: TestServer;
let sdk: Colloquy;
const clients: ProtocolClient[] = [];

beforeAll(async () => {
  t = await startTestServer();
  sdk = new Colloquy(t.apiKey, t.apiSecret, t.url);
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await t.close();
});

async function join(sessionId: string, layout?: string[]): Promise<ProtocolClient> {
  const client = await ProtocolClient.join(t.url, sessionId, sdk.generateToken(sessionId, layout ? { initialLayoutClassList: layout } : {}));
  clients.push(client);
  return client;
}

describe('streams', () => {
  it('lists and gets published streams, sets class lists (all or nothing), 404s unknown ones', async () => {
    const { sessionId } = await sdk.createSession({ mediaMode: 'routed' });
    expect(await sdk.listStreams(sessionId)).toEqual({ count: 0, items: [] });
    const media = makeTestMedia({ seconds: 2 });
    const a = await join(sessionId, ['focus']);
    const b = await join(sessionId);
    const cam = await a.publish({ media, name: 'cam', start: false });
    const screen = await b.publish({ media, name: 'slides', videoType: 'screen', audio: false, start: false });

    const list = await sdk.listStreams(sessionId);
    expect(list.count).toBe(2);
    expect(list.items).toEqual([
      { id: cam.streamId, videoType: 'camera', name: 'cam', layoutClassList: ['focus'] },
      { id: screen.streamId, videoType: 'screen', name: 'slides', layoutClassList: [] },
    ]);
    expect(await sdk.getStream(sessionId, screen.streamId)).toEqual(list.items[1]);

    await sdk.setStreamClassLists(sessionId, [
      { id: cam.streamId, layoutClassList: [] },
      { id: screen.streamId, layoutClassList: ['full'] },
    ]);
    expect((await sdk.listStreams(sessionId)).items.map((s) => s.layoutClassList)).toEqual([[], ['full']]);
    await expect(sdk.setStreamClassLists(sessionId, [{ id: cam.streamId, layoutClassList: ['x'] }, { id: 'gone', layoutClassList: [] }])).rejects.toBeInstanceOf(NotFoundError);
    expect((await sdk.getStream(sessionId, cam.streamId)).layoutClassList).toEqual([]);

    await expect(sdk.getStream(sessionId, 'gone')).rejects.toBeInstanceOf(NotFoundError);
    await b.request({ type: 'unpublish', streamId: screen.streamId });
    await expect(sdk.getStream(sessionId, screen.streamId)).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe('force mute', () => {
  it('mutes one stream, mutes all (later publishers start muted), and lifts it', async () => {
    const { sessionId } = await sdk.createSession({ mediaMode: 'routed' });
    const media = makeTestMedia({ seconds: 2 });
    const a = await join(sessionId);
    const b = await join(sessionId);
    const sa = await a.publish({ media, start: false });
    const sb = await b.publish({ media, start: false });

    await sdk.forceMuteStream(sessionId, sa.streamId);
    await a.waitFor((m) => m.type === 'streamMuteForced' && m['streamId'] === sa.streamId);
    await b.waitFor((m) => m.type === 'streamPropertyChanged' && m['streamId'] === sa.streamId && m['changedProperty'] === 'hasAudio');
    await expect(sdk.forceMuteStream(sessionId, 'gone')).rejects.toBeInstanceOf(NotFoundError);

    await sdk.forceMuteAll(sessionId, { excludedStreamIds: [sa.streamId] });
    await b.waitFor((m) => m.type === 'streamMuteForced' && m['streamId'] === sb.streamId);
    await a.waitFor((m) => m.type === 'muteForced' && m['active'] === true);
    const c = await join(sessionId);
    expect((await c.publish({ media, start: false })).result.muteForced).toBe(true);

    await sdk.disableForceMute(sessionId);
    await a.waitFor((m) => m.type === 'muteForced' && m['active'] === false);
    const d = await join(sessionId);
    expect((await d.publish({ media, start: false })).result.muteForced).toBe(false);

    const { sessionId: empty } = await sdk.createSession();
    await sdk.forceMuteAll(empty); // nobody there: accepted, remembered for later publishers
    await sdk.disableForceMute(empty);
    await expect(sdk.forceMuteAll('not-a-session')).rejects.toBeInstanceOf(NotFoundError);
    await expect(sdk.setStreamClassLists(sessionId, 'nope' as never)).rejects.toBeInstanceOf(TypeError);
  });
});
