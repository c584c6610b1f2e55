// Composer: the per-stream recordings of an archive into one MP4 (H.264 + AAC 128 kbps 48 kHz,
// faststart) at the archive's resolution, with streams appearing and leaving at their real times.
// The timeline is cut wherever a stream joins or leaves or the layout (or a stream's classes)
// changes; each stream's video is placed per stretch of unchanged geometry, each stretch read by
// its own seeked ffmpeg input (so no decoded frames pile up waiting for a later stretch). Audio of
// every stream is mixed at its offset. One ffmpeg child process does it all.

import { rename, rm } from 'node:fs/promises';
import type { Logger } from '../logger.js';
import { FfmpegError, probeFile, runFfmpeg, type FfmpegRun, type ProbedFile } from './ffmpeg.js';
import { computeLayout, prioritize, type ArchiveLayout, type Box, type LayoutStream } from './layout.js';

/** One recorded file of one stream, placed on the archive timeline. */
export interface ComposeSegment {
  streamId: string;
  connectionId: string;
  videoType: 'camera' | 'screen' | 'custom';
  path: string;
  startMs: number;
  stopMs: number;
  /** Whether this stream's audio / video is included (the file may still lack a track). */
  hasAudio: boolean;
  hasVideo: boolean;
  /** Layout classes when the segment began. */
  layoutClassList: string[];
}

/** Things that change the picture mid-archive. */
export type TimelineEvent =
  | { atMs: number; kind: 'layout'; layout: ArchiveLayout }
  | { atMs: number; kind: 'classes'; streamId: string; layoutClassList: string[] };

export interface ComposeJob {
  /** Output MP4 path (written to `<output>.part`, then renamed). */
  output: string;
  durationMs: number;
  width: number;
  height: number;
  hasAudio: boolean;
  hasVideo: boolean;
  layout: ArchiveLayout;
  segments: ComposeSegment[];
  events: TimelineEvent[];
  /** Video bitrate cap in bits/s (OpenTok `maxBitrate`), or a fixed quantizer (`quantizationParameter`). */
  maxBitrate?: number | null;
  quantizationParameter?: number | null;
  logger: Logger;
  /** 0..1, with encoding speed. */
  onProgress?: (fraction: number, speed: number | null) => void;
  /** x264 preset (default veryfast). */
  preset?: string;
}

export interface Composition {
  done: Promise<void>;
  cancel(): void;
}

const FPS = 30;

interface Run {
  segment: ComposeSegment;
  probe: ProbedFile;
  startMs: number;
  endMs: number;
  box: Box;
  /** Sort key for painting: z, then priority (lower priority painted first). */
  z: number;
  order: number;
}

/** Starts composing; the returned promise settles when the MP4 is in place (or failed). */
export function compose(job: ComposeJob): Composition {
  let run: FfmpegRun | null = null;
  let cancelled = false;
  const done = (async () => {
    const probes = new Map<ComposeSegment, ProbedFile>();
    for (const segment of job.segments) probes.set(segment, await probeFile(segment.path));
    if (cancelled) throw new FfmpegError('composition cancelled', true);
    const args = buildArgs(job, probes);
    const part = `${job.output}.part`;
    job.logger.debug({ args: args.join(' ') }, 'ffmpeg arguments');
    const durationS = job.durationMs / 1000;
    run = runFfmpeg([...args, '-f', 'mp4', '-y', part], (p) => job.onProgress?.(Math.min(1, durationS > 0 ? p.outSeconds / durationS : 1), p.speed));
    try {
      await run.done;
    } catch (err) {
      await rm(part, { force: true });
      throw err;
    }
    await rename(part, job.output);
  })();
  return {
    done,
    cancel() {
      cancelled = true;
      run?.cancel();
    },
  };
}

/** The ffmpeg arguments (inputs, filter graph, encoders) for a job; exported for tests. */
export function buildArgs(job: ComposeJob, probes: Map<ComposeSegment, ProbedFile>): string[] {
  const D = Math.max(1, Math.round(job.durationMs));
  const sec = (ms: number) => (ms / 1000).toFixed(3);
  const inputs: string[] = [];
  const filters: string[] = [];
  let inputIndex = 0;

  let videoOut: string | null = null;
  if (job.hasVideo) {
    const runs = planVideo(job, probes);
    filters.push(`color=c=black:s=${job.width}x${job.height}:r=${FPS}:d=${sec(D)},format=yuv420p[base]`);
    let last = 'base';
    runs.forEach((r, i) => {
      const seek = r.startMs - r.segment.startMs;
      // -reinit_filter 0: a stream changing resolution mid-way (WebRTC does) must not rebuild the
      // whole graph; scale handles the new size itself.
      inputs.push('-reinit_filter', '0', '-ss', sec(seek), '-t', sec(r.endMs - r.startMs), '-i', r.segment.path);
      const fit = fitFilter(r.box.width, r.box.height, r.box.fit);
      // Timestamps of a seeked input start at 0 at the seek point, minus the file's start time.
      const offset = sec(r.startMs + r.probe.startTime * 1000);
      filters.push(`[${inputIndex}:v]${fit},setsar=1,format=yuv420p,setpts=PTS+${offset}/TB[v${i}]`);
      filters.push(`[${last}][v${i}]overlay=x=${r.box.x}:y=${r.box.y}:eof_action=pass[o${i}]`);
      last = `o${i}`;
      inputIndex++;
    });
    videoOut = last;
  }

  let audioOut: string | null = null;
  if (job.hasAudio) {
    const labels: string[] = [];
    for (const segment of job.segments) {
      const probe = probes.get(segment)!;
      if (!segment.hasAudio || !probe.hasAudio || segment.stopMs <= segment.startMs) continue;
      inputs.push('-i', segment.path);
      const offset = sec(segment.startMs + probe.startTime * 1000);
      const label = `a${labels.length}`;
      // Shift to archive time, then let aresample fill the start and any gaps (DTX, loss) with silence.
      filters.push(
        `[${inputIndex}:a]asetpts=PTS+${offset}/TB,aresample=48000:async=1:first_pts=0,aformat=sample_fmts=fltp:sample_rates=48000:channel_layouts=stereo,atrim=end=${sec(Math.min(D, segment.stopMs))}[${label}]`,
      );
      labels.push(`[${label}]`);
      inputIndex++;
    }
    filters.push(`anullsrc=r=48000:cl=stereo,atrim=end=${sec(D)}[silence]`);
    labels.push('[silence]');
    filters.push(`${labels.join('')}amix=inputs=${labels.length}:duration=longest:normalize=0,apad,atrim=end=${sec(D)}[aout]`);
    audioOut = 'aout';
  }

  const args = [...inputs, '-filter_complex', filters.join(';')];
  if (videoOut) {
    args.push('-map', `[${videoOut}]`, '-c:v', 'libx264', '-preset', job.preset ?? 'veryfast', '-profile:v', 'high', '-pix_fmt', 'yuv420p', '-r', String(FPS), '-g', String(FPS * 2));
    if (job.quantizationParameter) args.push('-qp', String(job.quantizationParameter));
    else if (job.maxBitrate) args.push('-b:v', String(job.maxBitrate), '-maxrate', String(job.maxBitrate), '-bufsize', String(job.maxBitrate * 2));
    else args.push('-crf', '23');
  }
  if (audioOut) args.push('-map', `[${audioOut}]`, '-c:a', 'aac', '-b:a', '128k', '-ar', '48000', '-ac', '2');
  args.push('-t', sec(D), '-movflags', '+faststart');
  return args;
}

/**
 * Scales a stream into its box, keeping its aspect ratio: letterboxed (`contain`) or cropped
 * (`cover`). Evaluated per frame, because a WebRTC sender changes its resolution mid-stream and a
 * size fixed when the graph was built would stretch every later frame.
 */
export function fitFilter(width: number, height: number, fit: 'contain' | 'cover'): string {
  const wider = `gt(iw/ih,${width}/${height})`;
  const scaledW = `trunc(${height}*iw/ih/2)*2`;
  const scaledH = `trunc(${width}*ih/iw/2)*2`;
  if (fit === 'cover') return `scale=w='if(${wider},${scaledW},${width})':h='if(${wider},${height},${scaledH})':eval=frame,crop=${width}:${height}`;
  return `scale=w='if(${wider},${width},${scaledW})':h='if(${wider},${scaledH},${height})':eval=frame,pad=${width}:${height}:(ow-iw)/2:(oh-ih)/2:color=black:eval=frame`;
}

/**
 * Cuts the timeline at every change, lays each stretch out, and merges a stream's consecutive
 * stretches with the same geometry into one run.
 */
export function planVideo(job: ComposeJob, probes: Map<ComposeSegment, ProbedFile>): Run[] {
  const D = Math.max(1, Math.round(job.durationMs));
  const clip = (t: number) => Math.max(0, Math.min(D, Math.round(t)));
  const videoSegments = job.segments.filter((s) => s.hasVideo && probes.get(s)?.hasVideo && clip(s.stopMs) > clip(s.startMs));
  const events = [...job.events].sort((a, b) => a.atMs - b.atMs);
  const cuts = new Set<number>([0, D]);
  for (const s of videoSegments) {
    cuts.add(clip(s.startMs));
    cuts.add(clip(s.stopMs));
  }
  for (const e of events) cuts.add(clip(e.atMs));
  const times = [...cuts].sort((a, b) => a - b);

  const runs: Run[] = [];
  const open = new Map<ComposeSegment, Run>();
  let layout = job.layout;
  const classes = new Map<string, string[]>();
  let e = 0;
  for (let i = 0; i + 1 < times.length; i++) {
    const t0 = times[i]!;
    const t1 = times[i + 1]!;
    while (e < events.length && clip(events[e]!.atMs) <= t0) {
      const ev = events[e++]!;
      if (ev.kind === 'layout') layout = ev.layout;
      else classes.set(ev.streamId, ev.layoutClassList);
    }
    const present = videoSegments.filter((s) => clip(s.startMs) <= t0 && clip(s.stopMs) >= t1);
    const layoutStreams: LayoutStream[] = present.map((s) => ({
      streamId: s.streamId,
      connectionId: s.connectionId,
      videoType: s.videoType,
      layoutClassList: classes.get(s.streamId) ?? s.layoutClassList,
      addedAt: s.startMs,
    }));
    const ordered = prioritize(layoutStreams);
    const boxes = computeLayout(layout, ordered, job.width, job.height);
    const seen = new Set<ComposeSegment>();
    for (const b of boxes) {
      const segment = present.find((s) => s.streamId === b.streamId && !seen.has(s));
      if (!segment) continue;
      seen.add(segment);
      const order = ordered.findIndex((s) => s.streamId === b.streamId);
      const prev = open.get(segment);
      if (prev && prev.endMs === t0 && sameBox(prev.box, b)) {
        prev.endMs = t1;
        continue;
      }
      const r: Run = { segment, probe: probes.get(segment)!, startMs: t0, endMs: t1, box: b, z: b.z, order };
      runs.push(r);
      open.set(segment, r);
    }
  }
  // Painting order: by z-index; equal z: higher priority on top (painted last).
  return runs.sort((a, b) => a.z - b.z || b.order - a.order);
}

function sameBox(a: Box, b: Box): boolean {
  return a.x === b.x && a.y === b.y && a.width === b.width && a.height === b.height && a.z === b.z && a.fit === b.fit;
}
