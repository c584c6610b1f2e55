// The signaling link between two nodes (cluster/signaling-link.ts), without the rest of a cluster:
// its records, the writer's batching of one broadcast frame into one record for many clients, and
// the two ends over real sockets (an edge's WebSocket server and clients, a home acceptor standing
// in for the signaling server): order, closes both ways, a slow reader cut at the edge while the
// others keep getting their frames, and the end of the link dropping everyone on both sides.

import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { decodeLinkMessage, EdgeLink, HomeLinkEnd, LinkProtocolError, LinkRecord, LinkWriter, type LinkedClientAcceptor } from '../../src/cluster/signaling-link.js';
import { textFrame } from '../../src/signaling/broadcast-log.js';
import type { ClientSocket, FrameSink } from '../../src/signaling/socket.js';
import { sendFrameBatched, trackSocket } from '../../src/signaling/write-batching.js';

const until = async (test: () => boolean, what: string | (() => string), timeoutMs = 10_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

/** What one turn of a writer sends, decoded. */
async function written(fill: (w: LinkWriter) => void): Promise<ReturnType<typeof decodeLinkMessage>> {
  const messages: Buffer[] = [];
  const w = new LinkWriter((m) => messages.push(m));
  fill(w);
  await new Promise((r) => setImmediate(r));
  expect(messages).toHaveLength(1);
  return decodeLinkMessage(messages[0]!);
}

describe('link records', () => {
  it('a frame written to many clients in a row is one record; order across records is kept', async () => {
    const broadcast = textFrame('{"type":"signal"}');
    const reply = textFrame('{"type":"response","re":1}');
    const records = await written((w) => {
      for (let id = 1; id <= 1000; id++) w.frame(id, broadcast);
      w.frame(7, reply);
      w.close(7, 4001, 'bye');
      w.frame(8, broadcast);
      w.terminate(9);
    });
    expect(records.map((r) => r.type)).toEqual([LinkRecord.FRAME, LinkRecord.FRAME, LinkRecord.CLOSE, LinkRecord.FRAME, LinkRecord.TERMINATE]);
    const first = records[0] as { frame: Buffer; ids: number[] };
    expect(first.ids).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
    expect(first.frame.equals(broadcast)).toBe(true);
    expect(records[1]).toMatchObject({ ids: [7] });
    expect((records[1] as { frame: Buffer }).frame.equals(reply)).toBe(true);
    expect(records[2]).toEqual({ type: LinkRecord.CLOSE, id: 7, code: 4001, reason: 'bye' });
    expect(records[3]).toMatchObject({ ids: [8] });
    expect(records[4]).toEqual({ type: LinkRecord.TERMINATE, id: 9 });
  });

  it('the edge records round-trip (open, text, closed), strings bounded', async () => {
    const records = await written((w) => {
      w.open(3, '203.0.113.9', 'x'.repeat(2000));
      w.text(3, Buffer.from('{"type":"connect","sessionId":"s"}'));
      w.closed(3, 1001);
    });
    expect(records[0]).toEqual({ type: LinkRecord.OPEN, id: 3, address: '203.0.113.9', userAgent: 'x'.repeat(512) });
    expect((records[1] as { text: Buffer }).text.toString()).toBe('{"type":"connect","sessionId":"s"}');
    expect(records[2]).toEqual({ type: LinkRecord.CLOSED, id: 3, code: 1001 });
  });

  it('refuses malformed messages', async () => {
    expect(() => decodeLinkMessage(Buffer.from([99, 0, 0, 0, 1]))).toThrow(LinkProtocolError);
    const [ok] = await Promise.all([
      (async () => {
        const messages: Buffer[] = [];
        const w = new LinkWriter((m) => messages.push(m));
        w.text(1, Buffer.from('hello'));
        w.flush();
        return messages[0]!;
      })(),
    ]);
    for (let cut = 1; cut < ok.length; cut++) expect(() => decodeLinkMessage(ok.subarray(0, cut))).toThrow(LinkProtocolError);
    // A frame record claiming more clients than the message holds.
    const lying = Buffer.alloc(13);
    lying[0] = LinkRecord.FRAME;
    lying.writeUInt32BE(0, 1);
    lying.writeUInt32BE(5, 5);
    expect(() => decodeLinkMessage(lying)).toThrow(LinkProtocolError);
  });
});

/** A home that answers each message of a client with `echo:<text>` and broadcasts on request. */
class EchoHome implements LinkedClientAcceptor {
  readonly clients: ClientSocket[] = [];
  readonly closes: number[] = [];
  readonly meta: Array<{ ip: string; userAgent: string; mediaNode: string | null }> = [];
  adoptLinked(ws: ClientSocket, frames: FrameSink, client: { ip: string; userAgent: string; mediaNode: string | null }): void {
    trackSocket(ws, frames);
    this.clients.push(ws);
    this.meta.push(client);
    ws.on('close', (code) => this.closes.push(code));
    ws.on('message', (data) => {
      const text = data.toString();
      if (text.startsWith('close:')) ws.close(Number(text.slice(6)), 'asked to');
      else if (text.startsWith('broadcast:')) this.broadcast(text.slice(10));
      else ws.send(`echo:${text}`);
    });
  }
  broadcast(text: string): void {
    const frame = textFrame(text);
    for (const ws of this.clients) if (ws.readyState === WebSocket.OPEN) sendFrameBatched(ws, frame);
  }
}

interface Rig {
  home: EchoHome;
  /** The home's end of the link's TCP socket (pause it: a hung home). */
  homeSockets: Array<{ pause(): void; destroy(): void }>;
  homeEnds: HomeLinkEnd[];
  link: EdgeLink;
  edgeUrl: string;
  close(): Promise<void>;
}

const rigs: Rig[] = [];
afterEach(async () => {
  await Promise.all(rigs.splice(0).map((r) => r.close()));
});

/** A home server (link upgrades), an edge server (client upgrades carried over one EdgeLink). */
async function rig(maxSocketBufferBytes = 8 * 1024 * 1024, pingIntervalMs = 5000, hungAfterMs = 20_000): Promise<Rig> {
  const home = new EchoHome();
  const homeEnds: HomeLinkEnd[] = [];
  const homeWss = new WebSocketServer({ noServer: true });
  const homeHttp: Server = createServer();
  homeHttp.on('upgrade', (req, socket, head) =>
    homeWss.handleUpgrade(req, socket, head, (ws) => homeEnds.push(new HomeLinkEnd(ws, home, { mediaNode: 'n2', maxBufferedBytes: 64 << 20, onError: () => {} }))),
  );
  homeHttp.listen(0, '127.0.0.1');
  await once(homeHttp, 'listening');
  const homeSockets: Array<{ pause(): void; destroy(): void }> = [];
  homeHttp.on('upgrade', (_req, socket) => homeSockets.push(socket));
  const link = new EdgeLink({ url: `ws://127.0.0.1:${(homeHttp.address() as AddressInfo).port}/`, headers: {}, maxSocketBufferBytes, writeFrame: sendFrameBatched, pingIntervalMs, hungAfterMs });
  const edgeWss = new WebSocketServer({ noServer: true });
  const edgeHttp: Server = createServer();
  edgeHttp.on('upgrade', (req, socket, head) =>
    edgeWss.handleUpgrade(req, socket, head, (ws) => {
      ws.once('message', (first) => {
        trackSocket(ws, socket);
        link.add(ws, req.socket.remoteAddress ?? '', String(req.headers['user-agent'] ?? ''), first, [], () => ws.close(1001, 'no home'));
      });
    }),
  );
  edgeHttp.listen(0, '127.0.0.1');
  await once(edgeHttp, 'listening');
  const r: Rig = {
    home,
    homeSockets,
    homeEnds,
    link,
    edgeUrl: `ws://127.0.0.1:${(edgeHttp.address() as AddressInfo).port}/`,
    close: async () => {
      link.terminate();
      for (const c of edgeWss.clients) c.terminate();
      await new Promise((res) => edgeHttp.close(res));
      // A paused (hung) home socket never reads the edge's close: the server would wait for it.
      for (const socket of homeSockets) socket.destroy();
      await new Promise((res) => homeHttp.close(res));
    },
  };
  rigs.push(r);
  return r;
}

/** A client of the edge that records what it gets. */
async function client(url: string, first = 'hello'): Promise<{ ws: WebSocket; got: string[]; closed: Promise<number> }> {
  const ws = new WebSocket(url, { headers: { 'user-agent': 'link-test' } });
  const got: string[] = [];
  ws.on('message', (d) => got.push(d.toString()));
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  await once(ws, 'open');
  ws.send(first);
  return { ws, got, closed };
}

describe('signaling link between an edge and a home', () => {
  it('carries clients both ways in order, with each broadcast written once per link', async () => {
    const r = await rig();
    const clients = await Promise.all(Array.from({ length: 20 }, () => client(r.edgeUrl)));
    await until(() => clients.every((c) => c.got.length === 1), 'first replies');
    expect(clients.every((c) => c.got[0] === 'echo:hello')).toBe(true);
    expect(r.home.meta[0]).toEqual({ ip: '127.0.0.1', userAgent: 'link-test', mediaNode: 'n2' });
    const framesBefore = r.homeEnds[0]!.writer.framesSent;
    // Each client's own replies and the broadcasts interleave in the order the home wrote them.
    for (let i = 0; i < 50; i++) {
      clients[0]!.ws.send(`m${i}`);
      if (i % 10 === 0) clients[0]!.ws.send(`broadcast:b${i}`);
    }
    await until(() => clients.every((c) => c.got.includes('b40')) && clients[0]!.got.includes('echo:m49'), 'all messages');
    const mine = clients[0]!.got.slice(1);
    const expected: string[] = [];
    for (let i = 0; i < 50; i++) {
      expected.push(`echo:m${i}`);
      if (i % 10 === 0) expected.push(`b${i}`);
    }
    expect(mine).toEqual(expected);
    for (const c of clients.slice(1)) expect(c.got.slice(1)).toEqual(['b0', 'b10', 'b20', 'b30', 'b40']);
    // Five broadcasts to 20 clients: 100 deliveries, in about five records (not 100).
    const framesDelta = r.homeEnds[0]!.writer.framesSent - framesBefore;
    expect(framesDelta).toBeLessThanOrEqual(5 + 50);
    expect(r.homeEnds[0]!.writer.deliveriesSent).toBeGreaterThanOrEqual(20 + 100 + 50);
  });

  it('closes travel both ways with their codes', async () => {
    const r = await rig();
    const a = await client(r.edgeUrl);
    const b = await client(r.edgeUrl);
    await until(() => r.home.clients.length === 2 && a.got.length === 1 && b.got.length === 1, 'both open');
    a.ws.send('close:4002');
    expect(await a.closed).toBe(4002);
    b.ws.close(1000);
    await until(() => r.home.closes.length === 2, 'both closes at the home');
    expect(r.home.closes).toEqual([4002, 1000]);
  });

  it('a client that stops reading is cut at the edge; the others keep getting broadcasts', async () => {
    const r = await rig(1024 * 1024);
    const slow = await client(r.edgeUrl);
    const others = await Promise.all(Array.from({ length: 5 }, () => client(r.edgeUrl)));
    await until(() => r.home.clients.length === 6 && [slow, ...others].every((c) => c.got.length === 1), 'all open');
    // The slow client's TCP socket stops being read; the kernel's buffers fill, then the edge's.
    (slow.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const big = 'x'.repeat(64 * 1024);
    const count = 600;
    // Bursts of 512 KB a turn (the readers in this process read between them).
    for (let i = 0; i < count; i++) {
      r.home.broadcast(`${i}:${big}`);
      if (i % 8 === 7) await new Promise((res) => setTimeout(res, 5));
    }
    await until(() => r.home.closes.includes(1006), 'the slow client dropped at the home', 20_000);
    await until(() => others.every((c) => c.got.length === count + 1), () => `the others got all ${count} (${others.map((c) => c.got.length)})`, 30_000);
    for (const c of others) expect(c.got.slice(1).map((t) => Number(t.split(':')[0]))).toEqual(Array.from({ length: count }, (_, i) => i));
    expect(r.home.closes).toEqual([1006]);
    expect(r.home.clients.filter((c) => c.readyState === WebSocket.OPEN)).toHaveLength(5);
    expect(slow.got.length).toBeLessThan(count + 1);
  });

  it('the end of the link drops its clients on both sides', async () => {
    const r = await rig();
    const cs = await Promise.all(Array.from({ length: 3 }, () => client(r.edgeUrl)));
    await until(() => r.home.clients.length === 3 && cs.every((c) => c.got.length === 1), 'all open');
    r.link.terminate();
    expect(await Promise.all(cs.map((c) => c.closed))).toEqual([1006, 1006, 1006]);
    await until(() => r.home.closes.length === 3, 'home sockets closed');
    expect(r.home.closes).toEqual([1006, 1006, 1006]);
    expect(r.link.usable).toBe(false);
  });

  it('a home that stops answering (its process hung) is found out by the link’s pings; its clients are dropped to resume elsewhere', async () => {
    const r = await rig(8 * 1024 * 1024, 100, 500);
    const cs = await Promise.all(Array.from({ length: 2 }, () => client(r.edgeUrl)));
    await until(() => cs.every((c) => c.got.length === 1), 'all open');
    let hung = false;
    r.link.on('hung', () => (hung = true));
    // Answers keep the link up for longer than the hung limit.
    await new Promise((res) => setTimeout(res, 1200));
    expect(r.link.usable).toBe(true);
    // The home stops reading its end: no pong, no answer.
    r.homeSockets[0]!.pause();
    expect(await Promise.all(cs.map((c) => c.closed))).toEqual([1006, 1006]);
    expect(hung).toBe(true);
    expect(r.link.usable).toBe(false);
  });
});
