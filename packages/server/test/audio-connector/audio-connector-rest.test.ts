// The Audio Connector's REST API against a WebSocket server on loopback (no browser): OpenTok's
// validation and errors (400 body, token, unreachable or refusing WebSocket server; 404 session or
// connector; 409 relayed session; 501 audioTransport), the `@vonage/video` SDK's connectToWebsocket
// and disconnectWebsocket at 8 kHz, our Node SDK's websocketConnect / stopWebsocket, a WebSocket
// server hanging up (the connection leaves the session), and the server shutting down (the socket
// closes with 1001).

import { Colloquy } from '@colloquy/sdk-node';
import { MediaMode, Video } from '@vonage/video';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenTok from 'opentok';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers.js';
import { p, until } from '../sip/helpers.js';
import { projectRest } from './helpers.js';
import { WsReceiver } from './ws-receiver.js';

describe('Audio Connector: REST API and SDKs', () => {
  let t: TestServer;
  let receiver: WsReceiver;
  let ot: OpenTok;
  let sessionId: string;

  beforeAll(async () => {
    t = await startTestServer();
    receiver = await WsReceiver.start();
    ot = new OpenTok(t.apiKey, t.apiSecret, t.url);
    sessionId = (await p<OpenTok.Session>((cb) => ot.createSession({ mediaMode: 'routed' }, cb))).sessionId;
  });

  afterAll(async () => {
    await t?.close();
    await receiver?.close();
  });

  const rest = (method: string, path: string, body?: unknown) => projectRest(t)(method, path, body);
  const connections = async (sid: string) => ((await rest('GET', `session/${sid}/connection`)).body!['items'] as Array<{ connectionId: string }>).map((c) => c.connectionId);

  it('refuses as OpenTok does: 400 bad body, token or WebSocket server; 404 session; 409 relayed; 501 audioTransport', async () => {
    const relayed = (await p<OpenTok.Session>((cb) => ot.createSession({ mediaMode: 'relayed' }, cb))).sessionId;
    const token = ot.generateToken(sessionId);
    const uri = receiver.uri('/refused');
    const post = (body: unknown) => rest('POST', 'connect', body);
    const bad = async (websocket: unknown, why: RegExp) => {
      const r = await post({ sessionId, token, websocket });
      expect(r.status, JSON.stringify(websocket)).toBe(400);
      expect(String(r.body?.['message'])).toMatch(why);
    };
    await bad(undefined, /websocket/);
    await bad({ uri: 'http://127.0.0.1/x' }, /ws:\/\/ or wss:\/\//);
    await bad({ uri: 'not a uri' }, /ws:\/\/ or wss:\/\//);
    await bad({ uri, audioRate: 44100 }, /audioRate/);
    await bad({ uri, audioRate: '16000' }, /audioRate/);
    await bad({ uri, bidirectional: 'yes' }, /bidirectional/);
    await bad({ uri, streams: [] }, /streams/);
    await bad({ uri, streams: 'abc' }, /streams/);
    await bad({ uri, headers: { big: 'x'.repeat(600) } }, /512 bytes/);
    await bad({ uri, headers: { Host: 'evil.example' } }, /upgrade/);
    await bad({ uri, headers: { 'Sec-WebSocket-Key': 'x' } }, /upgrade/);
    await bad({ uri, headers: { 'X-A': 'one\r\nX-B: two' } }, /one line/);
    await bad({ uri, headers: { 'bad name': 'v' } }, /header names/);
    expect((await post({ sessionId, websocket: { uri } })).status).toBe(400); // no token
    expect((await post({ sessionId, token: 'T1==bogus', websocket: { uri } })).status).toBe(400);
    expect((await post({ sessionId, token: ot.generateToken(relayed), websocket: { uri } })).status).toBe(400); // another session's token
    // A subscriber may listen, but may not play audio into the session.
    const subscriber = ot.generateToken(sessionId, { role: 'subscriber' });
    const noPublish = await post({ sessionId, token: subscriber, websocket: { uri, bidirectional: true } });
    expect(noPublish.status).toBe(400);
    expect(String(noPublish.body?.['message'])).toMatch(/publish/);
    const unknown = '1_' + Buffer.from(`1~${t.apiKey}~~${Date.now()}~abcdefabcdefabcdefabcdef~~`).toString('base64url');
    expect((await post({ sessionId: unknown, token, websocket: { uri } })).status).toBe(404);
    expect((await post({ sessionId: relayed, token: ot.generateToken(relayed), websocket: { uri } })).status).toBe(409);
    expect((await post({ sessionId, token, websocket: { uri, audioTransport: { type: 'x' } } })).status).toBe(501);

    // A WebSocket server that is not there, or refuses the upgrade: 400 at once, nothing joins.
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const deadPort = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const dead = await post({ sessionId, token, websocket: { uri: `ws://127.0.0.1:${deadPort}/` } });
    expect(dead.status).toBe(400);
    expect(String(dead.body?.['message'])).toMatch(/could not connect to the WebSocket server/);
    const refusing = createServer((_req, res) => res.writeHead(403).end());
    await new Promise<void>((r) => refusing.listen(0, '127.0.0.1', r));
    const refused = await post({ sessionId, token, websocket: { uri: `ws://127.0.0.1:${(refusing.address() as AddressInfo).port}/` } });
    await new Promise((r) => refusing.close(r));
    expect(refused.status).toBe(400);
    expect(String(refused.body?.['message'])).toMatch(/HTTP 403/);
    expect(await connections(sessionId)).toEqual([]);
    expect(t.server.audioConnector.connectors).toEqual([]);

    expect((await rest('POST', 'connect/00000000-0000-4000-8000-000000000000/stop')).status).toBe(404);
  });

  it('@vonage/video connects at 8 kHz (application credentials) and disconnects', async () => {
    const video = new Video({ applicationId: t.applicationId, privateKey: t.privateKey }, { videoHost: t.url });
    const session = await video.createSession({ mediaMode: MediaMode.ROUTED });
    const started = (await video.connectToWebsocket(session.sessionId, video.generateClientToken(session.sessionId), { uri: receiver.uri('/vonage'), audioRate: 8000, headers: { app: 'vonage' } } as never)) as { id: string; connectionId: string };
    expect(started.id).toMatch(/^[0-9a-f-]{36}$/);
    const socket = receiver.socket('/vonage')!;
    expect(JSON.parse(socket.texts[0]!)).toEqual({ 'content-type': 'audio/l16;rate=8000', app: 'vonage' });
    // Nobody publishes: the feed is 20 ms of silence at 8 kHz (320 bytes) every 20 ms all the same.
    await until(() => socket.frames.length >= 10, '10 frames');
    expect(socket.frames.slice(0, 10).every((f) => f.data.length === 320 && f.data.every((b) => b === 0))).toBe(true);
    await video.disconnectWebsocket(started.id);
    await until(() => socket.closed, 'the socket closed');
    expect(socket.closed!.code).toBe(1000);
    expect(t.server.audioConnector.connectors).toEqual([]);
  });

  it('our Node SDK connects and stops; a WebSocket server that hangs up takes the connection out of the session', async () => {
    const colloquy = new Colloquy(t.apiKey, t.apiSecret, { apiUrl: t.url });
    const token = ot.generateToken(sessionId, { data: 'bot' });
    const one = await colloquy.websocketConnect(sessionId, token, receiver.uri('/sdk'), { audioRate: 16000, headers: { a: '1' } });
    expect(await connections(sessionId)).toContain(one.connectionId);
    const socket = receiver.socket('/sdk')!;
    expect(JSON.parse(socket.texts[0]!)).toEqual({ 'content-type': 'audio/l16;rate=16000', a: '1' });
    await colloquy.stopWebsocket(one.id);
    await until(() => socket.closed, 'the socket closed');
    await until(async () => !(await connections(sessionId)).includes(one.connectionId), 'the connection gone');
    await expect(colloquy.stopWebsocket(one.id)).rejects.toThrow();

    // The WebSocket server closes the socket: the connector ends, its connection leaves.
    const two = await colloquy.websocketConnect(sessionId, token, receiver.uri('/hangup'));
    expect(await connections(sessionId)).toContain(two.connectionId);
    receiver.socket('/hangup')!.ws.close(1000, 'done');
    await until(async () => !(await connections(sessionId)).includes(two.connectionId), 'the connection gone after the hang-up');
    expect(t.server.audioConnector.connectors).toEqual([]);
  });

  it('the server shutting down closes the socket (1001, going away)', async () => {
    const colloquy = new Colloquy(t.apiKey, t.apiSecret, { apiUrl: t.url });
    await colloquy.websocketConnect(sessionId, ot.generateToken(sessionId), receiver.uri('/shutdown'));
    const socket = receiver.socket('/shutdown')!;
    await t.close();
    await until(() => socket.closed, 'the socket closed');
    expect(socket.closed!.code).toBe(1001);
  });
});
