// ArchiveManager: every archive of the server, from start to download. It starts and stops
// recordings (by REST, or by itself for archiveMode `always`), keeps them in step with the
// session's streams, enforces OpenTok's limits (maximum duration with rollover, no publishers,
// everyone gone), produces the MP4/ZIP off the request path with bounded concurrency, recovers
// after a crash (finalizing what reached the disk), prunes old archives, and signs download links.

import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, statfsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { ArchivingConfig } from '../config.js';
import { ColloquyError, conflict, invalid, isDiskFull, notFound } from '../errors.js';
import type { Logger } from '../logger.js';
import { requireClearMedia } from '../sessions/e2ee.js';
import { ARCHIVE_RESOLUTIONS, type Project, type SessionRecord, type Store } from '../store/index.js';
import { Archive } from './archive.js';
import { NothingRecordedError, produceOutput, type OutputRun } from './archive-output.js';
import { ArchiveConflictError, ArchiveStore, type ArchiveRecord, type OutputMode, type StreamMode } from './archive-store.js';
import { archiveContentType, archiveDownloadName, DownloadLinks } from './download-links.js';
import { FfmpegError } from './ffmpeg.js';
import { OFFLINE_MEDIA, OFFLINE_SESSIONS, type ArchiveMediaSource, type ArchiveSessionListener, type ArchiveSessionState } from './interfaces.js';
import { DEFAULT_LAYOUT, type ArchiveLayout } from './layout.js';
import { repairMatroska } from './matroska.js';
import { ArchiveUploads } from './storage/archive-uploads.js';
import { every, type ClockTask } from '../ops/thread-clock.js';

export interface ArchivingSettings {
  /** Lifetime of a download link, seconds (default 600, as OpenTok). */
  linkTtlSeconds: number;
  /** Days an available archive is kept before it expires and its file is deleted; 0 keeps them forever. */
  retentionDays: number;
  /** Compositions (and ZIPs) produced at once. */
  composeConcurrency: number;
  /** After the last client leaves: stop the session's archives after this long (OpenTok: 60 s). */
  autoStopDelayMs: number;
  /** Recorded time at which an archive stops (always-mode archives roll over to a new one); OpenTok: 4 h. */
  maxDurationMs: number;
  /** Stop after this long with nobody publishing, once something was recorded (OpenTok: 60 min). */
  noPublisherTimeoutMs: number;
  /** Stop an archive no stream ever joined after this long (OpenTok: about a minute). */
  initialPublishTimeoutMs: number;
  /** x264 preset of compositions. */
  x264Preset: string;
  /** No archive starts while the data folder's disk has less free space than this, MB (0: no check). */
  minFreeMb: number;
  /** Archives recording one session at once (multiArchiveTag ones included). */
  maxPerSession: number;
  /** Archives recording at once across one project. */
  maxPerProject: number;
  /** Uploads to a project's archive storage: tries per archive, first retry delay (ms, doubling), uploads at once. */
  uploadAttempts: number;
  uploadRetryDelayMs: number;
  uploadConcurrency: number;
}

export const DEFAULT_ARCHIVING_SETTINGS: ArchivingSettings = {
  linkTtlSeconds: 600,
  retentionDays: 0,
  composeConcurrency: 1,
  autoStopDelayMs: 60_000,
  maxDurationMs: 4 * 3600_000,
  noPublisherTimeoutMs: 3600_000,
  initialPublishTimeoutMs: 60_000,
  x264Preset: 'veryfast',
  minFreeMb: 256,
  maxPerSession: 5,
  maxPerProject: 50,
  uploadAttempts: 5,
  uploadRetryDelayMs: 5000,
  uploadConcurrency: 2,
};

/** The settings from the server configuration. */
export function archivingSettings(config: ArchivingConfig): Partial<ArchivingSettings> {
  return {
    linkTtlSeconds: config.linkTtlSeconds,
    retentionDays: config.retentionDays,
    composeConcurrency: config.composeConcurrency,
    autoStopDelayMs: config.autoStopDelaySeconds * 1000,
    maxDurationMs: config.maxDurationSeconds * 1000,
    noPublisherTimeoutMs: config.noPublisherTimeoutSeconds * 1000,
    minFreeMb: config.minFreeMb,
    maxPerSession: config.maxPerSession,
    maxPerProject: config.maxPerProject,
    uploadAttempts: config.uploadAttempts,
    uploadRetryDelayMs: config.uploadRetryDelaySeconds * 1000,
    uploadConcurrency: config.uploadConcurrency,
  };
}

export interface StartArchiveOptions {
  name?: string | null;
  hasAudio?: boolean;
  hasVideo?: boolean;
  outputMode?: OutputMode;
  streamMode?: StreamMode;
  resolution?: string | null;
  layout?: ArchiveLayout | null;
  multiArchiveTag?: string | null;
  maxBitrate?: number | null;
  quantizationParameter?: number | null;
}

export interface ArchiveManagerOptions {
  store: Store;
  dataDir: string;
  logger: Logger;
  settings?: Partial<ArchivingSettings>;
  media?: ArchiveMediaSource;
  sessions?: ArchiveSessionState;
  /**
   * Cluster mode: the key download links are signed with, the same on every node (so a link made by
   * one verifies on all), and a database other nodes share: recovery at start then touches only the
   * archives whose folder is in this node's data folder (the others are another node's).
   */
  cluster?: { linkKey: Buffer };
}

export interface DownloadTarget {
  path: string;
  size: number;
  contentType: string;
  /** File name offered to the browser. */
  downloadName: string;
}

export const REASON = {
  userInitiated: 'user initiated',
  maxDuration: 'maximum duration exceeded',
  sessionEnded: 'session ended',
  noPublishers: 'no publishers',
  shutdown: 'server shutdown',
  restarted: 'server restarted while recording; finalized from what was written',
  projectDeleted: 'project deleted',
  diskFull: 'recording failed: the server ran out of disk space',
} as const;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const TICK_MS = 1000;
const RETENTION_SWEEP_MS = 3600_000;
/** After a write failed (disk full): when to try that archive's pending step again. */
const RETRY_MS = 10_000;

export class ArchiveManager {
  readonly store: ArchiveStore;
  readonly links: DownloadLinks;
  /** The database is shared with other nodes (cluster mode): recovery leaves their archives alone. */
  readonly #shared: boolean;
  /** Uploads to the projects' archive storage (S3-compatible buckets), and those settings. */
  readonly uploads: ArchiveUploads;
  readonly settings: ArchivingSettings;
  readonly archivesDir: string;
  readonly #store: Store;
  readonly #log: Logger;
  readonly #media: ArchiveMediaSource;
  readonly #sessions: ArchiveSessionState;
  readonly #live = new Map<string, Archive>();
  /** When each live archive last had nothing to record (absent while recording). */
  readonly #idleSince = new Map<string, number>();
  readonly #emptySessionTimers = new Map<string, NodeJS.Timeout>();
  readonly #queue: string[] = [];
  readonly #producing = new Map<string, { promise: Promise<void>; cancel: () => void }>();
  readonly #waiters = new Map<string, Array<(record: ArchiveRecord) => void>>();
  /**
   * Archives whose last step could not be written (disk full), with when to try again: a stop whose
   * final status is still to be saved (`save`), or a production to run again (`produce`).
   */
  readonly #retries = new Map<string, { at: number; step: 'save' | 'produce'; archive?: Archive }>();
  #unwatch: () => void = () => {};
  #tick: ClockTask | undefined;
  #retention: NodeJS.Timeout | undefined;
  #closing = false;
  #closed: Promise<void> | null = null;

  constructor(options: ArchiveManagerOptions) {
    this.#store = options.store;
    this.store = new ArchiveStore(options.store.db);
    this.settings = { ...DEFAULT_ARCHIVING_SETTINGS, ...options.settings };
    this.#log = options.logger.child({ module: 'archiving' });
    this.#media = options.media ?? OFFLINE_MEDIA;
    this.#sessions = options.sessions ?? OFFLINE_SESSIONS;
    this.archivesDir = join(options.dataDir, 'archives');
    this.links = options.cluster ? new DownloadLinks(options.cluster.linkKey, this.settings.linkTtlSeconds) : DownloadLinks.open(options.dataDir, this.settings.linkTtlSeconds);
    this.#shared = options.cluster !== undefined;
    this.uploads = new ArchiveUploads({
      db: options.store.db,
      archives: this.store,
      dirOf: (id) => this.#dir(id),
      logger: this.#log,
      settings: {
        attempts: this.settings.uploadAttempts,
        retryDelayMs: this.settings.uploadRetryDelayMs,
        concurrency: this.settings.uploadConcurrency,
        linkTtlSeconds: this.settings.linkTtlSeconds,
      },
    });
  }

  /** Recovers what a previous run left, then starts watching sessions and the timers. */
  async start(): Promise<void> {
    // Before recovery: an archive produced from now on is uploaded, and uploads left pending resume.
    await this.uploads.start();
    await this.#recover();
    const listener: ArchiveSessionListener = {
      connectionCountChanged: (sessionId, count) => this.#onConnectionCount(sessionId, count),
      streamAdded: (sessionId) => this.#syncSession(sessionId),
      streamRemoved: (sessionId) => this.#syncSession(sessionId),
      streamUpdated: (sessionId) => this.#syncSession(sessionId),
    };
    this.#unwatch = this.#sessions.watch(listener);
    this.#tick = every(TICK_MS, () => this.#enforceLimits());
    if (this.settings.retentionDays > 0) {
      const prune = (): void => void this.pruneExpired().catch((err: unknown) => this.#log.warn({ err }, 'archive retention sweep failed; next sweep in an hour'));
      prune();
      this.#retention = setInterval(prune, RETENTION_SWEEP_MS);
      this.#retention.unref();
    }
  }

  // ---- REST-facing calls -------------------------------------------------------------------

  /** Starts recording a session (REST). The caller has checked the session belongs to the project. */
  async startArchive(project: Project, session: SessionRecord, options: StartArchiveOptions): Promise<ArchiveRecord> {
    this.#ensureOpen();
    if (session.mediaMode !== 'routed') throw conflict('Recording already in progress or session not using OpenTok Media Router', 409);
    // OpenTok does not archive end-to-end encrypted sessions (the media router cannot decode them): a conflict with the session's mode, as above.
    requireClearMedia(session, 'Archiving');
    const outputMode = options.outputMode ?? 'composed';
    const hasAudio = options.hasAudio ?? true;
    const hasVideo = options.hasVideo ?? true;
    if (!hasAudio && !hasVideo) throw invalid('hasAudio and hasVideo cannot both be false');
    if (outputMode === 'individual' && options.resolution) throw invalid('resolution applies to composed archives only');
    const resolution = outputMode === 'composed' ? (options.resolution ?? '640x480') : null;
    if (resolution !== null && !(ARCHIVE_RESOLUTIONS as readonly string[]).includes(resolution)) {
      throw invalid(`Invalid resolution: must be one of ${ARCHIVE_RESOLUTIONS.join(', ')}`);
    }
    if (options.maxBitrate && options.quantizationParameter) throw invalid('maxBitrate and quantizationParameter cannot be set together');
    if (this.#sessions.connectionCount(session.id) === 0) throw conflict('No clients are actively connected to the OpenTok session', 409);
    const tag = options.multiArchiveTag ?? null;
    if (await this.store.recording(session.id, tag)) throw conflict('Recording already in progress or session not using OpenTok Media Router', 409);
    return this.#begin(project.id, session, {
      name: options.name ?? null,
      outputMode,
      streamMode: options.streamMode ?? 'auto',
      hasAudio,
      hasVideo,
      resolution,
      layout: outputMode === 'composed' ? (options.layout ?? DEFAULT_LAYOUT) : null,
      multiArchiveTag: tag,
      maxBitrate: options.maxBitrate ?? null,
      quantizationParameter: options.quantizationParameter ?? null,
      autoArchive: false,
    });
  }

  /** Stops a recording archive (REST): 409 unless it is started or paused. */
  async stopArchive(project: Project, archiveId: string): Promise<ArchiveRecord> {
    // A live archive is answered from memory, with no await before the stop: its clock stops now.
    const record = this.#liveRecord(project, archiveId) ?? (await this.get(project, archiveId));
    const archive = this.#live.get(record.id);
    if (!archive || archive.stopping || (record.status !== 'started' && record.status !== 'paused')) {
      throw conflict('Archive is not in started state', 409);
    }
    if (record.autoArchive) throw conflict('Archives of sessions with archiveMode "always" stop by themselves and cannot be stopped by a call', 409);
    await this.#stop(archive, REASON.userInitiated);
    return archive.unsaved ? archive.record : (await this.store.get(record.id))!;
  }

  /** A project's archive; 404 for unknown ids and other projects' archives. */
  async get(project: Project, archiveId: string): Promise<ArchiveRecord> {
    const live = this.#liveRecord(project, archiveId);
    if (live) return live;
    const id = archiveId.toLowerCase();
    const record = UUID.test(id) ? await this.store.get(id) : null;
    if (!record || record.projectId !== project.id) throw notFound('Archive not found', 404);
    return record;
  }

  /**
   * A project's archive recording here, as it is now (its writes are queued behind it): its status
   * and recorded time are current in memory before they are in the database.
   */
  #liveRecord(project: Project, archiveId: string): ArchiveRecord | null {
    const archive = this.#live.get(archiveId.toLowerCase());
    if (!archive || archive.record.projectId !== project.id) return null;
    const record = archive.record;
    return record.status === 'started' ? { ...record, recordedMs: Math.round(archive.clock()) } : record;
  }

  /** A project's archives, newest first; `count` is how many match in all. For REST and the dashboard. */
  list(projectId: string, options: { offset?: number; count?: number; sessionId?: string } = {}): Promise<{ count: number; items: ArchiveRecord[] }> {
    return this.store.list(projectId, options);
  }

  /** Streams being recorded by a live archive ([] otherwise). */
  liveStreams(archiveId: string): Array<{ streamId: string; hasAudio: boolean; hasVideo: boolean }> {
    return this.#live.get(archiveId)?.streams() ?? [];
  }

  /** Deletes an archive's file (409 while it is recording or being produced). */
  async deleteArchive(project: Project, archiveId: string): Promise<void> {
    const record = await this.get(project, archiveId);
    if (!['available', 'uploaded', 'failed', 'expired'].includes(record.status)) {
      throw conflict(`Archive cannot be deleted while it is ${record.status === 'deleted' ? 'already deleted' : record.status}`, 409);
    }
    // An uploaded archive's object stays in the project's bucket: the bucket is the customer's.
    await this.uploads.cancel(record.id);
    await rm(this.#dir(record.id), { recursive: true, force: true });
    await this.store.update(record.id, { status: 'deleted', fileName: null });
    this.#log.info({ archiveId: record.id }, 'archive deleted');
  }

  /**
   * Before a project is deleted (dashboard): its recordings stop without being produced, queued or
   * running productions of its archives are cancelled, and every archive folder of the project is
   * removed. The rows go with the project (ON DELETE CASCADE). Returns how many archives it had.
   */
  async deleteProjectArchives(projectId: string): Promise<number> {
    const ids = new Set((await this.store.list(projectId, { count: Number.MAX_SAFE_INTEGER })).items.map((r) => r.id));
    const stopping: Array<Promise<void>> = [];
    for (const archive of [...this.#live.values()]) {
      if (!ids.has(archive.id)) continue;
      // Out of the live set first, so that no path (limits, empty session, a fatal error) produces it.
      this.#live.delete(archive.id);
      this.#idleSince.delete(archive.id);
      const wasStopping = archive.stopping;
      stopping.push(archive.stop(REASON.projectDeleted).catch(() => {}));
      if (!wasStopping) this.#broadcast(archive.sessionId, 'archiveStopped', archive.record);
    }
    await Promise.all(stopping);
    for (let i = this.#queue.length - 1; i >= 0; i--) if (ids.has(this.#queue[i]!)) this.#queue.splice(i, 1);
    const productions = [...this.#producing].filter(([id]) => ids.has(id)).map(([, p]) => p);
    for (const p of productions) p.cancel();
    await Promise.all(productions.map((p) => p.promise.catch(() => {})));
    await Promise.all([...ids].map((id) => this.uploads.cancel(id)));
    await Promise.all([...ids].map((id) => rm(this.#dir(id), { recursive: true, force: true })));
    if (ids.size > 0) this.#log.info({ projectId, archives: ids.size }, 'archives of a deleted project removed');
    return ids.size;
  }

  /** Changes the layout of a composed archive while it records. */
  async setLayout(project: Project, archiveId: string, layout: ArchiveLayout): Promise<void> {
    const record = await this.get(project, archiveId);
    if (record.outputMode !== 'composed') throw invalid('Layouts apply to composed archives only');
    const archive = this.#live.get(record.id);
    if (!archive || archive.stopping) throw conflict('Archive is not in started state', 409);
    await archive.setLayout(layout);
  }

  /** Manual stream mode: adds a stream (or changes its audio/video choice). */
  async addStream(project: Project, archiveId: string, streamId: string, hasAudio: boolean, hasVideo: boolean): Promise<void> {
    const archive = await this.#liveForStreamChange(project, archiveId);
    if (!this.#media.listStreams(archive.sessionId).some((s) => s.streamId === streamId)) throw notFound('Stream not found', 404);
    archive.select(streamId, hasAudio, hasVideo);
    archive.sync(this.#media.listStreams(archive.sessionId));
  }

  /** Manual stream mode: removes a stream. */
  async removeStream(project: Project, archiveId: string, streamId: string): Promise<void> {
    const archive = await this.#liveForStreamChange(project, archiveId);
    if (!archive.unselect(streamId)) throw notFound('Stream not found in this archive', 404);
    archive.sync(this.#media.listStreams(archive.sessionId));
  }

  async #liveForStreamChange(project: Project, archiveId: string): Promise<Archive> {
    const record = await this.get(project, archiveId);
    if (record.streamMode !== 'manual') throw new ColloquyError('not-allowed', 'Unsupported Stream Mode: streams can only be added to or removed from archives with streamMode "manual"', 405);
    const archive = this.#live.get(record.id);
    if (!archive || archive.stopping) throw conflict('Archive is not in started state', 409);
    return archive;
  }

  /** Where an available archive's file is, for the download route; null when it is not downloadable. */
  async download(archiveId: string, fileName: string): Promise<DownloadTarget | null> {
    const record = UUID.test(archiveId) ? await this.store.get(archiveId) : null;
    if (!record || record.status !== 'available' || record.fileName !== fileName) return null;
    const path = join(this.#dir(record.id), fileName);
    if (!existsSync(path)) return null;
    return { path, size: record.size, contentType: archiveContentType(fileName), downloadName: archiveDownloadName(record, fileName) };
  }

  /**
   * The signed link of an available or uploaded archive (null otherwise). An uploaded archive's link
   * is the same route, which redirects to a presigned link to the object in the project's bucket.
   */
  urlOf(record: ArchiveRecord, baseUrl: string): string | null {
    return (record.status === 'available' || record.status === 'uploaded') && record.fileName ? this.links.url(baseUrl, record.id, record.fileName) : null;
  }

  /** Resolves once the archive is available or failed (tests, tools). */
  whenSettled(archiveId: string): Promise<ArchiveRecord> {
    // The waiter is registered before the read, so a settle between the two is not missed.
    return new Promise((resolve, reject) => {
      const list = this.#waiters.get(archiveId) ?? [];
      list.push(resolve);
      this.#waiters.set(archiveId, list);
      const forget = (): void => {
        const left = (this.#waiters.get(archiveId) ?? []).filter((w) => w !== resolve);
        if (left.length > 0) this.#waiters.set(archiveId, left);
        else this.#waiters.delete(archiveId);
      };
      this.store.get(archiveId).then(
        (record) => {
          if (!record) {
            forget();
            reject(new Error(`no archive ${archiveId}`));
          } else if (['available', 'uploaded', 'failed', 'deleted', 'expired'].includes(record.status)) {
            forget();
            resolve(record);
          }
        },
        (err: unknown) => {
          forget();
          reject(err as Error);
        },
      );
    });
  }

  /**
   * Archives recording a session right now, as OpenTok.js's `archiveStarted` event describes them:
   * the wiring sends these to a client that joins while the session is being recorded.
   */
  activeArchives(sessionId: string): Array<{ id: string; name: string }> {
    return [...this.#live.values()].filter((a) => a.sessionId === sessionId && !a.stopping).map((a) => ({ id: a.id, name: a.record.name ?? '' }));
  }

  /** Live archive objects (Inspector, tests). */
  liveArchives(): Archive[] {
    return [...this.#live.values()];
  }

  // ---- Lifecycle ---------------------------------------------------------------------------

  async #begin(
    projectId: string,
    session: SessionRecord,
    settings: Pick<
      ArchiveRecord,
      'name' | 'outputMode' | 'streamMode' | 'hasAudio' | 'hasVideo' | 'resolution' | 'layout' | 'multiArchiveTag' | 'maxBitrate' | 'quantizationParameter' | 'autoArchive'
    >,
  ): Promise<ArchiveRecord> {
    this.#checkCapacity(projectId, session.id);
    const now = Date.now();
    const record: ArchiveRecord = {
      id: randomUUID(),
      projectId,
      sessionId: session.id,
      status: 'started',
      reason: '',
      createdAt: now,
      updatedAt: now,
      recordedMs: 0,
      duration: 0,
      size: 0,
      fileName: null,
      sha256: null,
      ...settings,
    };
    try {
      await this.store.insert(record);
    } catch (err) {
      if (err instanceof ArchiveConflictError) throw conflict('Recording already in progress or session not using OpenTok Media Router', 409);
      throw err;
    }
    let archive: Archive;
    try {
      if (record.layout) await this.store.addEvent(record.id, { atMs: 0, kind: 'layout', layout: record.layout });
      archive = new Archive(record, {
        store: this.store,
        media: this.#media,
        logger: this.#log,
        dir: this.#dir(record.id),
        onActivityChange: (a) => this.#onActivityChange(a),
        onFatal: (a, err) => void this.#stop(a, isDiskFull(err) ? REASON.diskFull : `recording failed: ${err.message}`),
      });
    } catch (err) {
      // Never leave a row "started" that nothing records (it would block the session's next archive).
      try {
        await this.store.update(record.id, { status: 'failed', reason: `could not start: ${(err as Error).message}`.slice(0, 1000) });
      } catch (inner) {
        this.#log.warn({ err: inner, archiveId: record.id }, 'cannot mark the archive failed; recovery at the next start will');
      }
      throw err;
    }
    this.#live.set(record.id, archive);
    this.#idleSince.set(record.id, performance.now());
    this.#log.info(
      { archiveId: record.id, sessionId: session.id, outputMode: record.outputMode, streamMode: record.streamMode, resolution: record.resolution, auto: record.autoArchive },
      'archive started',
    );
    archive.sync(this.#media.listStreams(session.id));
    this.#broadcast(record.sessionId, 'archiveStarted', record);
    // The caller answers with the archive as it started (opentok-node requires status "started").
    return { ...archive.record, status: 'started' };
  }

  /**
   * Stops an archive and queues its production. Never rejects: it runs from timers and events
   * (`void this.#stop(...)`), where a rejection would be unhandled. A final status the disk could
   * not take is saved later (#retryPending), then the archive is produced.
   */
  async #stop(archive: Archive, reason: string): Promise<void> {
    if (archive.stopping) return archive.stop(reason);
    const stopped = archive.stop(reason);
    this.#idleSince.delete(archive.id);
    this.#broadcast(archive.sessionId, 'archiveStopped', archive.record);
    await stopped;
    this.#live.delete(archive.id);
    if (archive.unsaved) this.#retries.set(archive.id, { at: performance.now() + RETRY_MS, step: 'save', archive });
    else this.#enqueue(archive.id);
  }

  /**
   * Refuses an archive the server cannot take now: too little free disk space (503), or the
   * session's or project's limit of simultaneous archives reached (409, as OpenTok refuses a start
   * it cannot serve).
   */
  #checkCapacity(projectId: string, sessionId: string): void {
    if (this.settings.minFreeMb > 0) {
      const freeMb = this.#freeMb();
      if (freeMb !== null && freeMb < this.settings.minFreeMb) {
        throw new ColloquyError(
          'unavailable',
          `Cannot start the archive: the server has ${Math.floor(freeMb)} MB of free disk space, less than the ${this.settings.minFreeMb} MB an archive needs to start`,
          503,
        );
      }
    }
    const live = [...this.#live.values()].filter((a) => !a.stopping);
    if (live.filter((a) => a.sessionId === sessionId).length >= this.settings.maxPerSession) {
      throw conflict(`Too many archives recording this session: at most ${this.settings.maxPerSession} at once (each needs its own multiArchiveTag)`, 409);
    }
    if (live.filter((a) => a.record.projectId === projectId).length >= this.settings.maxPerProject) {
      throw conflict(`Too many archives recording in this project: at most ${this.settings.maxPerProject} at once`, 409);
    }
  }

  /** Free space for archives (the data folder's file system), MB; null when it cannot be read. */
  #freeMb(): number | null {
    try {
      mkdirSync(this.archivesDir, { recursive: true });
      const fs = statfsSync(this.archivesDir);
      return (fs.bavail * fs.bsize) / 1048576;
    } catch (err) {
      this.#log.warn({ err }, 'cannot read the free disk space');
      return null;
    }
  }

  /** Every tick: steps a full disk interrupted, once their time has come. */
  #retryPending(now: number): void {
    for (const [id, retry] of [...this.#retries]) {
      if (retry.at > now) continue;
      this.#retries.delete(id);
      if (retry.step === 'save') {
        void retry.archive!.saveFinalState().then((saved) => {
          if (saved) this.#enqueue(id);
          else if (!this.#closing) this.#retries.set(id, { ...retry, at: performance.now() + RETRY_MS });
        });
      } else {
        this.#enqueue(id);
      }
    }
  }

  #onActivityChange(archive: Archive): void {
    if (archive.recording) this.#idleSince.delete(archive.id);
    else if (!this.#idleSince.has(archive.id)) this.#idleSince.set(archive.id, performance.now());
  }

  #syncSession(sessionId: string): void {
    const archives = [...this.#live.values()].filter((a) => a.sessionId === sessionId && !a.stopping);
    if (archives.length === 0) return;
    const streams = this.#media.listStreams(sessionId);
    for (const archive of archives) {
      archive.sync(streams);
      this.#onActivityChange(archive);
    }
  }

  #onConnectionCount(sessionId: string, count: number): void {
    if (this.#closing) return;
    if (count > 0) {
      clearTimeout(this.#emptySessionTimers.get(sessionId));
      this.#emptySessionTimers.delete(sessionId);
      void this.#store.sessions.get(sessionId).then(
        async (session) => {
          if (this.#closing || session?.archiveMode !== 'always' || session.mediaMode !== 'routed') return;
          await this.#startAuto(session);
        },
        (err: unknown) => this.#log.error({ err, sessionId }, 'could not read the session to start its automatic archive'),
      );
      return;
    }
    if (this.#emptySessionTimers.has(sessionId)) return;
    const timer = setTimeout(() => {
      this.#emptySessionTimers.delete(sessionId);
      if (this.#sessions.connectionCount(sessionId) > 0) return;
      for (const archive of [...this.#live.values()]) if (archive.sessionId === sessionId) void this.#stop(archive, REASON.sessionEnded);
    }, this.settings.autoStopDelayMs);
    timer.unref();
    this.#emptySessionTimers.set(sessionId, timer);
  }

  /** Starts a session's automatic archive unless one records it already. Never rejects (it runs from events). */
  async #startAuto(session: SessionRecord): Promise<void> {
    try {
      if (await this.store.recording(session.id, null)) return;
      await this.#begin(session.projectId, session, {
        name: session.archiveName,
        outputMode: 'composed',
        streamMode: 'auto',
        hasAudio: true,
        hasVideo: true,
        resolution: session.archiveResolution ?? '640x480',
        layout: DEFAULT_LAYOUT,
        multiArchiveTag: null,
        maxBitrate: null,
        quantizationParameter: null,
        autoArchive: true,
      });
    } catch (err) {
      // Out of space or over a limit: the next connection change tries again.
      if (err instanceof ColloquyError) this.#log.warn({ sessionId: session.id, reason: err.message }, 'cannot start the automatic archive');
      else this.#log.error({ err, sessionId: session.id }, 'cannot start the automatic archive');
    }
  }

  /** Every second: maximum duration (with rollover for automatic archives) and publisher timeouts. */
  #enforceLimits(): void {
    // A timer callback: nothing may escape it (an exception here would end the process).
    try {
      this.#enforceLimitsNow();
    } catch (err) {
      this.#log.error({ err }, 'archive limits check failed');
    }
  }

  #enforceLimitsNow(): void {
    const now = performance.now();
    this.#retryPending(now);
    for (const archive of [...this.#live.values()]) {
      if (archive.stopping) continue;
      if (archive.clock() >= this.settings.maxDurationMs) {
        const rollOver = archive.record.autoArchive;
        void this.#stop(archive, REASON.maxDuration);
        // The stopped archive frees the session's slot at once: the next one starts when the session is read.
        if (rollOver) {
          void archive
            .written()
            .then(() => this.#store.sessions.get(archive.sessionId))
            .then(
            async (session) => {
              if (!this.#closing && session && this.#sessions.connectionCount(session.id) > 0) await this.#startAuto(session);
            },
            (err: unknown) => this.#log.error({ err, sessionId: archive.sessionId }, 'could not read the session to roll its archive over'),
          );
        }
        continue;
      }
      const idleSince = this.#idleSince.get(archive.id);
      if (idleSince === undefined) continue;
      const limit = archive.record.status === 'paused' ? this.settings.noPublisherTimeoutMs : this.settings.initialPublishTimeoutMs;
      if (now - idleSince >= limit) void this.#stop(archive, REASON.noPublishers);
    }
  }

  #broadcast(sessionId: string, type: 'archiveStarted' | 'archiveStopped', record: ArchiveRecord): void {
    try {
      this.#sessions.broadcast(sessionId, { type, id: record.id, name: record.name ?? '' });
    } catch (err) {
      this.#log.warn({ err, sessionId, type }, 'cannot tell clients about the archive');
    }
  }

  // ---- Producing the MP4 / ZIP -------------------------------------------------------------

  #enqueue(archiveId: string): void {
    if (this.#queue.includes(archiveId) || this.#producing.has(archiveId)) return;
    this.#queue.push(archiveId);
    this.#pump();
  }

  #pump(): void {
    while (!this.#closing && this.#producing.size < this.settings.composeConcurrency && this.#queue.length > 0) {
      const id = this.#queue.shift()!;
      const job: { cancelled: boolean; run: OutputRun | null } = { cancelled: false, run: null };
      const promise = this.#produce(id, job)
        .catch((err: unknown) => {
          // Its status could not even be written (disk full): produce it again later.
          this.#log.warn({ err, archiveId: id }, 'archive production could not finish; retrying later');
          if (!this.#closing) this.#retries.set(id, { at: performance.now() + RETRY_MS, step: 'produce' });
        })
        .finally(() => {
          this.#producing.delete(id);
          this.#pump();
        });
      this.#producing.set(id, {
        promise,
        cancel: () => {
          job.cancelled = true;
          job.run?.cancel();
        },
      });
    }
  }

  async #produce(archiveId: string, job: { cancelled: boolean; run: OutputRun | null }): Promise<void> {
    const record = await this.store.get(archiveId);
    if (!record || record.status !== 'stopped') return;
    const dir = this.#dir(archiveId);
    const log = this.#log.child({ archiveId });
    const started = performance.now();
    const project = this.#store.projects.get(record.projectId);
    const partnerId = project?.kind === 'project' ? Number(project.id) : record.projectId;
    // A recording that could not finish (its disk was full) is finalized from what reached the disk.
    if ((await this.store.files(archiveId)).some((f) => f.state !== 'complete')) await this.#repairFiles(archiveId, log);
    const files = await this.store.files(archiveId);
    const events = await this.store.events(archiveId);
    // A previous attempt (before a crash) may have left its output.
    for (const name of ['archive.mp4', 'archive.mp4.part', 'archive.zip']) await rm(join(dir, name), { force: true });
    if (job.cancelled) return;
    const run = produceOutput({ record, files, events, dir, partnerId, logger: log, preset: this.settings.x264Preset });
    job.run = run;
    try {
      const result = await run.done;
      const updated = await this.store.update(archiveId, { status: 'available', fileName: result.fileName, size: result.size, sha256: result.sha256 });
      log.info({ file: result.fileName, bytes: result.size, seconds: updated.duration, ms: Math.round(performance.now() - started) }, 'archive available');
      this.#settle(updated);
    } catch (err) {
      if (job.cancelled || (err instanceof FfmpegError && err.cancelled)) {
        log.info('archive production interrupted; it resumes at the next start');
        return;
      }
      const nothing = err instanceof NothingRecordedError;
      const reason = nothing ? err.message : `${record.outputMode === 'composed' ? 'composition' : 'packaging'} failed: ${(err as Error).message}`;
      // Nothing to keep when nothing was recorded; after a failed composition the recordings stay
      // in streams/ for the operator (deleting the archive removes them).
      if (nothing) await rm(dir, { recursive: true, force: true });
      log[nothing ? 'warn' : 'error']({ err }, 'archive failed');
      this.#settle(await this.store.update(archiveId, { status: 'failed', reason: reason.slice(0, 1000) }));
    }
  }

  #settle(record: ArchiveRecord): void {
    const waiters = this.#waiters.get(record.id);
    this.#waiters.delete(record.id);
    for (const resolve of waiters ?? []) resolve(record);
  }

  // ---- Recovery and retention --------------------------------------------------------------

  /**
   * After a restart: archives still recording are finalized from their files (a torn last cluster
   * is cut), stopped ones are produced again, available ones whose file vanished are failed, and
   * folders no archive owns are removed.
   */
  async #recover(): Promise<void> {
    const mine = (id: string): boolean => !this.#shared || existsSync(this.#dir(id));
    for (const record of await this.store.withStatus('started', 'paused', 'stopped')) {
      if (!mine(record.id)) continue;
      const log = this.#log.child({ archiveId: record.id });
      const lastStop = await this.#repairFiles(record.id, log);
      if (record.status === 'stopped') continue;
      const recordedMs = Math.max(record.recordedMs, lastStop);
      await this.store.update(record.id, { status: 'stopped', reason: REASON.restarted, recordedMs, duration: Math.round(recordedMs / 1000) });
      log.warn({ seconds: Math.round(recordedMs / 1000) }, 'archive was recording when the server stopped: finalized');
    }
    for (const record of await this.store.withStatus('stopped')) if (mine(record.id)) this.#enqueue(record.id);
    for (const record of await this.store.withStatus('available')) {
      if (mine(record.id) && (!record.fileName || !existsSync(join(this.#dir(record.id), record.fileName)))) {
        await this.store.update(record.id, { status: 'failed', reason: 'the archive file is missing from the data folder' });
      }
    }
    if (existsSync(this.archivesDir)) {
      const known = await this.store.allIds();
      for (const entry of readdirSync(this.archivesDir)) {
        if (!known.has(entry)) {
          await rm(join(this.archivesDir, entry), { recursive: true, force: true });
          this.#log.warn({ folder: entry }, 'removed an archive folder no archive owns');
        }
      }
    }
  }

  /**
   * Finalizes the recordings of an archive that did not finish cleanly (a crash, a full disk): a
   * torn last cluster is cut, a file with nothing usable is dropped. Returns where the last
   * recording ends (ms of archive time).
   */
  async #repairFiles(archiveId: string, log: Logger): Promise<number> {
    let lastStop = 0;
    for (const file of await this.store.files(archiveId)) {
      if (file.state === 'complete') {
        lastStop = Math.max(lastStop, file.stopOffsetMs ?? 0);
        continue;
      }
      const path = join(this.#dir(archiveId), 'streams', file.fileName);
      const repaired = file.startOffsetMs !== null && existsSync(path) ? await repairMatroska(path).catch(() => null) : null;
      if (!repaired) {
        await rm(path, { force: true });
        await this.store.deleteFile(archiveId, file.fileName);
        log.warn({ fileName: file.fileName }, 'recording had nothing recoverable');
        continue;
      }
      const stopOffsetMs = file.startOffsetMs! + repaired.durationMs;
      await this.store.completeFile(archiveId, file.fileName, { startOffsetMs: file.startOffsetMs!, stopOffsetMs, size: repaired.size, hasAudio: repaired.hasAudio, hasVideo: repaired.hasVideo });
      lastStop = Math.max(lastStop, stopOffsetMs);
      log.info({ fileName: file.fileName, seconds: repaired.durationMs / 1000, tornBytes: repaired.tornBytes }, 'recording repaired');
    }
    return lastStop;
  }

  /** Expires available archives older than the retention (their files are deleted). */
  async pruneExpired(nowMs = Date.now()): Promise<number> {
    if (this.settings.retentionDays <= 0) return 0;
    const cutoff = nowMs - this.settings.retentionDays * 86_400_000;
    let expired = 0;
    for (const record of await this.store.withStatus('available', 'failed')) {
      if (record.createdAt >= cutoff) continue;
      await rm(this.#dir(record.id), { recursive: true, force: true });
      await this.store.update(record.id, { status: record.status === 'available' ? 'expired' : record.status, fileName: null });
      expired++;
    }
    if (expired > 0) this.#log.info({ expired, retentionDays: this.settings.retentionDays }, 'archives expired');
    return expired;
  }

  #dir(archiveId: string): string {
    return join(this.archivesDir, archiveId);
  }

  #ensureOpen(): void {
    if (this.#closing) throw conflict('The server is shutting down', 409);
  }

  /**
   * Stops every recording (files finalized; the archives are produced at the next start),
   * interrupts productions, clears timers. Idempotent.
   */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#closing = true;
      this.#unwatch();
      this.#tick?.cancel();
      clearInterval(this.#retention);
      for (const timer of this.#emptySessionTimers.values()) clearTimeout(timer);
      this.#emptySessionTimers.clear();
      this.#queue.length = 0;
      this.#retries.clear();
      for (const production of this.#producing.values()) production.cancel();
      await Promise.all([...this.#live.values()].map((a) => this.#stop(a, REASON.shutdown).catch(() => {})));
      await Promise.all([...this.#producing.values()].map((p) => p.promise.catch(() => {})));
      await this.uploads.close();
    })();
    return this.#closed;
  }
}
