// The SDK's signaling channel against a cluster of three scripted nodes (`ws` servers on loopback,
// Node's WebSocket stand-in for the browser's): the channel keeps the newest node list — from the
// connect reply, a `clusterNodes` push and a resume reply — and, when the nodes it knew at connect
// time are all gone, reaches the node it only learned of later, and joins there again.

import { CloseCodes, ErrorCodes, SIGNALING_PATH, type ConnectResult } from '@colloquy/protocol';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket as NodeWebSocket, WebSocketServer, type WebSocket as Socket } from 'ws';
import { SignalingChannel, type ChannelListener } from '../src/signaling-channel.js';

(globalThis as unknown as { WebSocket: unknown }).WebSocket ??= NodeWebSocket;

interface Node {
  url: string;
  server: WebSocketServer;
  /** Every request each socket sent, by type. */
  requests: string[];
  /** The sockets open now. */
  sockets: Set<Socket>;
  /** What the node answers a resume with: accept it, or refuse it (the connection is unknown here). */
  resume: 'accept' | 'refuse';
  nodes: () => string[];
}

const nodes: Node[] = [];

async function startNode(resume: Node['resume'], nodesOf: () => string[], connectionId: string): Promise<Node> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0, path: SIGNALING_PATH });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const node: Node = { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, requests: [], sockets: new Set(), resume, nodes: nodesOf };
  server.on('connection', (ws) => {
    node.sockets.add(ws);
    ws.on('close', () => node.sockets.delete(ws));
    ws.on('message', (data) => {
      const message = JSON.parse(String(data)) as { type: string; id: number };
      node.requests.push(message.type);
      if (message.type === 'connect') {
        const result: ConnectResult = {
          connection: { connectionId, creationTime: Date.now(), data: '' },
          resumeSecret: 'secret',
          capabilities: [],
          permissions: [],
          connections: [],
          streams: [],
          session: { sessionId: 'S', mediaMode: 'routed', e2ee: false },
          heartbeat: { intervalMs: 60_000, timeoutMs: 180_000 },
          resumeGraceMs: 20_000,
          nodes: node.nodes(),
        } as unknown as ConnectResult;
        ws.send(JSON.stringify({ type: 'response', re: message.id, result }));
      } else if (message.type === 'resume') {
        if (node.resume === 'refuse') {
          ws.send(JSON.stringify({ type: 'error', re: message.id, code: ErrorCodes.RESUME_FAILED, name: 'RESUME_FAILED', message: 'unknown connection' }));
          ws.close(CloseCodes.RESUME_FAILED, 'resume refused');
        } else {
          ws.send(JSON.stringify({ type: 'response', re: message.id, result: { lastRequestId: 0, replayed: 0, nodes: node.nodes() } }));
        }
      }
    });
  });
  nodes.push(node);
  return node;
}

/** Stops a node as a crash would: its sockets cut, its port refusing connections. */
async function kill(node: Node): Promise<void> {
  for (const ws of node.sockets) ws.terminate();
  await new Promise<void>((resolve) => node.server.close(() => resolve()));
}

function recorder(): ChannelListener & { events: string[]; waitFor: (event: string) => Promise<void> } {
  const events: string[] = [];
  const waiters: { event: string; resolve: () => void }[] = [];
  const push = (event: string): void => {
    events.push(event);
    for (const w of waiters.filter((w) => w.event === event)) w.resolve();
  };
  return {
    events,
    onEvent: (e) => push(`event:${e.type}`),
    onReconnecting: () => push('reconnecting'),
    onReconnected: () => push('reconnected'),
    onRejoined: (r) => push(`rejoined:${r.connection.connectionId}`),
    onClosed: (reason) => push(`closed:${reason}`),
    waitFor: (event) =>
      events.includes(event)
        ? Promise.resolve()
        : new Promise<void>((resolve, reject) => {
            waiters.push({ event, resolve });
            setTimeout(() => reject(new Error(`no ${event} in 15 s; events: ${events.join(', ')}`)), 15_000).unref();
          }),
  };
}

const until = async (check: () => boolean, what: string): Promise<void> => {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

afterEach(async () => {
  for (const node of nodes.splice(0)) await kill(node).catch(() => {});
});

/** `a` and `b` are the cluster when the client connects (both refuse resumes); `c` joins after. */
async function aClusterThenC(): Promise<{ a: Node; b: Node; c: Node }> {
  const known: string[] = [];
  const a = await startNode('refuse', () => known, 'conn-1');
  const b = await startNode('refuse', () => known, 'conn-x');
  known.push(a.url, b.url);
  const c: Node = await startNode('refuse', () => [...known, c.url], 'conn-2');
  return { a, b, c };
}

describe('signaling channel in a cluster: the node list it reconnects through', () => {
  it('reaches a node announced after connect (clusterNodes) once the nodes it knew are gone, and joins again there', async () => {
    const { a, b, c } = await aClusterThenC();
    const listener = recorder();
    const channel = new SignalingChannel(a.url, listener);
    const joined = await channel.connect({ sessionId: 'S', token: 'T', apiKey: '1' });
    expect(joined.nodes).toEqual([a.url, b.url]);
    // `c` joined: the node holding the connection announces the new list.
    const [socket] = a.sockets;
    socket!.send(JSON.stringify({ type: 'clusterNodes', nodes: [a.url, b.url, c.url] }));
    // An ordinary request round trip proves the push was read before the nodes die.
    socket!.send(JSON.stringify({ type: 'ping' }));
    await until(() => a.requests.includes('pong'), 'the pong');
    await Promise.all([kill(a), kill(b)]);
    await listener.waitFor('rejoined:conn-2');
    expect(channel.state).toBe('connected');
    expect(c.requests).toEqual(['resume', 'connect']);
    expect(listener.events).toEqual(['reconnecting', 'rejoined:conn-2']);
    channel.disconnect();
  });

  it('without the announcement, the nodes it knew at connect time are all it tries', async () => {
    const { a, b, c } = await aClusterThenC();
    const listener = recorder();
    // A short grace: the channel gives up within a second or so.
    const channel = new SignalingChannel(a.url, listener, { nextDelay: (attempt) => (attempt < 6 ? 20 : null) });
    await channel.connect({ sessionId: 'S', token: 'T', apiKey: '1' });
    await Promise.all([kill(a), kill(b)]);
    await listener.waitFor('closed:networkDisconnected');
    expect(c.requests).toEqual([]);
  });

  it('takes the node list of a resume reply', async () => {
    const known: string[] = [];
    const a = await startNode('accept', () => known, 'conn-1');
    known.push(a.url);
    const b = await startNode('accept', () => [...known, b.url], 'conn-1');
    const c = await startNode('refuse', () => [a.url, b.url, c.url], 'conn-2');
    const listener = recorder();
    const channel = new SignalingChannel(a.url, listener);
    await channel.connect({ sessionId: 'S', token: 'T', apiKey: '1' });
    // `a` answers the resume with the list [a, b] (b joined meanwhile)…
    known.push(b.url);
    for (const ws of a.sockets) ws.terminate();
    await listener.waitFor('reconnected');
    expect(a.requests).toEqual(['connect', 'resume']);
    // …so when `a` dies, the channel resumes through `b`, which it never heard of at connect time.
    await kill(a);
    await until(() => b.requests.includes('resume'), 'a resume through b');
    await until(() => listener.events.filter((e) => e === 'reconnected').length === 2, 'the second reconnect');
    expect(c.requests).toEqual([]);
    channel.disconnect();
  });
});
