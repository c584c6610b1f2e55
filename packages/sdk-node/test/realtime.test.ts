// signal, forceDisconnect and listConnections against a real server, with clients joined over the
// signaling WebSocket as a browser would.

import type { RunningServer } from '@colloquy/server';
import { PROTOCOL_VERSION, SIGNALING_PATH } from '@colloquy/protocol';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { startInProcessServer } from './in-process-server.js';
import { Colloquy, NotFoundError } from '../src/index.js';

const KEY = '47000098';
const SECRET = 'sdk-realtime-secret-0123456789';

let server: RunningServer;
let dataDir: string;
let sdk: Colloquy;
const sockets: WebSocket[] = [];

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'colloquy-sdk-rt-'));
  server = await startInProcessServer(dataDir, KEY, SECRET);
  sdk = new Colloquy(KEY, SECRET, server.url);
});
afterAll(async () => {
  for (const s of sockets) s.terminate();
  await server.close();
  rmSync(dataDir, { recursive: true, force: true });
});

/** A client joined over the signaling socket; `messages` collects what the server sends it. */
async function joinClient(sessionId: string, data: string): Promise<{ id: string; messages: Array<Record<string, unknown>>; closed: Promise<number> }> {
  const ws = new WebSocket(server.url.replace('http', 'ws') + SIGNALING_PATH);
  sockets.push(ws);
  const messages: Array<Record<string, unknown>> = [];
  const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
  ws.on('message', (raw) => messages.push(JSON.parse(raw.toString())));
  await new Promise((resolve) => ws.once('open', resolve));
  ws.send(JSON.stringify({ type: 'connect', id: 1, version: PROTOCOL_VERSION, sessionId, token: sdk.generateToken(sessionId, { data }) }));
  const reply = await until(() => messages.find((m) => m['re'] === 1));
  const result = reply['result'] as { connection: { connectionId: string } };
  return { id: result.connection.connectionId, messages, closed };
}

async function until<T>(get: () => T | undefined, timeoutMs = 3000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = get();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('signals, connections and moderation', () => {
  it('lists the connected clients, signals all and one, and force-disconnects', async () => {
    const { sessionId } = await sdk.createSession();
    expect(await sdk.listConnections(sessionId)).toEqual({ count: 0, projectId: KEY, sessionId, items: [] });
    await expect(sdk.signal(sessionId, null, { data: 'nobody' })).rejects.toBeInstanceOf(NotFoundError);

    const a = await joinClient(sessionId, 'a');
    const b = await joinClient(sessionId, 'b');
    const list = await sdk.listConnections(sessionId);
    expect(list.count).toBe(2);
    expect(list.items.map((c) => c.connectionId)).toEqual([a.id, b.id]);
    expect(list.items[0]).toMatchObject({ connectionState: 'Connected', createdAt: expect.any(Number) });

    await sdk.signal(sessionId, null, { type: 'all', data: 'hello everyone' });
    await sdk.signal(sessionId, b.id, { data: 'just b' });
    for (const c of [a, b]) await until(() => c.messages.find((m) => m['data'] === 'hello everyone' && m['signalType'] === 'all' && m['from'] === null));
    await until(() => b.messages.find((m) => m['data'] === 'just b'));
    expect(a.messages.some((m) => m['data'] === 'just b')).toBe(false);

    await expect(sdk.signal(sessionId, null, { type: 'bad type', data: 'x' })).rejects.toMatchObject({ status: 400 });
    await expect(sdk.signal(sessionId, null, { data: 'x'.repeat(9000) })).rejects.toMatchObject({ status: 413 });
    await expect(sdk.signal(sessionId, '00000000-0000-4000-8000-000000000000', { data: 'x' })).rejects.toBeInstanceOf(NotFoundError);

    await sdk.forceDisconnect(sessionId, a.id);
    expect(await a.closed).toBe(4002);
    await until(() => b.messages.find((m) => m['type'] === 'connectionDestroyed' && m['reason'] === 'forceDisconnected'));
    expect((await sdk.listConnections(sessionId)).items.map((c) => c.connectionId)).toEqual([b.id]);
    const again = await sdk.forceDisconnect(sessionId, a.id).catch((e) => e);
    expect(again).toBeInstanceOf(NotFoundError);
  });

  it('refuses unknown sessions and empty ids', async () => {
    await expect(sdk.listConnections('1_bm90LWEtc2Vzc2lvbg')).rejects.toBeInstanceOf(NotFoundError);
    await expect(sdk.forceDisconnect('', 'x')).rejects.toBeInstanceOf(TypeError);
  });
});
