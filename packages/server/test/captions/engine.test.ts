// The speech-to-text engine on its own: Debian's pocketsphinx (through pocketsphinx-worker.ts, one
// process per recognizer) fed a sentence espeak-ng speaks at test time, as 16 kHz PCM at twice real
// time; its partial and final results; a broken model that makes the engine fail, and the bounded
// restarts of SupervisedRecognizer over it (real processes each time).

import { speechPcm16k, wordsHeard } from '@colloquy/testing/speech';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_POCKETSPHINX_MODEL_DIR, findPocketsphinxModels, PocketsphinxProvider } from '../../src/captions/pocketsphinx-provider.js';
import type { RecognitionResult, SpeechRecognizer, SpeechToTextProvider } from '../../src/captions/provider.js';
import { SupervisedRecognizer } from '../../src/captions/stream-captioner.js';
import { tempDir } from '../helpers.js';

const logger = pino({ level: process.env['TEST_LOG_LEVEL'] ?? 'silent' });
const SENTENCE = 'hello colloquy, this is a caption test';

const open: Array<{ close(): void }> = [];
afterEach(() => {
  for (const o of open.splice(0)) o.close();
});

/** A model folder in pocketsphinx's layout whose files are not a model: the engine cannot load it. */
function brokenModelDir(): string {
  const dir = tempDir('colloquy-broken-model-');
  mkdirSync(join(dir, 'xx-yy', 'acoustic'), { recursive: true });
  writeFileSync(join(dir, 'xx-yy', 'acoustic', 'mdef'), 'not a model definition\n');
  writeFileSync(join(dir, 'xx-yy', 'xx-yy.lm.bin'), 'not a language model');
  writeFileSync(join(dir, 'xx-yy', 'words.dict'), 'hello HH AH L OW\n');
  return dir;
}

describe('pocketsphinx provider', () => {
  it('finds Debian\'s US English model, and no language in a folder without models', () => {
    expect(findPocketsphinxModels(DEFAULT_POCKETSPHINX_MODEL_DIR).map((m) => m.languageCode)).toContain('en-US');
    expect(new PocketsphinxProvider({ logger }).languages()).toContain('en-US');
    expect(findPocketsphinxModels(tempDir())).toEqual([]);
    expect(findPocketsphinxModels('/nonexistent/models')).toEqual([]);
    expect(() => new PocketsphinxProvider({ logger }).start({ languageCode: 'fr-FR', partialResults: true })).toThrow(/no pocketsphinx model for fr-FR/);
  });

  it('turns a spoken sentence into partial results and a final one with its words', async () => {
    const { pcm } = speechPcm16k(SENTENCE);
    const recognizer = new PocketsphinxProvider({ logger }).start({ languageCode: 'en-us', partialResults: true });
    open.push(recognizer);
    const results: RecognitionResult[] = [];
    const failures: string[] = [];
    recognizer.on('result', (r) => results.push(r));
    recognizer.on('failed', (reason) => failures.push(reason));
    await ready(recognizer);
    // 200 ms of audio every 100 ms (twice real time, so the engine's partial results, every 300 ms
    // of its wall time, come while the phrase is spoken), never more than a second ahead of the
    // engine: on a loaded machine it gets little CPU, and the server's recognizer drops audio that
    // waits too long (which would change what it hears).
    await feed(recognizer, pcm);
    await expect.poll(() => results.some((r) => r.isFinal), { timeout: 60_000, interval: 100 }).toBe(true);
    // The engine may end the phrase at the comma and finish the rest as a second one: wait until it
    // has said everything (quiet for 1.5 s), then read every final result.
    await quiet(results);
    const final = results.filter((r) => r.isFinal).map((r) => r.text).join(' ');
    const heard = wordsHeard(SENTENCE, final);
    console.log(`pocketsphinx heard "${final}" for "${SENTENCE}": ${heard.hit.length}/${heard.total} words (${heard.hit.join(', ')}); ${results.filter((r) => !r.isFinal).length} partial results`);
    // Measured on espeak's Klatt voice: "this is a" comes through every time, "caption"/"test" often.
    expect(heard.hit.length).toBeGreaterThanOrEqual(2);
    expect(results.findIndex((r) => !r.isFinal)).toBeLessThan(results.findIndex((r) => r.isFinal));
    expect(failures).toEqual([]);
    expect(recognizer.stats.samplesIn).toBe(pcm.length);
    expect(recognizer.stats.samplesDropped).toBe(0);
  }, 120_000);

  it('reports only final results without partialCaptions', async () => {
    const { pcm } = speechPcm16k('this is a test', { padBefore: 0.5, padAfter: 1.5 });
    const recognizer = new PocketsphinxProvider({ logger }).start({ languageCode: 'en-US', partialResults: false });
    open.push(recognizer);
    const results: RecognitionResult[] = [];
    recognizer.on('result', (r) => results.push(r));
    await ready(recognizer);
    await feed(recognizer, pcm);
    await expect.poll(() => results.length, { timeout: 60_000, interval: 100 }).toBeGreaterThan(0);
    expect(results.every((r) => r.isFinal)).toBe(true);
  }, 120_000);

  it('fails with a reason when the engine cannot load its model', async () => {
    const recognizer = new PocketsphinxProvider({ modelDir: brokenModelDir(), logger }).start({ languageCode: 'xx-YY', partialResults: true });
    open.push(recognizer);
    const reason = await new Promise<string>((resolve) => recognizer.on('failed', resolve));
    expect(reason).toMatch(/engine process exited/);
  }, 120_000);
});

describe('SupervisedRecognizer', () => {
  it('starts a dead engine again, at most maxRestarts times, then fails once with the reason', async () => {
    const real = new PocketsphinxProvider({ modelDir: brokenModelDir(), logger });
    let starts = 0;
    const counting: SpeechToTextProvider = {
      name: 'counting',
      languages: () => real.languages(),
      start: (options): SpeechRecognizer => {
        starts++;
        return real.start(options);
      },
    };
    const failed: string[] = [];
    const supervised = new SupervisedRecognizer({
      provider: counting,
      options: { languageCode: 'xx-YY', partialResults: true },
      restart: { maxRestarts: 2, restartWindowMs: 60_000 },
      onResult: () => {},
      onFailed: (reason) => failed.push(reason),
      logger,
    });
    open.push(supervised);
    await expect.poll(() => failed.length, { timeout: 60_000, interval: 50 }).toBe(1);
    expect(starts).toBe(3);
    expect(failed[0]).toMatch(/failed 3 times within 60 s; last: the engine process exited/);
    expect(supervised.closed).toBe(true);
    await new Promise((r) => setTimeout(r, 300));
    expect(starts).toBe(3);
  }, 120_000);

  it('restarts an engine that died and keeps recognising', async () => {
    const provider = new PocketsphinxProvider({ logger });
    const started: SpeechRecognizer[] = [];
    const readies: Promise<void>[] = [];
    const tracking: SpeechToTextProvider = {
      name: 'tracking',
      languages: () => provider.languages(),
      start: (options) => {
        const r = provider.start(options);
        started.push(r);
        readies.push(ready(r));
        return r;
      },
    };
    const results: RecognitionResult[] = [];
    const supervised = new SupervisedRecognizer({ provider: tracking, options: { languageCode: 'en-US', partialResults: false }, onResult: (r) => results.push(r), onFailed: () => {}, logger });
    open.push(supervised);
    // The first engine dies as a crash would (its process is killed from outside).
    process.kill(pidOf(started[0]!), 'SIGKILL');
    await expect.poll(() => started.length, { timeout: 10_000, interval: 50 }).toBe(2);
    expect(supervised.restarts).toBe(1);
    await readies[1];
    const { pcm } = speechPcm16k('this is a test', { padBefore: 0.5, padAfter: 1.5 });
    await feed(supervised, pcm);
    await expect.poll(() => results.length, { timeout: 60_000, interval: 100 }).toBeGreaterThan(0);
  }, 120_000);
});

/** Writes 200 ms every 100 ms while the engine is less than a second behind. */
async function feed(recognizer: { write(pcm: Int16Array): void; stats: { samplesQueued: number } }, pcm: Int16Array): Promise<void> {
  for (let at = 0; at < pcm.length; at += 3200) {
    while (recognizer.stats.samplesQueued > 16_000) await new Promise((r) => setTimeout(r, 50));
    recognizer.write(pcm.subarray(at, at + 3200));
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Resolves once no result has come for 4 s. Up to 2 s of audio can still sit in the engine's pipe
 * after the feed ends, and a loaded machine may leave the engine without CPU for seconds: a shorter
 * wait read the first half of a sentence's finals as all of them ("depth is" for "hello colloquy,
 * this is a caption test").
 */
async function quiet(results: unknown[]): Promise<void> {
  let seen = -1;
  while (results.length !== seen) {
    seen = results.length;
    await new Promise((r) => setTimeout(r, 4000));
  }
}

/** Waits for the engine to load its model (slow on a loaded machine), so no audio waits in its pipe. */
function ready(recognizer: SpeechRecognizer): Promise<void> {
  return new Promise((resolve) => recognizer.once('ready', () => resolve()));
}

function pidOf(recognizer: SpeechRecognizer): number {
  return (recognizer as SpeechRecognizer & { pid: number }).pid;
}
