// The deployment files docs/deploy.md ships: the systemd unit passes `systemd-analyze verify` and
// starts what the build makes; a broken copy of it fails, so the check is real.

import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const UNIT = join(ROOT, 'docs/deploy/colloquy.service');

async function verify(file: string): Promise<{ ok: boolean; output: string }> {
  try {
    const { stdout, stderr } = await run('systemd-analyze', ['verify', file]);
    return { ok: true, output: stdout + stderr };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    return { ok: false, output: (e.stdout ?? '') + (e.stderr ?? e.message) };
  }
}

describe('docs/deploy/colloquy.service', () => {
  it('passes systemd-analyze verify without a warning', async () => {
    const result = await verify(UNIT);
    expect(result.ok, result.output).toBe(true);
    expect(result.output.trim()).toBe('');
  });

  it('starts the built CLI of this repository, installed in /opt/colloquy', () => {
    const execStart = /^ExecStart=(\S+) (\S+) serve$/m.exec(readFileSync(UNIT, 'utf8'));
    expect(execStart?.[1]).toBe('/usr/bin/node');
    expect(execStart?.[2]).toMatch(/^\/opt\/colloquy\//);
    expect(existsSync(join(ROOT, execStart![2]!.slice('/opt/colloquy/'.length)))).toBe(true);
  });

  it('a unit with a mistake fails the same check', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'colloquy-unit-'));
    try {
      const broken = join(dir, 'colloquy.service');
      writeFileSync(broken, readFileSync(UNIT, 'utf8').replace('ExecStart=/usr/bin/node', 'ExecStart=/usr/bin/no-such-node'));
      const result = await verify(broken);
      expect(result.ok).toBe(false);
      expect(result.output).toMatch(/no-such-node/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
