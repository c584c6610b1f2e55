// Live captions: latency and word accuracy of the default engine (pocketsphinx, one process, as the
// server runs it per captioned stream) on sentences espeak-ng speaks. Each sentence is fed as 16 kHz
// PCM in real time (100 ms every 100 ms), like a stream's audio; latency is from the moment its last
// spoken sample is written to the final caption (end of phrase -> final caption: the engine's voice
// activity detection needs trailing silence to end a phrase, then decodes). Accuracy: the share of
// the sentence's words in the final text, and the word error rate (edit distance over words). CPU:
// the engine process's user+system time over the seconds of audio it heard. The load average is
// printed with the figures: on a busy machine the engine gets less CPU and its results come later. The path from a browser
// to the engine adds Opus decoding and 48->16 kHz resampling (microseconds) and the network.
//   REPEAT=2 npm run captions:latency -w @colloquy/bench

import { PocketsphinxProvider, type RecognitionResult, type SpeechRecognizer } from '@colloquy/server';
import { speechPcm16k, words, wordsHeard } from '@colloquy/testing/speech';
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { pino } from 'pino';
import { envInt, median, percentile, table } from '../lib/stats.js';

const REPEAT = envInt('REPEAT', 2);
const SENTENCES = [
  'hello colloquy, this is a caption test',
  'the weather is nice today',
  'please open the door',
  'we will meet again next week',
  'this is a test of live captions',
];
const RATE = 16000;
const CHUNK = RATE / 10;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** User + system CPU seconds of a process (Linux /proc; clock ticks of 100 Hz). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Word error rate: word-level edit distance over the reference's length. */
function wer(reference: string, hypothesis: string): number {
  const r = words(reference);
  const h = words(hypothesis);
  const d = Array.from({ length: r.length + 1 }, (_, i) => Array.from({ length: h.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= r.length; i++) {
    for (let j = 1; j <= h.length; j++) d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (r[i - 1] === h[j - 1] ? 0 : 1));
  }
  return d[r.length]![h.length]! / r.length;
}

const provider = new PocketsphinxProvider({ logger: pino({ level: 'silent' }) });
const recognizer: SpeechRecognizer & { pid?: number } = provider.start({ languageCode: 'en-US', partialResults: true });
const results: Array<RecognitionResult & { at: number }> = [];
recognizer.on('result', (r) => results.push({ ...r, at: performance.now() }));
recognizer.on('failed', (reason) => {
  console.error(`engine failed: ${reason}`);
  process.exit(1);
});
// Let the process load its model on a second of silence.
recognizer.write(new Int16Array(RATE));
await sleep(3000);
const cpuStart = cpuSeconds(recognizer.pid!);
const loadBefore = loadavg().map((l) => l.toFixed(1)).join(' ');
let audioSeconds = 0;

const rows: (string | number)[][] = [['sentence', 'heard (final)', 'words', 'WER', 'latency ms', 'first partial ms']];
const latencies: number[] = [];
const partialLatencies: number[] = [];
const hitRates: number[] = [];
const wers: number[] = [];
for (let round = 0; round < REPEAT; round++) {
  for (const sentence of SENTENCES) {
    const padBefore = 0.5;
    const { pcm, speechSeconds } = speechPcm16k(sentence, { padBefore, padAfter: 2.5 });
    const speechStart = Math.round(padBefore * RATE);
    const speechEnd = Math.round((padBefore + speechSeconds) * RATE);
    const from = results.length;
    let startedAt = 0;
    let endedAt = 0;
    const t0 = performance.now();
    for (let at = 0, n = 0; at < pcm.length; at += CHUNK, n++) {
      // Real time: chunk n is written at n * 100 ms (not drifting with timer lateness).
      const wait = t0 + n * 100 - performance.now();
      if (wait > 0) await sleep(wait);
      recognizer.write(pcm.subarray(at, at + CHUNK));
      if (!startedAt && at + CHUNK > speechStart) startedAt = performance.now();
      if (!endedAt && at + CHUNK >= speechEnd) endedAt = performance.now();
    }
    audioSeconds += pcm.length / RATE;
    // The final may come after the padding was written (late on a loaded machine); then wait for
    // the engine to go quiet, so no result of this sentence is counted for the next.
    const deadline = performance.now() + 30_000;
    while (!results.slice(from).some((r) => r.isFinal) && performance.now() < deadline) await sleep(20);
    const mine = results.slice(from);
    let seen = results.length;
    for (;;) {
      await sleep(1500);
      if (results.length === seen) break;
      seen = results.length;
    }
    const finals = mine.filter((r) => r.isFinal);
    const text = finals.map((r) => r.text).join(' ');
    const latency = finals.length ? finals[finals.length - 1]!.at - endedAt : NaN;
    const firstPartial = mine.find((r) => !r.isFinal);
    const partialLatency = firstPartial ? firstPartial.at - startedAt : NaN;
    const heard = wordsHeard(sentence, text);
    if (Number.isFinite(latency)) latencies.push(latency);
    if (Number.isFinite(partialLatency)) partialLatencies.push(partialLatency);
    hitRates.push(heard.hit.length / heard.total);
    wers.push(wer(sentence, text));
    rows.push([sentence, text || '(nothing)', `${heard.hit.length}/${heard.total}`, wer(sentence, text).toFixed(2), Number.isFinite(latency) ? Math.round(latency) : 'none', Number.isFinite(partialLatency) ? Math.round(partialLatency) : 'none']);
  }
}
const cpu = cpuSeconds(recognizer.pid!) - cpuStart;
recognizer.close();

console.log(`load average before/after: ${loadBefore} / ${loadavg().map((l) => l.toFixed(1)).join(' ')} on ${cpus().length} cores`);
console.log(table(rows));
console.log('');
console.log(table([
  ['figure', 'value'],
  ['phrases', String(hitRates.length)],
  ['end of phrase -> final caption, median ms', String(Math.round(median(latencies)))],
  ['end of phrase -> final caption, p90 ms', String(Math.round(percentile(latencies, 90)))],
  ['start of speech -> first partial, median ms', String(Math.round(median(partialLatencies)))],
  ['words heard (share of the sentence\'s words in the final text), mean', `${Math.round((hitRates.reduce((a, b) => a + b, 0) / hitRates.length) * 100)} %`],
  ['word error rate, median', median(wers).toFixed(2)],
  ['engine CPU per second of audio', `${Math.round((cpu / audioSeconds) * 1000)} ms`],
]));
