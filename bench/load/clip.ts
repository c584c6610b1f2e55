// The media load publishers send: a VP8 clip (IVF) at a chosen size and bitrate and an Opus track
// (Ogg), encoded once by Debian's ffmpeg and cached under bench/.cache (never committed). The clip
// has one keyframe, its first frame; publishers loop it and restart it when asked for a keyframe.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readIvf, readOggOpus } from '@colloquy/testing/media-sources';

export interface ClipSpec {
  width: number;
  height: number;
  /** Target video bitrate, bits/s. */
  bitrate: number;
  fps: number;
  /** Length of the loop, seconds. */
  seconds: number;
}

export interface ClipFiles {
  spec: ClipSpec;
  ivf: string;
  ogg: string;
  /** What the encoder actually produced, bits/s (video only). */
  videoBitrate: number;
}

export interface Clip {
  spec: ClipSpec;
  video: { data: Buffer; keyFrame: boolean }[];
  /** Opus packets, 20 ms each. */
  audio: Buffer[];
  /** What the encoder actually produced, bits/s (video only). */
  videoBitrate: number;
}

export const DEFAULT_CACHE_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '.cache', 'clips');

/** Encodes the clip unless cached; returns the files. Takes seconds for 720p. */
export function ensureClip(spec: ClipSpec, cacheDir = DEFAULT_CACHE_DIR): ClipFiles {
  mkdirSync(cacheDir, { recursive: true });
  const base = join(cacheDir, `vp8-${spec.width}x${spec.height}-${Math.round(spec.bitrate / 1000)}k-${spec.fps}fps-${spec.seconds}s`);
  const ivf = `${base}.ivf`;
  const ogg = join(cacheDir, `opus-32k-${spec.seconds}s.ogg`);
  const quiet = ['-hide_banner', '-loglevel', 'error', '-y'];
  if (!existsSync(ivf)) {
    const kbps = `${Math.round(spec.bitrate / 1000)}k`;
    const tmp = `${ivf}.${process.pid}.tmp`;
    execFileSync('ffmpeg', [
      ...quiet,
      '-f', 'lavfi', '-i', `testsrc2=size=${spec.width}x${spec.height}:rate=${spec.fps}:duration=${spec.seconds}`,
      // Constant bitrate, one keyframe (the first): what a WebRTC encoder sends between requests.
      '-c:v', 'libvpx', '-b:v', kbps, '-minrate', kbps, '-maxrate', kbps, '-bufsize', `${Math.round(spec.bitrate / 2000)}k`,
      '-g', String(spec.fps * spec.seconds + 1), '-keyint_min', String(spec.fps * spec.seconds + 1),
      '-deadline', 'realtime', '-cpu-used', '8', '-threads', '2', '-f', 'ivf', tmp,
    ]);
    renameSync(tmp, ivf);
  }
  if (!existsSync(ogg)) {
    const tmp = `${ogg}.${process.pid}.tmp`;
    execFileSync('ffmpeg', [
      ...quiet,
      '-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=48000:duration=${spec.seconds}`,
      '-c:a', 'libopus', '-b:a', '32k', '-frame_duration', '20', '-f', 'ogg', tmp,
    ]);
    renameSync(tmp, ogg);
  }
  const frames = readIvf(readFileSync(ivf));
  const bytes = frames.reduce((n, f) => n + f.data.length, 0);
  return { spec, ivf, ogg, videoBitrate: Math.round((bytes * 8 * spec.fps) / frames.length) };
}

export function loadClip(files: ClipFiles): Clip {
  const video = readIvf(readFileSync(files.ivf));
  const audio = readOggOpus(readFileSync(files.ogg));
  if (video.length === 0 || !video[0]!.keyFrame) throw new Error(`${files.ivf}: no keyframe at the start`);
  if (audio.length === 0) throw new Error(`${files.ogg}: no Opus packets`);
  return { spec: files.spec, video, audio, videoBitrate: files.videoBitrate };
}
