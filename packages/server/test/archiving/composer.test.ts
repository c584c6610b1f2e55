// The composer with real ffmpeg: per-stream WebM files (made by ffmpeg from solid colours and
// tones) composed to MP4; ffprobe checks codecs, duration and size, and decoded pixels and audio
// levels prove where and when each stream appears.

import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { compose, type ComposeJob, type ComposeSegment } from '../../src/archiving/composer.js';
import { MatroskaWriter } from '../../src/archiving/matroska.js';
import { parseResolution, type ArchiveLayout } from '../../src/archiving/layout.js';
import { ffprobe, meanVolume, near, pixelAt, streamOf } from './probe.js';

const run = promisify(execFile);
const logger = pino({ level: process.env['TEST_LOG_LEVEL'] ?? 'silent' });
let dir: string;
const RED: [number, number, number] = [255, 0, 0];
const BLUE: [number, number, number] = [0, 0, 255];
const BLACK: [number, number, number] = [0, 0, 0];

async function makeClip(name: string, color: string, seconds: number, toneHz: number | null, size = '320x240'): Promise<string> {
  const path = join(dir, `${name}.webm`);
  const args = ['-v', 'error', '-f', 'lavfi', '-i', `color=c=${color}:s=${size}:r=30:d=${seconds}`];
  if (toneHz) args.push('-f', 'lavfi', '-i', `sine=frequency=${toneHz}:sample_rate=48000:duration=${seconds}`);
  args.push('-c:v', 'libvpx', '-b:v', '300k', '-deadline', 'realtime', '-cpu-used', '8');
  if (toneHz) args.push('-c:a', 'libopus', '-b:a', '48k');
  await run('ffmpeg', [...args, '-y', path]);
  return path;
}

let red: string;
let blue: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'colloquy-compose-'));
  [red, blue] = await Promise.all([makeClip('red', 'red', 6, null), makeClip('blue', 'blue', 3, 660)]);
});
afterAll(() => (process.env['KEEP_TEST_FILES'] ? console.log(dir) : rmSync(dir, { recursive: true, force: true })));

const seg = (streamId: string, path: string, startMs: number, stopMs: number, extra: Partial<ComposeSegment> = {}): ComposeSegment => ({
  streamId,
  connectionId: `c-${streamId}`,
  videoType: 'camera',
  path,
  startMs,
  stopMs,
  hasAudio: true,
  hasVideo: true,
  layoutClassList: [],
  ...extra,
});

async function composeTo(name: string, partial: Partial<ComposeJob> & { segments: ComposeSegment[]; durationMs: number }, resolution = '640x480') {
  const output = join(dir, `${name}.mp4`);
  const progress: number[] = [];
  const started = performance.now();
  await compose({
    output,
    ...parseResolution(resolution),
    hasAudio: true,
    hasVideo: true,
    layout: { type: 'bestFit' },
    events: [],
    logger,
    onProgress: (f) => progress.push(f),
    ...partial,
  }).done;
  return { output, progress, ms: performance.now() - started };
}

// Generous: these flows wait for real media, which a loaded machine delivers slowly.
describe('Composer', { timeout: 120_000 }, () => {
  it('streams join and leave at their times: bestFit re-tiles, audio follows', async () => {
    // Red for the whole 6 s; blue (with a tone) from 2.0 s to 4.5 s.
    const { output, progress, ms } = await composeTo('join-leave', {
      durationMs: 6000,
      segments: [seg('red', red, 0, 6000, { hasAudio: false }), seg('blue', blue, 2000, 4500)],
    });
    const probe = await ffprobe(output);
    expect(probe.format.format_name).toContain('mp4');
    expect(streamOf(probe, 'video')).toMatchObject({ codec_name: 'h264', width: 640, height: 480 });
    expect(streamOf(probe, 'audio')).toMatchObject({ codec_name: 'aac', sample_rate: '48000', channels: 2 });
    expect(Math.abs(Number(probe.format.duration) - 6)).toBeLessThan(0.2);
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.at(-1)).toBeGreaterThan(0.9);
    console.log(`composed 6 s at 640x480 in ${Math.round(ms)} ms`);

    // Alone: red fills the frame.
    expect(near(await pixelAt(output, 1, 320, 240), RED)).toBe(true);
    // Together: red left, blue right, each 4:3 picture letterboxed in a 320x480 box.
    expect(near(await pixelAt(output, 3, 160, 240), RED)).toBe(true);
    expect(near(await pixelAt(output, 3, 480, 240), BLUE)).toBe(true);
    expect(near(await pixelAt(output, 3, 160, 40), BLACK)).toBe(true);
    // After blue left: red alone again.
    expect(near(await pixelAt(output, 5.2, 480, 240), RED)).toBe(true);
    // The tone is heard only while blue is in.
    expect(await meanVolume(output, 0.2, 1.8)).toBeLessThan(-60);
    expect(await meanVolume(output, 2.5, 4.2)).toBeGreaterThan(-30);
    expect(await meanVolume(output, 4.8, 5.8)).toBeLessThan(-60);
  });

  it('renders each resolution at its size with the right duration', async () => {
    for (const resolution of ['640x480', '480x640', '1280x720', '720x1280', '1920x1080', '1080x1920']) {
      const { output, ms } = await composeTo(`res-${resolution}`, { durationMs: 2000, segments: [seg('red', red, 0, 2000, { hasAudio: false }), seg('blue', blue, 0, 2000)] }, resolution);
      const probe = await ffprobe(output);
      const { width, height } = parseResolution(resolution);
      expect(streamOf(probe, 'video')).toMatchObject({ codec_name: 'h264', width, height });
      expect(Math.abs(Number(probe.format.duration) - 2)).toBeLessThan(0.2);
      // bestFit with two streams: side by side in landscape, stacked in portrait.
      const second = height > width ? [width / 2, (height * 3) / 4] : [(width * 3) / 4, height / 2];
      expect(near(await pixelAt(output, 1, second[0]!, second[1]!), BLUE)).toBe(true);
      console.log(`composed 2 s at ${resolution} in ${Math.round(ms)} ms`);
    }
  });

  const twoStreams = (layout: ArchiveLayout, classes: { red?: string[]; blue?: string[] } = {}) =>
    composeTo(`layout-${layout.type}-${Math.random().toString(36).slice(2, 6)}`, {
      durationMs: 2000,
      layout,
      segments: [seg('red', red, 0, 2000, { hasAudio: false, layoutClassList: classes.red ?? [] }), seg('blue', blue, 0, 2000, { layoutClassList: classes.blue ?? [] })],
    });

  it('places streams per layout: pip, vertical and horizontal presentation, focus, custom', async () => {
    const pip = (await twoStreams({ type: 'pip' }, { blue: ['full'] })).output;
    expect(near(await pixelAt(pip, 1, 100, 400), BLUE)).toBe(true); // full frame
    expect(near(await pixelAt(pip, 1, 512, 96), RED)).toBe(true); // corner: x 448-576, y 48-144

    const vertical = (await twoStreams({ type: 'verticalPresentation' }, { red: ['focus'] })).output;
    expect(near(await pixelAt(vertical, 1, 400, 240), RED)).toBe(true);
    expect(near(await pixelAt(vertical, 1, 64, 48), BLUE)).toBe(true);
    expect(near(await pixelAt(vertical, 1, 64, 300), BLACK)).toBe(true);

    const horizontal = (await twoStreams({ type: 'horizontalPresentation' }, { blue: ['focus'] })).output;
    expect(near(await pixelAt(horizontal, 1, 320, 200), BLUE)).toBe(true);
    expect(near(await pixelAt(horizontal, 1, 64, 430), RED)).toBe(true);

    const focus = (await twoStreams({ type: 'focus' }, { blue: ['focus'] })).output;
    expect(near(await pixelAt(focus, 1, 320, 240), BLUE)).toBe(true);
    expect(near(await pixelAt(focus, 1, 20, 20), BLUE)).toBe(true);

    const custom = (
      await twoStreams(
        { type: 'custom', stylesheet: 'stream.a { position: absolute; left: 0; top: 0; width: 50%; height: 50%; } stream.b { position: absolute; right: 0; bottom: 0; width: 25%; height: 25%; object-fit: cover }' },
        { red: ['a'], blue: ['b'] },
      )
    ).output;
    expect(near(await pixelAt(custom, 1, 160, 120), RED)).toBe(true);
    expect(near(await pixelAt(custom, 1, 560, 420), BLUE)).toBe(true);
    expect(near(await pixelAt(custom, 1, 400, 200), BLACK)).toBe(true);
  });

  it('follows layout and class changes at their times', async () => {
    const { output } = await composeTo('events', {
      durationMs: 4000,
      segments: [seg('red', red, 0, 4000, { hasAudio: false }), seg('blue', blue, 0, 3000)],
      events: [
        { atMs: 1500, kind: 'layout', layout: { type: 'focus' } },
        { atMs: 2500, kind: 'classes', streamId: 'blue', layoutClassList: ['focus'] },
      ],
    });
    expect(near(await pixelAt(output, 1, 480, 240), BLUE)).toBe(true); // bestFit: blue on the right
    expect(near(await pixelAt(output, 2, 480, 240), RED)).toBe(true); // focus on the first stream
    expect(near(await pixelAt(output, 2.8, 480, 240), BLUE)).toBe(true); // blue got the focus class
    expect(near(await pixelAt(output, 3.5, 480, 240), RED)).toBe(true); // blue left: red again
  });

  it('makes audio-only and video-only MP4s', async () => {
    const audioOnly = await composeTo('audio-only', { durationMs: 2000, hasVideo: false, segments: [seg('blue', blue, 0, 2000)] });
    const a = await ffprobe(audioOnly.output);
    expect(streamOf(a, 'video')).toBeUndefined();
    expect(streamOf(a, 'audio')).toMatchObject({ codec_name: 'aac', sample_rate: '48000', channels: 2 });
    // 128 kbps AAC (a tone throughout, so the encoder spends its budget).
    expect(Number(streamOf(a, 'audio')!.bit_rate)).toBeGreaterThan(100_000);
    expect(Number(streamOf(a, 'audio')!.bit_rate)).toBeLessThan(150_000);
    const videoOnly = await composeTo('video-only', { durationMs: 2000, hasAudio: false, segments: [seg('blue', blue, 0, 2000)] });
    const v = await ffprobe(videoOnly.output);
    expect(streamOf(v, 'audio')).toBeUndefined();
    expect(streamOf(v, 'video')?.codec_name).toBe('h264');
  });

  it('copes with a stream that changes resolution mid-way (as WebRTC senders do)', async () => {
    // Two VP8 encodes at different sizes, spliced into one track by our own writer.
    const ivf = async (color: string, size: string) => {
      const path = join(dir, `${color}-${size}.ivf`);
      await run('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', `color=c=${color}:s=${size}:r=30:d=2`, '-c:v', 'libvpx', '-g', '30', '-b:v', '300k', '-y', path]);
      const buf = await readFile(path);
      const frames: Buffer[] = [];
      for (let i = buf.readUInt16LE(6); i + 12 <= buf.length; ) {
        const n = buf.readUInt32LE(i);
        frames.push(buf.subarray(i + 12, i + 12 + n));
        i += 12 + n;
      }
      return frames;
    };
    const [small, large] = await Promise.all([ivf('red', '320x240'), ivf('blue', '640x360')]);
    const spliced = join(dir, 'spliced.webm');
    const writer = await MatroskaWriter.create(spliced, 'webm', [{ number: 1, kind: 'video', codec: 'VP8', width: 320, height: 240 }]);
    [...small, ...large].forEach((frame, i) => writer.addFrame(1, (i * 1000) / 30, frame, (frame[0]! & 1) === 0));
    await writer.finalize();
    const { output } = await composeTo('resize', { durationMs: 4000, hasAudio: false, segments: [seg('s', spliced, 0, 4000)] });
    const probe = await ffprobe(output);
    expect(streamOf(probe, 'video')).toMatchObject({ width: 640, height: 480 });
    expect(Math.abs(Number(probe.format.duration) - 4)).toBeLessThan(0.2);
    expect(near(await pixelAt(output, 1, 320, 240), RED)).toBe(true);
    expect(near(await pixelAt(output, 3, 320, 240), BLUE)).toBe(true);
    // 16:9 in a 4:3 frame: letterboxed, so the top rows are black after the switch.
    expect(near(await pixelAt(output, 3, 320, 20), BLACK)).toBe(true);
  });

  it('fails with ffmpeg\'s message on an unreadable input, leaving no output', async () => {
    const bad = join(dir, 'bad.webm');
    await run('sh', ['-c', `head -c 300 ${red} > ${bad}`]);
    await expect(composeTo('bad', { durationMs: 2000, segments: [seg('x', bad, 0, 2000)] })).rejects.toThrow();
  });
});
