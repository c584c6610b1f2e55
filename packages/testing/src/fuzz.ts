// A fuzzer for a running Colloquy server's two doors: the REST API and the signaling WebSocket.
// It sends N messages, each a valid request mutated at random (wrong types, missing and extra
// fields, huge or odd strings, broken JSON, foreign ids, bad or missing credentials, unknown
// paths), from a fixed seed so a failure can be replayed, while two bystander clients sit in a
// session: every few hundred messages one signals the other, which must receive it.
//
// Used by the server's test suite (a small slice, test/fuzz.test.ts) and by `npm run fuzz`
// (bench/fuzz/fuzz.ts: N messages against a server in its own process, crashes counted). The
// caller supplies credentials (REST auth headers and client tokens), so this module needs no SDK.

import { PROTOCOL_VERSION, SIGNALING_PATH } from '@colloquy/protocol';
import { WebSocket } from 'ws';
import { ProtocolClient } from './protocol-client.js';

export interface FuzzTarget {
  url: string;
  apiKey: string;
  /** Headers of a valid REST call (X-OPENTOK-AUTH), made fresh for each request. */
  restAuth(): Record<string, string>;
  /** A valid client token for a session. */
  token(sessionId: string, data: string): string;
}

export interface FuzzOptions {
  messages: number;
  seed?: number;
  /** Share of REST messages (the rest go to signaling); default 0.5. */
  restShare?: number;
  /** Bystander probes every this many messages (default 250). */
  probeEvery?: number;
  progress?: (done: number, report: FuzzReport) => void;
}

export interface FuzzReport {
  messages: number;
  rest: number;
  signaling: number;
  /** REST answers by status. */
  statuses: Record<string, number>;
  /** 5xx answers other than 501 (a feature this server does not offer), with what caused them. */
  serverErrors: Array<{ method: string; path: string; status: number; body: string }>;
  /** 501 answers (unsupported features the fuzz reached: Broadcast, Experience Composer, SIP…). */
  notImplemented: number;
  /** REST calls that got no HTTP answer at all (connection refused or reset). */
  unanswered: number;
  /** Signaling sockets opened, and those the server cut off (flood, protocol errors). */
  sockets: number;
  cutOff: number;
  probes: number;
  /** Probes the bystander did not receive in time, or bystanders that lost their connection. */
  bystanderFailures: number;
  seconds: number;
}

const ODD_VALUES: unknown[] = [null, true, false, -1, 0, 1.5, 2 ** 53, -(2 ** 31), '', ' ', 'x', 'é'.repeat(64), '\u0000', '<script>', '../../etc/passwd', '%00', '{{7*7}}', 'x'.repeat(5000), [], {}, [1, [2]], { a: { b: null } }, { __proto__: { polluted: true } }];

export async function runFuzz(target: FuzzTarget, options: FuzzOptions): Promise<FuzzReport> {
  // mulberry32: small, seeded, and without the short low-bit cycles of a plain LCG.
  let seed = (options.seed ?? 12345) >>> 0;
  const rand = (n: number): number => {
    seed = (seed + 0x6d2b79f5) >>> 0;
    let x = seed;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return Math.floor((((x ^ (x >>> 14)) >>> 0) / 4294967296) * n);
  };
  const pick = <T>(list: readonly T[]): T => list[rand(list.length)]!;
  const started = performance.now();
  const report: FuzzReport = { messages: 0, rest: 0, signaling: 0, statuses: {}, serverErrors: [], notImplemented: 0, unanswered: 0, sockets: 0, cutOff: 0, probes: 0, bystanderFailures: 0, seconds: 0 };

  const sessionId = await createSession(target);
  const other = await createSession(target);
  const alice = await ProtocolClient.join(target.url, sessionId, target.token(sessionId, 'alice'));
  const bob = await ProtocolClient.join(target.url, sessionId, target.token(sessionId, 'bob'));
  const ids = () => [sessionId, other, alice.connectionId, bob.connectionId, '00000000-0000-4000-8000-000000000000', 'nope', target.apiKey];

  const restTemplates = (): Array<{ method: string; path: string; body?: Record<string, unknown>; form?: string }> => [
    { method: 'POST', path: '/session/create', form: 'p2p.preference=disabled&archiveMode=manual' },
    { method: 'POST', path: `/v2/project/${target.apiKey}/archive`, body: { sessionId, name: 'fuzz', outputMode: 'composed', resolution: '640x480', multiArchiveTag: 'fuzz' } },
    { method: 'GET', path: `/v2/project/${target.apiKey}/archive`, body: undefined },
    { method: 'GET', path: `/v2/project/${target.apiKey}/archive/${pick(ids())}` },
    { method: 'POST', path: `/v2/project/${target.apiKey}/archive/${pick(ids())}/stop` },
    { method: 'PUT', path: `/v2/project/${target.apiKey}/archive/${pick(ids())}/layout`, body: { type: 'bestFit' } },
    { method: 'PATCH', path: `/v2/project/${target.apiKey}/archive/${pick(ids())}/streams`, body: { addStream: pick(ids()), hasAudio: true } },
    { method: 'DELETE', path: `/v2/project/${target.apiKey}/archive/${pick(ids())}` },
    { method: 'POST', path: `/v2/project/${target.apiKey}/session/${pick(ids())}/signal`, body: { type: 'fuzz', data: 'x' } },
    { method: 'POST', path: `/v2/project/${target.apiKey}/session/${pick(ids())}/connection/${pick(ids())}/signal`, body: { type: 'fuzz', data: 'x' } },
    { method: 'GET', path: `/v2/project/${target.apiKey}/session/${pick(ids())}/stream` },
    { method: 'GET', path: `/v2/project/${target.apiKey}/session/${pick(ids())}/stream/${pick(ids())}` },
    { method: 'PUT', path: `/v2/project/${target.apiKey}/session/${pick(ids())}/stream`, body: { items: [{ id: pick(ids()), layoutClassList: ['full'] }] } },
    { method: 'POST', path: `/v2/project/${target.apiKey}/session/${pick(ids())}/mute`, body: { active: true, excludedStreamIds: [] } },
    { method: 'GET', path: `/v2/project/${target.apiKey}/session/${pick(ids())}/connection` },
    { method: 'GET', path: `/v2/project/${target.apiKey}/session/${pick(ids())}/events` },
    { method: 'GET', path: `/v2/project/${target.apiKey}/session/${pick(ids())}/quality` },
    { method: 'POST', path: `/v2/project/${target.apiKey}/broadcast`, body: { sessionId, outputs: { hls: {} } } },
    { method: 'POST', path: `/v2/project/${target.apiKey}/render`, body: { sessionId, token: 'x', url: 'https://example.com' } },
    { method: 'POST', path: `/v2/project/${target.apiKey}/dial`, body: { sessionId, token: 'x', sip: { uri: 'sip:a@b' } } },
    // An option this server does not offer (Azure archive storage): answered 501, logged once at warn.
    { method: 'PUT', path: `/v2/project/${target.apiKey}/archive/storage`, body: { type: 'azure', config: { accountName: 'a', accountKey: 'b', container: 'c' } } },
    { method: 'GET', path: `/v2/project/${pick(ids())}/archive` },
    { method: 'GET', path: `/${pick(['dashboard/api/me', 'healthz', 'v2/js/opentok.js', 'nope', 'v2/project', '%2e%2e/%2e%2e'])}` },
  ];

  const mutate = (message: Record<string, unknown>): Record<string, unknown> => {
    const m: Record<string, unknown> = { ...message };
    const keys = Object.keys(m);
    for (let j = 1 + rand(3); j > 0; j--) {
      const what = rand(4);
      const key = keys.length > 0 ? pick(keys) : 'x';
      if (what === 0) m[key] = pick(ODD_VALUES);
      else if (what === 1) delete m[key];
      else if (what === 2) m[`extra${rand(5)}`] = pick(ODD_VALUES);
      else m[key] = pick(ids());
    }
    return m;
  };

  const restOne = async (): Promise<void> => {
    const template = pick(restTemplates());
    let path = template.path;
    if (rand(8) === 0) path = path.replace(/\/[^/]+$/, `/${encodeURIComponent(String(pick(ODD_VALUES)))}`);
    const badAuth: Array<Record<string, string>> = [{}, { 'X-OPENTOK-AUTH': 'garbage' }, { 'X-OPENTOK-AUTH': 'a.b.c' }, { authorization: 'Bearer x' }];
    const headers: Record<string, string> = { ...(rand(6) === 0 ? pick(badAuth) : target.restAuth()) };
    let body: string | undefined;
    if (template.form !== undefined) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      headers['accept'] = 'application/json';
      body = rand(3) === 0 ? `${template.form}&${pick(['mediaMode', 'archiveMode', 'e2ee', 'location'])}=${encodeURIComponent(String(pick(ODD_VALUES)))}` : template.form;
    } else if (template.body !== undefined || (template.method !== 'GET' && template.method !== 'DELETE')) {
      headers['content-type'] = rand(10) === 0 ? pick(['text/plain', 'application/xml', 'application/json; charset=utf-16']) : 'application/json';
      const json = JSON.stringify(mutate(template.body ?? {}));
      body = rand(10) === 0 ? json.slice(0, rand(json.length + 1)) : json;
    }
    report.rest++;
    try {
      const res = await fetch(target.url + path, { method: template.method, headers, ...(body === undefined ? {} : { body }) });
      const text = await res.text();
      report.statuses[res.status] = (report.statuses[res.status] ?? 0) + 1;
      if (res.status === 501) report.notImplemented++;
      else if (res.status >= 500) report.serverErrors.push({ method: template.method, path, status: res.status, body: text.slice(0, 300) });
    } catch {
      report.unanswered++;
    }
  };

  const signalingTemplates = (): Array<Record<string, unknown>> => [
    { type: 'connect', id: 1, version: PROTOCOL_VERSION, sessionId: pick([sessionId, other]), token: target.token(sessionId, 'fuzz') },
    { type: 'resume', id: 1, version: PROTOCOL_VERSION, sessionId, connectionId: alice.connectionId, resumeSecret: 'guess', lastSeq: 0 },
    { type: 'signal', id: 2, to: bob.connectionId, signalType: 'fuzz', data: 'x' },
    { type: 'forceDisconnect', id: 3, connectionId: 'not-a-member' },
    { type: 'publish', id: 4, name: '', videoType: 'camera', hasAudio: true, hasVideo: true, sdp: 'v=0\r\n' },
    { type: 'subscribe', id: 5, streamId: pick(ids()) },
    { type: 'unpublish', id: 6, streamId: pick(ids()) },
    { type: 'updateStream', id: 7, streamId: pick(ids()), hasVideo: false },
    { type: 'answer', id: 8, subscriberId: pick(ids()), sdp: 'v=0\r\n' },
    { type: 'candidate', id: 9, subscriberId: pick(ids()), candidate: { candidate: 'candidate:1 1 udp 1 127.0.0.1 9 typ host' } },
    { type: 'clientStats', stats: { x: 1 } },
    { type: 'ping', ack: 1 },
    { type: 'ack', seq: 1 },
  ];

  const sockets: WebSocket[] = [];
  const openSocket = async (join: boolean): Promise<WebSocket> => {
    const ws = new WebSocket(target.url.replace(/^http/, 'ws') + SIGNALING_PATH);
    ws.on('error', () => {});
    ws.on('message', () => {});
    await new Promise<void>((resolve) => {
      ws.once('open', () => resolve());
      ws.once('close', () => resolve());
    });
    report.sockets++;
    if (join && ws.readyState === WebSocket.OPEN) {
      ws.send(JSON.stringify({ type: 'connect', id: 1, version: PROTOCOL_VERSION, sessionId, token: target.token(sessionId, 'fuzz-member') }));
    }
    ws.once('close', (code) => {
      if (code === 4003 || code === 1008) report.cutOff++;
    });
    return ws;
  };
  for (let i = 0; i < 4; i++) sockets.push(await openSocket(i % 2 === 1));
  let nextId = 10;

  const signalingOne = async (): Promise<void> => {
    const slot = rand(sockets.length);
    if (sockets[slot]!.readyState !== WebSocket.OPEN) {
      sockets[slot]!.terminate();
      sockets[slot] = await openSocket(slot % 2 === 1);
    }
    const message = mutate(pick(signalingTemplates()));
    // Never a real disconnect or a real force-disconnect of the bystanders.
    if (message['type'] === 'disconnect') message['type'] = 'ping';
    if (message['type'] === 'forceDisconnect') message['connectionId'] = 'not-a-member';
    if (rand(3) === 0) message['id'] = nextId++;
    const text = JSON.stringify(message);
    report.signaling++;
    sockets[slot]!.send(rand(12) === 0 ? text.slice(0, rand(text.length + 1)) : text);
  };

  const probe = async (): Promise<void> => {
    report.probes++;
    const data = `probe-${report.probes}`;
    try {
      await alice.request({ type: 'signal', to: bob.connectionId, data }, 10_000);
      await bob.waitFor((m) => m.type === 'signal' && m['data'] === data, 10_000);
      if (alice.closed || bob.closed) report.bystanderFailures++;
    } catch {
      report.bystanderFailures++;
    }
  };

  const restShare = options.restShare ?? 0.5;
  const probeEvery = options.probeEvery ?? 250;
  try {
    for (let i = 1; i <= options.messages; i++) {
      if (rand(1000) < restShare * 1000) await restOne();
      else await signalingOne();
      report.messages++;
      // Let the server read what was sent (a socket's flood limit is per second).
      if (i % 20 === 0) await new Promise((r) => setTimeout(r, 5));
      if (i % probeEvery === 0) {
        await probe();
        options.progress?.(i, report);
      }
    }
    await probe();
  } finally {
    for (const ws of sockets) ws.terminate();
    await alice.close();
    await bob.close();
    report.seconds = (performance.now() - started) / 1000;
  }
  return report;
}

async function createSession(target: FuzzTarget): Promise<string> {
  const res = await fetch(`${target.url}/session/create`, {
    method: 'POST',
    headers: { ...target.restAuth(), 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: 'p2p.preference=disabled',
  });
  if (!res.ok) throw new Error(`session/create answered ${res.status}`);
  const [session] = (await res.json()) as Array<{ session_id: string }>;
  return session!.session_id;
}
