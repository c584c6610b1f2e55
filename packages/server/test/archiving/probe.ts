// ffprobe/ffmpeg as independent judges of the files archiving writes: stream layout, durations,
// decoded frame counts, decode errors, and pixel colours of a decoded frame.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface ProbeStream {
  codec_type: 'audio' | 'video';
  codec_name: string;
  width?: number;
  height?: number;
  sample_rate?: string;
  channels?: number;
  bit_rate?: string;
  nb_read_frames?: string;
  duration?: string;
}

export interface Probe {
  streams: ProbeStream[];
  format: { duration?: string; format_name: string; size: string; bit_rate?: string };
}

export async function ffprobe(path: string, countFrames = false): Promise<Probe> {
  const args = ['-v', 'error', '-print_format', 'json', '-show_streams', '-show_format'];
  if (countFrames) args.push('-count_frames');
  const { stdout } = await run('ffprobe', [...args, path], { maxBuffer: 16 * 1024 * 1024 });
  return JSON.parse(stdout) as Probe;
}

export function streamOf(probe: Probe, type: 'audio' | 'video'): ProbeStream | undefined {
  return probe.streams.find((s) => s.codec_type === type);
}

/**
 * Decodes the whole file; returns ffmpeg's error output (empty when it decoded cleanly) and the frame
 * count per type. The null output keeps the file's own time base (`-enc_time_base -1`): with the
 * default, ffmpeg rounds frame times to the frame rate it guessed from the first frames, and a file
 * whose first frames came irregularly (frames lost on a loaded machine) then "fails" with
 * non-monotonic timestamps that are the checker's rounding, not the file's. The file's own video
 * timestamps are checked instead: strictly increasing, or the error says where they are not.
 */
export async function decode(path: string): Promise<{ errors: string; videoFrames: number; audioFrames: number; seconds: number; videoFps: number }> {
  const { stderr } = await run('ffmpeg', ['-v', 'error', '-nostdin', '-i', path, '-enc_time_base', '-1', '-f', 'null', '-'], { maxBuffer: 16 * 1024 * 1024 }).catch(
    (err: { stderr: string }) => ({ stderr: `ffmpeg failed: ${err.stderr}` }),
  );
  const probe = await ffprobe(path, true);
  const v = streamOf(probe, 'video');
  const a = streamOf(probe, 'audio');
  const times = v ? await videoPacketTimes(path) : [];
  const errors = [stderr.trim()];
  const back = times.findIndex((t, i) => i > 0 && t <= times[i - 1]!);
  if (back > 0) errors.push(`video timestamps not increasing: ${times[back - 1]} then ${times[back]} (packet ${back})`);
  const span = times.length > 1 ? times[times.length - 1]! - times[0]! : 0;
  return {
    errors: errors.filter((e) => e !== '').join('\n'),
    videoFrames: Number(v?.nb_read_frames ?? 0),
    audioFrames: Number(a?.nb_read_frames ?? 0),
    seconds: Number(probe.format.duration ?? 0),
    videoFps: span > 0 ? (times.length - 1) / span : 0,
  };
}

/** The video packets' decoding times (s), in file order (presentation times differ with B-frames). */
async function videoPacketTimes(path: string): Promise<number[]> {
  const { stdout } = await run('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'packet=dts_time', '-of', 'csv=p=0', path], { maxBuffer: 16 * 1024 * 1024 });
  return stdout.split('\n').filter((line) => line.trim() !== '').map(Number);
}

/** RGB of pixel (x, y) in the frame shown at `t` seconds. */
export async function pixelAt(path: string, t: number, x: number, y: number): Promise<[number, number, number]> {
  const { stdout } = await run(
    'ffmpeg',
    ['-v', 'error', '-nostdin', '-ss', String(t), '-i', path, '-frames:v', '1', '-vf', `format=rgb24,crop=1:1:${x}:${y}`, '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'],
    { encoding: 'buffer', maxBuffer: 1024 * 1024 },
  );
  const buf = stdout as unknown as Buffer;
  return [buf[0]!, buf[1]!, buf[2]!];
}

/** Mean volume (dBFS) of the audio between `from` and `to` seconds. */
export async function meanVolume(path: string, from: number, to: number): Promise<number> {
  const { stderr } = await run('ffmpeg', ['-nostdin', '-hide_banner', '-ss', String(from), '-t', String(to - from), '-i', path, '-vn', '-af', 'volumedetect', '-f', 'null', '-']);
  const match = /mean_volume: (-?[\d.]+|-inf) dB/.exec(stderr);
  return match ? (match[1] === '-inf' ? -Infinity : Number(match[1])) : NaN;
}

export function near(actual: [number, number, number], expected: [number, number, number], tolerance = 60): boolean {
  return actual.every((v, i) => Math.abs(v - expected[i]!) <= tolerance);
}

/** Info-ZIP's view of a ZIP: integrity test passed, entry names, extracted into `into`. */
export async function unzipAll(path: string, into: string): Promise<string[]> {
  await run('unzip', ['-tq', path]);
  const { stdout } = await run('unzip', ['-Z1', path]);
  await run('unzip', ['-oq', path, '-d', into]);
  return stdout.trim().split('\n');
}

/** Times (s) at which the picture turns bright (mean luma above 100), from ffmpeg's signalstats. */
export async function flashTimes(path: string): Promise<number[]> {
  const { stderr } = await run('ffmpeg', ['-v', 'info', '-nostdin', '-i', path, '-an', '-vf', 'signalstats,metadata=print:key=lavfi.signalstats.YAVG', '-f', 'null', '-'], {
    maxBuffer: 32 * 1024 * 1024,
  });
  const times: number[] = [];
  let t = 0;
  let bright = false;
  for (const line of stderr.split('\n')) {
    const pts = /pts_time:([\d.]+)/.exec(line);
    if (pts) t = Number(pts[1]);
    const y = /YAVG=([\d.]+)/.exec(line);
    if (y) {
      const now = Number(y[1]) > 100;
      if (now && !bright) times.push(t);
      bright = now;
    }
  }
  return times;
}

/** Times (s) at which sound starts after silence, from ffmpeg's silencedetect. */
export async function soundOnsets(path: string): Promise<number[]> {
  const { stderr } = await run('ffmpeg', ['-v', 'info', '-nostdin', '-i', path, '-vn', '-af', 'silencedetect=n=-30dB:d=0.05', '-f', 'null', '-']);
  return [...stderr.matchAll(/silence_end: ([\d.]+)/g)].map((m) => Number(m[1]));
}
