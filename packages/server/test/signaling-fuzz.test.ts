// Hostile and broken clients on the signaling socket: malformed, oversized, out-of-order, unknown
// and random messages, before and after joining, and floods. Each must get a protocol error (or be
// cut off), the server must stay up, and two bystanders in a session must keep talking throughout.

import { CloseCodes, PROTOCOL_VERSION } from '@colloquy/protocol';
import OpenTok from 'opentok';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers.js';
import { sleep, WsClient, type AnyMessage } from './ws-client.js';

let t: TestServer;
let ot: OpenTok;
let sessionId: string;
let alice: WsClient;
let bob: WsClient;
const opened: WsClient[] = [];
let probe = 0;

beforeAll(async () => {
  t = await startTestServer();
  ot = new OpenTok(t.apiKey, t.apiSecret, t.url);
  sessionId = await createSession();
  alice = await WsClient.join(t.url, sessionId, ot.generateToken(sessionId, { data: 'alice' }));
  bob = await WsClient.join(t.url, sessionId, ot.generateToken(sessionId, { data: 'bob' }));
});
afterAll(async () => {
  for (const c of [...opened, alice, bob]) c.kill();
  await t.close();
});

/** After every case: the server answers HTTP, and the bystanders still exchange signals. */
afterEach(async () => {
  const health = await fetch(`${t.url}/healthz`);
  expect(health.status).toBe(200);
  const data = `probe-${++probe}`;
  expect(await alice.request({ type: 'signal', to: bob.connectionId, data })).toMatchObject({ type: 'response' });
  await bob.waitFor((m) => m['data'] === data);
  expect(alice.closed).toBeNull();
  expect(bob.closed).toBeNull();
  expect(bob.of('connectionDestroyed')).toEqual([]);
});

function createSession(): Promise<string> {
  return new Promise((resolve, reject) => ot.createSession({ mediaMode: 'routed' }, (err, s) => (err ? reject(err) : resolve(s!.sessionId))));
}

async function open(): Promise<WsClient> {
  const c = await WsClient.open(t.url);
  opened.push(c);
  return c;
}

async function member(): Promise<WsClient> {
  const c = await WsClient.join(t.url, sessionId, ot.generateToken(sessionId, { data: 'mallory' }));
  opened.push(c);
  return c;
}

/** Sends raw text and returns the next error the server answers with. */
async function errorFor(client: WsClient, text: string | Buffer, binary = false): Promise<AnyMessage> {
  const next = client.next((m) => m.type === 'error');
  client.sendRaw(text, binary);
  return next;
}

describe('before joining', () => {
  it('answers malformed frames with MALFORMED_MESSAGE (4000)', async () => {
    const c = await open();
    for (const text of ['{', 'null', '[]', '"text"', '42', '{}', '{"type":5}', '{"type":null,"id":3}']) {
      const err = await errorFor(c, text);
      expect(err, text).toMatchObject({ type: 'error', code: 4000 });
      expect(typeof err['message']).toBe('string');
    }
    expect(await errorFor(c, Buffer.from([1, 2, 3]), true)).toMatchObject({ code: 4000 });
    expect(c.closed).toBeNull();
  });

  it('answers unknown types with UNKNOWN_MESSAGE_TYPE (4001), including prototype names', async () => {
    const c = await open();
    for (const type of ['teleport', 'hello', '__proto__', 'constructor', 'toString', 'x'.repeat(10_000)]) {
      const err = await errorFor(c, JSON.stringify({ type, id: 7 }));
      expect(err).toMatchObject({ code: 4001, re: 7 });
      expect(String(err['message']).length).toBeLessThan(200);
    }
  });

  it('refuses requests before connect with NOT_CONNECTED (1010)', async () => {
    const c = await open();
    expect(await c.request({ type: 'signal', data: 'x' })).toMatchObject({ type: 'error', code: 1010, name: 'OT_NOT_CONNECTED' });
    expect(await c.request({ type: 'forceDisconnect', connectionId: alice.connectionId })).toMatchObject({ code: 1010 });
    expect(await c.request({ type: 'disconnect' })).toMatchObject({ code: 1010 });
    // Heartbeats are fine before joining.
    c.send({ type: 'ping' });
    await c.waitFor((m) => m.type === 'pong');
  });

  it('answers wrong field types with INVALID_PARAMETER (1011) naming the field', async () => {
    const c = await open();
    const cases: Array<Record<string, unknown>> = [
      { type: 'connect', id: 1, version: PROTOCOL_VERSION, sessionId: 5, token: 'x' },
      { type: 'connect', id: 2, version: '1', sessionId, token: 'x' },
      { type: 'connect', id: 3, version: PROTOCOL_VERSION, sessionId, token: 'x'.repeat(20_000) },
      { type: 'connect', id: 4, version: PROTOCOL_VERSION, sessionId: 's'.repeat(300), token: 'x' },
      { type: 'resume', id: 5, version: PROTOCOL_VERSION, sessionId, connectionId: 'c', resumeSecret: 's', lastSeq: -1 },
      { type: 'signal', id: 6, data: { nested: true } },
      { type: 'signal', id: 7.5, data: 'x' },
      { type: 'ack', seq: 'all' },
      { type: 'subscribe', id: 8, streamId: 's', preferredFrameRate: 0 },
      { type: 'updateSubscriber', id: 9, subscriberId: 'x', preferredFrameRate: '15' },
    ];
    for (const message of cases) {
      const err = await errorFor(c, JSON.stringify(message));
      expect(err, JSON.stringify(message).slice(0, 80)).toMatchObject({ code: 1011, name: 'OT_INVALID_PARAMETER' });
      if (Number.isInteger(message['id'])) expect(err['re']).toBe(message['id']);
    }
  });

  it('refuses an unsupported protocol version and closes', async () => {
    const c = await open();
    const token = ot.generateToken(sessionId);
    expect(await c.request({ type: 'connect', version: 99, sessionId, token })).toMatchObject({ type: 'error', code: 4002 });
    expect((await c.waitClosed()).code).toBe(CloseCodes.AUTH_FAILED);
  });

  it('closes a socket that sends a frame over the size limit (1009), and one with invalid UTF-8 (1007)', async () => {
    const big = await open();
    big.sendRaw(JSON.stringify({ type: 'signal', id: 1, data: 'x'.repeat(100_000) }));
    expect((await big.waitClosed()).code).toBe(1009);
    const bad = await open();
    bad.ws.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false });
    expect((await bad.waitClosed()).code).toBe(1007);
  });

  it('survives deeply nested JSON', async () => {
    const c = await open();
    const deep = '['.repeat(30_000) + ']'.repeat(30_000);
    expect(await errorFor(c, deep)).toMatchObject({ code: 4000 });
    const deepObject = '{"type":"signal","id":1,"data":' + '{"a":'.repeat(5000) + '1' + '}'.repeat(5000) + '}';
    expect(await errorFor(c, deepObject)).toMatchObject({ code: 1011 });
  });
});

describe('after joining', () => {
  it('refuses repeated or decreasing request ids (OUT_OF_ORDER 4003) without acting on them', async () => {
    const m = await member();
    m.setNextId(10);
    expect(await m.request({ type: 'signal', to: bob.connectionId, data: 'ten' })).toMatchObject({ type: 'response', re: 10 });
    expect(await m.request({ type: 'signal', id: 10, to: bob.connectionId, data: 'ten-again' })).toMatchObject({ type: 'error', code: 4003 });
    expect(await m.request({ type: 'signal', id: 3, to: bob.connectionId, data: 'three' })).toMatchObject({ type: 'error', code: 4003 });
    expect(await m.request({ type: 'signal', id: 11, to: bob.connectionId, data: 'eleven' })).toMatchObject({ type: 'response' });
    await bob.waitFor((x) => x['data'] === 'eleven');
    expect(bob.of('signal').filter((x) => ['ten-again', 'three'].includes(String(x['data'])))).toEqual([]);
    m.close();
  });

  it('refuses a second connect or resume on a joined socket (ALREADY_CONNECTED 4004)', async () => {
    const m = await member();
    const token = ot.generateToken(sessionId);
    expect(await m.request({ type: 'connect', version: PROTOCOL_VERSION, sessionId, token })).toMatchObject({ type: 'error', code: 4004 });
    expect(
      await m.request({ type: 'resume', version: PROTOCOL_VERSION, sessionId, connectionId: alice.connectionId, resumeSecret: alice.connectResult!.resumeSecret, lastSeq: 0 }),
    ).toMatchObject({ type: 'error', code: 4004 });
    // Alice's connection was not touched by that attempt.
    expect(alice.closed).toBeNull();
    m.close();
  });

  it('cuts off a client after too many protocol errors; the others see networkDisconnected', async () => {
    const m = await member();
    await alice.waitFor((x) => x.type === 'connectionCreated' && (x['connection'] as { connectionId: string }).connectionId === m.connectionId);
    for (let i = 0; i < 25; i++) m.sendRaw('not json');
    expect((await m.waitClosed()).code).toBe(CloseCodes.PROTOCOL_VIOLATION);
    const gone = await alice.waitFor((x) => x.type === 'connectionDestroyed' && x['connectionId'] === m.connectionId);
    expect(gone['reason']).toBe('networkDisconnected');
    expect(m.of('error').length).toBeGreaterThanOrEqual(20);
    // It cannot come back through a resume.
    const again = await open();
    expect(
      await again.request({ type: 'resume', version: PROTOCOL_VERSION, sessionId, connectionId: m.connectionId, resumeSecret: m.connectResult!.resumeSecret, lastSeq: 0 }),
    ).toMatchObject({ code: 4005 });
    bob.received.length = 0; // bob saw mallory come and go; the afterEach check is about alice and bob
  });

  it('cuts off a flood of messages', async () => {
    const m = await WsClient.open(t.url);
    opened.push(m);
    const started = Date.now();
    for (let i = 0; i < 3000; i++) m.send({ type: 'ping' });
    expect((await m.waitClosed()).code).toBe(CloseCodes.PROTOCOL_VIOLATION);
    // The burst is 400 messages, refilled at 200/s while the flood is read (slower on a loaded machine).
    const refill = Math.ceil(((Date.now() - started) / 1000) * 200);
    expect(m.of('pong').length).toBeLessThanOrEqual(400 + refill + 10);
    expect(m.of('pong').length).toBeLessThan(3000);
  });

  it('stays up under random mutations of valid messages from several sockets', async () => {
    // A fixed-seed generator so a failure can be replayed.
    let seed = 12345;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const values: unknown[] = [null, true, -1, 0, 1.5, 2 ** 60, '', 'x', 'é'.repeat(50), [], {}, [1, [2]], { a: { b: null } }, bob.connectionId];
    const templates: Array<Record<string, unknown>> = [
      { type: 'connect', id: 1, version: PROTOCOL_VERSION, sessionId, token: ot.generateToken(sessionId) },
      { type: 'resume', id: 1, version: PROTOCOL_VERSION, sessionId, connectionId: alice.connectionId, resumeSecret: 'guess', lastSeq: 0 },
      { type: 'signal', id: 2, to: bob.connectionId, signalType: 'fuzz', data: 'x' },
      { type: 'forceDisconnect', id: 3, connectionId: alice.connectionId },
      { type: 'ping', ack: 1 },
      { type: 'ack', seq: 1 },
    ];
    const sockets = await Promise.all([open(), open(), member(), member()]);
    const used: WsClient[] = [...sockets];
    let sent = 0;
    let replaced = 0;
    for (let i = 0; i < 600; i++) {
      const slot = rand(sockets.length);
      if (sockets[slot]!.closed || sockets[slot]!.ws.readyState !== 1) {
        // Cut off (too many errors) or joined and left: carry on with a fresh socket.
        sockets[slot] = slot % 2 === 0 ? await open() : await member();
        used.push(sockets[slot]!);
        replaced++;
      }
      const socket = sockets[slot]!;
      const message: Record<string, unknown> = { ...templates[rand(templates.length)]! };
      const keys = Object.keys(message);
      const mutations = 1 + rand(3);
      for (let j = 0; j < mutations; j++) {
        const what = rand(4);
        const key = keys[rand(keys.length)]!;
        if (what === 0) message[key] = values[rand(values.length)];
        else if (what === 1) delete message[key];
        else if (what === 2) message[`extra${rand(5)}`] = values[rand(values.length)];
        else message['id'] = rand(5);
      }
      // Never send a valid forceDisconnect or disconnect for real members (alice and bob must stay).
      if (message['type'] === 'forceDisconnect') message['connectionId'] = 'not-a-member';
      if (message['type'] === 'disconnect') continue;
      const text = rand(10) === 0 ? JSON.stringify(message).slice(0, rand(40)) : JSON.stringify(message);
      socket.sendRaw(text);
      sent++;
      if (i % 50 === 0) await sleep(5);
    }
    await sleep(200);
    expect(sent).toBeGreaterThan(500);
    expect(replaced).toBeGreaterThan(0);
    for (const s of used) {
      for (const m of s.received) expect(['response', 'error', 'ping', 'pong', 'connectionCreated', 'connectionDestroyed', 'signal']).toContain(m.type);
      for (const m of s.of('error')) expect(typeof m['code']).toBe('number');
    }
    for (const s of used) s.kill();
    bob.received.length = 0;
  });
});
