// Live captions against a real server: started and stopped through the real `opentok` and
// `@vonage/video` SDKs and our Node SDK, with OpenTok's codes (202, 409, 404, 400) and the status
// callbacks (started, stopped with its reason) on a loopback receiver; the REST input checks; and
// speech end to end without a browser — a werift publisher sends a sentence espeak-ng spoke (Opus)
// through the SFU, the server's pocketsphinx engine captions it, and only the subscriber that asked
// (subscribeToCaptions) receives `caption` messages, final ones with the spoken words. hasCaptions
// follows publishCaptions, the engine limit answers 503, and captions end when the session ends.

import { Colloquy } from '@colloquy/sdk-node';
import { makeTestMedia } from '@colloquy/testing/media-sources';
import { ProtocolClient, waitUntil } from '@colloquy/testing/protocol';
import { speechOpus, wordsHeard } from '@colloquy/testing/speech';
import { signJwt } from '@colloquy/tokens';
import { MediaMode, Video } from '@vonage/video';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenTok from 'opentok';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers.js';

const SENTENCE = 'hello colloquy, this is a caption test';

let t: TestServer;
let ot: OpenTok;
let vonage: Video;
let sdk: Colloquy;
let receiver: Server;
let callbackUrl: string;
const callbacks: Array<Record<string, any>> = [];

beforeAll(async () => {
  // One engine at a time on this server: the limit is checked below.
  t = await startTestServer({ COLLOQUY_CAPTIONS_MAX_STREAMS: '1' });
  ot = new OpenTok(t.apiKey, t.apiSecret, t.url);
  vonage = new Video({ applicationId: t.applicationId, privateKey: t.privateKey }, { videoHost: t.url });
  sdk = new Colloquy(t.apiKey, t.apiSecret, t.url);
  receiver = createServer((req, res) => {
    let text = '';
    req.on('data', (c) => (text += c));
    req.on('end', () => {
      callbacks.push(JSON.parse(text) as Record<string, any>);
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  callbackUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/captions-status`;
});

afterAll(async () => {
  await t?.close();
  await new Promise((r) => receiver?.close(r));
});

const routedSession = async (): Promise<string> => (await sdk.createSession({ mediaMode: 'routed' })).sessionId;
const moderatorToken = (sessionId: string): string => sdk.generateToken(sessionId, { role: 'moderator' });
const callbacksOf = (captionId: string) => callbacks.filter((c) => c['captionId'] === captionId);

/** A raw REST call with the project's JWT, for the input checks the SDKs would refuse before sending. */
async function rest(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const now = Math.floor(Date.now() / 1000);
  const auth = signJwt({ iss: t.apiKey, ist: 'project', iat: now, exp: now + 300 }, t.apiSecret);
  const response = await fetch(`${t.url}/v2/project/${t.apiKey}${path}`, {
    method,
    headers: { 'X-OPENTOK-AUTH': auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? null : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

describe('captions REST through the SDKs', () => {
  it('opentok: startCaptions answers an id, a second start is a CaptionsError (409), stopCaptions works', async () => {
    const sessionId = await routedSession();
    const token = ot.generateToken(sessionId, { role: 'moderator' });
    const captionsId = await new Promise<string>((resolve, reject) => ot.startCaptions(sessionId, token, {}, (err, id) => (err ? reject(err) : resolve(id!))));
    expect(captionsId).toMatch(/^[0-9a-f-]{36}$/);
    const again = await new Promise<Error | null>((resolve) => ot.startCaptions(sessionId, token, {}, (err) => resolve(err)));
    // opentok's CaptionsError (its answer to a 409) is a bare object with OpenTok's message.
    expect(again).toMatchObject({ message: 'Live captions have already started for this OpenTok Session' });
    const stopped = await new Promise<boolean>((resolve, reject) => ot.stopCaptions(captionsId, (err, ok) => (err ? reject(err) : resolve(ok!))));
    expect(stopped).toBe(true);
    expect(await sdk.getCaptions(captionsId)).toMatchObject({ status: 'stopped', reason: 'user initiated', sessionId, languageCode: 'en-US' });
  });

  it('@vonage/video: enableCaptions, getCaptionStatus while running and after disableCaptions; status callbacks', async () => {
    const session = await vonage.createSession({ mediaMode: MediaMode.ROUTED });
    const token = vonage.generateClientToken(session.sessionId, { role: 'moderator' });
    const { captionsId } = await vonage.enableCaptions(session.sessionId, token, { languageCode: 'en-US', maxDuration: 1800, partialCaptions: 'false', statusCallbackUrl: callbackUrl });
    const running = await vonage.getCaptionStatus(captionsId);
    expect(running).toMatchObject({ captionId: captionsId, applicationId: t.applicationId, sessionId: session.sessionId, status: 'started', languageCode: 'en-US', provider: 'pocketsphinx' });
    expect(running.createdAt).toBeGreaterThan(Date.now() - 60_000);
    await vonage.disableCaptions(captionsId);
    const stopped = await vonage.getCaptionStatus(captionsId);
    expect(stopped).toMatchObject({ status: 'stopped', reason: 'user initiated' });
    expect(stopped.updatedAt).toBeGreaterThanOrEqual(running.updatedAt);
    // Stopping again changes nothing (202, no second callback).
    await vonage.disableCaptions(captionsId);
    await waitUntil(() => callbacksOf(captionsId).length >= 2, 10_000);
    expect(callbacksOf(captionsId).map((c) => [c['status'], c['reason']])).toEqual([
      ['started', undefined],
      ['stopped', 'user initiated'],
    ]);
    expect(callbacksOf(captionsId)[0]).toMatchObject({ sessionId: session.sessionId, applicationId: t.applicationId, languageCode: 'en-US', provider: 'pocketsphinx' });
  });

  it('our Node SDK: startCaptions, getCaptions, stopCaptions; 404 for captions of another project or none', async () => {
    const sessionId = await routedSession();
    const captionsId = await sdk.startCaptions(sessionId, moderatorToken(sessionId), { partialCaptions: false, maxDuration: 300 });
    expect(await sdk.getCaptions(captionsId)).toMatchObject({ status: 'started', duration: expect.any(Number) });
    await sdk.stopCaptions(captionsId);
    await expect(sdk.getCaptions('00000000-0000-4000-8000-000000000000')).rejects.toMatchObject({ status: 404 });
    await expect(sdk.stopCaptions('not-a-captions-id')).rejects.toMatchObject({ status: 404 });
  });
});

describe('captions REST input', () => {
  it('answers 400 for bad fields, tokens and languages; 404 for an unknown session; 409 for a relayed one', async () => {
    const sessionId = await routedSession();
    const token = moderatorToken(sessionId);
    const start = (body: Record<string, unknown>) => rest('POST', '/captions', { sessionId, token, ...body });
    for (const [body, message] of [
      [{ token: undefined }, /token/],
      [{ maxDuration: 299 }, /maxDuration: must be at least 300/],
      [{ maxDuration: 14_401 }, /maxDuration: must be at most 14400/],
      [{ maxDuration: 'long' }, /maxDuration/],
      [{ maxDuration: 600.5 }, /maxDuration/],
      [{ partialCaptions: 'maybe' }, /partialCaptions/],
      [{ languageCode: 'english' }, /languageCode: must be a language code/],
      [{ languageCode: 'fr-FR' }, /fr-FR is not supported here: installed models are en-US/],
      [{ statusCallbackUrl: 'ftp://example.test/x' }, /statusCallbackUrl: a callback URL must be http or https/],
      [{ statusCallbackUrl: 'http://user:pw@127.0.0.1/x' }, /credentials/],
      [{ token: 'T1==garbage' }, /token is not valid/],
      [{ token: sdk.generateToken(sessionId, { role: 'publisher' }) }, /moderator role; this one has the publisher role/],
      [{ token: moderatorToken(await routedSession()) }, /token is not valid for this session/],
    ] as const) {
      const answer = await start(body);
      expect([answer.status, answer.body.message], JSON.stringify(body)).toEqual([400, expect.stringMatching(message)]);
    }
    expect((await rest('POST', '/captions', { token })).status).toBe(400);
    expect((await rest('POST', '/captions', { sessionId: '1_bm90IGEgc2Vzc2lvbg', token })).status).toBe(404);
    const relayed = (await sdk.createSession({ mediaMode: 'relayed' })).sessionId;
    const answer = await rest('POST', '/captions', { sessionId: relayed, token: moderatorToken(relayed) });
    expect([answer.status, answer.body.message]).toEqual([409, expect.stringMatching(/routed sessions/)]);
    // partialCaptions as @vonage/video types it ('true' | 'false') and as a boolean are both fine.
    const ok = await start({ partialCaptions: 'true', maxDuration: 14_400, languageCode: 'en-us' });
    expect([ok.status, Object.keys(ok.body)]).toEqual([202, ['captionsId']]);
    expect((await rest('GET', `/captions/${ok.body.captionsId}`)).body).toMatchObject({ status: 'started', languageCode: 'en-US' });
    expect((await rest('POST', `/captions/${ok.body.captionsId}/stop`)).status).toBe(202);
    expect((await rest('GET', '/captions/nope')).status).toBe(404);
  });
});

describe('captions of a published stream', () => {
  it('captions speech for the subscribers that asked; hasCaptions follows publishCaptions; the session ending stops them', async () => {
    const sessionId = await routedSession();
    const alice = await ProtocolClient.join(t.url, sessionId, sdk.generateToken(sessionId, { data: 'name=Alice' }));
    const bob = await ProtocolClient.join(t.url, sessionId, sdk.generateToken(sessionId, { data: 'name=Bob' }));
    const carol = await ProtocolClient.join(t.url, sessionId, sdk.generateToken(sessionId, { data: 'name=Carol' }));
    try {
      const media = { ...makeTestMedia({ seconds: 1 }), opus: speechOpus(SENTENCE, { padBefore: 1, padAfter: 2 }) };
      const { streamId } = await alice.publish({ media, video: false });
      const created = await bob.waitFor((m) => m.type === 'streamCreated' && m['stream'].streamId === streamId);
      expect(created['stream'].hasCaptions).toBe(false);

      // Bob asks for captions, Carol does not.
      const bobSub = await bob.subscribe(streamId);
      await bob.request({ type: 'updateSubscriber', subscriberId: bobSub.subscriberId, subscribeToCaptions: true });
      await carol.subscribe(streamId);

      const captionsId = await sdk.startCaptions(sessionId, moderatorToken(sessionId), { statusCallbackUrl: callbackUrl });
      // Captions run, but Alice does not publish captions yet: no engine.
      expect(t.server.captions.runOf(sessionId)).toEqual({ captionsId, streams: [] });
      await alice.request({ type: 'updateStream', streamId, publishCaptions: true });
      const changed = await bob.waitFor((m) => m.type === 'streamPropertyChanged' && m['changedProperty'] === 'hasCaptions');
      expect(changed).toMatchObject({ streamId, oldValue: false, newValue: true });
      expect(t.server.captions.runOf(sessionId)!.streams).toEqual([streamId]);

      // The limit (one engine on this server): captions for another session are refused while this runs.
      const other = await routedSession();
      const refused = await rest('POST', '/captions', { sessionId: other, token: moderatorToken(other) });
      expect([refused.status, refused.body.message]).toEqual([503, expect.stringMatching(/COLLOQUY_CAPTIONS_MAX_STREAMS/)]);

      // Bob gets captions of the looping sentence: partial ones, then a final one with its words.
      const final = await bob.waitFor((m) => m.type === 'caption' && m['isFinal'] === true && wordsHeard(SENTENCE, m['caption']).hit.length >= 2, 60_000);
      expect(final).toMatchObject({ subscriberId: bobSub.subscriberId, streamId });
      const heard = bob.of('caption');
      console.log(`captions over signaling: ${heard.length} messages; finals: ${JSON.stringify(heard.filter((m) => m['isFinal']).map((m) => m['caption']))}`);
      expect(heard.some((m) => m['isFinal'] === false)).toBe(true);
      expect(carol.of('caption')).toEqual([]);
      expect(alice.of('caption')).toEqual([]);

      // Bob turns captions off: no more reach him.
      await bob.request({ type: 'updateSubscriber', subscriberId: bobSub.subscriberId, subscribeToCaptions: false });
      const countAfterOff = bob.of('caption').length;

      // Alice stops publishing captions: hasCaptions false for everyone, the engine is gone.
      await alice.request({ type: 'updateStream', streamId, publishCaptions: false });
      await carol.waitFor((m) => m.type === 'streamPropertyChanged' && m['changedProperty'] === 'hasCaptions' && m['newValue'] === false);
      expect(t.server.captions.runOf(sessionId)!.streams).toEqual([]);
      expect(bob.of('caption').length).toBe(countAfterOff);

      // Everyone leaves: the session ends, and its captions with it.
      await Promise.all([alice.close(), bob.close(), carol.close()]);
      await waitUntil(() => callbacksOf(captionsId).length >= 2, 15_000);
      expect(callbacksOf(captionsId).map((c) => [c['status'], c['reason']])).toEqual([
        ['started', undefined],
        ['stopped', 'session ended'],
      ]);
      expect(t.server.captions.runOf(sessionId)).toBeUndefined();
      expect(t.server.captions.activeStreams).toBe(0);
    } finally {
      await Promise.all([alice.close(), bob.close(), carol.close()]);
    }
  }, 120_000);
});
