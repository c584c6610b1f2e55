// What a stopped archive becomes: a composed MP4 (through the composer) or, for individual
// archives, a ZIP of the per-stream files with OpenTok's JSON manifest. Either is written next to
// the recordings, checksummed, and then the recordings are removed.

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../logger.js';
import type { ArchiveEvent, ArchiveFileRecord, ArchiveRecord } from './archive-store.js';
import { compose, type ComposeSegment } from './composer.js';
import { DEFAULT_LAYOUT, parseResolution } from './layout.js';
import { writeZip } from './zip.js';

export interface OutputResult {
  fileName: string;
  size: number;
  sha256: string;
}

export interface OutputJob {
  record: ArchiveRecord;
  files: ArchiveFileRecord[];
  events: ArchiveEvent[];
  dir: string;
  /** partnerId of the manifest: the numeric API key, or the application id. */
  partnerId: number | string;
  logger: Logger;
  preset?: string;
}

export interface OutputRun {
  done: Promise<OutputResult>;
  cancel(): void;
}

export class NothingRecordedError extends Error {
  override name = 'NothingRecordedError';
}

export function produceOutput(job: OutputJob): OutputRun {
  let cancel = () => {};
  const done = (async () => {
    const files = job.files.filter((f) => f.state === 'complete' && f.startOffsetMs !== null && f.stopOffsetMs !== null);
    if (files.length === 0) throw new NothingRecordedError('nothing was recorded (no stream was published while recording)');
    const { record, dir } = job;
    let fileName: string;
    if (record.outputMode === 'composed') {
      fileName = 'archive.mp4';
      const { width, height } = parseResolution(record.resolution ?? '640x480');
      const durationMs = Math.max(record.recordedMs, ...files.map((f) => f.stopOffsetMs!));
      const segments: ComposeSegment[] = files.map((f) => ({
        streamId: f.streamId,
        connectionId: f.connectionId,
        videoType: f.videoType,
        path: join(dir, 'streams', f.fileName),
        startMs: f.startOffsetMs!,
        stopMs: f.stopOffsetMs!,
        hasAudio: f.hasAudio,
        hasVideo: f.hasVideo,
        layoutClassList: f.layoutClassList,
      }));
      let lastLog = 0;
      const composition = compose({
        output: join(dir, fileName),
        durationMs,
        width,
        height,
        hasAudio: record.hasAudio,
        hasVideo: record.hasVideo,
        // The archive's first layout is an event at 0 (ArchiveManager), so this is only a fallback.
        layout: record.layout ?? DEFAULT_LAYOUT,
        segments,
        events: job.events,
        maxBitrate: record.maxBitrate,
        quantizationParameter: record.quantizationParameter,
        logger: job.logger,
        preset: job.preset,
        onProgress: (fraction, speed) => {
          const now = performance.now();
          if (now - lastLog < 5000 && fraction < 1) return;
          lastLog = now;
          job.logger.info({ percent: Math.round(fraction * 100), of: Math.round(durationMs / 1000), speed }, 'composing archive');
        },
      });
      cancel = composition.cancel;
      await composition.done;
    } else {
      fileName = 'archive.zip';
      const manifest = {
        createdAt: record.createdAt,
        id: record.id,
        name: record.name ?? '',
        partnerId: job.partnerId,
        sessionId: record.sessionId,
        files: files.map((f) => ({
          streamId: f.streamId,
          filename: f.fileName,
          size: f.size,
          startTimeOffset: f.startOffsetMs,
          stopTimeOffset: f.stopOffsetMs,
          connectionData: f.connectionData,
          videoType: f.videoType,
        })),
      };
      await writeZip(join(dir, fileName), [
        ...files.map((f) => ({ name: f.fileName, path: join(dir, 'streams', f.fileName) })),
        { name: 'manifest.json', data: Buffer.from(JSON.stringify(manifest, null, 2)) },
      ]);
    }
    const path = join(dir, fileName);
    const { size, sha256 } = await checksum(path);
    await rm(join(dir, 'streams'), { recursive: true, force: true });
    return { fileName, size, sha256 };
  })();
  return { done, cancel: () => cancel() };
}

async function checksum(path: string): Promise<{ size: number; sha256: string }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 })) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { size, sha256: hash.digest('hex') };
}
