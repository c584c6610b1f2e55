// The live composer without a browser: two test streams (solid red and solid blue, real VP8/Opus
// RTP from ffmpeg) composed live; the MPEG-TS it encodes is decoded back with ffmpeg: H.264 + AAC,
// the bestFit picture (red left, blue right), then after a layout change the pip picture (red
// fills the frame, blue in the corner), then after the red stream leaves, blue alone.

import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { LiveComposer } from '../../src/broadcast/live-composer.js';
import { TestRtpSource } from '../archiving/rtp-test-source.js';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'colloquy-live-composer-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The last picture of a TS as RGB, 320x240. */
async function lastPicture(ts: Buffer, name: string): Promise<Buffer> {
  const file = join(dir, name);
  writeFileSync(file, ts);
  const { stdout } = await run('ffmpeg', ['-v', 'error', '-i', file, '-an', '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'], { encoding: 'buffer', maxBuffer: 512 * 1024 * 1024 });
  const all = stdout as unknown as Buffer;
  return all.subarray(all.length - 320 * 240 * 3);
}

function colourAt(picture: Buffer, x: number, y: number): 'red' | 'blue' | 'black' | 'other' {
  const i = (y * 320 + x) * 3;
  const [r, g, b] = [picture[i]!, picture[i + 1]!, picture[i + 2]!];
  if (r > 150 && g < 80 && b < 80) return 'red';
  if (b > 150 && r < 80 && g < 80) return 'blue';
  if (r < 40 && g < 40 && b < 40) return 'black';
  return 'other';
}

describe('LiveComposer', { timeout: 180_000 }, () => {
  it('composes live, follows layout changes and streams leaving, encodes H.264 + AAC', async () => {
    const source = new TestRtpSource('s1');
    const chunks: Buffer[] = [];
    let failure: string | null = null;
    const composer = new LiveComposer(
      {
        width: 320,
        height: 240,
        hasAudio: true,
        hasVideo: true,
        videoBitrate: 500_000,
        gopSeconds: 1,
        x264Preset: 'ultrafast',
        media: source,
        logger: pino({ level: process.env['TEST_LOG_LEVEL'] ?? 'silent' }),
        onData: (c) => chunks.push(c),
        onFailure: (m) => (failure = m),
      },
      { type: 'bestFit' },
    );
    try {
      const red = await source.addStream({ streamId: 'red', video: 'VP8', audio: true, videoSource: 'color=c=red:size=320x240:rate=30', seconds: 120 });
      const blue = await source.addStream({ streamId: 'blue', video: 'VP8', audio: true, videoSource: 'color=c=blue:size=320x240:rate=30', toneHz: 660, seconds: 120 });
      composer.start();
      const streams = () => source.listStreams('s1').map((stream, i) => ({ stream, hasAudio: true, hasVideo: true, addedAt: i }));
      composer.setStreams(streams());
      expect(red.streamId).toBe('red');
      expect(blue.streamId).toBe('blue');

      /** Waits until the newest output shows what `test` wants (media decides, not wall time). */
      const until = async (what: string, test: (p: Buffer) => boolean): Promise<void> => {
        const deadline = Date.now() + 60_000;
        for (;;) {
          await new Promise((r) => setTimeout(r, 1000));
          const from = chunks.length;
          await new Promise((r) => setTimeout(r, 1500));
          // Everything so far, decoded: the last picture is the newest.
          const ts = Buffer.concat(chunks);
          const picture = ts.length > 20_000 ? await lastPicture(ts, `${what.replace(/\W+/g, '-')}.ts`).catch(() => null) : null;
          if (picture && chunks.length > from && test(picture)) return;
          if (failure) throw new Error(failure);
          if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(composer.stats())}`);
        }
      };
      // bestFit: side by side, letterboxed (4:3 in 4:3 halves: black above and below).
      await until('bestFit', (p) => colourAt(p, 80, 120) === 'red' && colourAt(p, 240, 120) === 'blue' && colourAt(p, 80, 20) === 'black');
      composer.setLayout({ type: 'pip' });
      await until('pip', (p) => colourAt(p, 80, 20) === 'red' && colourAt(p, 80, 200) === 'red' && colourAt(p, 256, 48) === 'blue');
      await source.removeStream('red');
      composer.setStreams(streams());
      await until('blue alone', (p) => colourAt(p, 160, 120) === 'blue' && colourAt(p, 20, 20) === 'blue');
      expect(composer.streams()).toEqual([{ streamId: 'blue', hasAudio: true, hasVideo: true }]);
    } finally {
      await composer.stop();
      for (const s of source.listStreams('s1')) await source.removeStream(s.streamId);
    }
    const file = join(dir, 'all.ts');
    writeFileSync(file, Buffer.concat(chunks));
    const { stdout } = await run('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_type,codec_name,width,height', '-of', 'json', file]);
    const probed = (JSON.parse(stdout) as { streams: Array<{ codec_type: string; codec_name: string; width?: number; height?: number }> }).streams;
    expect(probed.map((s) => `${s.codec_type}:${s.codec_name}${s.width ? `:${s.width}x${s.height}` : ''}`).sort()).toEqual(['audio:aac', 'video:h264:320x240']);
  });
});
