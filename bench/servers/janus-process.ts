// Starts Debian's Janus (1.1.x) for the side-by-side benchmark, configured only by files written
// here into a temp folder: the VideoRoom plugin and the WebSocket transport alone (the plugin and
// transport folders hold links to just those two), WebSockets on loopback, ICE gathering enforced
// onto the namespace's test interface (Janus ignores loopback for ICE), a fixed RTP port range,
// warnings-only logging into a file.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface JanusProcess {
  /** ws:// URL of its WebSocket API. */
  url: string;
  pid: number;
  version: string;
  logFile: string;
  stop(): Promise<void>;
}

export interface JanusOptions {
  /** Interface name or address Janus may gather ICE candidates on (ice_enforce_list). */
  iceInterface: string;
  wsPort?: number;
  rtpPortRange?: [number, number];
}

const LIB_DIRS = ['/usr/lib/x86_64-linux-gnu/janus', '/usr/lib/aarch64-linux-gnu/janus', '/usr/lib/janus', '/usr/local/lib/janus', '/opt/janus/lib/janus'];

export function findJanus(): { binary: string; libDir: string } | null {
  const binary = ['/usr/bin/janus', '/usr/local/bin/janus', '/opt/janus/bin/janus'].find((p) => existsSync(p));
  const libDir = LIB_DIRS.find((d) => existsSync(join(d, 'plugins', 'libjanus_videoroom.so')));
  return binary && libDir ? { binary, libDir } : null;
}

function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const start = Date.now();
  return new Promise((resolve, reject) => {
    const attempt = (): void => {
      const socket = createConnection({ host: '127.0.0.1', port }, () => {
        socket.destroy();
        resolve();
      });
      socket.once('error', () => {
        socket.destroy();
        if (Date.now() - start > timeoutMs) reject(new Error(`Janus did not open port ${port} within ${timeoutMs} ms`));
        else setTimeout(attempt, 100);
      });
    };
    attempt();
  });
}

export async function startJanus(options: JanusOptions): Promise<JanusProcess> {
  const found = findJanus();
  if (!found) throw new Error('Janus is not installed: run scripts/setup-bench.sh (Debian package `janus`)');
  const dir = mkdtempSync(join(tmpdir(), 'colloquy-bench-janus-'));
  const wsPort = options.wsPort ?? 18188;
  const [minPort, maxPort] = options.rtpPortRange ?? [30000, 39999];
  const plugins = join(dir, 'plugins');
  const transports = join(dir, 'transports');
  const empty = join(dir, 'empty');
  for (const d of [plugins, transports, empty]) mkdirSync(d);
  symlinkSync(join(found.libDir, 'plugins', 'libjanus_videoroom.so'), join(plugins, 'libjanus_videoroom.so'));
  symlinkSync(join(found.libDir, 'transports', 'libjanus_websockets.so'), join(transports, 'libjanus_websockets.so'));
  writeFileSync(
    join(dir, 'janus.jcfg'),
    `general: {
	configs_folder = "${dir}"
	plugins_folder = "${plugins}"
	transports_folder = "${transports}"
	events_folder = "${empty}"
	loggers_folder = "${empty}"
	debug_level = 3
	session_timeout = 60
	server_name = "colloquy-bench"
}
certificates: {
}
media: {
	rtp_port_range = "${minPort}-${maxPort}"
}
nat: {
	nice_debug = false
	ice_enforce_list = "${options.iceInterface}"
}
plugins: {
}
transports: {
}
events: {
	broadcast = false
}
`,
  );
  writeFileSync(join(dir, 'janus.plugin.videoroom.jcfg'), 'general: {\n}\n');
  writeFileSync(
    join(dir, 'janus.transport.websockets.jcfg'),
    `general: {
	json = "plain"
	ws = true
	ws_port = ${wsPort}
	ws_ip = "127.0.0.1"
	wss = false
}
admin: {
	admin_ws = false
	admin_wss = false
}
`,
  );
  const logFile = join(dir, 'janus.log');
  const child: ChildProcess = spawn(found.binary, ['--configs-folder', dir, '--config', join(dir, 'janus.jcfg'), '--log-file', logFile, '--disable-stdout', '--disable-colors'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    await Promise.race([
      waitForPort(wsPort, 15_000),
      exited.then((code) => {
        throw new Error(`Janus exited (${code}) at start: ${stderr}\n${existsSync(logFile) ? readFileSync(logFile, 'utf8').slice(-2000) : ''}`);
      }),
    ]);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  const versionLine = /Janus \(WebRTC Server\) v([\d.]+)/.exec(readFileSync(logFile, 'utf8'));
  let stopped: Promise<void> | undefined;
  return {
    url: `ws://127.0.0.1:${wsPort}`,
    pid: child.pid!,
    version: versionLine?.[1] ?? 'unknown',
    logFile,
    stop() {
      stopped ??= (async () => {
        if (child.exitCode === null) {
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
          await exited;
          clearTimeout(timer);
        }
        if (process.env['BENCH_KEEP_JANUS_LOG'] !== '1') rmSync(dir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}
