// SIGKILL during a recording, then a restart on the same data folder: the archive must end
// available with the seconds recorded up to the kill (or failed with a reason), never stuck in
// "started", and the data folder must hold exactly the archive's output. The recording runs in
// a child process (fixtures/record-until-killed.mjs, using the built dist).

import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { ArchiveManager } from '../../src/archiving/archive-manager.js';
import { openServerStore } from '../../src/server-store.js';
import { decode, ffprobe, streamOf, unzipAll } from './probe.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/record-until-killed.mjs', import.meta.url));
const logger = pino({ level: process.env['TEST_LOG_LEVEL'] ?? 'silent' });
const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

interface Progress {
  audioPackets: number;
  videoFrames: number;
  recordedMs: number;
}

/**
 * Runs the recorder process until, after its archive started, at least `mediaMs` of audio and
 * `videoFrames` video frames reached it (media, not wall time: a loaded machine slows the test
 * source down), then SIGKILLs it.
 */
async function recordThenKill(dataDir: string, outputMode: 'composed' | 'individual', enough: { mediaMs: number; videoFrames: number }) {
  const child = spawn(process.execPath, [FIXTURE, dataDir, outputMode], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  let pending = '';
  let last: Progress = { audioPackets: 0, videoFrames: 0, recordedMs: 0 };
  let startLine: (Progress & { archiveId: string; ffmpegPid: number; startedAt: number }) | null = null;
  let onProgress = () => {};
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exitedEarly = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`recorder exited (${code}): ${err}`))));
  exitedEarly.catch(() => {});
  child.stdout.on('data', (d: Buffer) => {
    pending += d.toString();
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = JSON.parse(pending.slice(0, nl)) as Progress & { archiveId?: string; ffmpegPid: number; startedAt: number };
      pending = pending.slice(nl + 1);
      if (line.archiveId && !startLine) startLine = { ...line, archiveId: line.archiveId, recordedMs: 0 };
      else last = line;
      onProgress();
    }
  });
  const reached = () => {
    if (!startLine) return false;
    return (last.audioPackets - startLine.audioPackets) * 20 >= enough.mediaMs && last.videoFrames - startLine.videoFrames >= enough.videoFrames;
  };
  await Promise.race([
    exitedEarly,
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`recorder did not get enough media in 60 s: ${JSON.stringify({ startLine, last })} ${err}`)), 60_000);
      onProgress = () => {
        if (reached()) {
          clearTimeout(timer);
          resolve();
        }
      };
      onProgress();
    }),
  ]);
  const info = startLine!;
  const seen = last;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  const killedAfterMs = Date.now() - info.startedAt;
  await exited;
  try {
    process.kill(info.ffmpegPid, 'SIGKILL');
  } catch {
    // already gone
  }
  // Media that reached the recording process while it recorded (what its files could hold), and
  // the recorded time it had persisted, as last reported before the kill.
  const mediaMs = (seen.audioPackets - info.audioPackets) * 20;
  return { archiveId: info.archiveId, killedAfterMs, mediaMs, persistedMs: seen.recordedMs };
}

async function restart(dataDir: string) {
  const store = await openServerStore({ dataDir: dataDir });
  const manager = new ArchiveManager({ store, dataDir, logger });
  await manager.start();
  return { store, manager };
}

// Generous: these flows wait for real media and for compositions (ffmpeg below normal priority),
// both of which a loaded machine delivers slowly (minutes at a load of 16 on 2 cores).
describe('crash recovery', { timeout: 600_000 }, () => {
  it('a composed archive killed mid-recording becomes available with the seconds recorded', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'colloquy-crash-'));
    dirs.push(dataDir);
    const { archiveId, killedAfterMs, mediaMs, persistedMs } = await recordThenKill(dataDir, 'composed', { mediaMs: 4000, videoFrames: 60 });

    // What the killed process left: still "started", a recording file without its end.
    const before = await openServerStore({ dataDir: dataDir });
    const left = (await before.db.get<{ status: string; recorded_ms: number }>('SELECT status, recorded_ms FROM archives WHERE id = ?', [archiveId]))!;
    await before.close();
    expect(left.status).toBe('started');
    const streamFile = join(dataDir, 'archives', archiveId, 'streams', 'crash-stream.webm');
    expect(existsSync(streamFile)).toBe(true);
    // A torn write at the end (as an interrupted cluster write would leave): recovery cuts it.
    appendFileSync(streamFile, Buffer.from([0x1f, 0x43, 0xb6, 0x75, 0x01, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0xe7, 0x81]));

    const { store, manager } = await restart(dataDir);
    try {
      const done = await manager.whenSettled(archiveId);
      expect(done).toMatchObject({ status: 'available', reason: expect.stringMatching(/restarted/) });
      // The seconds up to the kill: at least what the process had persisted before it (its heartbeat
      // is once a second, and on a loaded machine later), never more than the time it ran.
      expect(persistedMs).toBeGreaterThan(0);
      expect(done.recordedMs).toBeGreaterThanOrEqual(persistedMs);
      expect(done.recordedMs).toBeLessThanOrEqual(killedAfterMs + 200);
      expect(done.duration).toBe(Math.round(done.recordedMs / 1000));
      // The repaired recording holds what arrived, less at most about a second.
      const [file] = await manager.store.files(archiveId);
      expect(file!.stopOffsetMs! - file!.startOffsetMs!).toBeGreaterThan(mediaMs - 1200);
      const mp4 = join(dataDir, 'archives', archiveId, 'archive.mp4');
      const probe = await ffprobe(mp4);
      expect(streamOf(probe, 'video')).toMatchObject({ codec_name: 'h264', width: 640, height: 480 });
      expect(streamOf(probe, 'audio')?.codec_name).toBe('aac');
      expect(Math.abs(Number(probe.format.duration) - done.recordedMs / 1000)).toBeLessThan(0.5);
      expect((await decode(mp4)).errors).toBe('');
      // Consistent folder: the archive's MP4 and nothing else.
      expect(readdirSync(join(dataDir, 'archives'))).toEqual([archiveId]);
      expect(readdirSync(join(dataDir, 'archives', archiveId))).toEqual(['archive.mp4']);
      expect(await store.db.value("SELECT COUNT(*) FROM archives WHERE status IN ('started', 'paused', 'stopped')")).toBe(0);
    } finally {
      await manager.close();
      await store.close();
    }
  });

  it('an individual archive killed mid-recording becomes a ZIP whose manifest ends at the kill', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'colloquy-crash-'));
    dirs.push(dataDir);
    const { archiveId, killedAfterMs, mediaMs, persistedMs } = await recordThenKill(dataDir, 'individual', { mediaMs: 3000, videoFrames: 60 });
    const { store, manager } = await restart(dataDir);
    try {
      const done = await manager.whenSettled(archiveId);
      expect(done.status).toBe('available');
      const out = mkdtempSync(join(tmpdir(), 'colloquy-crash-zip-'));
      dirs.push(out);
      expect((await unzipAll(join(dataDir, 'archives', archiveId, 'archive.zip'), out)).sort()).toEqual(['crash-stream.webm', 'manifest.json']);
      const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
      const file = manifest.files[0];
      // The file holds what arrived, less at most about a second that had not reached the disk.
      expect(file.stopTimeOffset - file.startTimeOffset).toBeGreaterThan(mediaMs - 1200);
      expect(file.stopTimeOffset - file.startTimeOffset).toBeLessThanOrEqual(mediaMs + 200);
      expect(file.stopTimeOffset).toBeLessThanOrEqual(killedAfterMs + 200);
      expect(done.recordedMs).toBeGreaterThanOrEqual(persistedMs);
      expect(done.recordedMs).toBeLessThanOrEqual(killedAfterMs + 200);
      expect(done.duration).toBe(Math.round(done.recordedMs / 1000));
      const decoded = await decode(join(out, 'crash-stream.webm'));
      expect(decoded.errors).toBe('');
      expect(decoded.videoFrames).toBeGreaterThan(15);
    } finally {
      await manager.close();
      await store.close();
    }
  });

  it('an archive whose process died before anything reached the disk fails with a reason', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'colloquy-crash-'));
    dirs.push(dataDir);
    const { archiveId } = await recordThenKill(dataDir, 'composed', { mediaMs: 0, videoFrames: 0 });
    const { store, manager } = await restart(dataDir);
    try {
      const done = await manager.whenSettled(archiveId);
      expect(done.status).toBe('failed');
      expect(done.reason).toMatch(/nothing was recorded/);
      expect(existsSync(join(dataDir, 'archives', archiveId, 'streams'))).toBe(false);
    } finally {
      await manager.close();
      await store.close();
    }
  });
});
