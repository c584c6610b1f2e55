// The default speech-to-text provider: CMU pocketsphinx, from Debian (`pocketsphinx`,
// `pocketsphinx-en-us`), one engine process per captioned stream (pocketsphinx-worker.ts, a Node
// process driving libpocketsphinx), fed on stdin and read as JSON lines on stdout.
//
// Models: every folder `<modelDir>/<ll-cc>/` holding an acoustic model (a folder with `mdef`), a
// language model (`*.lm.bin` or `*.lm`, not a phone model) and a dictionary (`*.dict`) is a
// language, named by the folder (Debian's `en-us` is OpenTok's `en-US`). Installing another
// pocketsphinx model in that layout adds its language; nothing is fetched at run time.

import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../logger.js';
import { TypedEmitter } from '../typed-emitter.js';
import { CAPTIONS_SAMPLE_RATE, type RecognizerEvents, type RecognizerOptions, type SpeechRecognizer, type SpeechToTextProvider } from './provider.js';

/** Debian's pocketsphinx models. */
export const DEFAULT_POCKETSPHINX_MODEL_DIR = '/usr/share/pocketsphinx/model';

/** Audio waiting in the engine's stdin beyond this (5 s) is dropped: captions stay live, not late. */
const MAX_BACKLOG_BYTES = CAPTIONS_SAMPLE_RATE * 2 * 5;
/** A partial result at most this often (ms): each asks the decoder for its best path so far. */
const PARTIAL_INTERVAL_MS = 300;
/** The last lines of the engine's stderr kept to explain a failure. */
const STDERR_KEEP = 2000;

export interface PocketsphinxModel {
  languageCode: string;
  hmm: string;
  lm: string;
  dict: string;
}

/** The models installed under `modelDir`, by language code (en-US). */
export function findPocketsphinxModels(modelDir: string): PocketsphinxModel[] {
  let entries: string[];
  try {
    entries = readdirSync(modelDir);
  } catch {
    return [];
  }
  const models: PocketsphinxModel[] = [];
  for (const name of entries.sort()) {
    const m = /^([a-z]{2,3})-([a-z]{2})$/i.exec(name);
    if (!m) continue;
    const dir = join(modelDir, name);
    const files = safeList(dir);
    const hmm = files.find((f) => isDir(join(dir, f)) && existsSync(join(dir, f, 'mdef')));
    const lm = files.find((f) => /\.lm(\.bin)?$/.test(f) && !f.includes('phone'));
    const dict = files.find((f) => f.endsWith('.dict'));
    if (hmm && lm && dict) models.push({ languageCode: `${m[1]!.toLowerCase()}-${m[2]!.toUpperCase()}`, hmm: join(dir, hmm), lm: join(dir, lm), dict: join(dir, dict) });
  }
  return models;
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** The engine program: beside this file in dist/; from src/ (tests run the sources), the build's copy. */
function workerPath(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const built = join(here, 'pocketsphinx-worker.js');
  if (existsSync(built)) return built;
  return join(here, '..', '..', 'dist', 'captions', 'pocketsphinx-worker.js');
}

export class PocketsphinxProvider implements SpeechToTextProvider {
  readonly name = 'pocketsphinx';
  readonly #modelDir: string;
  readonly #log: Logger;

  constructor(params: { modelDir?: string; logger: Logger }) {
    this.#modelDir = params.modelDir ?? DEFAULT_POCKETSPHINX_MODEL_DIR;
    this.#log = params.logger;
  }

  languages(): string[] {
    return findPocketsphinxModels(this.#modelDir).map((m) => m.languageCode);
  }

  start(options: RecognizerOptions): SpeechRecognizer {
    const model = findPocketsphinxModels(this.#modelDir).find((m) => m.languageCode.toLowerCase() === options.languageCode.toLowerCase());
    if (!model) throw new Error(`no pocketsphinx model for ${options.languageCode} in ${this.#modelDir}`);
    return new PocketsphinxRecognizer(model, options.partialResults, this.#log);
  }
}

class PocketsphinxRecognizer extends TypedEmitter<RecognizerEvents> implements SpeechRecognizer {
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #log: Logger;
  #closed = false;
  #stdout = '';
  #stderr = '';
  readonly #counts = { samplesIn: 0, samplesDropped: 0 };

  get stats(): { samplesIn: number; samplesDropped: number; samplesQueued: number } {
    return { ...this.#counts, samplesQueued: Math.floor(this.#child.stdin.writableLength / 2) };
  }

  constructor(model: PocketsphinxModel, partialResults: boolean, log: Logger) {
    super();
    this.#log = log;
    const args = [workerPath(), '--hmm', model.hmm, '--lm', model.lm, '--dict', model.dict, '--partial-ms', String(partialResults ? PARTIAL_INTERVAL_MS : 0)];
    this.#child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.#child.stdout.setEncoding('utf8');
    this.#child.stdout.on('data', (text: string) => this.#onStdout(text));
    this.#child.stderr.setEncoding('utf8');
    this.#child.stderr.on('data', (text: string) => {
      this.#stderr = (this.#stderr + text).slice(-STDERR_KEEP);
    });
    // A write after the process died fails with EPIPE: the exit handler reports it.
    this.#child.stdin.on('error', () => {});
    this.#child.on('error', (err) => this.#fail(`the engine process could not start: ${err.message}`));
    this.#child.on('exit', (code, signal) => {
      const why = this.#stderr.trim().split('\n').pop() ?? '';
      this.#fail(`the engine process exited (${signal ?? `code ${code}`})${why ? `: ${why}` : ''}`);
    });
  }

  /** The engine process (operators match it in `ps`; tests kill it to check restarts). */
  get pid(): number {
    return this.#child.pid ?? -1;
  }

  write(pcm: Int16Array): void {
    if (this.#closed || !this.#child.stdin.writable) return;
    this.#counts.samplesIn += pcm.length;
    if (this.#child.stdin.writableLength > MAX_BACKLOG_BYTES) {
      this.#counts.samplesDropped += pcm.length;
      return;
    }
    this.#child.stdin.write(Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength));
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.removeAllListeners();
    this.#child.stdin.destroy();
    this.#child.kill('SIGKILL');
  }

  #onStdout(text: string): void {
    this.#stdout += text;
    let newline: number;
    while ((newline = this.#stdout.indexOf('\n')) >= 0) {
      const line = this.#stdout.slice(0, newline);
      this.#stdout = this.#stdout.slice(newline + 1);
      let message: { type?: unknown; text?: unknown };
      try {
        message = JSON.parse(line) as { type?: unknown; text?: unknown };
      } catch {
        this.#log.warn({ line: line.slice(0, 200) }, 'captions engine wrote a line that is not JSON');
        continue;
      }
      if (this.#closed) return;
      if (message.type === 'ready') this.emit('ready');
      else if ((message.type === 'partial' || message.type === 'final') && typeof message.text === 'string') {
        this.emit('result', { text: message.text, isFinal: message.type === 'final' });
      }
    }
    // A line never ends (a broken engine): do not keep it all.
    if (this.#stdout.length > 64 * 1024) this.#stdout = '';
  }

  #fail(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.emit('failed', reason);
    this.removeAllListeners();
    this.#child.kill('SIGKILL');
  }
}
