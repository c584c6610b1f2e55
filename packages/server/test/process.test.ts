// The server as an operator runs it: `colloquy serve` in its own process on a fresh data folder,
// the CLI's project/session/token commands, configuration errors, and shutdown on SIGTERM.

import OpenTok from 'opentok';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { selfSignedCertificate } from '@colloquy/testing/deploy';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { verifyClientToken } from '../src/auth/client-token.js';
import { openServerStore } from '../src/server-store.js';
import { tempDir, testKeyPair } from './helpers.js';

const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const run = promisify(execFile);
const children: ChildProcess[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
});

function cli(args: string[], env: Record<string, string>) {
  return run(process.execPath, [CLI, ...args], { env: { ...process.env, ...env } });
}

/** Starts `colloquy serve` and resolves once it prints its URL. */
function serve(env: Record<string, string>): Promise<{ child: ChildProcess; url: string; output: () => string }> {
  // COLLOQUY_RTC_PORT 0: the SFU's one UDP port where the system picks (7882 is the default; other test files run beside this one).
  const child = spawn(process.execPath, [CLI, 'serve'], { env: { ...process.env, PORT: '0', HOST: '127.0.0.1', COLLOQUY_RTC_PORT: '0', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${out}`)), 20_000);
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const match = /Colloquy is running at (https?:\/\/\S+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve({ child, url: match[1]!, output: () => out });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('exit', (code) => reject(new Error(`server exited with ${code}:\n${out}`)));
  });
}

function exitOf(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

describe('colloquy serve', () => {
  it('creates and prints a dev project on an empty data folder, serves with it, and stops on SIGTERM', async () => {
    const dataDir = tempDir();
    const first = await serve({ COLLOQUY_DATA_DIR: dataDir });
    const key = /API key:\s+(\d+)/.exec(first.output())?.[1];
    const secret = /API secret:\s+([0-9a-f]{40})/.exec(first.output())?.[1];
    expect(key).toMatch(/^\d{8}$/);
    expect(secret).toBeDefined();
    expect((await fetch(`${first.url}/healthz`)).status).toBe(200);

    const ot = new OpenTok(key!, secret!, first.url);
    const sessionId = await new Promise<string>((resolve, reject) => ot.createSession({ mediaMode: 'routed' }, (e, s) => (e ? reject(e) : resolve(s!.sessionId))));
    expect(sessionId).toMatch(/^1_/);

    const exited = exitOf(first.child);
    first.child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(first.output()).toMatch(/"msg":"stopped"/);

    // A second start keeps the project and creates no other.
    const second = await serve({ COLLOQUY_DATA_DIR: dataDir });
    expect(second.output()).not.toMatch(/development project was created/);
    expect(second.output()).toContain(`Default project: ${key}`);
    const list = JSON.parse((await cli(['project', 'list'], { COLLOQUY_DATA_DIR: dataDir })).stdout);
    expect(list).toEqual([expect.objectContaining({ id: key, apiSecret: secret, kind: 'project' })]);
    second.child.kill('SIGTERM');
    expect(await exitOf(second.child)).toBe(0);
  });

  it('stops on SIGTERM after whatever read its output went away (stdout a broken pipe)', async () => {
    const s = await serve({ COLLOQUY_DATA_DIR: tempDir() });
    // An answered request: the banner's synchronous run, which installs the signal handlers, is over.
    expect((await fetch(`${s.url}/healthz`)).status).toBe(200);
    // Our end of its stdout closes: every line it writes from now on fails with EPIPE.
    s.child.stdout!.destroy();
    const exited = exitOf(s.child);
    s.child.kill('SIGTERM');
    // Before: the exit-time flush retried EPIPE forever and the process never ended.
    expect(await exited).toBe(0);
  });

  it('ensures exactly the project and application given in the environment', async () => {
    const dataDir = tempDir();
    const pem = join(dataDir, 'pub.pem');
    writeFileSync(pem, testKeyPair().publicKey);
    const env = {
      COLLOQUY_DATA_DIR: dataDir,
      COLLOQUY_API_KEY: '46000123',
      COLLOQUY_API_SECRET: 'a-secret-from-the-environment',
      COLLOQUY_APPLICATION_ID: '6f1d9a3e-2b7c-4d8e-9f0a-1b2c3d4e5f60',
      COLLOQUY_PUBLIC_KEY_FILE: pem,
    };
    const s = await serve(env);
    expect(s.output()).not.toMatch(/development project was created/);
    s.child.kill('SIGTERM');
    await exitOf(s.child);
    const list = JSON.parse((await cli(['project', 'list'], env)).stdout) as Array<{ id: string; kind: string; apiSecret?: string }>;
    expect(list.map((p) => [p.id, p.kind, p.apiSecret])).toEqual([
      ['46000123', 'project', 'a-secret-from-the-environment'],
      ['6f1d9a3e-2b7c-4d8e-9f0a-1b2c3d4e5f60', 'application', undefined],
    ]);
  });

  it('refuses a configuration error with exit code 2 and a clear message', async () => {
    const err = await cli(['serve'], { COLLOQUY_DATA_DIR: tempDir(), COLLOQUY_API_KEY: 'abc', COLLOQUY_API_SECRET: 'x'.repeat(20) }).catch((e) => e);
    expect(err.code).toBe(2);
    expect(err.stderr).toMatch(/COLLOQUY_API_KEY must be numeric/);
    const port = await cli(['serve'], { COLLOQUY_DATA_DIR: tempDir(), PORT: '99999' }).catch((e) => e);
    expect(port.stderr).toMatch(/PORT must be an integer/);
    const level = await cli(['serve'], { COLLOQUY_DATA_DIR: tempDir(), LOG_LEVEL: 'loud' }).catch((e) => e);
    expect(level.code).toBe(2);
    expect(level.stderr).toBe('colloquy: LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent; got "loud"\n');
  });

  it('on a busy port says so in one line and creates nothing it would have to show', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as AddressInfo;
    try {
      const dataDir = tempDir();
      const err = await cli(['serve'], { COLLOQUY_DATA_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1', COLLOQUY_RTC_PORT: '0' }).catch((e) => e);
      expect(err.code).toBe(1);
      expect(err.stderr).toBe(`colloquy: port ${port} is in use; set PORT=… to another port (or stop what is using it)\n`);
      expect(err.stdout).toBe('');
      // No development project and no dashboard password were made: the next start shows both.
      const store = await openServerStore({ dataDir: dataDir });
      try {
        expect(store.projects.count()).toBe(0);
        expect(await store.db.value('SELECT COUNT(*) FROM dashboard_settings')).toBe(0);
      } finally {
        await store.close();
      }
      const host = await cli(['serve'], { COLLOQUY_DATA_DIR: dataDir, PORT: '0', HOST: 'no-such-host.invalid', COLLOQUY_RTC_PORT: '0' }).catch((e) => e);
      expect(host.code).toBe(1);
      expect(host.stderr).toMatch(/^colloquy: HOST no-such-host\.invalid does not resolve to an address; set HOST=127\.0\.0\.1 or HOST=0\.0\.0\.0\n$/);
    } finally {
      blocker.close();
    }
  });
});

describe('colloquy serve with TLS', () => {
  it('serves HTTPS and takes a renewed certificate on SIGHUP', async () => {
    const first = selfSignedCertificate();
    const second = selfSignedCertificate();
    try {
      const server = await serve({ COLLOQUY_DATA_DIR: tempDir(), COLLOQUY_TLS_CERT: first.certFile, COLLOQUY_TLS_KEY: first.keyFile });
      expect(server.url).toMatch(/^https:/);
      const fingerprint = (): Promise<string> =>
        new Promise((resolve, reject) => {
          const socket = tlsConnect({ host: '127.0.0.1', port: Number(new URL(server.url).port), rejectUnauthorized: false }, () => {
            resolve(socket.getPeerCertificate().fingerprint256);
            socket.end();
          });
          socket.on('error', reject);
        });
      expect(await fingerprint()).toBe(new X509Certificate(first.cert).fingerprint256);
      copyFileSync(second.certFile, first.certFile);
      copyFileSync(second.keyFile, first.keyFile);
      server.child.kill('SIGHUP');
      const deadline = Date.now() + 10_000;
      while ((await fingerprint()) !== new X509Certificate(second.cert).fingerprint256) {
        if (Date.now() > deadline) throw new Error(`certificate not reloaded:\n${server.output()}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      // The log line comes through the child's stdout pipe, possibly after the new certificate is served.
      while (!/"msg":"TLS certificate reloaded"/.test(server.output())) {
        if (Date.now() > deadline) throw new Error(`no "TLS certificate reloaded" line:\n${server.output()}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      server.child.kill('SIGTERM');
      expect(await exitOf(server.child)).toBe(0);
    } finally {
      first.remove();
      second.remove();
    }
  });
});

describe('colloquy CLI', () => {
  it('creates projects and applications, sessions and tokens that verify', async () => {
    const dataDir = tempDir();
    const env = { COLLOQUY_DATA_DIR: dataDir };
    const project = JSON.parse((await cli(['project', 'create', '--name', 'Demo'], env)).stdout);
    expect(project).toMatchObject({ apiKey: expect.stringMatching(/^\d{8}$/), apiSecret: expect.stringMatching(/^[0-9a-f]{40}$/), name: 'Demo' });

    const pem = join(dataDir, 'pub.pem');
    writeFileSync(pem, testKeyPair().publicKey);
    const app = JSON.parse((await cli(['project', 'create', '--name', 'App', '--public-key', pem], env)).stdout);
    expect(app.applicationId).toMatch(/^[0-9a-f-]{36}$/);

    const hooks = JSON.parse((await cli(['project', 'callbacks', '--project', project.apiKey, '--archive', 'https://app.example.com/archive'], env)).stdout);
    expect(hooks).toEqual({ archive: 'https://app.example.com/archive', session: null });
    expect(JSON.parse((await cli(['project', 'callbacks', '--project', project.apiKey, '--archive', ''], env)).stdout)).toEqual({ archive: null, session: null });

    const sessionId = (await cli(['session', 'create', '--project', project.apiKey], env)).stdout.trim();
    const jwt = (await cli(['token', '--project', project.apiKey, '--session', sessionId, '--role', 'moderator', '--data', 'name=cli', '--ttl', '600'], env)).stdout.trim();
    const t1 = (await cli(['token', '--project', project.apiKey, '--session', sessionId, '--kind', 't1'], env)).stdout.trim();

    const appSession = (await cli(['session', 'create', '--project', app.applicationId, '--relayed'], env)).stdout.trim();
    const keyFile = join(dataDir, 'priv.pem');
    writeFileSync(keyFile, testKeyPair().privateKey);
    const appToken = (await cli(['token', '--project', app.applicationId, '--session', appSession, '--private-key', keyFile], env)).stdout.trim();

    const store = await openServerStore({ dataDir: dataDir });
    try {
      const projects = store.projects;
      expect(verifyClientToken(jwt, { projects, sessionId })).toMatchObject({ role: 'moderator', connectionData: 'name=cli' });
      expect(verifyClientToken(jwt, { projects, sessionId }).expireTime - Date.now() / 1000).toBeLessThanOrEqual(601);
      expect(verifyClientToken(t1, { projects, sessionId })).toMatchObject({ kind: 'T1', role: 'publisher' });
      expect(verifyClientToken(appToken, { projects, sessionId: appSession })).toMatchObject({ kind: 'application' });
      expect((await store.sessions.get(appSession))?.mediaMode).toBe('relayed');
    } finally {
      await store.close();
    }
  }, 180_000);

  it('explains mistakes in one line and a hint (exit code 2), never a stack or the whole help', async () => {
    const dataDir = tempDir();
    const env = { COLLOQUY_DATA_DIR: dataDir };
    const project = JSON.parse((await cli(['project', 'create', '--name', 'Demo'], env)).stdout);
    const sessionId = (await cli(['session', 'create', '--project', project.apiKey], env)).stdout.trim();
    const token = ['token', '--project', project.apiKey, '--session', sessionId];
    const cases: Array<[string[], RegExp, string]> = [
      [['frobnicate'], /^unknown command "frobnicate"$/, ''],
      [['project', 'create'], /^project create needs --name$/, 'project '],
      [['project'], /^project needs a subcommand: create, list or callbacks$/, 'project '],
      [['token', '--project', '1'], /^token needs --project KEY and --session ID$/, 'token '],
      [['project', 'create', '--name', 'x', '--bogus'], /^Unknown option '--bogus'/, 'project '],
      [['token', '--project', '1', '--session', 's', '--role', 'king'], /^--role must be/, 'token '],
      [['project', 'callbacks', '--project', '1'], /^no project 1$/, 'project '],
      [['project', 'callbacks', '--project', project.apiKey, '--archive', 'ftp://x'], /^a callback URL must be http or https$/, 'project '],
      [[...token, '--ttl', String(31 * 86_400)], /^--ttl must be a whole number of seconds from 1 to 2592000 \(30 days\)$/, 'token '],
      [[...token, '--data', 'x'.repeat(1001)], /^cannot make the token: connection data must be at most 1000 characters$/, 'token '],
      [['session', 'create', '--project', project.apiKey, '--relayed', '--archive-mode', 'always'], /^--archive-mode always needs a routed session/, 'session '],
      [['project', 'create', '--name', 'App', '--public-key', join(dataDir, 'missing.pem')], /^cannot read the public key file .*missing\.pem: no such file$/, 'project '],
      [['serve', 'now'], /^Unexpected argument 'now'/, 'serve '],
    ];
    // Each case is a node process start (a second or more on a loaded machine): run them together.
    const errors = await Promise.all(cases.map(([args]) => cli(args, env).catch((e) => e)));
    for (const [i, [args, message, helpOf]] of cases.entries()) {
      const err = errors[i];
      expect(err.code, args.join(' ')).toBe(2);
      const [first, second, ...more] = (err.stderr as string).split('\n');
      expect(first, args.join(' ')).toMatch(/^colloquy: /);
      expect(first!.slice('colloquy: '.length), args.join(' ')).toMatch(message);
      expect(second).toBe(`Run \`colloquy ${helpOf}--help\` for usage.`);
      expect(more).toEqual(['']);
    }
  }, 180_000);

  it('prints one command\'s help for `colloquy <command> --help` (serve does not start) and the overview for --help', async () => {
    const env = { COLLOQUY_DATA_DIR: tempDir() };
    const serveHelp = await cli(['serve', '--help'], env);
    expect(serveHelp.stdout).toMatch(/^Usage: colloquy serve\n/);
    const tokenHelp = await cli(['token', '-h'], env);
    expect(tokenHelp.stdout).toMatch(/^Usage: colloquy token --project KEY --session ID/);
    expect(tokenHelp.stdout).toContain('--private-key FILE');
    expect((await cli(['help', 'project'], env)).stdout).toMatch(/^Usage: colloquy project create/);
    const overview = await cli(['--help'], env);
    for (const name of ['serve', 'project create', 'session create', 'token', 'admin reset-password', 'load']) expect(overview.stdout).toContain(`\n  ${name}`);
    // The bin npm links (it exists before the build, unlike dist/cli.js) runs the same CLI.
    const viaBin = await run(process.execPath, [fileURLToPath(new URL('../bin/colloquy.js', import.meta.url)), '--help'], { env: { ...process.env, ...env } });
    expect(viaBin.stdout).toBe(overview.stdout);
  }, 180_000);

  it('load runs the load tool of bench/ with the same arguments and exit code', async () => {
    const help = await cli(['load', '--help'], {});
    expect(help.stdout).toMatch(/^colloquy-load: load a Colloquy server/);
    expect(help.stdout).toContain('--publishers');
    const err = await cli(['load', '--bogus'], {}).catch((e) => e);
    expect(err.code).not.toBe(0);
    expect(err.stderr).toMatch(/colloquy-load: Unknown option '--bogus'/);
  }, 120_000);
});

describe('shutdown with a download nobody reads', () => {
  it('cuts the stalled connection after the grace period instead of hanging', async () => {
    const { startTestServer } = await import('./helpers.js');
    const { mkdirSync, writeFileSync: write } = await import('node:fs');
    const { join: joinPath } = await import('node:path');
    const net = await import('node:net');
    const t = await startTestServer();
    // An available 64 MB archive: far more than socket buffers hold, so an unread download stalls.
    const session = await t.server.sessions.create(t.server.store.projects.get(t.apiKey)!, {
      mediaMode: 'routed', archiveMode: 'manual', location: null, archiveName: null, archiveResolution: null, e2ee: false,
    });
    const id = '5d9c7e1a-3b2f-4c6d-8e9f-0a1b2c3d4e5f';
    mkdirSync(joinPath(t.server.archives.archivesDir, id), { recursive: true });
    write(joinPath(t.server.archives.archivesDir, id, 'archive.mp4'), Buffer.alloc(64 * 1024 * 1024));
    const now = Date.now();
    await t.server.archives.store.insert({
      id, projectId: t.apiKey, sessionId: session.id, name: null, status: 'available', reason: '', outputMode: 'composed', streamMode: 'auto',
      hasAudio: true, hasVideo: true, resolution: '640x480', layout: null, multiArchiveTag: null, maxBitrate: null, quantizationParameter: null,
      autoArchive: false, createdAt: now, updatedAt: now, recordedMs: 1000, duration: 1, size: 64 * 1024 * 1024, fileName: 'archive.mp4', sha256: null,
    });
    const url = new URL(t.server.archives.links.url(t.url, id, 'archive.mp4'));
    const socket = net.connect(Number(url.port), '127.0.0.1');
    socket.on('error', () => {});
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    let received = 0;
    socket.once('data', (chunk) => {
      received += chunk.length;
      socket.pause(); // read the head, then stop reading: the server's stream backs up
    });
    socket.write(`GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    const deadline = Date.now() + 5000;
    while (received === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(received).toBeGreaterThan(0);
    const started = Date.now();
    await t.close();
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(4000); // it did wait for the response in flight …
    expect(took).toBeLessThan(15_000); // … and then cut it
    socket.destroy();
  });
});
