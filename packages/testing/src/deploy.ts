// The deployment parts for tests and benchmarks, real and on loopback: Debian's coturn started with
// a TURN REST secret, a self-signed certificate made by openssl, Debian's nginx started from a config
// file, free ports. Each start returns a close() that stops the process and removes its files.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A TCP port free on 127.0.0.1 right now (the caller binds it soon after). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Spawns a server process, keeping the last 20 kB of what it prints (for the error when it fails). */
function spawnServer(command: string, args: string[]): { child: ChildProcess; output: () => string } {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (d: Buffer): void => void (output = (output + d.toString()).slice(-20_000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  return { child, output: () => output };
}

/** Resolves once something accepts TCP connections on 127.0.0.1:port; rejects after timeoutMs. */
export async function waitForPort(port: number, timeoutMs = 15_000, child?: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child && child.exitCode !== null) throw new Error(`process exited with ${child.exitCode} before listening on ${port}`);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface Certificate {
  certFile: string;
  keyFile: string;
  /** PEM of the certificate (to trust it in a client). */
  cert: string;
  remove(): void;
}

/** A self-signed ECDSA certificate for localhost and 127.0.0.1, valid one day (openssl). */
export function selfSignedCertificate(): Certificate {
  const dir = mkdtempSync(join(tmpdir(), 'colloquy-cert-'));
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
    '-keyout', keyFile, '-out', certFile,
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  return { certFile, keyFile, cert: readFileSync(certFile, 'utf8'), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

export interface Coturn {
  /** TURN over UDP and TCP listen here; TURN over TLS on tlsPort. */
  port: number;
  tlsPort: number;
  secret: string;
  /** `turn:…?transport=udp`, `turn:…?transport=tcp`, `turns:…?transport=tcp` on 127.0.0.1. */
  urls: { udp: string; tcp: string; tls: string };
  /** What coturn logged (for a failing test's message). */
  log(): string;
  close(): Promise<void>;
}

/**
 * Debian's coturn on 127.0.0.1 with the TURN REST scheme (`--use-auth-secret`), relaying to
 * loopback peers (`--allow-loopback-peers`: the SFU and the test's browsers are on 127.0.0.1), TLS
 * with a self-signed certificate made here. Listening ports are chosen free.
 */
export async function startCoturn(options: { secret?: string } = {}): Promise<Coturn> {
  const secret = options.secret ?? 'coturn-test-secret-0123456789';
  const dir = mkdtempSync(join(tmpdir(), 'colloquy-coturn-'));
  const cert = selfSignedCertificate();
  const port = await freePort();
  let tlsPort = await freePort();
  while (tlsPort === port) tlsPort = await freePort();
  const relayMin = 50_000 + Math.floor(Math.random() * 150) * 100;
  const args = [
    '-n', '--no-cli', '--simple-log', '--log-file=stdout', '--no-stdout-log',
    '--listening-ip=127.0.0.1', '--relay-ip=127.0.0.1', '--external-ip=127.0.0.1',
    `--listening-port=${port}`, `--tls-listening-port=${tlsPort}`,
    `--min-port=${relayMin}`, `--max-port=${relayMin + 99}`,
    '--use-auth-secret', `--static-auth-secret=${secret}`, '--realm=colloquy.test',
    '--allow-loopback-peers', '--fingerprint', '--no-dtls', '--no-multicast-peers',
    `--cert=${cert.certFile}`, `--pkey=${cert.keyFile}`,
    `--userdb=${join(dir, 'turndb')}`, `--pidfile=${join(dir, 'turnserver.pid')}`,
  ];
  const { child, output } = spawnServer('turnserver', args);
  const close = async (): Promise<void> => {
    await stopChild(child);
    cert.remove();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForPort(port, 15_000, child);
    await waitForPort(tlsPort, 15_000, child);
  } catch (err) {
    await close();
    throw new Error(`${(err as Error).message}\ncoturn said:\n${output()}`);
  }
  return {
    port,
    tlsPort,
    secret,
    urls: {
      udp: `turn:127.0.0.1:${port}?transport=udp`,
      tcp: `turn:127.0.0.1:${port}?transport=tcp`,
      tls: `turns:127.0.0.1:${tlsPort}?transport=tcp`,
    },
    log: output,
    close,
  };
}

export interface Nginx {
  port: number;
  url: string;
  log(): string;
  close(): Promise<void>;
}

/**
 * Debian's nginx in the foreground, as this user, with `config` as its whole configuration (the
 * caller fills in ports and paths); pid, temp and log files in a folder of its own.
 */
export async function startNginx(config: string, port: number, scheme: 'http' | 'https' = 'http'): Promise<Nginx> {
  const dir = mkdtempSync(join(tmpdir(), 'colloquy-nginx-'));
  const file = join(dir, 'nginx.conf');
  writeFileSync(file, config.replaceAll('@RUNTIME_DIR@', dir));
  const child = spawn('nginx', ['-p', dir, '-c', file, '-e', join(dir, 'error.log'), '-g', `daemon off; pid ${join(dir, 'nginx.pid')};`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const errorLog = (): string => {
    try {
      return readFileSync(join(dir, 'error.log'), 'utf8').slice(-5000);
    } catch {
      return '';
    }
  };
  const close = async (): Promise<void> => {
    await stopChild(child);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForPort(port, 15_000, child);
    await waitForNginxAnswer(port, scheme, child, 15_000);
  } catch (err) {
    const said = output + errorLog();
    await close();
    throw new Error(`${(err as Error).message}\nnginx said:\n${said}`);
  }
  return { port, url: `${scheme}://127.0.0.1:${port}`, log: () => output + errorLog(), close };
}

/**
 * Waits until nginx itself answers on `port` (its Server header), not merely something: a port
 * freePort() gave out can be taken by another process before nginx binds it (two suites at once),
 * and nginx then exits while waitForPort connects to that other listener.
 */
async function waitForNginxAnswer(port: number, scheme: 'http' | 'https', child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    if (child.exitCode !== null) throw new Error(`nginx exited with ${child.exitCode} (is 127.0.0.1:${port} taken by another process?)`);
    const server = await new Promise<string | null>((resolve) => {
      const req = (scheme === 'https' ? httpsRequest : httpRequest)({ host: '127.0.0.1', port, path: '/', method: 'HEAD', rejectUnauthorized: false, timeout: 2000 }, (res) => {
        res.resume();
        resolve(String(res.headers['server'] ?? ''));
      });
      req.once('timeout', () => req.destroy());
      req.once('error', (err) => {
        last = err.message;
        resolve(null);
      });
      req.end();
    });
    if (server !== null && /^nginx/i.test(server)) return;
    if (server !== null) last = `answered with Server: ${JSON.stringify(server)}`;
    if (Date.now() > deadline) throw new Error(`nginx did not answer on 127.0.0.1:${port} within ${timeoutMs} ms (last: ${last})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// Network namespaces joined by a veth pair live in netem.ts (the impaired-network harness).
export { chromiumInNamespace, createVethNamespace, type VethNamespace } from './netem.js';

export interface RedisServer {
  port: number;
  /** redis://127.0.0.1:port */
  url: string;
  log(): string;
  close(): Promise<void>;
}

/**
 * Debian's redis-server on 127.0.0.1 for a cluster test: no persistence (`--save ''`,
 * `--appendonly no`), a free port, its working folder removed on close.
 */
export async function startRedis(): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), 'colloquy-redis-'));
  const port = await freePort();
  const { child, output } = spawnServer('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--protected-mode', 'yes']);
  const close = async (): Promise<void> => {
    await stopChild(child);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForPort(port, 15_000, child);
  } catch (err) {
    await close();
    throw new Error(`${(err as Error).message}\nredis-server said:\n${output()}`);
  }
  return { port, url: `redis://127.0.0.1:${port}`, log: output, close };
}
