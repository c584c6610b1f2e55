// Leaving without saying goodbye: a tab that closes or reloads must leave its session at once —
// the others get connectionDestroyed and streamDestroyed well before the server's resume
// grace period (20 s by default, kept long here so a test can tell the two apart) — in routed and
// relayed sessions. Two mechanisms, each tested: the SDK leaves on `pagehide`, and the server treats
// a socket closed with 1000/1001 as leaving (see packages/server/test/signaling.test.ts).

import type { TestPage } from '@colloquy/testing/browser';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { expectDecoding, log, MediaApp, publish, waitForLog, type Logged } from './media-app.js';

const GRACE_MS = 20_000;
/** The target: the others see the tab go within 2 s. */
// Half the grace: a leave seen before it cannot be the grace expiring, however slowly a loaded
// machine delivers it (typically it takes well under a second).
const LEAVE_WITHIN_MS = GRACE_MS / 2;

let m: MediaApp;

beforeAll(async () => {
  m = await MediaApp.start({ COLLOQUY_RESUME_GRACE_MS: String(GRACE_MS) });
});
afterEach(async () => m.closePages());
afterAll(async () => m?.close());

/** Two pages in a call: A publishes, B subscribes and decodes A's video. */
async function call(mediaMode: 'routed' | 'relayed'): Promise<{ sessionId: string; a: TestPage; b: TestPage; aConnection: string; aStream: string }> {
  const sessionId = await m.createSession(mediaMode);
  const [a, b] = [await m.openPage(), await m.openPage()];
  await b.page.evaluate(() => ((window as any).autoSubscribe = true));
  await m.join(b, sessionId, 'publisher', 'name=Bob');
  const aConnection = await m.join(a, sessionId, 'publisher', 'name=Ada');
  const published = await publish(a, { name: 'Ada', width: 160, height: 120, resolution: '320x240' });
  expect(published.streamId, JSON.stringify(published)).toBeTruthy();
  await expectDecoding(b, [published.streamId!]);
  return { sessionId, a, b, aConnection, aStream: published.streamId! };
}

/** Waits for B to see A's connection and stream go; returns how long after `since` each arrived. */
async function seenLeaving(b: TestPage, connectionId: string, streamId: string, since: number): Promise<{ connection: Logged; stream: Logged; connectionMs: number; streamMs: number }> {
  const l = await waitForLog(
    b,
    (x) => x.some((e) => e.type === 'connectionDestroyed' && e['connectionId'] === connectionId) && x.some((e) => e.type === 'streamDestroyed' && e.streamId === streamId),
    'connectionDestroyed and streamDestroyed',
    GRACE_MS + 5_000,
  );
  const connection = l.find((e) => e.type === 'connectionDestroyed' && e['connectionId'] === connectionId)!;
  const stream = l.find((e) => e.type === 'streamDestroyed' && e.streamId === streamId)!;
  return { connection, stream, connectionMs: (connection['at'] as number) - since, streamMs: (stream['at'] as number) - since };
}

describe('a tab that goes away leaves at once', () => {
  for (const mediaMode of ['routed', 'relayed'] as const) {
    it(`${mediaMode}: closing the publisher's tab — the other sees connectionDestroyed and streamDestroyed (clientDisconnected) within 2 s`, async () => {
      const { sessionId, a, b, aConnection, aStream } = await call(mediaMode);
      const closedAt = Date.now();
      await a.page.close();
      m.pages = m.pages.filter((p) => p !== a);
      const seen = await seenLeaving(b, aConnection, aStream, closedAt);
      console.log(`${mediaMode} close: connectionDestroyed after ${seen.connectionMs} ms, streamDestroyed after ${seen.streamMs} ms`);
      expect(seen.connection['reason']).toBe('clientDisconnected');
      expect(seen.stream['reason']).toBe('clientDisconnected');
      expect(seen.connectionMs).toBeLessThan(LEAVE_WITHIN_MS);
      expect(seen.streamMs).toBeLessThan(LEAVE_WITHIN_MS);
      // The subscriber went with its stream, and the server holds nothing of A any more.
      await waitForLog(b, (x) => x.some((e) => e.type === 'subscriberDestroyed' && e.streamId === aStream), 'subscriber destroyed');
      expect(m.t.server.sessions.live(sessionId)?.getConnection(aConnection)).toBeUndefined();
    });

    it(`${mediaMode}: reloading the publisher's tab — the old connection and stream go within 2 s, the reloaded page sees no ghost of itself, and its new stream decodes at the other`, async () => {
      const { sessionId, a, b, aConnection, aStream } = await call(mediaMode);
      const reloadedAt = Date.now();
      await a.page.reload();
      const seen = await seenLeaving(b, aConnection, aStream, reloadedAt);
      console.log(`${mediaMode} reload: connectionDestroyed after ${seen.connectionMs} ms, streamDestroyed after ${seen.streamMs} ms`);
      expect(seen.connection['reason']).toBe('clientDisconnected');
      expect(seen.connectionMs).toBeLessThan(LEAVE_WITHIN_MS);
      expect(seen.streamMs).toBeLessThan(LEAVE_WITHIN_MS);
      // The reloaded page joins again: the only stream it is offered is B's (none: B does not
      // publish), never its own old one; it publishes anew and B decodes the new stream.
      await a.page.evaluate(() => ((window as any).autoSubscribe = true));
      const again = await m.join(a, sessionId, 'publisher', 'name=Ada');
      expect(again).not.toBe(aConnection);
      const republished = await publish(a, { name: 'Ada', width: 160, height: 120, resolution: '320x240' });
      expect(republished.streamId, JSON.stringify(republished)).toBeTruthy();
      await expectDecoding(b, [republished.streamId!]);
      expect((await log(a)).filter((e) => e.type === 'streamCreated')).toEqual([]);
      expect((await log(b)).filter((e) => e.type === 'subscribed' && (e['error'] as unknown) !== null)).toEqual([]);
    });
  }

  it('the SDK leaves on pagehide by itself (no socket close involved): clientDisconnected for everyone, sessionDisconnected on the page', async () => {
    const { a, b, aConnection, aStream } = await call('routed');
    const firedAt = Date.now();
    // What the browser fires when the tab closes, reloads or navigates; the page stays open, so
    // only the SDK's own pagehide handler can make it leave.
    await a.page.evaluate(() => window.dispatchEvent(new PageTransitionEvent('pagehide', { persisted: false })));
    const seen = await seenLeaving(b, aConnection, aStream, firedAt);
    expect(seen.connection['reason']).toBe('clientDisconnected');
    expect(seen.connectionMs).toBeLessThan(LEAVE_WITHIN_MS);
    await waitForLog(a, (x) => x.some((e) => e.type === 'sessionDisconnected' && e['reason'] === 'clientDisconnected'), 'sessionDisconnected on the page');
    expect(await a.page.evaluate(() => (window as any).session.isConnected())).toBe(false);
  });
});
