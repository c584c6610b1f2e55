// A one-way delay for one direction of a network namespace, for kernels without tc netem: an
// iptables rule (the NFQUEUE target, through nftables' xtables compatibility: some kernels have
// that but not nftables' own `queue` expression) hands the direction's packets to a queue, and a
// small C program (native/nfqueue-delay.c, compiled here on first use) run inside the namespace
// holds each for the delay before letting it go. netem.ts drives it; tests and benchmarks use
// VethNamespace.impair({ delayMs }) (or impairAsync) and never this module directly.
//
// The rule says `--queue-bypass`: while no program is bound (before the first delay, or after the
// namespace's delayer died) packets pass undelayed instead of being dropped. A delayer, once
// started, lives as long as its namespace (teardown kills every process inside); lifting the delay
// removes only the rule, so packets the delayer holds still go out after their delay.

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CommandStep, HarnessSteps } from './harness-steps.js';

const SOURCE = fileURLToPath(new URL('../native/nfqueue-delay.c', import.meta.url));
const IPTABLES = 'iptables-nft';

let binary: string | undefined;

/** The delayer's executable: compiled from its source once per source version (cached in the temp folder). */
export function delayLineBinary(): string {
  if (binary !== undefined) return binary;
  const source = readFileSync(SOURCE);
  const path = join(tmpdir(), `colloquy-nfqueue-delay-${createHash('sha256').update(source).digest('hex').slice(0, 16)}`);
  if (!existsSync(path)) {
    // Compiled to a private name, then renamed: parallel test processes never run a half-written file.
    const partial = `${path}.${process.pid}.partial`;
    try {
      execFileSync('cc', ['-O2', '-o', partial, SOURCE, '-lm'], { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      rmSync(partial, { force: true });
      const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? String(err);
      throw new Error(`could not compile the delay line (${SOURCE}) with cc: ${stderr.trim()} (Debian packages gcc, libc6-dev: scripts/setup-system.sh installs them)`);
    }
    renameSync(partial, path);
  }
  binary = path;
  return path;
}

let available = false;

/**
 * Throws a clear error when this machine cannot run a delay line (no iptables-nft or no compiler).
 * Checked once per process (netem.ts's delayMechanism() does it first): a delay line's start runs
 * inside impairAsync, whose point is not to hold the event loop (the check's synchronous
 * `iptables -V` held it 260 ms at the onset of a profiled 3x4 impairment bench run).
 */
export function assertDelayLineAvailable(): void {
  if (available) return;
  try {
    execFileSync(IPTABLES, ['-V'], { stdio: 'ignore' });
  } catch {
    throw new Error(`a delay without tc netem needs \`${IPTABLES}\` (Debian package iptables: scripts/setup-system.sh installs it)`);
  }
  delayLineBinary();
  available = true;
}

/** One direction's delay line inside a namespace. */
export class DelayLine {
  private delayer: ChildProcess | undefined;
  private ruleInstalled = false;

  /**
   * @param namespace the namespace's name
   * @param chain `INPUT` (what the namespace receives) or `OUTPUT` (what it sends)
   * @param queue the NFQUEUE number, one per direction (queues are per namespace)
   */
  constructor(
    private readonly namespace: string,
    private readonly chain: 'INPUT' | 'OUTPUT',
    private readonly queue: number,
  ) {}

  private iptables(args: string[]): CommandStep {
    return { run: 'ip', args: ['netns', 'exec', this.namespace, IPTABLES, ...args] };
  }

  private ruleArgs(): string[] {
    return [this.chain, '-j', 'NFQUEUE', '--queue-num', String(this.queue), '--queue-bypass'];
  }

  /**
   * Sets the delay (and jitter), starting the delayer and its rule on first use; 0 lifts it. As
   * harness steps: netem.ts runs them with the rest of an impairment, blocking or not.
   */
  *steps(delayMs: number, jitterMs: number): HarnessSteps {
    if (delayMs === 0 && jitterMs === 0) {
      if (this.ruleInstalled) yield this.iptables(['-D', ...this.ruleArgs()]);
      this.ruleInstalled = false;
      return;
    }
    if (this.delayer === undefined || this.delayer.exitCode !== null) yield* this.start(delayMs, jitterMs);
    else this.delayer.stdin!.write(`${delayMs} ${jitterMs}\n`);
    if (!this.ruleInstalled) yield this.iptables(['-A', ...this.ruleArgs()]);
    this.ruleInstalled = true;
  }

  /** Starts the delayer inside the namespace and waits (at most 5 s) until it is bound to its queue. */
  private *start(delayMs: number, jitterMs: number): HarnessSteps {
    assertDelayLineAvailable();
    const base = join(tmpdir(), `colloquy-delay-${process.pid}-${this.namespace}-${this.queue}`);
    const ready = `${base}.ready`;
    const errors = `${base}.stderr`;
    rmSync(ready, { force: true });
    // Its stderr goes to a file, which the wait can read when it is synchronous too (a pipe's data
    // would only arrive through the event loop).
    const stderrFd = openSync(errors, 'w');
    const child = spawn('ip', ['netns', 'exec', this.namespace, delayLineBinary(), String(this.queue), String(delayMs), String(jitterMs), ready], {
      stdio: ['pipe', 'ignore', stderrFd],
    });
    closeSync(stderrFd);
    // A delayer never keeps a test process alive; the namespace's teardown kills it.
    child.unref();
    (child.stdin as unknown as { unref?: () => void }).unref?.();
    child.stdin!.on('error', () => {
      // the delayer is gone (namespace removed): writes are moot
    });
    const failure = (): string => readFileSync(errors, 'utf8').trim();
    const deadline = Date.now() + 5000;
    // The delayer binds within milliseconds.
    while (!existsSync(ready)) {
      const error = failure();
      if (error || Date.now() > deadline) {
        child.kill('SIGKILL');
        rmSync(errors, { force: true });
        throw new Error(`the delay line for ${this.namespace} (queue ${this.queue}) did not start${error ? `: ${error}` : ' within 5 s'}`);
      }
      yield { sleepMs: 5 };
    }
    rmSync(ready, { force: true });
    rmSync(errors, { force: true });
    this.delayer = child;
  }
}
