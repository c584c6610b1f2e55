// Archive: one recording while it runs. It keeps one Recorder per recorded stream (a new file, a
// "segment", whenever a stream's tracks or selection change), its own clock (recorded time, which
// stands still while paused), the layout timeline of composed archives, and the heartbeat that lets
// a restarted server know how far it got. Stopping finalizes every file; the manager then produces
// the MP4 or ZIP.
//
// Its writes run from timers and media events, where an exception would end the process: a write
// that fails (a full disk) makes the archive fail through onFatal instead, and a final status the
// disk could not take is kept in memory until saveFinalState() succeeds. The store is async (SQLite
// or PostgreSQL): `record` changes in memory at once, and the writes are queued one after another,
// so the rows end in the order the recording changed.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { isDiskFull } from '../errors.js';
import type { Logger } from '../logger.js';
import type { ArchiveRecord, ArchiveStore } from './archive-store.js';
import type { ArchiveMediaSource, ArchiveStream, ArchiveTrack } from './interfaces.js';
import type { ArchiveLayout } from './layout.js';
import { Recorder, recordingExtension } from './recorder.js';

/** Composed archives show 16 videos; individual ones hold 50 streams (OpenTok's limits). */
export const MAX_RECORDED_STREAMS = 50;

export interface ArchiveDeps {
  store: ArchiveStore;
  media: ArchiveMediaSource;
  logger: Logger;
  /** The archive's folder; recordings go to `<dir>/streams/`. */
  dir: string;
  /** Status changed between started and paused (persisted by the archive; told for timers and events). */
  onActivityChange: (archive: Archive) => void;
  /** A recording or a write failed beyond repair (disk full…); called once. */
  onFatal: (archive: Archive, err: Error) => void;
}

interface StreamRecording {
  stream: ArchiveStream;
  recorder: Recorder;
  fileName: string;
  /** What this segment records; a change starts a new segment. */
  key: string;
  hasAudio: boolean;
  hasVideo: boolean;
}

const HEARTBEAT_MS = 1000;

export class Archive {
  record: ArchiveRecord;
  readonly #deps: ArchiveDeps;
  readonly #log: Logger;
  readonly #recordings = new Map<string, StreamRecording>();
  /** Manual stream mode: the streams added by REST, with their audio/video choice. */
  readonly #selection = new Map<string, { hasAudio: boolean; hasVideo: boolean }>();
  readonly #segments = new Map<string, number>();
  readonly #classes = new Map<string, string>();
  /** Recorded time before the current active stretch, and when that stretch began (null while paused). */
  #activeMs = 0;
  #activeSince: number | null;
  /** Whether anything was ever recorded: an archive that never had a stream is "started", not "paused". */
  #everRecorded = false;
  #heartbeat: NodeJS.Timeout;
  #stopping: Promise<void> | null = null;
  #pendingStops: Promise<unknown>[] = [];
  #failed = false;
  /** The stopped status could not be written yet (disk full). */
  #unsaved = false;
  /** The last queued write (they run one at a time, in order). */
  #writes: Promise<unknown> = Promise.resolve();

  constructor(record: ArchiveRecord, deps: ArchiveDeps) {
    this.record = record;
    this.#deps = deps;
    this.#log = deps.logger.child({ archiveId: record.id });
    this.#activeSince = performance.now();
    mkdirSync(join(deps.dir, 'streams'), { recursive: true });
    this.#heartbeat = setInterval(() => this.#write(() => deps.store.setRecordedMs(record.id, this.clock())), HEARTBEAT_MS);
    this.#heartbeat.unref();
  }

  get id(): string {
    return this.record.id;
  }

  get sessionId(): string {
    return this.record.sessionId;
  }

  get stopping(): boolean {
    return this.#stopping !== null;
  }

  /** Stopped, but the stopped status is not in the database yet (see saveFinalState). */
  get unsaved(): boolean {
    return this.#unsaved;
  }

  /** Writes the stopped status kept in memory; true once it is saved. */
  async saveFinalState(): Promise<boolean> {
    if (!this.#unsaved) return true;
    const { status, reason, recordedMs, duration } = this.record;
    try {
      this.record = await this.#then(() => this.#deps.store.update(this.id, { status, reason, recordedMs, duration }));
      this.#unsaved = false;
      this.#log.info('archive stop saved after the disk had room again');
      return true;
    } catch (err) {
      this.#log.warn({ err: (err as Error).message }, 'archive stop still cannot be saved');
      return false;
    }
  }

  /** Queues a write after the ones before it; the promise is its own outcome. */
  #then<T>(fn: () => Promise<T>): Promise<T> {
    const done = this.#writes.then(fn);
    this.#writes = done.catch(() => {});
    return done;
  }

  /** Queues a write of the recording path; a failure fails the archive (once) instead of throwing. */
  #write(fn: () => Promise<unknown>): void {
    this.#then(fn).catch((err: unknown) => this.#fail(err as Error));
  }

  /** Resolves once the writes queued so far have run (the stopped status is stored, or could not be). */
  written(): Promise<void> {
    return this.#writes.then(() => {});
  }

  #fail(err: Error): void {
    if (this.#failed || this.#stopping) return;
    this.#failed = true;
    this.#log.warn({ err: err.message, code: (err as { code?: unknown }).code }, 'archive write failed; stopping the archive');
    this.#deps.onFatal(this, err);
  }

  /** Recorded milliseconds so far (paused time excluded). */
  clock(): number {
    return this.#activeMs + (this.#activeSince === null ? 0 : performance.now() - this.#activeSince);
  }

  /** Streams being recorded, as the archive JSON lists them while started. */
  streams(): Array<{ streamId: string; hasAudio: boolean; hasVideo: boolean }> {
    if (this.record.streamMode === 'manual') {
      return [...this.#selection].map(([streamId, s]) => ({ streamId, hasAudio: s.hasAudio && this.record.hasAudio, hasVideo: s.hasVideo && this.record.hasVideo }));
    }
    return [...this.#recordings.values()].map((r) => ({ streamId: r.stream.streamId, hasAudio: r.hasAudio, hasVideo: r.hasVideo }));
  }

  /** Manual mode: includes a stream (again, to change its audio/video choice). */
  select(streamId: string, hasAudio: boolean, hasVideo: boolean): void {
    this.#selection.set(streamId, { hasAudio, hasVideo });
  }

  /** Manual mode: leaves a stream out. Returns whether it was selected. */
  unselect(streamId: string): boolean {
    return this.#selection.delete(streamId);
  }

  isSelected(streamId: string): boolean {
    return this.#selection.has(streamId);
  }

  /** Records what the layout looks like from now on (composed archives). */
  async setLayout(layout: ArchiveLayout): Promise<void> {
    this.record = { ...this.record, layout };
    const atMs = this.clock();
    await this.#then(async () => {
      await this.#deps.store.update(this.id, { layout });
      await this.#deps.store.addEvent(this.id, { atMs, kind: 'layout', layout });
    });
  }

  /**
   * Brings the recordings in line with the session's streams: starts, stops or re-segments
   * recorders, notes layout-class changes, and pauses or resumes the clock.
   */
  sync(streams: ArchiveStream[]): void {
    if (this.#stopping) return;
    try {
      this.#sync(streams);
    } catch (err) {
      this.#fail(err as Error);
    }
  }

  #sync(streams: ArchiveStream[]): void {
    const wanted = new Map<string, { stream: ArchiveStream; audio: ArchiveTrack | null; video: ArchiveTrack | null }>();
    for (const stream of streams) {
      let wantAudio = this.record.hasAudio;
      let wantVideo = this.record.hasVideo;
      if (this.record.streamMode === 'manual') {
        const choice = this.#selection.get(stream.streamId);
        if (!choice) continue;
        wantAudio &&= choice.hasAudio;
        wantVideo &&= choice.hasVideo;
      }
      const audio = wantAudio ? stream.audio : null;
      const video = wantVideo ? stream.video : null;
      if (!audio && !video) continue;
      if (wanted.size >= MAX_RECORDED_STREAMS) {
        this.#log.warn({ streamId: stream.streamId }, `archive records at most ${MAX_RECORDED_STREAMS} streams; stream left out`);
        continue;
      }
      wanted.set(stream.streamId, { stream, audio, video });
    }
    for (const [streamId, recording] of this.#recordings) {
      const want = wanted.get(streamId);
      if (!want || segmentKey(want.audio, want.video) !== recording.key) this.#stopRecording(streamId);
    }
    for (const [streamId, want] of wanted) {
      if (!this.#recordings.has(streamId)) this.#startRecording(want.stream, want.audio, want.video);
      if (this.record.outputMode === 'composed') this.#noteClasses(want.stream);
    }
    this.#updateActivity();
  }

  #noteClasses(stream: ArchiveStream): void {
    const classes = JSON.stringify(stream.layoutClassList);
    const known = this.#classes.get(stream.streamId);
    this.#classes.set(stream.streamId, classes);
    if (known !== undefined && known !== classes) {
      const event = { atMs: this.clock(), kind: 'classes' as const, streamId: stream.streamId, layoutClassList: stream.layoutClassList };
      this.#write(() => this.#deps.store.addEvent(this.id, event));
    }
  }

  #startRecording(stream: ArchiveStream, audio: ArchiveTrack | null, video: ArchiveTrack | null): void {
    const n = this.#segments.get(stream.streamId) ?? 0;
    this.#segments.set(stream.streamId, n + 1);
    const safeId = stream.streamId.replace(/[^A-Za-z0-9_-]/g, '_');
    const fileName = `${safeId}${n === 0 ? '' : `-${n}`}.${recordingExtension(video)}`;
    const path = join(this.#deps.dir, 'streams', fileName);
    const file = {
      archiveId: this.id,
      fileName,
      streamId: stream.streamId,
      connectionId: stream.connectionId,
      connectionData: stream.connectionData,
      videoType: stream.videoType,
      layoutClassList: stream.layoutClassList,
      hasAudio: !!audio,
      hasVideo: !!video,
      startOffsetMs: null,
      stopOffsetMs: null,
      size: 0,
      state: 'recording' as const,
    };
    this.#write(() => this.#deps.store.insertFile(file));
    const recorder = new Recorder({
      path,
      audio,
      video,
      media: this.#deps.media,
      archiveClock: () => this.clock(),
      logger: this.#log,
      onStarted: (startOffsetMs) => this.#write(() => this.#deps.store.setFileStart(this.id, fileName, startOffsetMs)),
      onError: (err) => this.#fail(err),
    });
    this.#recordings.set(stream.streamId, { stream, recorder, fileName, key: segmentKey(audio, video), hasAudio: !!audio, hasVideo: !!video });
    this.#everRecorded = true;
    recorder.start();
    this.#log.info({ streamId: stream.streamId, fileName, audio: audio?.codec ?? null, video: video?.codec ?? null }, 'recording stream');
  }

  #stopRecording(streamId: string): void {
    const recording = this.#recordings.get(streamId);
    if (!recording) return;
    this.#recordings.delete(streamId);
    const done = this.#finishRecording(recording);
    this.#pendingStops.push(done);
    void done.finally(() => {
      this.#pendingStops = this.#pendingStops.filter((p) => p !== done);
    });
  }

  async #finishRecording(recording: StreamRecording): Promise<void> {
    try {
      const result = await recording.recorder.stop();
      if (!result) {
        await this.#then(() => this.#deps.store.deleteFile(this.id, recording.fileName));
        return;
      }
      await this.#then(() => this.#deps.store.completeFile(this.id, recording.fileName, result));
      this.#log.info(
        { streamId: recording.stream.streamId, fileName: recording.fileName, seconds: result.durationMs / 1000, bytes: result.size, frames: result.frames, packetsLost: result.packetsLost },
        'stream recording finished',
      );
    } catch (err) {
      // Leave the row 'recording': recovery repairs the file from what reached the disk.
      if (isDiskFull(err)) this.#log.warn({ reason: (err as Error).message, fileName: recording.fileName }, 'stream recording failed to finish: disk full');
      else this.#log.error({ err, fileName: recording.fileName }, 'stream recording failed to finish');
    }
  }

  #updateActivity(): void {
    const active = this.#recordings.size > 0;
    if (active && this.#activeSince === null) {
      this.#activeSince = performance.now();
      this.record = { ...this.record, status: 'started', updatedAt: Date.now() };
      this.#write(() => this.#deps.store.update(this.id, { status: 'started' }));
      this.#deps.onActivityChange(this);
    } else if (!active && this.#activeSince !== null && this.#everRecorded) {
      this.#activeMs += performance.now() - this.#activeSince;
      this.#activeSince = null;
      const paused = { status: 'paused' as const, recordedMs: Math.round(this.#activeMs) };
      this.record = { ...this.record, ...paused, updatedAt: Date.now() };
      this.#write(() => this.#deps.store.update(this.id, paused));
      this.#deps.onActivityChange(this);
    }
  }

  /** Whether any stream is being recorded right now. */
  get recording(): boolean {
    return this.#recordings.size > 0;
  }

  /**
   * Marks the archive stopped at once (its session may start another once `written()` resolves),
   * then stops every recorder; resolves when the files are final. Idempotent.
   */
  stop(reason: string): Promise<void> {
    this.#stopping ??= (async () => {
      clearInterval(this.#heartbeat);
      const recordedMs = this.clock();
      this.#activeMs = recordedMs;
      this.#activeSince = null;
      const stopped = { status: 'stopped' as const, reason, recordedMs: Math.round(recordedMs), duration: Math.round(recordedMs / 1000) };
      this.record = { ...this.record, ...stopped, updatedAt: Date.now() };
      const saved = this.#then(() => this.#deps.store.update(this.id, stopped));
      // The recorders stop at once; their files' rows are written after the stopped status.
      for (const streamId of [...this.#recordings.keys()]) this.#stopRecording(streamId);
      try {
        this.record = await saved;
      } catch (err) {
        // The session must still see it stop (and may start another): keep it in memory for now.
        this.record = { ...this.record, ...stopped, updatedAt: Date.now() };
        this.#unsaved = true;
        this.#log.warn({ err: (err as Error).message }, 'cannot save the archive stop yet (disk full?); retrying later');
      }
      await Promise.all(this.#pendingStops);
      this.#log.info({ reason, seconds: Math.round(recordedMs / 1000) }, 'archive stopped');
    })();
    return this.#stopping;
  }

  dump(): Record<string, unknown> {
    return {
      id: this.id,
      sessionId: this.sessionId,
      status: this.record.status,
      recordedMs: Math.round(this.clock()),
      recordings: [...this.#recordings.values()].map((r) => r.recorder.stats()),
      selection: Object.fromEntries(this.#selection),
    };
  }
}

function segmentKey(audio: ArchiveTrack | null, video: ArchiveTrack | null): string {
  return `${audio?.producerId ?? '-'}|${video?.producerId ?? '-'}|${video?.codec ?? '-'}`;
}
