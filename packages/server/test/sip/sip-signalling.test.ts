// SIP interconnect signalling against real parts: the `opentok` SDK dials through the REST API,
// Debian's baresip answers on loopback behind a proxy that demands digest authentication, and the
// session sees the SIP participant as a Connection with a live Stream. Hang-ups from both sides,
// a wrong password, and the REST errors OpenTok documents (400, 404, 409) and ours for TLS without a
// certificate (501), with the project's
// callbacks (callCreated/Updated/Destroyed, connection and stream events) checked on a receiver.

import { Colloquy } from '@colloquy/sdk-node';
import { signJwt } from '@colloquy/tokens';
import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import OpenTok from 'opentok';
import { MediaMode, Video } from '@vonage/video';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, tempDir, type TestServer } from '../helpers.js';
import { Baresip, freePort } from './baresip.js';
import { p, until } from './helpers.js';
import { startDigestProxy, type DigestProxy } from './digest-proxy.js';

interface Callback {
  event: string;
  body: Record<string, any>;
}

describe('SIP interconnect: signalling with baresip', () => {
  let t: TestServer;
  let baresip: Baresip;
  let digestProxy: DigestProxy;
  let receiver: Server;
  const callbacks: Callback[] = [];
  let ot: OpenTok;
  let sessionId: string;

  beforeAll(async () => {
    const dir = tempDir();
    const wav = join(dir, 'tone.wav');
    execFileSync('sox', ['-n', '-r', '8000', '-c', '1', '-b', '16', wav, 'synth', '60', 'sine', '1000', 'vol', '0.5']);
    baresip = await Baresip.start({ dir: join(dir, 'baresip'), wav });
    digestProxy = startDigestProxy({ port: await freePort(), target: baresip.uri, user: 'colloquy', password: 'right-password', realm: 'pbx.test' });
    receiver = createServer((req, res) => {
      let text = '';
      req.on('data', (c) => (text += c));
      req.on('end', () => {
        const body = JSON.parse(text) as Record<string, any>;
        callbacks.push({ event: body['event'], body });
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    t = await startTestServer({ COLLOQUY_SIP_PORT: String(await freePort()) });
    const monitor = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/monitor`;
    await t.server.store.callbacks.set(t.apiKey, { session: monitor });
    await t.server.store.callbacks.set(t.applicationId, { session: monitor });
    ot = new OpenTok(t.apiKey, t.apiSecret, t.url);
    sessionId = (await p<OpenTok.Session>((cb) => ot.createSession({ mediaMode: 'routed' }, cb))).sessionId;
  });

  afterAll(async () => {
    if (process.env['DEBUG_SIP']) console.log(baresip.output.join('\n'), JSON.stringify(callbacks.map((c) => [c.event, c.body['call'] ?? c.body['reason']])));
    await t?.close();
    digestProxy?.stop();
    await baresip?.stop();
    await new Promise((r) => receiver?.close(r));
  });

  const rest = async (method: string, path: string, body?: unknown) => {
    const now = Math.floor(Date.now() / 1000);
    const res = await fetch(`${t.url}/v2/project/${t.apiKey}/${path}`, {
      method,
      headers: { 'content-type': 'application/json', 'x-opentok-auth': signJwt({ iss: t.apiKey, ist: 'project', iat: now, exp: now + 300 }, t.apiSecret) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json().catch(() => null)) as Record<string, unknown> | null };
  };
  const dial = (options: Record<string, unknown>, uri = digestProxy.uri) =>
    p<OpenTok.SipInterconnect>((cb) => ot.dial(sessionId, ot.generateToken(sessionId, { data: 'phone=+15550100' }), uri, options as never, cb as never));
  const callbackFor = (event: string, callId: string) => callbacks.find((c) => c.event === event && c.body['call']?.id === callId);

  it('dials with digest authentication: the phone joins as a connection with a live stream, then hangs up (BYE from the far end)', async () => {
    const call = await dial({ auth: { username: 'colloquy', password: 'right-password' }, from: '15550199@colloquy.test', headers: { 'X-Case': 'answer' } });
    expect(call.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(typeof call.connectionId).toBe('string');
    expect(typeof call.streamId).toBe('string');

    const answered = await until(() => callbackFor('callUpdated', call.id) && callbacks.find((c) => c.event === 'callUpdated' && c.body['call'].id === call.id && c.body['call'].state === 'answered'), 'callUpdated answered');
    expect(answered.body).toMatchObject({ sessionId, event: 'callUpdated', call: { connectionId: call.connectionId, streamId: call.streamId, state: 'answered' } });
    expect(digestProxy.challenges).toBeGreaterThanOrEqual(1);
    expect(digestProxy.forwarded).toBe(1);
    expect(callbackFor('callCreated', call.id)?.body['call']).toMatchObject({ connectionId: call.connectionId, streamId: call.streamId, state: 'dialing' });
    // The SIP participant is a Connection with the token's data and an audio-only Stream, as REST lists them.
    const conn = await until(() => callbacks.find((c) => c.event === 'connectionCreated' && c.body['connection'].id === call.connectionId), 'connectionCreated');
    expect(conn.body['connection'].data).toBe('phone=+15550100');
    await until(() => callbacks.find((c) => c.event === 'streamCreated' && c.body['stream'].id === call.streamId), 'streamCreated (the stream went live)').catch((err) => {
      console.log('publisher', JSON.stringify(t.server.sip.mediaStats(call.id)));
      throw err;
    });
    const stream = await rest('GET', `session/${sessionId}/stream/${call.streamId}`);
    expect(stream.status).toBe(200);
    expect(stream.body).toMatchObject({ id: call.streamId });
    await baresip.waitFor(/Call established|call established/i);
    // The Inspector lists the SIP participant like any client.
    const events = await until(async () => {
      const r = await rest('GET', `session/${sessionId}/events?type=connectionCreated&connectionId=${call.connectionId}`);
      return (r.body?.['items'] as any[] | undefined)?.[0];
    }, 'the Inspector event');
    expect(events.details).toMatchObject({ userAgent: 'Colloquy SIP gateway', data: 'phone=+15550100' });
    // baresip re-INVITEs (same media): we answer 200 with our SDP and the call goes on.
    await baresip.command('reinvite');
    await until(() => (t.server.sip.mediaStats(call.id)?.remoteUpdates ?? 0) >= 1, 're-INVITE handled');
    const flowing = t.server.sip.mediaStats(call.id)!.packetsFromPhone;
    await until(() => (t.server.sip.mediaStats(call.id)?.packetsFromPhone ?? 0) > flowing + 10, 'RTP after the re-INVITE');

    // baresip hangs up: BYE to us.
    await baresip.command('hangup');
    const destroyed = await until(() => callbackFor('callDestroyed', call.id), 'callDestroyed');
    expect(destroyed.body['call']).toMatchObject({ endedBy: 'remote', sipCode: 200, state: 'ended' });
    const gone = await until(() => callbacks.find((c) => c.event === 'connectionDestroyed' && c.body['connection'].id === call.connectionId), 'connectionDestroyed');
    expect(gone.body['reason']).toBe('clientDisconnected');
    expect(callbacks.find((c) => c.event === 'streamDestroyed' && c.body['stream'].id === call.streamId)?.body['reason']).toBe('clientDisconnected');
    expect(t.server.sip.calls).toHaveLength(0);
  });

  it('hangs up through forceDisconnect: BYE to the far end, the connection ends forceDisconnected', async () => {
    const before = baresip.count(/terminated|closed/i);
    // Dialled with Colloquy's own Node SDK this time, hung up with it too.
    const sdk = new Colloquy(t.apiKey, t.apiSecret, t.url);
    const call = await sdk.dial(sessionId, sdk.generateToken(sessionId), digestProxy.uri, { auth: { username: 'colloquy', password: 'right-password' } });
    await until(() => callbacks.find((c) => c.event === 'callUpdated' && c.body['call'].id === call.id && c.body['call'].state === 'answered'), 'answered');
    await sdk.forceDisconnect(sessionId, call.connectionId);
    const destroyed = await until(() => callbackFor('callDestroyed', call.id), 'callDestroyed');
    expect(destroyed.body['call']).toMatchObject({ endedBy: 'local', sipCode: 200 });
    const gone = await until(() => callbacks.find((c) => c.event === 'connectionDestroyed' && c.body['connection'].id === call.connectionId), 'connectionDestroyed');
    expect(gone.body['reason']).toBe('forceDisconnected');
    // baresip saw our BYE.
    await until(() => baresip.count(/terminated|closed/i) > before, 'baresip to see the BYE');
  });

  it('a wrong password ends the call with the far end\'s 403: callDestroyed carries it and the connection leaves', async () => {
    const call = await dial({ auth: { username: 'colloquy', password: 'wrong-password' } });
    const destroyed = await until(() => callbackFor('callDestroyed', call.id), 'callDestroyed');
    expect(destroyed.body['call']).toMatchObject({ endedBy: 'remote', sipCode: 403, sipReason: 'Forbidden', state: 'ended' });
    const gone = await until(() => callbacks.find((c) => c.event === 'connectionDestroyed' && c.body['connection'].id === call.connectionId), 'connectionDestroyed');
    expect(gone.body['reason']).toBe('networkDisconnected');
    expect(digestProxy.rejected).toBe(1);
  });

  it('@vonage/video dials (application credentials), plays DTMF and disconnects the call', async () => {
    const video = new Video({ applicationId: t.applicationId, privateKey: t.privateKey }, { videoHost: t.url });
    const session = await video.createSession({ mediaMode: MediaMode.ROUTED });
    const call = (await video.initiateSIPCall(session.sessionId, { token: video.generateClientToken(session.sessionId), sip: { uri: baresip.uri } } as never)) as { id: string; connectionId: string; streamId: string };
    await until(() => callbacks.find((c) => c.event === 'callUpdated' && c.body['call'].id === call.id && c.body['call'].state === 'answered'), 'answered');
    await video.playDTMF(session.sessionId, '9', call.connectionId);
    await baresip.waitFor(/received event: '9'/); // baresip's line for an RFC 4733 event
    await video.disconnectClient(session.sessionId, call.connectionId);
    const destroyed = await until(() => callbackFor('callDestroyed', call.id), 'callDestroyed');
    expect(destroyed.body['call']).toMatchObject({ endedBy: 'local' });
  });

  it('refuses as OpenTok does: 404 unknown session, 409 relayed session, 400 bad token or URI; secure without TLS 400, TLS without a certificate 501', async () => {
    const relayed = (await p<OpenTok.Session>((cb) => ot.createSession({ mediaMode: 'relayed' }, cb))).sessionId;
    const post = (body: unknown, path = 'dial') => rest('POST', path, body);
    const token = ot.generateToken(sessionId);
    const unknown = '1_' + Buffer.from(`1~${t.apiKey}~~${Date.now()}~abcdefabcdefabcdefabcdef~~`).toString('base64url');
    expect((await post({ sessionId: unknown, token, sip: { uri: digestProxy.uri } })).status).toBe(404);
    expect((await post({ sessionId: relayed, token: ot.generateToken(relayed), sip: { uri: digestProxy.uri } })).status).toBe(409);
    expect((await post({ sessionId, token: 'T1==bogus', sip: { uri: digestProxy.uri } })).status).toBe(400);
    expect((await post({ sessionId, token: ot.generateToken(relayed), sip: { uri: digestProxy.uri } })).status).toBe(400);
    expect((await post({ sessionId, token, sip: { uri: 'http://not-sip' } })).status).toBe(400);
    expect((await post({ sessionId, token, sip: { uri: digestProxy.uri, headers: { Via: 'x' } } })).status).toBe(400);
    // `secure` sends SRTP keys in the SDP: only over TLS; this server has no SIP certificate, so TLS is 501.
    expect((await post({ sessionId, token, sip: { uri: digestProxy.uri, secure: true } })).status).toBe(400);
    expect((await post({ sessionId, token, sip: { uri: `${digestProxy.uri};transport=tls`, secure: true } })).status).toBe(501);
    expect((await post({ sessionId, token, sip: { uri: digestProxy.uri.replace(/^sip:/, 'sips:') } })).status).toBe(501);
    // The PHP SDK's path is the same call.
    expect((await post({ sessionId: unknown, token, sip: { uri: digestProxy.uri } }, 'call')).status).toBe(404);
    // play-dtmf: digits checked, 404 when the session has no SIP call.
    expect((await post({ digits: '12x' }, `session/${sessionId}/play-dtmf`)).status).toBe(400);
    expect((await post({ digits: '123' }, `session/${sessionId}/play-dtmf`)).status).toBe(404);
    expect(t.server.sip.calls).toHaveLength(0);
  });
});
