// Launcher for the PHP SDK's PHPUnit run (tests/Support/TestServer.php starts it with proc_open):
// a real Colloquy server (in this process, port 0, temp data folder, the known test project, and
// the application whose public key the PHP test made), a recording HTTP stub for request-shape
// tests, and real clients the PHP tests drive: each joins over the /v2/signaling WebSocket with a
// token the PHP SDK made, and publishes or subscribes with a werift peer through the SFU
// (@colloquy/testing/protocol's ProtocolClient, ffmpeg-made VP8 + Opus), as a browser would.
//
// Prints one JSON line with the URLs, then answers one JSON line per JSON-line command on stdin, in
// order (a command that waits, such as `publish`, holds the next one back), until stdin closes or
// SIGTERM/SIGINT arrives; then leaves with every client and closes the server and the stub.
//
// Environment: COLLOQUY_TEST_APPLICATION_ID + COLLOQUY_TEST_PUBLIC_KEY_FILE (optional).
// Every answer has "ok" (ok:false: the command itself failed, with "reason" and "message") and the
// command's "seq", when it had one.
// Commands:
//   {"cmd":"getSession","sessionId"}  -> {session: the stored session record | null}
//   {"cmd":"stub.respond","responses":[{status, body?, contentType?, delayMs?}, …]}  queue answers
//   {"cmd":"stub.requests"}  -> {requests: [{method, path, headers, body}, …]}
//   {"cmd":"stub.reset"}     forget recorded requests and queued answers
//   {"cmd":"join","sessionId","token"}
//        -> {clientId, connection {connectionId, creationTime, data}, permissions, connections,
//            streams, mediaMode} | {refused: {code, name, message}}
//   {"cmd":"publish","clientId","name"?,"videoType"?,"audio"?,"video"?}   real VP8 + Opus, sending
//        -> {streamId, muteForced} once streamCreated arrived | {refused: {code, name, message}}
//   {"cmd":"subscribe","clientId","streamId"}  -> {subscriberId} once the peer connection is up
//   {"cmd":"packets","clientId","subscriberId"}  -> {audio, video}: RTP packets received so far
//   {"cmd":"request","clientId","message":{type, …}}  any protocol request
//        -> {reply: the response or error message}
//   {"cmd":"events","clientId"}  -> {events: every message but responses and heartbeats, closed}
//   {"cmd":"waitFor","clientId","type","match"?,"since"?,"timeoutMs"?}
//        -> {event}: the first message of that type whose fields contain `match` (nested objects
//           compared by their listed fields) and whose seq is above `since`; ok:false on timeout
//   {"cmd":"leave","clientId"}  disconnect request, socket and peers closed
//   {"cmd":"leaveAll"}
//   {"cmd":"ws.uri","path"}  -> {uri}: a ws:// URI of the WebSocket receiver (an Audio Connector's
//        far end: it records what arrives on each path)
//   {"cmd":"ws.socket","path"}  -> {socket: {headers, texts, frames, frameBytes, closeCode} | null}

import { createServer } from 'node:http';
import { createInterface } from 'node:readline';
import { Worker } from 'node:worker_threads';
import { WebSocketServer } from 'ws';

// What publishers send: one second of 640x480 VP8 (one keyframe) and Opus, looped. ffmpeg makes it
// (a second or more of CPU), so a worker thread starts on it now, beside the server's start and
// the PHP unit tests, rather than blocking the first publish.
const testMedia = new Promise((resolve, reject) => {
  const worker = new Worker(
    `const { parentPort } = require('node:worker_threads');
     import('@colloquy/testing/media').then(({ makeTestMedia }) => parentPort.postMessage(makeTestMedia({ seconds: 1, gop: 30, bitrate: '300k' })));`,
    { eval: true },
  );
  worker.once('message', (media) => {
    // Buffers cross the thread boundary as Uint8Arrays.
    const buffer = (u8) => Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);
    resolve({ vp8: media.vp8.map((f) => ({ data: buffer(f.data), keyFrame: f.keyFrame })), opus: media.opus.map(buffer) });
    void worker.terminate();
  });
  worker.once('error', reject);
});
testMedia.catch(() => {}); // reported by the publish that needs it

let startTestServer;
let ProtocolClient;
let ProtocolError;
try {
  ({ startTestServer } = await import('@colloquy/testing/server'));
  ({ ProtocolClient, ProtocolError } = await import('@colloquy/testing/protocol'));
} catch (err) {
  process.stderr.write(`start-server: cannot load the Colloquy server (run \`npm run build\` at the repository root first): ${err.message}\n`);
  process.exit(2);
}

// Short archiving limits so that archive tests need not wait: a session's archives stop one second
// after its last client left (an archiveMode "always" session's included).
const env = { COLLOQUY_ARCHIVE_AUTO_STOP_DELAY: '1', COLLOQUY_ARCHIVE_COMPOSE_CONCURRENCY: '2' };
if (process.env.COLLOQUY_TEST_PUBLIC_KEY_FILE) {
  env.COLLOQUY_PUBLIC_KEY_FILE = process.env.COLLOQUY_TEST_PUBLIC_KEY_FILE;
  env.COLLOQUY_APPLICATION_ID = process.env.COLLOQUY_TEST_APPLICATION_ID ?? '';
}
const colloquy = await startTestServer(env);

// The recording stub: answers each request with the next queued answer (500 when none is queued,
// so a test that forgot to script one fails loudly) and remembers what it was sent.
const recorded = [];
const queue = [];
const stub = createServer((req, res) => {
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => {
    recorded.push({ method: req.method, path: req.url, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
    const answer = queue.shift() ?? { status: 500, body: { code: 500, message: 'recording stub: no answer was queued for this request' } };
    const send = () => {
      const hasBody = answer.body !== undefined && answer.body !== null;
      const text = !hasBody ? '' : typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
      const headers = hasBody ? { 'Content-Type': answer.contentType ?? 'application/json' } : {};
      res.writeHead(answer.status ?? 200, headers);
      res.end(text);
    };
    if (answer.delayMs) setTimeout(send, Math.min(answer.delayMs, 10_000));
    else send();
  });
});
await new Promise((resolve) => stub.listen(0, '127.0.0.1', resolve));
const stubUrl = `http://127.0.0.1:${stub.address().port}`;

// ---- Clients ------------------------------------------------------------------------------------

/** clientId -> {client, subscribers: Map<subscriberId, NodeSubscriber>} */
const clients = new Map();
let nextClient = 1;

function clientOf(command) {
  const entry = clients.get(command.clientId);
  if (!entry) throw Object.assign(new Error(`no client ${JSON.stringify(command.clientId)}`), { reason: 'unknown-client' });
  return entry;
}

/** The protocol error a refused request got, as the browser SDK would report it. */
function refusal(err) {
  if (!(err instanceof ProtocolError)) throw err;
  return { code: err.reply.code, name: err.reply.name, message: err.reply.message };
}

/** Whether `value` has every field of `pattern` (nested objects compared by the fields the pattern lists). */
function matches(value, pattern) {
  if (pattern !== null && typeof pattern === 'object' && !Array.isArray(pattern)) {
    if (value === null || typeof value !== 'object') return false;
    return Object.entries(pattern).every(([key, want]) => matches(value[key], want));
  }
  return JSON.stringify(value) === JSON.stringify(pattern);
}

const NOT_EVENTS = new Set(['response', 'error', 'ping', 'pong']);

async function join(command) {
  let client;
  try {
    client = await ProtocolClient.join(colloquy.url, command.sessionId, command.token);
  } catch (err) {
    return { refused: refusal(err) };
  }
  const clientId = `client-${nextClient++}`;
  clients.set(clientId, { client, subscribers: new Map() });
  const r = client.connectResult;
  return { clientId, connection: r.connection, permissions: r.permissions, connections: r.connections, streams: r.streams, mediaMode: r.session.mediaMode };
}

async function publish(command) {
  const { client } = clientOf(command);
  try {
    const { streamId, result } = await client.publish({
      media: await testMedia,
      name: command.name ?? '',
      videoType: command.videoType ?? 'camera',
      audio: command.audio ?? true,
      video: command.video ?? true,
    });
    return { streamId, muteForced: result.muteForced };
  } catch (err) {
    return { refused: refusal(err) };
  }
}

async function subscribe(command) {
  const entry = clientOf(command);
  try {
    const { subscriberId, peer } = await entry.client.subscribe(command.streamId);
    entry.subscribers.set(subscriberId, peer);
    return { subscriberId };
  } catch (err) {
    return { refused: refusal(err) };
  }
}

function packets(command) {
  const peer = clientOf(command).subscribers.get(command.subscriberId);
  if (!peer) throw Object.assign(new Error(`no subscriber ${JSON.stringify(command.subscriberId)}`), { reason: 'unknown-subscriber' });
  let audio = 0;
  let video = 0;
  for (const p of peer.packets) p.kind === 'audio' ? audio++ : video++;
  return { audio, video };
}

async function waitFor(command) {
  const { client } = clientOf(command);
  const since = command.since ?? 0;
  const test = (m) => m.type === command.type && (typeof m.seq !== 'number' || m.seq > since) && matches(m, command.match ?? {});
  const timeoutMs = Math.min(Math.max(command.timeoutMs ?? 10_000, 1), 60_000);
  try {
    return { event: await client.waitFor(test, timeoutMs) };
  } catch (err) {
    const seen = client.received.filter((m) => !NOT_EVENTS.has(m.type)).slice(-8);
    throw Object.assign(new Error(`no ${command.type} event matching ${JSON.stringify(command.match ?? {})} within ${timeoutMs} ms; last events: ${JSON.stringify(seen).slice(0, 1500)}`), {
      reason: 'timeout',
    });
  }
}

async function leave(clientId) {
  const entry = clients.get(clientId);
  if (!entry) return;
  clients.delete(clientId);
  await entry.client.close();
}

// The WebSocket receiver for Audio Connector tests: per path, the upgrade's headers, the text
// messages, the binary frames (count and size of the last) and the close code.
const wsHttp = createServer((_req, res) => res.writeHead(426).end());
const wsSockets = new Map();
new WebSocketServer({ server: wsHttp }).on('connection', (ws, req) => {
  const socket = { headers: req.headers, texts: [], frames: 0, frameBytes: 0, closeCode: null };
  wsSockets.set(req.url ?? '', socket);
  ws.on('message', (data, isBinary) => {
    if (!isBinary) socket.texts.push(data.toString());
    else {
      socket.frames++;
      socket.frameBytes = data.length;
    }
  });
  ws.on('close', (code) => (socket.closeCode = code));
});
await new Promise((resolve) => wsHttp.listen(0, '127.0.0.1', resolve));

// ---- Commands -----------------------------------------------------------------------------------

async function handle(command) {
  switch (command.cmd) {
    case 'getSession':
      return { session: (await colloquy.server.store.sessions.get(command.sessionId)) ?? null };
    case 'stub.respond':
      queue.push(...(command.responses ?? []));
      return {};
    case 'stub.requests':
      return { requests: recorded };
    case 'stub.reset':
      recorded.length = 0;
      queue.length = 0;
      return {};
    case 'join':
      return join(command);
    case 'publish':
      return publish(command);
    case 'subscribe':
      return subscribe(command);
    case 'packets':
      return packets(command);
    case 'request': {
      const { client } = clientOf(command);
      return { reply: await client.tryRequest(command.message ?? {}) };
    }
    case 'events': {
      const { client } = clientOf(command);
      return { events: client.received.filter((m) => !NOT_EVENTS.has(m.type)), closed: client.closed };
    }
    case 'waitFor':
      return waitFor(command);
    case 'leave':
      await leave(command.clientId);
      return {};
    case 'leaveAll':
      await Promise.all([...clients.keys()].map(leave));
      return {};
    case 'ws.uri':
      return { uri: `ws://127.0.0.1:${wsHttp.address().port}${command.path ?? '/'}` };
    case 'ws.socket':
      return { socket: wsSockets.get(command.path) ?? null };
    default:
      throw Object.assign(new Error(`unknown command ${JSON.stringify(command.cmd)}`), { reason: 'unknown-command' });
  }
}

let closing;
function shutdown(code = 0) {
  closing ??= (async () => {
    await Promise.all([...clients.keys()].map(leave));
    stub.closeAllConnections();
    await new Promise((resolve) => stub.close(resolve));
    await colloquy.close();
    wsHttp.closeAllConnections();
    await new Promise((resolve) => wsHttp.close(resolve));
  })()
    .catch((err) => {
      process.stderr.write(`start-server: error while closing: ${err.stack ?? err}\n`);
      code = 1;
    })
    .finally(() => process.exit(code));
  return closing;
}
process.on('SIGTERM', () => shutdown());
process.on('SIGINT', () => shutdown());

// Commands run one after the other, so answers come back in the order of the commands.
let pending = Promise.resolve();
const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  if (line.trim() === '') return;
  pending = pending.then(async () => {
    let answer;
    let seq;
    try {
      const command = JSON.parse(line);
      seq = command.seq;
      answer = { ok: true, ...(await handle(command)) };
    } catch (err) {
      answer = { ok: false, reason: err.reason ?? 'error', message: err.message };
    }
    process.stdout.write(JSON.stringify({ seq, ...answer }) + '\n');
  });
});
lines.on('close', () => void pending.then(() => shutdown()));

process.stdout.write(
  JSON.stringify({
    url: colloquy.url,
    stubUrl,
    apiKey: colloquy.apiKey,
    apiSecret: colloquy.apiSecret,
    applicationId: env.COLLOQUY_APPLICATION_ID || colloquy.applicationId,
  }) + '\n',
);
