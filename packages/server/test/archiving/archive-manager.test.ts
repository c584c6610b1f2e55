// ArchiveManager end to end with real parts: a real SQLite store and data folder, ffmpeg-made RTP
// through the ArchiveMediaSource interface (a labelled test source), the real recorder, composer
// and ZIP writer, ffprobe to judge the results. The session domain is the TestSessions stand-in.

import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ArchiveManager, type ArchivingSettings } from '../../src/archiving/archive-manager.js';
import { SessionManager } from '../../src/sessions/session-manager.js';
import { openServerStore, type ServerStore as Store } from '../../src/server-store.js';
import type { Project, SessionRecord } from '../../src/store/index.js';
import { decode, ffprobe, streamOf, unzipAll } from './probe.js';
import { TestRtpSource } from './rtp-test-source.js';
import { TestSessions } from './test-sessions.js';

const logger = pino({ level: process.env['TEST_LOG_LEVEL'] ?? 'silent' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let dataDir: string;
let store: Store;
let project: Project;
let sessionMgr: SessionManager;
let media: TestRtpSource;
let sessions: TestSessions;
let managers: ArchiveManager[];

beforeEach(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'colloquy-archives-'));
  store = await openServerStore({ dataDir: dataDir });
  project = await store.projects.createProject('Archiving', { apiKey: '47000002', apiSecret: 'secret-0123456789abcdef' });
  sessionMgr = new SessionManager(store, logger);
  media = new TestRtpSource('none');
  sessions = new TestSessions();
  managers = [];
});
afterEach(async () => {
  for (const m of managers) await m.close();
  await media.close();
  await store.close();
  rmSync(dataDir, { recursive: true, force: true });
});

async function manager(settings: Partial<ArchivingSettings> = {}, log = logger): Promise<ArchiveManager> {
  const m = new ArchiveManager({ store, dataDir, logger: log, media, sessions, settings });
  await m.start();
  managers.push(m);
  return m;
}

async function session(archiveMode: 'manual' | 'always' = 'manual', extra: Partial<SessionRecord> = {}): Promise<SessionRecord> {
  const record = await sessionMgr.create(project, { mediaMode: 'routed', archiveMode, location: null, archiveName: extra.archiveName ?? null, archiveResolution: null, e2ee: false });
  return record;
}

/**
 * Publishes a test stream once its ffmpeg sends media. Returns the wall times (performance.now())
 * just before and just after the session announced it: archives see the stream between the two.
 */
async function publish(sessionId: string, streamId: string, options: Partial<Parameters<TestRtpSource['addStream']>[0]> = {}) {
  const stream = await media.addStream({ streamId, sessionId, seconds: 30, ...options });
  const before = performance.now();
  sessions.streamAdded(sessionId, stream);
  return { stream, before, after: performance.now() };
}

/** Unpublishes a stream; returns the wall times around the session's announcement, as publish does. */
async function unpublish(sessionId: string, streamId: string) {
  await media.removeStream(streamId);
  const before = performance.now();
  sessions.streamRemoved(sessionId, streamId);
  return { before, after: performance.now() };
}

/** Polls until `check()` holds; resolves with the wall time (performance.now()) it was seen to. */
async function waitFor(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 60_000): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
  return performance.now();
}

/** Resolves with the wall time at which the stream's next packet reached the test source's listeners. */
async function nextPacket(streamId: string): Promise<number> {
  const running = media.stream(streamId)!;
  const count = () => running.packets.audio + running.packets.video;
  const seen = count();
  return waitFor(() => count() !== seen, `a packet from ${streamId}`);
}

// Generous: these flows wait for real media and for compositions (ffmpeg below normal priority),
// both of which a loaded machine delivers slowly (minutes at a load of 16 on 2 cores).
describe('ArchiveManager', { timeout: 600_000 }, () => {
  it('records a composed archive with streams joining and leaving, pauses without publishers, and makes an MP4', async () => {
    const m = await manager();
    const s = await session();
    sessions.setConnections(s.id, 2);
    await publish(s.id, 'alice', { videoSource: 'testsrc=size=640x480:rate=30' });
    // The archive clock runs on wall time (performance.now()) and stands still while paused. The
    // test cannot read it directly, so every expectation on archive times brackets the moment in
    // question between wall times taken just before and just after it: relations that hold however
    // slowly a loaded machine runs (the test sources' ffmpeg then sends less media than wall time).
    const startBefore = performance.now();
    const started = await m.startArchive(project, s, { name: 'Demo call', resolution: '1280x720' });
    const startAfter = performance.now();
    /** The archive clock at wall time `at` (before any pause): between these two. */
    const clockAt = (at: number) => ({ min: at - startAfter, max: at - startBefore });
    expect(started).toMatchObject({ status: 'started', outputMode: 'composed', streamMode: 'auto', resolution: '1280x720', name: 'Demo call' });
    expect(sessions.sent.map((e) => e.event)).toEqual([{ type: 'archiveStarted', id: started.id, name: 'Demo call' }]);
    expect(m.liveStreams(started.id)).toEqual([{ streamId: 'alice', hasAudio: true, hasVideo: true }]);
    expect(m.activeArchives(s.id)).toEqual([{ id: started.id, name: 'Demo call' }]);

    // Waits are for media sent, not wall time (the test source can be slowed down by a loaded machine).
    await media.waitForMedia('alice', 1000);
    const classesBefore = performance.now();
    sessions.streamUpdated(s.id, media.setClasses('alice', ['focus']));
    const classesAfter = performance.now();
    await m.setLayout(project, started.id, { type: 'horizontalPresentation' });
    await media.waitForMedia('alice', 500);
    const bobAdded = await publish(s.id, 'bob', { video: 'H264', videoSource: 'color=c=blue:size=320x240:rate=30', toneHz: 880 });
    // The first packet that can reach bob's recorder arrives after it subscribed, by this time.
    const bobFirstPacketBy = await nextPacket('bob');
    await media.waitForMedia('bob', 2000);
    await unpublish(s.id, 'bob');
    await media.waitForMedia('alice', 1000);
    // Nobody publishing: paused, and the clock stands still.
    const paused = await unpublish(s.id, 'alice');
    expect((await m.get(project, started.id)).status).toBe('paused');
    // The clock at the pause, as persisted when the archive paused.
    const pausedClockMs = (await m.get(project, started.id)).recordedMs;
    expect(pausedClockMs).toBeGreaterThanOrEqual(clockAt(paused.before).min - 1);
    expect(pausedClockMs).toBeLessThanOrEqual(clockAt(paused.after).max + 1);
    // The pause lasts at least 1.5 s of wall time (what is tested is that it is not counted).
    await sleep(1500);
    const resumed = await publish(s.id, 'alice2');
    expect((await m.get(project, started.id)).status).toBe('started');
    const alice2FirstPacketBy = await nextPacket('alice2');
    await media.waitForMedia('alice2', 1200);

    const stopBefore = performance.now();
    const stopping = m.stopArchive(project, started.id);
    const stopAfter = performance.now(); // the clock is read synchronously as the stop begins
    const stopped = await stopping;
    expect(stopped).toMatchObject({ status: 'stopped', reason: 'user initiated' });
    expect(m.activeArchives(s.id)).toEqual([]);
    // About 5.7 s recorded; the pause of 1.5 s (and more) is not: the recorded time is the wall
    // time from start to stop less the pause, which lasted from alice's removal to alice2's arrival.
    const pauseAtLeast = resumed.before - paused.after;
    const pauseAtMost = resumed.after - paused.before;
    expect(stopped.recordedMs).toBeGreaterThanOrEqual(Math.floor(stopBefore - startAfter - pauseAtMost));
    expect(stopped.recordedMs).toBeLessThanOrEqual(Math.ceil(stopAfter - startBefore - pauseAtLeast));
    expect(stopped.duration).toBeGreaterThanOrEqual(5);
    expect(sessions.sent.at(-1)!.event).toEqual({ type: 'archiveStopped', id: started.id, name: 'Demo call' });

    // The composition replays the layout timeline: the first layout, then the changes at their times.
    const events = await m.store.events(started.id);
    expect(events.map((e) => e.kind)).toEqual(['layout', 'classes', 'layout']);
    expect(events[0]).toMatchObject({ atMs: 0, layout: { type: 'bestFit' } });
    expect(events[1]).toMatchObject({ streamId: 'alice', layoutClassList: ['focus'] });
    expect(events[1]!.atMs).toBeGreaterThanOrEqual(clockAt(classesBefore).min - 1);
    expect(events[1]!.atMs).toBeLessThanOrEqual(clockAt(classesAfter).max + 1);
    const files = await m.store.files(started.id);
    expect(files.map((f) => [f.streamId, f.fileName, f.state])).toEqual([
      ['alice', 'alice.webm', 'complete'],
      ['bob', 'bob.mkv', 'complete'],
      ['alice2', 'alice2.webm', 'complete'],
    ]);
    // A file starts at the archive time of its first frame: no earlier than its stream was added
    // (less the calibration's allowance for that first packet having waited in a busy process: the
    // recorder calibrates for 1 s on the packet that waited least, so the first may be backdated by
    // up to its own wait; 500 ms was passed by 13 ms in a loaded two-suite run), no later than the
    // first packet its recorder could have received.
    const FIRST_PACKET_WAIT_MS = 1000;
    const bob = files[1]!;
    expect(bob.startOffsetMs!).toBeGreaterThanOrEqual(clockAt(bobAdded.before).min - FIRST_PACKET_WAIT_MS);
    expect(bob.startOffsetMs!).toBeLessThanOrEqual(clockAt(bobFirstPacketBy).max + 1);
    expect((bob.stopOffsetMs! - bob.startOffsetMs!) / 1000).toBeGreaterThan(1.5);
    // No gap for the 1.5 s pause: alice2 starts where the clock stood still (not 1.5 s later), by
    // no more than the wall time its first packet took to come after the resume.
    const alice2 = files[2]!;
    expect(alice2.startOffsetMs!).toBeGreaterThanOrEqual(pausedClockMs - FIRST_PACKET_WAIT_MS);
    expect(alice2.startOffsetMs!).toBeLessThanOrEqual(pausedClockMs + (alice2FirstPacketBy - resumed.before) + 1);
    expect(alice2.startOffsetMs!).toBeGreaterThan(files[0]!.startOffsetMs!);

    const done = await m.whenSettled(started.id);
    expect(done.status).toBe('available');
    expect(done.fileName).toBe('archive.mp4');
    const path = join(dataDir, 'archives', started.id, 'archive.mp4');
    const probe = await ffprobe(path);
    expect(streamOf(probe, 'video')).toMatchObject({ codec_name: 'h264', width: 1280, height: 720 });
    expect(streamOf(probe, 'audio')).toMatchObject({ codec_name: 'aac', sample_rate: '48000' });
    expect(Math.abs(Number(probe.format.duration) - done.recordedMs / 1000)).toBeLessThan(1);
    expect(done.size).toBe(Number(probe.format.size));
    expect(done.sha256).toMatch(/^[0-9a-f]{64}$/);
    // The recordings are gone once composed: the folder holds the MP4 only.
    expect(readdirSync(join(dataDir, 'archives', started.id))).toEqual(['archive.mp4']);
    expect((await decode(path)).errors).toBe('');
  });

  it('makes an individual archive: a ZIP of decodable per-stream files and the manifest', async () => {
    const m = await manager();
    const s = await session();
    sessions.setConnections(s.id, 2);
    await publish(s.id, 'alice', { connectionData: 'name=Alice' });
    await publish(s.id, 'bob', { video: 'H264', videoType: 'screen', connectionData: 'name=Bob' });
    const started = await m.startArchive(project, s, { outputMode: 'individual', name: 'Parts' });
    expect(started.resolution).toBeNull();
    await Promise.all([media.waitForMedia('alice', 2500), media.waitForMedia('bob', 2500)]);
    await m.stopArchive(project, started.id);
    const done = await m.whenSettled(started.id);
    expect(done).toMatchObject({ status: 'available', fileName: 'archive.zip' });
    const out = mkdtempSync(join(tmpdir(), 'colloquy-unzip-'));
    try {
      const entries = await unzipAll(join(dataDir, 'archives', started.id, 'archive.zip'), out);
      expect(entries.sort()).toEqual(['alice.webm', 'bob.mkv', 'manifest.json']);
      const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
      expect(manifest).toMatchObject({ id: started.id, name: 'Parts', partnerId: 47000002, sessionId: s.id, createdAt: started.createdAt });
      expect(manifest.files).toHaveLength(2);
      for (const file of manifest.files) {
        expect(file).toMatchObject({ streamId: expect.any(String), filename: expect.stringMatching(/\.(webm|mkv)$/), size: expect.any(Number) });
        expect(file.stopTimeOffset).toBeGreaterThan(file.startTimeOffset);
        const decoded = await decode(join(out, file.filename));
        expect(decoded.errors).toBe('');
        expect(decoded.videoFrames).toBeGreaterThan(20);
        // The sources send 30 fps: the file's frames are no closer together than that (frames lost
        // on a loaded machine make the rate lower, never higher).
        expect(decoded.videoFps).toBeLessThan(30.5);
        expect(decoded.audioFrames).toBeGreaterThan(50);
      }
      expect(manifest.files.find((f: { streamId: string }) => f.streamId === 'bob')).toMatchObject({ connectionData: 'name=Bob', videoType: 'screen' });
      expect((await ffprobe(join(out, 'bob.mkv'))).format.format_name).toContain('matroska');
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('manual stream mode records only the streams added, re-segmenting when audio/video choices change', async () => {
    const m = await manager();
    const s = await session();
    sessions.setConnections(s.id, 1);
    await publish(s.id, 'alice');
    await publish(s.id, 'bob');
    const started = await m.startArchive(project, s, { streamMode: 'manual', outputMode: 'individual' });
    expect(m.liveStreams(started.id)).toEqual([]);
    await m.addStream(project, started.id, 'alice', true, true);
    expect(m.liveStreams(started.id)).toEqual([{ streamId: 'alice', hasAudio: true, hasVideo: true }]);
    await media.waitForMedia('alice', 1500);
    await m.addStream(project, started.id, 'alice', true, false); // toggle video off: a new segment
    await media.waitForMedia('alice', 1500);
    await expect(m.addStream(project, started.id, 'nobody', true, true)).rejects.toThrow(/Stream not found/);
    await m.removeStream(project, started.id, 'alice');
    await expect(m.removeStream(project, started.id, 'alice')).rejects.toThrow(/not found/);
    await m.stopArchive(project, started.id);
    const files = await m.store.files(started.id);
    expect(files.map((f) => [f.fileName, f.hasAudio, f.hasVideo])).toEqual([
      ['alice.webm', true, true],
      ['alice-1.webm', true, false],
    ]);
    expect((await m.whenSettled(started.id)).status).toBe('available');
  });

  it('enforces OpenTok\'s start conditions', async () => {
    const m = await manager();
    const s = await session();
    await expect(m.startArchive(project, s, {})).rejects.toThrow(/No clients are actively connected/);
    sessions.setConnections(s.id, 1);
    const relayed = await sessionMgr.create(project, { mediaMode: 'relayed', archiveMode: 'manual', location: null, archiveName: null, archiveResolution: null, e2ee: false });
    sessions.setConnections(relayed.id, 1);
    await expect(m.startArchive(project, relayed, {})).rejects.toThrow(/not using OpenTok Media Router/);
    const first = await m.startArchive(project, s, {});
    await expect(m.startArchive(project, s, {})).rejects.toThrow(/Recording already in progress/);
    const tagged = await m.startArchive(project, s, { multiArchiveTag: 'backup' });
    expect(tagged.id).not.toBe(first.id);
    await expect(m.startArchive(project, s, { multiArchiveTag: 'backup' })).rejects.toThrow(/already in progress/);
    await expect(m.startArchive(project, s, { hasAudio: false, hasVideo: false })).rejects.toThrow(/cannot both be false/);
    await expect(m.startArchive(project, s, { resolution: '800x600', multiArchiveTag: 'x' })).rejects.toThrow(/Invalid resolution/);
    await expect(m.startArchive(project, s, { outputMode: 'individual', resolution: '640x480', multiArchiveTag: 'y' })).rejects.toThrow(/composed archives only/);
    await expect(m.addStream(project, first.id, 'x', true, true)).rejects.toThrow(/Unsupported Stream Mode/);
    await m.stopArchive(project, first.id);
    await expect(m.stopArchive(project, first.id)).rejects.toThrow(/Archive is not in started state/);
    // Nothing was ever published: the archive fails, saying why.
    const failed = await m.whenSettled(first.id);
    expect(failed).toMatchObject({ status: 'failed', reason: expect.stringMatching(/nothing was recorded/) });
    await expect(m.deleteArchive(project, tagged.id)).rejects.toThrow(/cannot be deleted while it is started/);
  });

  it('archiveMode always: starts on the first connection, rolls over at the maximum duration, stops after everyone left', async () => {
    const m = await manager({ maxDurationMs: 2500, autoStopDelayMs: 1000 });
    const s = await session('always', { archiveName: 'Auto' });
    await publish(s.id, 'alice');
    expect((await m.list(project.id, { sessionId: s.id })).count).toBe(0);
    const startBefore = performance.now();
    sessions.setConnections(s.id, 1);
    // The session's record is read from the store first (asynchronously), then the archive starts.
    await waitFor(async () => (await m.list(project.id, { sessionId: s.id })).count === 1, 'the automatic start');
    const [first] = (await m.list(project.id, { sessionId: s.id })).items;
    expect(first).toMatchObject({ status: 'started', autoArchive: true, name: 'Auto', outputMode: 'composed', resolution: '640x480' });
    await expect(m.stopArchive(project, first!.id)).rejects.toThrow(/cannot be stopped/);
    // The rollover comes once 2.5 s were recorded (on the manager's next tick, later when loaded).
    const rolledOverBy = await waitFor(async () => (await m.list(project.id, { sessionId: s.id })).count === 2, 'the rollover');
    const afterRollover = (await m.list(project.id, { sessionId: s.id })).items;
    expect(afterRollover).toHaveLength(2);
    expect(afterRollover[1]).toMatchObject({ id: first!.id, reason: 'maximum duration exceeded' });
    expect(afterRollover[0]!.status).toBe('started');
    sessions.setConnections(s.id, 0);
    await sleep(400);
    sessions.setConnections(s.id, 1); // came back within the delay: nothing stops
    sessions.setConnections(s.id, 0);
    await waitFor(async () => (await m.store.get(afterRollover[0]!.id))!.status !== 'started', 'the stop after everyone left');
    const second = (await m.store.get(afterRollover[0]!.id))!;
    expect(second).toMatchObject({ status: expect.stringMatching(/stopped|available/), reason: 'session ended' });
    const [a, b] = await Promise.all([m.whenSettled(first!.id), m.whenSettled(second.id)]);
    expect(a.status).toBe('available');
    expect(b.status).toBe('available');
    // The first archive holds the maximum duration: from 2.5 s to when the test saw the rollover.
    expect(a.recordedMs).toBeGreaterThanOrEqual(2500);
    expect(a.recordedMs).toBeLessThanOrEqual(Math.ceil(rolledOverBy - startBefore));
    expect(a.duration).toBe(Math.round(a.recordedMs / 1000));
  });

  it('lists newest first with paging, deletes available archives, expires them after the retention', async () => {
    const m = await manager({ retentionDays: 1 });
    const s = await session();
    sessions.setConnections(s.id, 1);
    await publish(s.id, 'alice');
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const a = await m.startArchive(project, s, { outputMode: 'individual' });
      ids.push(a.id);
      await media.waitForMedia('alice', 700);
      await m.stopArchive(project, a.id);
    }
    await Promise.all(ids.map((id) => m.whenSettled(id)));
    const page = await m.list(project.id, { offset: 1, count: 1 });
    expect(page.count).toBe(3);
    expect(page.items.map((a) => a.id)).toEqual([ids[1]]);
    expect((await m.list(project.id)).items.map((a) => a.id)).toEqual([...ids].reverse());
    await m.deleteArchive(project, ids[0]!);
    expect((await m.get(project, ids[0]!)).status).toBe('deleted');
    expect(existsSync(join(dataDir, 'archives', ids[0]!))).toBe(false);
    await expect(m.deleteArchive(project, ids[0]!)).rejects.toThrow(/already deleted/);
    expect(await m.pruneExpired(Date.now() + 2 * 86_400_000)).toBe(2);
    expect(await m.get(project, ids[1]!)).toMatchObject({ status: 'expired', fileName: null });
    expect(existsSync(join(dataDir, 'archives', ids[1]!))).toBe(false);
  });

  it("deletes a project's archives: a recording stops unproduced, every folder goes, other projects' stay", async () => {
    const m = await manager();
    const s = await session();
    sessions.setConnections(s.id, 1);
    await publish(s.id, 'alice');
    const done = await m.startArchive(project, s, { outputMode: 'individual' });
    await media.waitForMedia('alice', 700);
    await m.stopArchive(project, done.id);
    await m.whenSettled(done.id);
    const recording = await m.startArchive(project, s, {});
    await media.waitForMedia('alice', 700);
    const other = await store.projects.createProject('Other');
    const otherSession = await sessionMgr.create(other, { mediaMode: 'routed', archiveMode: 'manual', location: null, archiveName: null, archiveResolution: null, e2ee: false });
    sessions.setConnections(otherSession.id, 1);
    await publish(otherSession.id, 'carol');
    const kept = await m.startArchive(other, otherSession, { outputMode: 'individual' });
    await media.waitForMedia('carol', 500);
    const folder = (id: string) => join(dataDir, 'archives', id);
    expect(existsSync(folder(done.id)) && existsSync(folder(recording.id))).toBe(true);

    expect(await m.deleteProjectArchives(project.id)).toBe(2);
    expect(existsSync(folder(done.id))).toBe(false);
    expect(existsSync(folder(recording.id))).toBe(false);
    expect(m.activeArchives(s.id)).toEqual([]);
    expect(sessions.sent.at(-1)?.event).toEqual({ type: 'archiveStopped', id: recording.id, name: '' });
    // Nothing is produced for it afterwards (no folder comes back).
    await sleep(500);
    expect(existsSync(folder(recording.id))).toBe(false);
    expect(m.activeArchives(otherSession.id)).toEqual([{ id: kept.id, name: '' }]);
    expect(existsSync(folder(kept.id))).toBe(true);
  });

  it('logs composition progress', async () => {
    const lines: string[] = [];
    const capture = pino({ level: 'info' }, { write: (line: string) => lines.push(line) });
    const m = await manager({}, capture);
    const s = await session();
    sessions.setConnections(s.id, 1);
    await publish(s.id, 'alice');
    const a = await m.startArchive(project, s, {});
    await media.waitForMedia('alice', 1500);
    await m.stopArchive(project, a.id);
    await m.whenSettled(a.id);
    const logged = lines.map((l) => JSON.parse(l) as { msg: string; percent?: number; archiveId?: string });
    const progress = logged.filter((l) => l.msg === 'composing archive');
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.at(-1)).toMatchObject({ archiveId: a.id, percent: 100 });
    expect(logged.map((l) => l.msg)).toEqual(expect.arrayContaining(['archive started', 'recording stream', 'archive stopped', 'archive available']));
  });

  it('on close finalizes what is recording; the next start produces it', async () => {
    const first = await manager();
    const s = await session();
    sessions.setConnections(s.id, 1);
    await publish(s.id, 'alice');
    const a = await first.startArchive(project, s, {});
    await media.waitForMedia('alice', 2000);
    await first.close();
    expect(await first.store.get(a.id)).toMatchObject({ status: 'stopped', reason: 'server shutdown' });
    expect(sessions.watchers).toBe(0);
    const second = await manager();
    const done = await second.whenSettled(a.id);
    expect(done.status).toBe('available');
    expect(Math.abs(Number((await ffprobe(join(dataDir, 'archives', a.id, 'archive.mp4'))).format.duration) - done.recordedMs / 1000)).toBeLessThan(0.5);
    expect(done.recordedMs).toBeGreaterThan(1000);
  });
});
