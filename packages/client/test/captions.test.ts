// Live captions from a real browser: Chromium's fake microphone plays a sentence espeak-ng spoke at
// test time (--use-file-for-fake-audio-capture; Chromium loops it), the page publishes with
// OT.initPublisher({publishCaptions: true}), the app server starts captions with the real
// `opentok` SDK, and a second page subscribes, calls subscribeToCaptions(true) and receives
// captionReceived events — final ones whose text holds spoken words — while its audio decodes.
// stream.hasCaptions and streamPropertyChanged follow publisher.publishCaptions(false).

import { speechWav, wordsHeard } from '@colloquy/testing/speech';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectDecoding, log, MediaApp, publish, waitForLog, type Logged } from './media-app.js';

const SENTENCE = 'hello colloquy, this is a caption test';

let m: MediaApp;

beforeAll(async () => {
  // 16-bit mono PCM at 48 kHz, a second of silence before and two after, so each loop ends a phrase.
  const { path } = speechWav(SENTENCE, { sampleRate: 48000, padBefore: 1, padAfter: 2 });
  m = await MediaApp.start({}, { args: [`--use-file-for-fake-audio-capture=${path}`] });
});
afterAll(async () => m?.close());

const captions = (entries: Logged[]) => entries.filter((e) => e.type === 'captionReceived');

describe('live captions in the browser SDK', () => {
  it('a subscriber with subscribeToCaptions(true) receives captionReceived with the spoken words', async () => {
    const sessionId = await m.createSession('routed');
    const [a, b] = [await m.openPage(), await m.openPage()];
    await m.join(a, sessionId, 'publisher', 'name=Speaker');
    await m.join(b, sessionId, 'subscriber', 'name=Reader');
    const token = m.ot.generateToken(sessionId, { role: 'moderator' });
    const captionsId = await new Promise<string>((resolve, reject) => m.ot.startCaptions(sessionId, token, {}, (err, id) => (err ? reject(err) : resolve(id!))));

    const published = await publish(a, { name: 'Speaker', publishCaptions: true });
    expect(published.streamId, JSON.stringify(published)).toBeTruthy();
    const streamId = published.streamId!;
    // The reader sees a captioned stream, subscribes and asks for its captions.
    const created = await waitForLog(b, (l) => l.some((e) => e.type === 'streamCreated' && e.streamId === streamId), 'streamCreated');
    expect(await b.page.evaluate((id) => (window as any).streams.get(id).hasCaptions, streamId)).toBe(true);
    expect(created.find((e) => e.type === 'streamCreated')).toMatchObject({ hasAudio: true });
    await b.page.evaluate(async (id) => {
      const w = window as any;
      const sub = w.subscribeTo(id) && w.subs.get(id);
      sub.on('captionReceived', (e: any) => w.log.push({ type: 'captionReceived', streamId: e.streamId, caption: e.caption, isFinal: e.isFinal, at: Date.now() }));
      const promise = sub.subscribeToCaptions(true);
      w.log.push({ type: 'subscribeToCaptionsReturned', isPromise: promise instanceof Promise });
      await promise;
      w.log.push({ type: 'subscribedToCaptions', isSubscribed: sub.isSubscribedToCaptions() });
    }, streamId);
    await expectDecoding(b, [streamId], { audio: true, timeoutMs: 30_000 });

    const entries = await waitForLog(
      b,
      (l) => captions(l).some((e) => e.isFinal === true && wordsHeard(SENTENCE, String(e.caption)).hit.length >= 2),
      'a final caption with two spoken words',
      90_000,
    );
    const got = captions(entries);
    const finals = got.filter((e) => e.isFinal).map((e) => String(e.caption));
    console.log(`captionReceived: ${got.length} events, finals ${JSON.stringify(finals)}`);
    expect(entries).toEqual(expect.arrayContaining([{ type: 'subscribeToCaptionsReturned', isPromise: true }, { type: 'subscribedToCaptions', isSubscribed: true }]));
    expect(got.every((e) => e.streamId === streamId)).toBe(true);
    expect(got.some((e) => e.isFinal === false)).toBe(true);
    // The publisher's own page gets no captions (it did not subscribe to them).
    expect(captions(await log(a))).toEqual([]);

    // The publisher stops captioning: everyone sees hasCaptions turn false.
    await a.page.evaluate(() => (window as any).publisher.publishCaptions(false));
    const changed = await waitForLog(b, (l) => l.some((e) => e.type === 'streamPropertyChanged' && e.changedProperty === 'hasCaptions' && e.newValue === false), 'hasCaptions false');
    expect(changed.find((e) => e.type === 'streamPropertyChanged' && e.changedProperty === 'hasCaptions')).toMatchObject({ streamId, oldValue: true, newValue: false });
    expect(await b.page.evaluate((id) => (window as any).streams.get(id).hasCaptions, streamId)).toBe(false);
    await expect.poll(() => m.t.server.captions.runOf(sessionId)?.streams, { timeout: 10_000 }).toEqual([]);

    await new Promise<void>((resolve, reject) => m.ot.stopCaptions(captionsId, (err) => (err ? reject(err) : resolve())));
  }, 180_000);
});
