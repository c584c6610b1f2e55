// Builds the packet path's native module (native/packet.c -> build/Release/colloquy_packet.node)
// with node-gyp against the running Node's own headers, unless it is already newer than its
// sources. It runs at `npm install` (in place of npm's implicit `node-gyp rebuild` for a package
// with a binding.gyp, which would fail the whole install) and at every `npm run build`. Without a
// compiler or headers the SFU still runs on its JavaScript path, so a failed build warns and exits
// 0; `packages/sfu/test/native.test.ts` is what fails then.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const output = join(root, 'build', 'Release', 'colloquy_packet.node');
const sources = ['native/packet.c', 'binding.gyp'].map((f) => join(root, f));

const mtime = (file) => statSync(file).mtimeMs;
if (existsSync(output) && sources.every((s) => mtime(s) <= mtime(output))) process.exit(0);

function nodeGyp() {
  if (process.env.npm_config_node_gyp && existsSync(process.env.npm_config_node_gyp)) return process.env.npm_config_node_gyp;
  const bundled = join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  if (existsSync(bundled)) return bundled;
  try {
    return createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js');
  } catch {
    return undefined;
  }
}

/** Node's headers: npm's nodedir setting, else the prefix of the running node (Debian: /usr). */
function nodeDir() {
  const candidates = [process.env.npm_config_nodedir, join(dirname(process.execPath), '..')];
  return candidates.find((d) => d && existsSync(join(d, 'include', 'node', 'node_api.h')));
}

const gyp = nodeGyp();
const dir = nodeDir();
if (gyp === undefined || dir === undefined) {
  console.warn(`@colloquy/sfu: native packet path not built (${gyp === undefined ? 'node-gyp' : "Node's headers"} not found); the JavaScript path is used.`);
  process.exit(0);
}
const result = spawnSync(process.execPath, [gyp, 'rebuild', `--nodedir=${dir}`], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
if (result.status !== 0) {
  console.warn(`@colloquy/sfu: native packet path not built (node-gyp exited ${result.status}); the JavaScript path is used.\n${(result.stderr ?? '').split('\n').slice(-15).join('\n')}`);
  process.exit(0);
}
console.log('@colloquy/sfu: native packet path built');
