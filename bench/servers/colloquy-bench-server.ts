// The Colloquy server as the benchmarks run it: the real server (startServer, configured by the
// same environment variables as `colloquy serve`) in its own process, so its CPU and memory are
// measured alone, plus a bench-only control endpoint on another loopback port:
//
//   GET  /stats            memory, open sockets and connections, routers and transports
//   POST /gc               full GC (node --expose-gc), then memory
//   POST /profile/start    V8 CPU profiler on (node:inspector); /profile/stop returns the profile
//   POST /heap-snapshot    {path}: a full GC, then a V8 heap snapshot written to path (to diff leaks)
//
// Clients use the server itself: REST, tokens, signaling, publish/subscribe, the SFU.
// Prints one JSON line {url, control, pid} on stdout when ready; SIGTERM stops it.

import { installProcessGuard, loadConfig, startServer } from '@colloquy/server';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { Session as InspectorSession } from 'node:inspector';
import { isAbsolute } from 'node:path';
import { writeHeapSnapshot } from 'node:v8';
import { pino } from 'pino';

const config = loadConfig(process.env);
const logger = pino({ level: process.env['LOG_LEVEL'] ?? 'warn' });
// As `colloquy serve`: a stray exception is logged and counted, not the end of a long run.
installProcessGuard(logger);
const server = await startServer(config, { logger });

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

let profiler: InspectorSession | null = null;

function inspectorPost<T>(session: InspectorSession, method: string, params?: object): Promise<T> {
  return new Promise((resolve, reject) =>
    session.post(method, params ?? {}, (err, result) => (err ? reject(err) : resolve(result as T))),
  );
}

async function handle(method: string, path: string, body: Record<string, unknown>): Promise<unknown> {
  if (method === 'GET' && path === '/stats') {
    return {
      pid: process.pid,
      memory: process.memoryUsage(),
      signaling: (server.app as unknown as { signaling: { stats(): unknown } }).signaling.stats(),
      media: { routers: server.media.routers.length, transports: server.media.routers.reduce((n, r) => n + r.transportCount, 0) },
      liveSessions: server.sessions.liveSessions().length,
    };
  }
  if (method !== 'POST') throw new HttpError(404, 'not found');
  switch (path) {
    case '/gc': {
      const gc = (globalThis as { gc?: () => void }).gc;
      if (!gc) throw new HttpError(409, 'start with node --expose-gc');
      gc();
      await new Promise((r) => setImmediate(r));
      gc();
      return { memory: process.memoryUsage() };
    }
    case '/heap-snapshot': {
      const path = body['path'];
      if (typeof path !== 'string' || !isAbsolute(path) || !path.endsWith('.heapsnapshot')) throw new HttpError(400, 'path must be an absolute *.heapsnapshot path');
      (globalThis as { gc?: () => void }).gc?.();
      return { path: writeHeapSnapshot(path) };
    }
    case '/profile/start': {
      if (profiler) throw new HttpError(409, 'profiler already running');
      profiler = new InspectorSession();
      profiler.connect();
      await inspectorPost(profiler, 'Profiler.enable');
      await inspectorPost(profiler, 'Profiler.setSamplingInterval', { interval: Number(body['intervalUs'] ?? 1000) });
      await inspectorPost(profiler, 'Profiler.start');
      return {};
    }
    case '/profile/stop': {
      if (!profiler) throw new HttpError(409, 'profiler not running');
      const { profile } = await inspectorPost<{ profile: unknown }>(profiler, 'Profiler.stop');
      profiler.disconnect();
      profiler = null;
      return profile;
    }
  }
  throw new HttpError(404, 'not found');
}

async function readBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  if (chunks.length === 0) return {};
  const parsed: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new HttpError(400, 'body must be a JSON object');
  return parsed as Record<string, unknown>;
}

const control = createServer((req: IncomingMessage, res: ServerResponse) => {
  void (async () => {
    try {
      const result = await handle(req.method ?? 'GET', (req.url ?? '/').split('?')[0]!, await readBody(req));
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(result));
    } catch (err) {
      const status = err instanceof HttpError ? err.status : err instanceof SyntaxError ? 400 : 500;
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ error: (err as Error).message }));
    }
  })();
});
await new Promise<void>((resolve) => control.listen(Number(process.env['BENCH_CONTROL_PORT'] ?? 0), '127.0.0.1', resolve));
const address = control.address();
const controlPort = typeof address === 'object' && address ? address.port : 0;
process.stdout.write(`${JSON.stringify({ url: server.url, control: `http://127.0.0.1:${controlPort}`, pid: process.pid })}\n`);

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  control.closeAllConnections();
  control.close();
  await server.close();
  process.exit(0);
}
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
