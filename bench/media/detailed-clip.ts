// The detailed camera clip: a Mandelbrot zoom at 1280x720, 30 fps, 6 s (250 MB of Y4M), made once
// by ffmpeg under bench/.cache and looped by Chromium as its camera
// (--use-file-for-fake-video-capture). Natural detail in steady motion, as a real camera's picture:
// its 720p layer takes the 2.5 Mbps it may have, where Chromium's own fake camera (a mostly flat
// picture) carries ~800 kbps whatever it may send. Shared by impairment.bench.ts (the publishers of
// case A) and uplink-run.ts (`source: 'detailed'`).

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_CACHE_DIR } from '../load/clip.js';

/** The clip's path, made on first use. */
export function detailedClip(): string {
  const file = join(DEFAULT_CACHE_DIR, 'mandelbrot-1280x720-30fps-6s.y4m');
  if (existsSync(file)) return file;
  mkdirSync(DEFAULT_CACHE_DIR, { recursive: true });
  const partial = `${file}.partial`;
  execFileSync('ffmpeg', ['-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'mandelbrot=size=1280x720:rate=30:start_scale=0.5:end_scale=0.0005', '-t', '6', '-pix_fmt', 'yuv420p', '-f', 'yuv4mpegpipe', partial]);
  renameSync(partial, file);
  return file;
}

/** The Chromium switch that makes the clip its camera. */
export function detailedCameraArg(): string {
  return `--use-file-for-fake-video-capture=${detailedClip()}`;
}
