#!/usr/bin/env node
// `colloquy`: run the server, manage projects, and make demo sessions and tokens from a shell.
// The project and token commands open the same data folder as the server (safe while it runs).

import { buildApplicationToken, buildJwtToken, buildT1Token, isRole, type Role } from '@colloquy/tokens';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { CallbackValidationError } from './callbacks/callback-store.js';
import { ConfigError, loadConfig } from './config.js';
import { AdminAuth, generatePassword } from './dashboard/admin-auth.js';
import { createLogger } from './logger.js';
import { installProcessGuard } from './process-guard.js';
import { startServer } from './server.js';
import { SessionManager } from './sessions/session-manager.js';
import { Store } from './store/index.js';
import { VIDEO_CHAT_PATH } from './video-chat.js';

const USAGE = `Usage: colloquy <command> [options]

Commands:
  serve                                   run the server (default)
  project create --name N [--public-key FILE]
                                          create a project (API key + secret), or with a PEM
                                          public key a Vonage-style application; prints JSON
  project list                            list projects as JSON
  project callbacks --project KEY [--archive URL] [--session URL]
                                          set (or '' to remove) where archive status and session
                                          monitoring callbacks are POSTed; prints them as JSON
  session create --project KEY [--relayed] [--archive-mode always]
                                          create a session; prints its ID
  token --project KEY --session ID [--role R] [--data D] [--ttl S] [--kind jwt|t1]
        [--private-key FILE]              make a client token (applications need --private-key)
  admin reset-password                    generate a new dashboard password, print it, sign
                                          every browser out (unless COLLOQUY_ADMIN_PASSWORD is set)
  load [options]                          synthetic publishers and subscribers against a server
                                          (the load tool of bench/, colloquy-load; --help for options)

Environment: PORT, HOST, COLLOQUY_DATA_DIR, COLLOQUY_PUBLIC_URL, COLLOQUY_API_KEY,
COLLOQUY_API_SECRET, COLLOQUY_APPLICATION_ID, COLLOQUY_PUBLIC_KEY_FILE, COLLOQUY_ADMIN_PASSWORD,
COLLOQUY_INSPECTOR_RETENTION_DAYS, COLLOQUY_VIDEO_CHAT, LOG_LEVEL (see README).`;

class UsageError extends Error {}

function fail(message: string): never {
  throw new UsageError(message);
}

async function serve(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config);
  installProcessGuard(logger);
  const server = await startServer(config, { logger });
  printBanner(server.url, server.bootstrap, server.generatedAdminPassword, config.videoChat);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'signal received');
    const force = setTimeout(() => {
      logger.error('shutdown took longer than 10 s; exiting');
      process.exit(1);
    }, 10_000);
    force.unref();
    server.close().then(
      () => process.exit(0),
      (err) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

function printBanner(url: string, bootstrap: Awaited<ReturnType<typeof startServer>>['bootstrap'], adminPassword: string | null, videoChat: boolean): void {
  const lines = ['', `Colloquy is running at ${url}`, `  dashboard:  ${url}/`];
  if (videoChat) lines.push(`  video chat: ${url}${VIDEO_CHAT_PATH}  (the tutorial app; docs/tutorial-video-chat.md)`);
  lines.push(`  health:     ${url}/healthz`, `  browser SDK: ${url}/v2/js/opentok.js`);
  const dev = bootstrap.createdDevProject;
  if (dev) {
    lines.push('', 'A development project was created (shown once; `colloquy project list` shows it again):');
    lines.push(`  API key:    ${dev.id}`, `  API secret: ${dev.secret}`);
  } else if (bootstrap.defaultProject) {
    lines.push('', `Default project: ${bootstrap.defaultProject.id} (${bootstrap.defaultProject.name}); \`colloquy project list\` shows its secret.`);
  }
  if (adminPassword) {
    lines.push('', 'A dashboard password was generated (shown once; `colloquy admin reset-password` makes a new one):');
    lines.push(`  password:   ${adminPassword}`);
  }
  lines.push('');
  process.stdout.write(lines.join('\n') + '\n');
}

function openStore(): Store {
  return Store.open(loadConfig().dataDir);
}

function projectCommand(args: string[]): void {
  const [sub, ...rest] = args;
  const { values } = parseArgs({
    args: rest,
    options: { name: { type: 'string' }, 'public-key': { type: 'string' }, project: { type: 'string' }, archive: { type: 'string' }, session: { type: 'string' } },
    strict: true,
  });
  const store = openStore();
  try {
    if (sub === 'create') {
      if (!values.name) fail('project create needs --name');
      const project = values['public-key']
        ? store.projects.createApplication(values.name, readFileSync(values['public-key'], 'utf8'))
        : store.projects.createProject(values.name);
      print(
        project.kind === 'project'
          ? { apiKey: project.id, apiSecret: project.secret, name: project.name, kind: project.kind }
          : { applicationId: project.id, name: project.name, kind: project.kind },
      );
    } else if (sub === 'list') {
      print(store.projects.list().map((p) => ({ id: p.id, kind: p.kind, name: p.name, apiSecret: p.secret ?? undefined, createdAt: new Date(p.createdAt).toISOString() })));
    } else if (sub === 'callbacks') {
      if (!values.project) fail('project callbacks needs --project KEY');
      const project = store.projects.get(values.project.toLowerCase()) ?? fail(`no project ${values.project}`);
      try {
        // --archive/--session URL sets one ('' removes it); without either, prints them.
        print(store.callbacks.set(project.id, { archive: values.archive, session: values.session }));
      } catch (err) {
        if (err instanceof CallbackValidationError) fail(err.message);
        throw err;
      }
    } else {
      fail('project needs "create", "list" or "callbacks"');
    }
  } finally {
    store.close();
  }
}

function sessionCommand(args: string[]): void {
  const [sub, ...rest] = args;
  if (sub !== 'create') fail('session needs "create"');
  const { values } = parseArgs({ args: rest, options: { project: { type: 'string' }, relayed: { type: 'boolean' }, 'archive-mode': { type: 'string' } }, strict: true });
  if (!values.project) fail('session create needs --project KEY');
  const archiveMode = values['archive-mode'] ?? 'manual';
  if (archiveMode !== 'manual' && archiveMode !== 'always') fail('--archive-mode must be manual or always');
  const store = openStore();
  try {
    const project = store.projects.get(values.project) ?? fail(`no project ${values.project}`);
    const sessions = new SessionManager(store, createLogger({ logLevel: 'warn', logPretty: false }));
    const record = sessions.create(project, {
      mediaMode: values.relayed ? 'relayed' : 'routed',
      archiveMode,
      location: null,
      archiveName: null,
      archiveResolution: null,
      e2ee: false,
    });
    process.stdout.write(record.id + '\n');
  } finally {
    store.close();
  }
}

function tokenCommand(args: string[]): void {
  const { values } = parseArgs({
    args,
    options: {
      project: { type: 'string' },
      session: { type: 'string' },
      role: { type: 'string' },
      data: { type: 'string' },
      ttl: { type: 'string' },
      kind: { type: 'string' },
      'private-key': { type: 'string' },
    },
    strict: true,
  });
  if (!values.project || !values.session) fail('token needs --project KEY and --session ID');
  const role = values.role ?? 'publisher';
  if (!isRole(role)) fail('--role must be subscriber, publisher, publisheronly or moderator');
  const ttl = values.ttl === undefined ? 86_400 : Number(values.ttl);
  if (!Number.isInteger(ttl) || ttl <= 0) fail('--ttl must be a positive number of seconds');
  const store = openStore();
  try {
    const project = store.projects.get(values.project.toLowerCase()) ?? fail(`no project ${values.project}`);
    const record = store.sessions.get(values.session);
    if (!record || record.projectId !== project.id) fail(`no session ${values.session} in project ${project.id}`);
    const options = { sessionId: values.session, role: role as Role, data: values.data, expireTime: Math.floor(Date.now() / 1000) + ttl };
    let token: string;
    if (project.kind === 'application') {
      if (!values['private-key']) fail('tokens for an application are signed with its private key: pass --private-key FILE');
      token = buildApplicationToken(project.id, readFileSync(values['private-key'], 'utf8'), options);
    } else if ((values.kind ?? 'jwt') === 't1') {
      token = buildT1Token(project.id, project.secret!, options);
    } else if ((values.kind ?? 'jwt') === 'jwt') {
      token = buildJwtToken(project.id, project.secret!, options);
    } else {
      fail('--kind must be jwt or t1');
    }
    process.stdout.write(token + '\n');
  } finally {
    store.close();
  }
}

async function adminCommand(args: string[]): Promise<void> {
  if (args[0] !== 'reset-password' || args.length !== 1) fail('admin needs "reset-password"');
  const config = loadConfig();
  if (config.adminPassword !== null) fail('COLLOQUY_ADMIN_PASSWORD is set: the dashboard uses it; change it there');
  const store = Store.open(config.dataDir);
  try {
    const password = generatePassword();
    await new AdminAuth(store.db).setStoredPassword(password);
    process.stdout.write(`New dashboard password (every browser was signed out): ${password}\n`);
  } finally {
    store.close();
  }
}

/**
 * `colloquy load …` runs the load tool, which lives in the repository's `bench/` workspace (it
 * brings werift clients and ffmpeg clips the server does not need): same arguments, same exit code.
 */
async function loadCommand(args: string[]): Promise<void> {
  let cli: string;
  try {
    cli = join(dirname(createRequire(import.meta.url).resolve('@colloquy/bench/package.json')), 'dist', 'load', 'cli.js');
  } catch {
    fail('the load tool is not installed here: it is the bench/ workspace of the Colloquy repository (npm ci && npm run build there)');
  }
  const child = spawn(process.execPath, [cli, ...args], { stdio: 'inherit' });
  const code = await new Promise<number>((resolve) => child.once('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0))));
  process.exitCode = code;
}

function print(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

async function main(argv: string[]): Promise<void> {
  const [command = 'serve', ...rest] = argv;
  switch (command) {
    case 'serve':
      return serve();
    case 'project':
      return projectCommand(rest);
    case 'session':
      return sessionCommand(rest);
    case 'token':
      return tokenCommand(rest);
    case 'admin':
      return adminCommand(rest);
    case 'load':
      return loadCommand(rest);
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE + '\n');
      return;
    default:
      fail(`unknown command "${command}"`);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof UsageError || err instanceof ConfigError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
    process.stderr.write(`colloquy: ${(err as Error).message}\n\n${err instanceof UsageError ? USAGE + '\n' : ''}`);
    process.exit(2);
  }
  process.stderr.write(`colloquy: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
