// How the impaired-network harness (netem.ts, delay-line.ts) changes a namespace: as a sequence of
// steps (commands whose output comes back to the sequence, and short pauses) that one of two
// drivers performs. runSteps performs them synchronously, as tests expect of VethNamespace.impair;
// runStepsAsync performs them without holding the event loop, for a caller that runs a server in
// its own process (the impairment benchmark's SFU forwarded nothing for 74–109 ms while the
// synchronous commands put a limit in place or lifted it, at a load of 10).

import { execFile, execFileSync } from 'node:child_process';

/** A command to run: its stdout is handed back; `optional`: a failure hands back '' instead of throwing. */
export interface CommandStep {
  run: string;
  args: string[];
  input?: string;
  optional?: boolean;
}

/** A command, or a pause. */
export type HarnessStep = CommandStep | { sleepMs: number };

/** A sequence of harness steps returning T: each yielded step gets its command's stdout back ('' for a pause). */
export type HarnessSteps<T = void> = Generator<HarnessStep, T, string>;

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** A failed command's outcome: '' for an optional step, else the error again. */
function failed(step: CommandStep, err: unknown): string {
  if (!step.optional) throw err;
  return '';
}

/** Runs a command now, blocking, with `input` on its stdin; returns its stdout (throws on failure, stderr in the error). */
export function runCommandSync(command: string, args: string[], input = ''): string {
  return execFileSync(command, args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
}

/** Performs the steps now, blocking: the caller's event loop waits for every command. */
export function runSteps<T>(steps: HarnessSteps<T>): T {
  for (let next = steps.next(''); ; ) {
    if (next.done) return next.value;
    const step = next.value;
    let output = '';
    if ('sleepMs' in step) Atomics.wait(sleeper, 0, 0, step.sleepMs);
    else {
      try {
        output = runCommandSync(step.run, step.args, step.input);
      } catch (err) {
        output = failed(step, err);
      }
    }
    next = steps.next(output);
  }
}

/** Performs the steps one after another without blocking: the event loop runs while each command does. */
export async function runStepsAsync<T>(steps: HarnessSteps<T>): Promise<T> {
  for (let next = steps.next(''); ; ) {
    if (next.done) return next.value;
    const step = next.value;
    const output = 'sleepMs' in step ? await new Promise<string>((resolve) => setTimeout(() => resolve(''), step.sleepMs)) : await runCommand(step.run, step.args, step.input).catch((err: unknown) => failed(step, err));
    next = steps.next(output);
  }
}

function runCommand(command: string, args: string[], input = ''): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(command, args, { encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(Object.assign(err, { stderr }));
      else resolve(stdout);
    });
    child.stdin?.on('error', () => {
      // the command exited before reading its input: its exit status tells
    });
    child.stdin?.end(input);
  });
}
