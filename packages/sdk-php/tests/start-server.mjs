// Launcher for the PHP SDK's PHPUnit run (tests/Support/TestServer.php starts it with proc_open):
// a real Colloquy server (in this process, port 0, temp data folder, the known test project, and
// the application whose public key the PHP test made) plus a recording HTTP stub for request-shape
// tests. Prints one JSON line with their URLs, then answers one JSON line per JSON-line command on
// stdin, until stdin closes or SIGTERM/SIGINT arrives; then closes both and removes the data folder.
//
// Environment: COLLOQUY_TEST_APPLICATION_ID + COLLOQUY_TEST_PUBLIC_KEY_FILE (optional).
// Commands:
//   {"cmd":"verifyToken","token":…,"sessionId":…?}  -> {"ok":true,"claims":{…}} | {"ok":false,"reason","message"}
//   {"cmd":"getSession","sessionId":…}  -> {"ok":true,"session":{…the stored session record…}|null}
//   {"cmd":"stub.respond","responses":[{status, body?, contentType?, delayMs?}, …]}  queue answers
//   {"cmd":"stub.requests"}  -> {"ok":true,"requests":[{method, path, headers, body}, …]}
//   {"cmd":"stub.reset"}     forget recorded requests and queued answers

import { createServer } from 'node:http';
import { createInterface } from 'node:readline';

let startTestServer;
let verifyClientToken;
try {
  ({ startTestServer } = await import('@colloquy/testing/server'));
  ({ verifyClientToken } = await import('@colloquy/server'));
} catch (err) {
  process.stderr.write(`start-server: cannot load the Colloquy server (run \`npm run build\` at the repository root first): ${err.message}\n`);
  process.exit(2);
}

const env = {};
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

let closing;
function shutdown(code = 0) {
  closing ??= (async () => {
    stub.closeAllConnections();
    await new Promise((resolve) => stub.close(resolve));
    await colloquy.close();
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

function handle(command) {
  switch (command.cmd) {
    case 'verifyToken':
      try {
        const claims = verifyClientToken(command.token, {
          projects: colloquy.server.store.projects,
          sessionId: command.sessionId ?? undefined,
          clockSkewSeconds: colloquy.server.config.clockSkewSeconds,
        });
        return { ok: true, claims };
      } catch (err) {
        return { ok: false, reason: err.reason ?? 'error', message: err.message };
      }
    case 'getSession':
      return { ok: true, session: colloquy.server.store.sessions.get(command.sessionId) ?? null };
    case 'stub.respond':
      queue.push(...(command.responses ?? []));
      return { ok: true };
    case 'stub.requests':
      return { ok: true, requests: recorded };
    case 'stub.reset':
      recorded.length = 0;
      queue.length = 0;
      return { ok: true };
    default:
      return { ok: false, reason: 'unknown-command', message: `unknown command ${JSON.stringify(command.cmd)}` };
  }
}

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  if (line.trim() === '') return;
  let answer;
  try {
    answer = handle(JSON.parse(line));
  } catch (err) {
    answer = { ok: false, reason: 'bad-command', message: err.message };
  }
  process.stdout.write(JSON.stringify(answer) + '\n');
});
lines.on('close', () => shutdown());

process.stdout.write(
  JSON.stringify({
    url: colloquy.url,
    stubUrl,
    apiKey: colloquy.apiKey,
    apiSecret: colloquy.apiSecret,
    applicationId: env.COLLOQUY_APPLICATION_ID || colloquy.applicationId,
  }) + '\n',
);
