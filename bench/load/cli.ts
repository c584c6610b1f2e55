#!/usr/bin/env node
// colloquy-load: synthetic publishers and subscribers against a Colloquy server (or a Janus
// VideoRoom), joining through the server's front door; progress line while it runs, a summary
// table at the end, JSON on request. `colloquy-load --help` lists the options; bench/README.md
// explains how to run it against any server.

import { realpathSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runLoadTest, type LoadTestOptions } from './run-load.js';
import { summaryTable } from './summary.js';
import type { TargetSpec } from './targets/target.js';

const HELP = `colloquy-load: load a Colloquy server with synthetic WebRTC publishers and subscribers

  colloquy-load --url http://127.0.0.1:3000 --api-key KEY --api-secret SECRET [options]
  colloquy-load --janus ws://127.0.0.1:8188 [options]

Server
  --url URL              Colloquy server: REST API and signaling (sessions are created with the REST API)
  --api-key KEY          project API key    (or COLLOQUY_API_KEY)
  --api-secret SECRET    project API secret (or COLLOQUY_API_SECRET)
  --janus URL            load a Janus VideoRoom (WebSocket API) instead
  --server-pid PID       the server's process on this machine: report its CPU and memory

Load
  --sessions N           sessions (default 1)
  --publishers N         publishers per session (default 1)
  --subscribers N        subscribers per session; each subscribes to every publisher (default 1)
  --mesh                 publishers also subscribe to each other (N<->N)
  --resolution WxH       video size (default 640x360)
  --bitrate R            video bitrate, e.g. 500k, 1.5M (default 500k); Opus 32 kbps is added
  --fps N                frames per second (default 30)
  --duration S           measured seconds (default 10)
  --warmup S             seconds between the last subscription and the measurement (default 2)

Generator
  --workers N            client processes (default: CPU count, at least 2)
  --bind-ip IP           address the clients use for ICE (default 127.0.0.1)
  --receive light|full   light: decrypt only frame ends (default; ~10x cheaper); full: werift's whole path
  --transport-cc         subscribers send transport feedback as a browser does (light only): the SFU
                         estimates each one's downlink and may send it lower layers; without it, it
                         has nothing to go by and sends every stream whole
  --concurrency N        joins in flight at once (default 8)

Output
  --json [FILE]          JSON results on stdout (or into FILE) instead of the table
  --quiet                no progress line
  -h, --help
`;

function fail(message: string): never {
  process.stderr.write(`colloquy-load: ${message}\n(see colloquy-load --help)\n`);
  process.exit(2);
}

function int(value: string | undefined, name: string, fallback: number, min = 0, max = 100_000): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) fail(`--${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
  return n;
}

function seconds(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || n > 86_400) fail(`--${name} must be a number of seconds, got ${JSON.stringify(value)}`);
  return n;
}

export function parseBitrate(value: string): number | null {
  const m = /^(\d+(?:\.\d+)?)([kKmM]?)$/.exec(value.trim());
  if (!m) return null;
  const n = Number(m[1]) * (m[2]!.toLowerCase() === 'k' ? 1e3 : m[2]!.toLowerCase() === 'm' ? 1e6 : 1);
  return n >= 50_000 && n <= 20_000_000 ? Math.round(n) : null;
}

function url(value: string, name: string, protocols: string[]): string {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    fail(`--${name} is not a URL: ${JSON.stringify(value)}`);
  }
  if (!protocols.includes(u.protocol)) fail(`--${name} must be ${protocols.join(' or ')}, got ${u.protocol}`);
  return value.replace(/\/+$/, '');
}

export function parseCli(argv: string[]): { options: LoadTestOptions; json: string | true | null } | 'help' {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      url: { type: 'string' },
      'api-key': { type: 'string' },
      'api-secret': { type: 'string' },
      janus: { type: 'string' },
      'server-pid': { type: 'string' },
      sessions: { type: 'string' },
      publishers: { type: 'string' },
      subscribers: { type: 'string' },
      mesh: { type: 'boolean' },
      resolution: { type: 'string' },
      bitrate: { type: 'string' },
      fps: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      workers: { type: 'string' },
      'bind-ip': { type: 'string' },
      receive: { type: 'string' },
      'transport-cc': { type: 'boolean' },
      concurrency: { type: 'string' },
      json: { type: 'string' },
      'json-stdout': { type: 'boolean' },
      quiet: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  let target: TargetSpec;
  if (values.janus !== undefined) {
    if (values.url !== undefined) fail('give --url (Colloquy) or --janus, not both');
    target = { kind: 'janus', url: url(values.janus, 'janus', ['ws:', 'wss:']) };
  } else {
    if (values.url === undefined) fail('--url is required');
    const apiKey = values['api-key'] ?? process.env['COLLOQUY_API_KEY'];
    const apiSecret = values['api-secret'] ?? process.env['COLLOQUY_API_SECRET'];
    if (!apiKey || !apiSecret) fail('--api-key and --api-secret (or COLLOQUY_API_KEY / COLLOQUY_API_SECRET) are required');
    target = {
      kind: 'colloquy',
      url: url(values.url, 'url', ['http:', 'https:']),
      apiKey,
      apiSecret,
    };
  }
  const resolution = /^(\d{2,4})x(\d{2,4})$/.exec(values.resolution ?? '640x360');
  if (!resolution) fail(`--resolution must look like 640x360, got ${JSON.stringify(values.resolution)}`);
  const width = Number(resolution[1]);
  const height = Number(resolution[2]);
  if (width % 2 || height % 2 || width < 16 || height < 16 || width > 3840 || height > 2160) fail('--resolution: even sizes from 16x16 to 3840x2160');
  const bitrate = parseBitrate(values.bitrate ?? '500k');
  if (bitrate === null) fail(`--bitrate must be 50k to 20M (e.g. 500k, 1.5M), got ${JSON.stringify(values.bitrate)}`);
  const receive = values.receive ?? 'light';
  if (receive !== 'light' && receive !== 'full') fail('--receive must be light or full');
  if (values['transport-cc'] && receive !== 'light') fail('--transport-cc needs --receive light');
  const bindIp = values['bind-ip'] ?? '127.0.0.1';
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(bindIp)) fail('--bind-ip must be an IPv4 address');
  const publishers = int(values.publishers, 'publishers', 1, 0, 1000);
  const subscribers = int(values.subscribers, 'subscribers', 1, 0, 10_000);
  if (publishers === 0) fail('--publishers must be at least 1');
  const options: LoadTestOptions = {
    target,
    sessions: int(values.sessions, 'sessions', 1, 1, 1000),
    publishers,
    subscribers,
    mesh: values.mesh ?? false,
    clip: { width, height, bitrate, fps: int(values.fps, 'fps', 30, 1, 60), seconds: 10 },
    duration: seconds(values.duration, 'duration', 10),
    warmup: seconds(values.warmup, 'warmup', 2),
    workers: int(values.workers, 'workers', Math.max(2, availableParallelism()), 1, 64),
    bindIp,
    receiveMode: receive,
    transportCc: values['transport-cc'] ?? false,
    concurrency: int(values.concurrency, 'concurrency', 8, 1, 256),
    progress: !values.quiet,
    ...(values['server-pid'] ? { serverPid: int(values['server-pid'], 'server-pid', 0, 1, 2 ** 22) } : {}),
  };
  const json = values.json !== undefined ? values.json : values['json-stdout'] ? true : null;
  return { options, json };
}

async function main(): Promise<void> {
  // `--json` alone means stdout: parseArgs wants a value for a string option, so map it.
  const argv = process.argv.slice(2).flatMap((a, i, all) => (a === '--json' && (i === all.length - 1 || all[i + 1]!.startsWith('--')) ? ['--json-stdout'] : [a]));
  const parsed = parseCli(argv);
  if (parsed === 'help') {
    process.stdout.write(HELP);
    return;
  }
  const result = await runLoadTest(parsed.options);
  if (parsed.json === true) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  else {
    if (typeof parsed.json === 'string') writeFileSync(parsed.json, `${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(`${summaryTable(result)}\n`);
  }
  if (result.window.subscriptions === 0 && parsed.options.subscribers + (parsed.options.mesh ? 1 : 0) > 0) process.exitCode = 1;
}

// Run as a program (also through the npm bin link), not when imported by tests.
if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    process.stderr.write(`colloquy-load: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
