// The Inspector records what happens in live sessions: connections with user agent, address and
// reason, signals counted by type, moderation with its actor, and the server shutting down.

import { Colloquy } from '@colloquy/sdk-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers.js';
import { sleep, WsClient } from './ws-client.js';

let t: TestServer;
let sdk: Colloquy;
beforeAll(async () => {
  t = await startTestServer();
  sdk = new Colloquy(t.apiKey, t.apiSecret, t.url);
});
afterAll(async () => t.close());

async function until<T>(read: () => T | Promise<T>, ok: (v: T) => boolean, ms = 5000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await read();
    if (ok(v) || Date.now() > deadline) return v;
    await sleep(50);
  }
}

describe('inspector recording from live sessions', () => {
  it('logs connections, signals (counted, no data), moderation and their reasons', async () => {
    const { sessionId } = await sdk.createSession();
    const a = await WsClient.join(t.url, sessionId, sdk.generateToken(sessionId, { role: 'moderator', data: 'name=A' }), { 'user-agent': 'InspectorTest/1.0' });
    const b = await WsClient.join(t.url, sessionId, sdk.generateToken(sessionId, { data: 'name=B' }));
    await a.request({ type: 'signal', signalType: 'chat', data: 'secret words' });
    await a.request({ type: 'signal', signalType: 'chat', data: 'more secret words', to: b.connectionId });
    await sdk.signal(sessionId, null, { type: 'notice', data: 'from the app' });
    await sdk.forceDisconnect(sessionId, b.connectionId);
    await a.request({ type: 'disconnect' });

    const events = await until(
      async () => (await t.server.inspector.events(sessionId, {})).items,
      (items) => items.filter((e) => e.type === 'connectionDestroyed').length === 2,
    );
    const created = events.filter((e) => e.type === 'connectionCreated');
    expect(created).toHaveLength(2);
    expect(created.find((e) => e.connectionId === a.connectionId)?.details).toMatchObject({ userAgent: 'InspectorTest/1.0', ip: '127.0.0.1', role: 'moderator', data: 'name=A' });
    const signals = events.filter((e) => e.type === 'signal');
    expect(signals.map((e) => e.details['signalType']).sort()).toEqual(['chat', 'chat', 'notice']);
    expect(JSON.stringify(events)).not.toContain('secret words');
    expect(events.find((e) => e.type === 'moderation')).toMatchObject({ connectionId: b.connectionId, details: { action: 'forceDisconnect', actor: { kind: 'rest' } } });
    const destroyed = Object.fromEntries(events.filter((e) => e.type === 'connectionDestroyed').map((e) => [e.connectionId, e.details['reason']]));
    expect(destroyed).toEqual({ [a.connectionId]: 'clientDisconnected', [b.connectionId]: 'forceDisconnected' });
  });

  it('marks connections still open at shutdown as serverShutdown', async () => {
    const other = await startTestServer();
    try {
      const otherSdk = new Colloquy(other.apiKey, other.apiSecret, other.url);
      const { sessionId } = await otherSdk.createSession();
      const c = await WsClient.join(other.url, sessionId, otherSdk.generateToken(sessionId));
      await other.server.close();
      // Read back what was flushed at shutdown, through a fresh store on the same folder.
      const { openServerStore } = await import('../src/server-store.js');
      const reopened = await openServerStore({ dataDir: other.dataDir });
      try {
        const rows = await reopened.db.all<{ type: string; connectionId: string; details: string }>(
          'SELECT type, connection_id AS "connectionId", details FROM inspector_events WHERE session_id = ? ORDER BY id',
          [sessionId],
        );
        expect(rows.map((r) => r.type)).toEqual(['connectionCreated', 'connectionDestroyed']);
        expect(rows[1]!.connectionId).toBe(c.connectionId);
        expect(JSON.parse(rows[1]!.details)).toMatchObject({ reason: 'serverShutdown' });
      } finally {
        await reopened.close();
      }
    } finally {
      await other.close();
    }
  });
});
