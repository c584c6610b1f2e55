// write-batching: a socket's first message of a turn leaves at once, the rest of what the turn
// sends it leaves in one writev, in order, and a close frame sent after messages arrives after them. A real ws server and
// client on loopback; the server socket's _write/_writev calls are counted.

import { createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { sendBatched, trackSocket } from '../src/signaling/write-batching.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

/** A server-side WebSocket (tracked) and a client connected to it, with the server socket's writes counted. */
async function pair(): Promise<{ server: WebSocket; client: WebSocket; writes: () => number }> {
  const http = createServer();
  const wss = new WebSocketServer({ noServer: true });
  let writeCalls = 0;
  const accepted = new Promise<WebSocket>((resolve) => {
    http.on('upgrade', (req, socket, head) => {
      const s = socket as Socket & { _write: (...a: unknown[]) => void; _writev: (...a: unknown[]) => void };
      const write = s._write.bind(s);
      const writev = s._writev.bind(s);
      s._write = (...a) => (writeCalls++, write(...a));
      s._writev = (...a) => (writeCalls++, writev(...a));
      wss.handleUpgrade(req, socket, head, (ws) => {
        trackSocket(ws, socket);
        resolve(ws);
      });
    });
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const client = new WebSocket(`ws://127.0.0.1:${(http.address() as AddressInfo).port}`);
  const server = await accepted;
  await new Promise((r) => client.once('open', r));
  cleanups.push(() => {
    client.terminate();
    server.terminate();
    http.close();
  });
  return { server, client, writes: () => writeCalls };
}

describe('signaling write batching', () => {
  it('writes a turn’s first message to a socket at once and the rest in one write, in order', async () => {
    const { server, client, writes } = await pair();
    const received: string[] = [];
    const all = new Promise<void>((resolve) => client.on('message', (d) => received.push(String(d)) === 100 && resolve()));
    await new Promise((r) => setImmediate(r));
    const before = writes();
    sendBatched(server, 'm0');
    expect(writes() - before).toBe(1); // a lone message is not delayed
    for (let i = 1; i < 100; i++) sendBatched(server, `m${i}`);
    expect(writes() - before).toBe(1); // the others are held until the turn's I/O is handled
    await all;
    expect(received).toEqual(Array.from({ length: 100 }, (_, i) => `m${i}`));
    expect(writes() - before).toBe(2);

    // The next turn starts afresh: its first message leaves at once.
    const more = new Promise((r) => client.once('message', r));
    sendBatched(server, 'later');
    expect(writes() - before).toBe(3);
    expect(String(await more)).toBe('later');
  });

  it('does not hold more than a few kilobytes per socket: a long batch leaves in pieces, still in order', async () => {
    const { server, client, writes } = await pair();
    const received: string[] = [];
    const all = new Promise<void>((resolve) => client.on('message', (d) => received.push(String(d)) === 100 && resolve()));
    await new Promise((r) => setImmediate(r));
    const before = writes();
    const messages = Array.from({ length: 100 }, (_, i) => `${i}:`.padEnd(1000, 'x'));
    for (const m of messages) sendBatched(server, m);
    await all;
    expect(received).toEqual(messages);
    // 100 kB in pieces of about 4 kB: far fewer writes than messages, far more than one.
    expect(writes() - before).toBeGreaterThanOrEqual(20);
    expect(writes() - before).toBeLessThanOrEqual(35);
  });

  it('a close after messages of the same turn arrives after them', async () => {
    const { server, client } = await pair();
    const received: string[] = [];
    client.on('message', (d) => received.push(String(d)));
    const closed = new Promise<number>((r) => client.once('close', (code) => r(code)));
    sendBatched(server, 'one');
    sendBatched(server, 'two');
    server.close(4001, 'bye');
    expect(await closed).toBe(4001);
    expect(received).toEqual(['one', 'two']);
  });
});
