// advancedNoiseSuppression in real Chromium: the fake microphone plays espeak-ng speech with white
// noise mixed in (made with sox at test time), the publisher turns the browser's own audio
// processing off, and the subscriber measures the sound it receives (an analyser's RMS every 40 ms
// over one loop of the file): with RNNoise applied the noise floor (quiet 20th percentile) falls far
// more than the speech (loud 95th percentile); clearing brings the noise back.

import type { TestPage } from '@colloquy/testing/browser';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MediaApp, expectDecoding, publish, waitForLog } from './media-app.js';

const dir = mkdtempSync(join(tmpdir(), 'colloquy-noise-'));
const wav = join(dir, 'noisy-speech.wav');
{
  // About 5 s of speech then 2.5 s of noise only, with noise under all of it; 48 kHz mono.
  const speech = join(dir, 'speech.wav');
  const padded = join(dir, 'speech48.wav');
  const noise = join(dir, 'noise.wav');
  execFileSync('espeak-ng', ['-v', 'en-us', '-s', '150', '-w', speech, 'hello colloquy, this is a noise suppression test with a few spoken words']);
  execFileSync('sox', [speech, '-r', '48000', '-c', '1', padded, 'pad', '0', '2.5']);
  const seconds = execFileSync('soxi', ['-D', padded]).toString().trim();
  execFileSync('sox', ['-n', '-r', '48000', '-c', '1', noise, 'synth', seconds, 'whitenoise', 'vol', '0.03']);
  execFileSync('sox', ['-m', padded, noise, '-b', '16', wav]);
}
const LOOP_MS = 7_500;

let app: MediaApp;

beforeAll(async () => {
  app = await MediaApp.start({}, { args: [`--use-file-for-fake-audio-capture=${wav}`] });
}, 90_000);

afterEach(async () => {
  await app.closePages();
});

afterAll(async () => {
  await app?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** RMS of the subscriber's received sound every 40 ms over `ms`: its quiet and loud percentiles in dBFS. */
async function loudness(p: TestPage, key: string, ms: number): Promise<{ floor: number; speech: number }> {
  const rms = await p.page.evaluate(
    async ([id, duration]) => {
      const sub = (window as any).subs.get(id);
      const stream = (sub.element.querySelector('video') as HTMLVideoElement).srcObject as MediaStream;
      const ctx = new AudioContext();
      const analyser = ctx.createAnalyser();
      analyser.fftSize = 2048;
      ctx.createMediaStreamSource(new MediaStream(stream.getAudioTracks())).connect(analyser);
      const out: number[] = [];
      const buffer = new Float32Array(analyser.fftSize);
      const end = performance.now() + duration;
      while (performance.now() < end) {
        analyser.getFloatTimeDomainData(buffer);
        out.push(Math.sqrt(buffer.reduce((s, x) => s + x * x, 0) / buffer.length));
        await new Promise((r) => setTimeout(r, 40));
      }
      await ctx.close();
      return out;
    },
    [key, ms] as const,
  );
  const sorted = [...rms].sort((a, b) => a - b);
  const db = (q: number) => 20 * Math.log10(Math.max(1e-6, sorted[Math.floor(q * (sorted.length - 1))]!));
  return { floor: db(0.2), speech: db(0.95) };
}

describe('audio filter', () => {
  it('advancedNoiseSuppression (RNNoise) lowers the noise the subscriber hears far more than the speech; clearing brings it back', async () => {
    const sessionId = await app.createSession('routed');
    const pub = await app.openPage();
    const sub = await app.openPage();
    await app.join(pub, sessionId);
    await app.join(sub, sessionId, 'subscriber');
    // The browser's own noise suppression (and the rest of its processing) off: what changes is RNNoise's doing.
    const published = await publish(pub, { resolution: '320x240', noiseSuppression: false, echoCancellation: false, autoGainControl: false });
    expect(published.error).toBeUndefined();
    const key = published.streamId!;
    await waitForLog(sub, (l) => l.some((e) => e.type === 'streamCreated' && e.streamId === key), 'the stream on the subscriber page');
    await sub.page.evaluate((id) => (window as any).subscribeTo(id), key);
    await expectDecoding(sub, [key], { timeoutMs: 30_000 });

    const before = await loudness(sub, key, LOOP_MS);
    const applied = await pub.page.evaluate(async () => {
      const p = (window as any).publisher;
      await p.applyAudioFilter({ type: 'advancedNoiseSuppression' });
      return p.getAudioFilter();
    });
    expect(applied).toEqual({ type: 'advancedNoiseSuppression' });
    const filtered = await loudness(sub, key, LOOP_MS);
    await pub.page.evaluate(() => (window as any).publisher.clearAudioFilter());
    expect(await pub.page.evaluate(() => (window as any).publisher.getAudioFilter())).toBeNull();
    const cleared = await loudness(sub, key, LOOP_MS);
    console.log(
      `noise suppression (dBFS at the subscriber): noise floor ${before.floor.toFixed(1)} -> ${filtered.floor.toFixed(1)} -> ${cleared.floor.toFixed(1)} cleared; ` +
        `speech ${before.speech.toFixed(1)} -> ${filtered.speech.toFixed(1)} -> ${cleared.speech.toFixed(1)} cleared`,
    );
    // Noise down by more than 10 dB, speech by less than 6 dB: suppression, not a mute.
    expect(before.floor - filtered.floor).toBeGreaterThan(10);
    expect(before.speech - filtered.speech).toBeLessThan(6);
    expect(filtered.speech - filtered.floor).toBeGreaterThan(before.speech - before.floor + 6);
    // Back to the microphone's own sound: the noise is there again.
    expect(before.floor - cleared.floor).toBeLessThan(4);
    await expectDecoding(sub, [key], { timeoutMs: 30_000 });
  }, 180_000);
});
