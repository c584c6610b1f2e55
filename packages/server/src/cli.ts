#!/usr/bin/env node
// `colloquy`: run the server, manage projects, and make demo sessions and tokens from a shell.
// The project and token commands open the same data folder as the server (safe while it runs).

import { buildApplicationToken, buildJwtToken, buildT1Token, isRole, MAX_TOKEN_TTL_SECONDS, type Role } from '@colloquy/tokens';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { CallbackValidationError } from './callbacks/callback-store.js';
import { ConfigError, loadConfig } from './config.js';
import { AdminAuth, generatePassword } from './dashboard/admin-auth.js';
import { createLogger } from './logger.js';
import type { RunningServer } from './server.js';
import type { BootstrapResult } from './bootstrap.js';
import { domainError } from './errors.js';
import { installProcessGuard } from './process-guard.js';
import { ListenError } from './listen-error.js';
import { ProjectValidationError } from './store/projects.js';
import { SessionManager } from './sessions/session-manager.js';
import { BackupError, backupDatabase, restoreDatabase } from './store/backup.js';
import { openServerStore, SERVER_MIGRATIONS, type ServerStore } from './server-store.js';
import { VIDEO_CHAT_PATH } from './video-chat.js';

/**
 * One command of the CLI. To add one, write its `run` and append an entry to COMMANDS (below):
 * `colloquy help` lists it, `colloquy <name> --help` prints its `help`, and a UsageError it throws
 * prints one line plus a pointer to that help.
 */
interface Command {
  name: string;
  /** Synopsis lines for the overview, e.g. `project create --name N`. */
  synopsis: string;
  /** What it does, one or two lines for the overview. */
  summary: string;
  /** The full help: options and what they mean. */
  help: string;
  /** Runs it with the arguments after its name. */
  run(args: string[]): Promise<void> | void;
  /** The command reads `--help` itself (a wrapper around another tool). */
  ownHelp?: boolean;
}

/** A mistake of the person typing: shown as one line and a hint, exit code 2. */
class UsageError extends Error {}

function fail(message: string): never {
  throw new UsageError(message);
}

/** Reads a file the user named, or says plainly why it cannot be read. */
function readUserFile(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as { code?: string }).code;
    fail(`cannot read ${what} ${path}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'it is a folder' : (err as Error).message}`);
  }
}

/** parseArgs with the command's own options only (a typo is a usage error, not ignored). */
function options<T extends ParseArgsConfig['options']>(args: string[], spec: T) {
  return parseArgs({ args, options: spec, strict: true, allowPositionals: false }).values;
}

async function serve(args: string[]): Promise<void> {
  options(args, {});
  const config = loadConfig();
  const logger = createLogger(config);
  installProcessGuard(logger);
  // Loaded here, not at the top: the other commands then start without the server's modules.
  const { startServer } = await import('./server.js');
  const server = await startServer(config, { logger });
  printBanner(server.url, server.bootstrap, server.generatedAdminPassword, config.videoChat, mediaPorts(server.media));
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
  // SIGHUP: a renewed certificate (certbot's deploy hook, systemctl reload) is used by new connections.
  process.on('SIGHUP', () => {
    if (!config.tls) return logger.info('SIGHUP ignored: no COLLOQUY_TLS_CERT to reload');
    try {
      server.reloadTls();
    } catch (err) {
      logger.error({ err }, 'TLS reload failed; the previous certificate stays in use');
    }
  });
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

/** Where browsers send media, for the banner: the ports a firewall must open (docs/deploy.md). */
function mediaPorts(media: RunningServer['media']): string {
  const udp = media.udpMux ? `UDP ${media.udpMux.port} (every peer connection)` : `UDP ${media.ice.portRange[0]}-${media.ice.portRange[1]} (a port per peer connection)`;
  return media.tcpMux ? `${udp}, ICE-TCP ${media.tcpMux.port}` : udp;
}

function printBanner(url: string, bootstrap: BootstrapResult, adminPassword: string | null, videoChat: boolean, media: string): void {
  const lines = ['', `Colloquy is running at ${url}`, `  dashboard:  ${url}/`];
  if (videoChat) lines.push(`  video chat: ${url}${VIDEO_CHAT_PATH}  (the tutorial app; docs/tutorial-video-chat.md)`);
  lines.push(`  health:     ${url}/healthz`, `  browser SDK: ${url}/v2/js/opentok.js`, `  media:      ${media}`);
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

function openStore(): Promise<ServerStore> {
  return openServerStore(loadConfig());
}

async function projectCommand(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  if (sub !== 'create' && sub !== 'list' && sub !== 'callbacks') fail(sub === undefined ? 'project needs a subcommand: create, list or callbacks' : `unknown project subcommand "${sub}" (create, list or callbacks)`);
  const values = options(rest, { name: { type: 'string' }, 'public-key': { type: 'string' }, project: { type: 'string' }, archive: { type: 'string' }, session: { type: 'string' } });
  if (sub === 'create' && !values.name) fail('project create needs --name');
  if (sub === 'callbacks' && !values.project) fail('project callbacks needs --project KEY');
  const pem = sub === 'create' && values['public-key'] ? readUserFile(values['public-key'], 'the public key file') : null;
  const store = await openStore();
  try {
    if (sub === 'create') {
      const project = pem ? await store.projects.createApplication(values.name!, pem) : await store.projects.createProject(values.name!);
      print(
        project.kind === 'project'
          ? { apiKey: project.id, apiSecret: project.secret, name: project.name, kind: project.kind }
          : { applicationId: project.id, name: project.name, kind: project.kind },
      );
    } else if (sub === 'list') {
      print(store.projects.list().map((p) => ({ id: p.id, kind: p.kind, name: p.name, apiSecret: p.secret ?? undefined, createdAt: new Date(p.createdAt).toISOString() })));
    } else {
      const project = store.projects.get(values.project!.toLowerCase()) ?? fail(`no project ${values.project}`);
      // --archive/--session URL sets one ('' removes it); without either, prints them.
      print(await store.callbacks.set(project.id, { archive: values.archive, session: values.session }));
    }
  } finally {
    await store.close();
  }
}

async function sessionCommand(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  if (sub !== 'create') fail(sub === undefined ? 'session needs a subcommand: create' : `unknown session subcommand "${sub}" (create)`);
  const values = options(rest, { project: { type: 'string' }, relayed: { type: 'boolean' }, 'archive-mode': { type: 'string' } });
  if (!values.project) fail('session create needs --project KEY');
  const archiveMode = values['archive-mode'] ?? 'manual';
  if (archiveMode !== 'manual' && archiveMode !== 'always') fail('--archive-mode must be manual or always');
  if (archiveMode === 'always' && values.relayed) fail('--archive-mode always needs a routed session: relayed sessions cannot be archived (leave out --relayed)');
  const store = await openStore();
  try {
    const project = store.projects.get(values.project.toLowerCase()) ?? fail(`no project ${values.project}`);
    const sessions = new SessionManager(store, createLogger({ logLevel: 'warn', logPretty: false }));
    const record = await sessions.create(project, {
      mediaMode: values.relayed ? 'relayed' : 'routed',
      archiveMode,
      location: null,
      archiveName: null,
      archiveResolution: null,
      e2ee: false,
    });
    process.stdout.write(record.id + '\n');
  } finally {
    await store.close();
  }
}

async function tokenCommand(args: string[]): Promise<void> {
  const values = options(args, {
    project: { type: 'string' },
    session: { type: 'string' },
    role: { type: 'string' },
    data: { type: 'string' },
    ttl: { type: 'string' },
    kind: { type: 'string' },
    'private-key': { type: 'string' },
  });
  if (!values.project || !values.session) fail('token needs --project KEY and --session ID');
  const role = values.role ?? 'publisher';
  if (!isRole(role)) fail('--role must be subscriber, publisher, publisheronly or moderator');
  const ttl = values.ttl === undefined ? 86_400 : Number(values.ttl);
  if (!Number.isInteger(ttl) || ttl <= 0 || ttl > MAX_TOKEN_TTL_SECONDS) fail(`--ttl must be a whole number of seconds from 1 to ${MAX_TOKEN_TTL_SECONDS} (30 days)`);
  const kind = values.kind ?? 'jwt';
  if (kind !== 'jwt' && kind !== 't1') fail('--kind must be jwt or t1');
  const privateKey = values['private-key'] ? readUserFile(values['private-key'], 'the private key file') : null;
  const store = await openStore();
  try {
    const project = store.projects.get(values.project.toLowerCase()) ?? fail(`no project ${values.project}`);
    const record = await store.sessions.get(values.session);
    if (!record || record.projectId !== project.id) fail(`no session ${values.session} in project ${project.id}`);
    const tokenOptions = { sessionId: values.session, role: role as Role, data: values.data, expireTime: Math.floor(Date.now() / 1000) + ttl };
    let token: string;
    try {
      if (project.kind === 'application') {
        if (!privateKey) fail('tokens for an application are signed with its private key: pass --private-key FILE');
        token = buildApplicationToken(project.id, privateKey, tokenOptions);
      } else {
        token = (kind === 't1' ? buildT1Token : buildJwtToken)(project.id, project.secret!, tokenOptions);
      }
    } catch (err) {
      // The token builders refuse bad options (data too long) and keys that are not RSA private keys.
      if (err instanceof TypeError || (err as { code?: string }).code?.startsWith('ERR_OSSL')) fail(`cannot make the token: ${(err as Error).message}`);
      throw err;
    }
    process.stdout.write(token + '\n');
  } finally {
    await store.close();
  }
}

async function adminCommand(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  if (sub !== 'reset-password') fail(sub === undefined ? 'admin needs a subcommand: reset-password' : `unknown admin subcommand "${sub}" (reset-password)`);
  options(rest, {});
  const config = loadConfig();
  if (config.adminPassword !== null) fail('COLLOQUY_ADMIN_PASSWORD is set: the dashboard uses it; change it there');
  const store = await openServerStore(config);
  try {
    const password = generatePassword();
    await new AdminAuth(store.db).setStoredPassword(password);
    process.stdout.write(`New dashboard password (every browser was signed out): ${password}\n`);
  } finally {
    await store.close();
  }
}

/** `colloquy backup FILE` / `colloquy restore FILE`: the logic is store/backup.ts. */
async function backupCommand(command: 'backup' | 'restore', args: string[]): Promise<void> {
  if (args.length !== 1 || args[0]!.startsWith('-')) fail(`${command} needs one FILE`);
  const { dataDir, databaseUrl, databaseFile } = loadConfig();
  if (databaseUrl) {
    fail(`${command} copies the SQLite database of the data folder; this server uses PostgreSQL (COLLOQUY_DATABASE_URL): use PostgreSQL's own tools (pg_dump to back up, pg_restore or psql to restore; see docs/deploy.md)`);
  }
  // The shared file of a cluster is several nodes' database: back it up with sqlite3's .backup.
  if (databaseFile !== null) fail(`${command} works on the data folder's own database; COLLOQUY_DATABASE_URL names a shared file (${databaseFile}): use sqlite3 ${databaseFile} ".backup FILE"`);
  try {
    if (command === 'backup') {
      const bytes = await backupDatabase(dataDir, args[0]!);
      process.stdout.write(`Backed up ${dataDir} to ${args[0]} (${bytes} bytes)\n`);
    } else {
      const { previous, migrationsApplied } = await restoreDatabase(dataDir, args[0]!, SERVER_MIGRATIONS);
      process.stdout.write(`Restored ${args[0]} into ${dataDir}${previous ? `; the replaced database is ${previous}` : ''}${migrationsApplied ? `; ${migrationsApplied} newer migrations applied` : ''}\n`);
    }
  } catch (err) {
    if (err instanceof BackupError) fail(err.message);
    throw err;
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

const ENVIRONMENT = `Environment: PORT, HOST, COLLOQUY_DATA_DIR, COLLOQUY_DATABASE_URL, COLLOQUY_PUBLIC_URL, COLLOQUY_API_KEY,
COLLOQUY_API_SECRET, COLLOQUY_APPLICATION_ID, COLLOQUY_PUBLIC_KEY_FILE, COLLOQUY_ADMIN_PASSWORD,
COLLOQUY_INSPECTOR_RETENTION_DAYS, COLLOQUY_VIDEO_CHAT, LOG_LEVEL (see README).`;

const COMMANDS: readonly Command[] = [
  {
    name: 'serve',
    synopsis: 'serve',
    summary: 'run the server (the default command)',
    help: `Usage: colloquy serve

Runs the server with its state in COLLOQUY_DATA_DIR (default ./data), on HOST:PORT (default
127.0.0.1:3000). On an empty data folder it creates a development project and a dashboard
password and prints them once. SIGTERM or Ctrl-C stops it gracefully.

${ENVIRONMENT}`,
    run: serve,
  },
  {
    name: 'project',
    synopsis: 'project create --name N [--public-key FILE]\nproject list\nproject callbacks --project KEY [--archive URL] [--session URL]',
    summary: 'create and list projects; set where their callbacks go',
    help: `Usage: colloquy project create --name N [--public-key FILE]
       colloquy project list
       colloquy project callbacks --project KEY [--archive URL] [--session URL]

  create     create a project (API key + secret), or with --public-key (a PEM RSA public key) a
             Vonage-style application; prints JSON
  list       list projects (with their secrets) as JSON
  callbacks  set where archive status (--archive) and session monitoring (--session) callbacks are
             POSTed ('' removes one); without either, prints them; prints JSON`,
    run: projectCommand,
  },
  {
    name: 'session',
    synopsis: 'session create --project KEY [--relayed] [--archive-mode always]',
    summary: 'create a session; prints its ID',
    help: `Usage: colloquy session create --project KEY [--relayed] [--archive-mode manual|always]

Creates a session (routed through the server unless --relayed) and prints its ID.
--archive-mode always records it whenever someone publishes (routed sessions only).`,
    run: sessionCommand,
  },
  {
    name: 'token',
    synopsis: 'token --project KEY --session ID [--role R] [--data D] [--ttl S] [--kind jwt|t1] [--private-key FILE]',
    summary: 'make a client token',
    help: `Usage: colloquy token --project KEY --session ID [options]

  --role R             subscriber, publisher (default), publisheronly or moderator
  --data D             connection data the others see (at most 1000 characters)
  --ttl S              seconds until it expires (default 86400, at most 2592000 = 30 days)
  --kind jwt|t1        the token format for projects (default jwt)
  --private-key FILE   for an application: its PEM private key, which signs the token`,
    run: tokenCommand,
  },
  {
    name: 'admin',
    synopsis: 'admin reset-password',
    summary: 'new dashboard password; signs every browser out',
    help: `Usage: colloquy admin reset-password

Generates a new dashboard password, prints it, and signs every browser out. Not available when
COLLOQUY_ADMIN_PASSWORD is set (the dashboard uses that one).`,
    run: adminCommand,
  },
  {
    name: 'backup',
    synopsis: 'backup FILE',
    summary: 'copy the database to FILE (SQLite online backup: safe while the server runs)',
    help: `Usage: colloquy backup FILE

Copies the database in COLLOQUY_DATA_DIR to FILE with SQLite's online backup, safe while the server
runs. Archive files (COLLOQUY_DATA_DIR/archives) are not included: copy them with your file backups.
SQLite only: with COLLOQUY_DATABASE_URL (PostgreSQL) use pg_dump.`,
    run: (args) => backupCommand('backup', args),
  },
  {
    name: 'restore',
    synopsis: 'restore FILE',
    summary: 'replace the database with the backup FILE (the server must be stopped)',
    help: `Usage: colloquy restore FILE

Replaces the database in COLLOQUY_DATA_DIR with the backup FILE. Refused while a server runs on that
data folder and for a backup made by a newer release; the replaced database is kept beside it and
migrations the backup lacks are applied. SQLite only: with COLLOQUY_DATABASE_URL use pg_restore.`,
    run: (args) => backupCommand('restore', args),
  },
  {
    name: 'load',
    synopsis: 'load [options]',
    summary: 'synthetic publishers and subscribers against a server (bench/; --help for options)',
    help: 'Usage: colloquy load [options]  (colloquy load --help lists them)',
    run: loadCommand,
    ownHelp: true,
  },
];

function overview(): string {
  const lines = ['Usage: colloquy <command> [options]', '', 'Commands:'];
  for (const command of COMMANDS) {
    for (const synopsis of command.synopsis.split('\n')) lines.push(`  ${synopsis}`);
    lines.push(`      ${command.summary}`);
  }
  lines.push('', '`colloquy <command> --help` shows the options of one command.', '', ENVIRONMENT);
  return lines.join('\n');
}

const isHelp = (arg: string) => arg === '--help' || arg === '-h';

/** The command run, for the hint after a usage error. */
let current: Command | undefined;

async function main(argv: string[]): Promise<void> {
  const [name = 'serve', ...rest] = argv;
  if (name === 'help' || isHelp(name)) {
    const topic = COMMANDS.find((c) => c.name === rest[0]);
    process.stdout.write((topic ? topic.help : overview()) + '\n');
    return;
  }
  current = COMMANDS.find((c) => c.name === name);
  if (!current) fail(`unknown command "${name}"`);
  if (!current.ownHelp && rest.some(isHelp)) {
    process.stdout.write(current.help + '\n');
    return;
  }
  await current.run(rest);
}

/** Errors that are the user's to fix: printed as one line, no stack. */
function userMistake(err: unknown): boolean {
  return (
    err instanceof UsageError ||
    err instanceof ConfigError ||
    err instanceof ProjectValidationError ||
    err instanceof CallbackValidationError ||
    (domainError(err)?.kind ?? 'internal') !== 'internal' ||
    ((err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') ?? false)
  );
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof ListenError) {
    process.stderr.write(`colloquy: ${err.message}\n`);
    process.exit(1);
  }
  if (userMistake(err)) {
    const hint = err instanceof ConfigError ? '' : `Run \`colloquy ${current ? `${current.name} ` : ''}--help\` for usage.\n`;
    process.stderr.write(`colloquy: ${(err as Error).message}\n${hint}`);
    process.exit(2);
  }
  process.stderr.write(`colloquy: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
