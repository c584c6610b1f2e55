// BroadcastManager: every live streaming broadcast of the server. It starts and stops them (REST),
// keeps each one's composition in step with its session (streams joining and leaving, layout
// changes, manual stream choice), runs its outputs (HLS on our disk, up to five RTMP targets),
// enforces OpenTok's limits (maxDuration; 60 s after the last client left), serves the HLS files
// while they exist and removes them some time after the broadcast ended.

import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ColloquyError, conflict, invalid, notFound } from '../errors.js';
import { requireClearMedia } from '../sessions/e2ee.js';
import type { Logger } from '../logger.js';
import type { ArchiveMediaSource, ArchiveSessionState } from '../archiving/interfaces.js';
import { OFFLINE_MEDIA, OFFLINE_SESSIONS } from '../archiving/interfaces.js';
import { DEFAULT_LAYOUT, parseResolution, type ArchiveLayout } from '../archiving/layout.js';
import type { Project, SessionRecord } from '../store/index.js';
import type { SqlDatabase } from '../store/sql.js';
import { BroadcastConflictError, BroadcastStore, type BroadcastRecord, type RtmpTarget } from './broadcast-store.js';
import { LiveComposer, type ComposedStream } from './live-composer.js';
import { CopyOutput, gopSeconds, hlsOutputArgs, rtmpOutputArgs } from './outputs.js';
import { every, type ClockTask } from '../ops/thread-clock.js';

export interface BroadcastSettings {
  /** How long HLS files stay after a broadcast stopped (players finishing, DVR viewers), ms. */
  hlsRetentionMs: number;
  /** After the last client leaves: stop the session's broadcasts after this long (OpenTok: 60 s). */
  autoStopDelayMs: number;
  /** Broadcasts live at once on this server (each runs an encoder). */
  maxLive: number;
  x264Preset: string;
}

export const DEFAULT_BROADCAST_SETTINGS: BroadcastSettings = {
  hlsRetentionMs: 10 * 60_000,
  autoStopDelayMs: 60_000,
  maxLive: 10,
  x264Preset: 'veryfast',
};

export const BROADCAST_RESOLUTIONS = ['640x480', '480x640', '1280x720', '720x1280', '1920x1080', '1080x1920'] as const;
export const MAX_RTMP_TARGETS = 5;

export interface StartBroadcastOptions {
  hls: { dvr: boolean; lowLatency: boolean } | null;
  rtmp: Array<{ id: string; serverUrl: string; streamName: string }>;
  maxDuration?: number;
  maxBitrate?: number | null;
  resolution?: string;
  layout?: ArchiveLayout | null;
  streamMode?: 'auto' | 'manual';
  multiBroadcastTag?: string | null;
  hasAudio?: boolean;
  hasVideo?: boolean;
}

export const REASON = {
  userInitiated: 'user initiated',
  maxDuration: 'maximum duration exceeded',
  sessionEnded: 'session ended',
  shutdown: 'server shutdown',
  restarted: 'server restarted while broadcasting',
  projectDeleted: 'project deleted',
} as const;

/** Default video bitrate by picture size, when the start call gives no maxBitrate. */
function defaultBitrate(width: number, height: number): number {
  const pixels = width * height;
  if (pixels <= 640 * 480) return 1_000_000;
  if (pixels <= 1280 * 720) return 2_500_000;
  return 4_500_000;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const TICK_MS = 500;

interface LiveBroadcast {
  record: BroadcastRecord;
  composer: LiveComposer;
  hls: CopyOutput | null;
  rtmp: CopyOutput[];
  /** Bytes of TS produced so far (outputs restart on packet boundaries). */
  tsBytes: number;
  startedAt: number;
  /** When each stream joined the broadcast (layout tie-break). */
  addedAt: Map<string, number>;
  stopping: Promise<BroadcastRecord> | null;
}

export interface BroadcastManagerOptions {
  db: SqlDatabase;
  dataDir: string;
  logger: Logger;
  media?: ArchiveMediaSource;
  sessions?: ArchiveSessionState;
  settings?: Partial<BroadcastSettings>;
}

export class BroadcastManager {
  readonly store: BroadcastStore;
  readonly settings: BroadcastSettings;
  readonly dir: string;
  readonly #log: Logger;
  readonly #media: ArchiveMediaSource;
  readonly #sessions: ArchiveSessionState;
  readonly #live = new Map<string, LiveBroadcast>();
  readonly #emptySessionTimers = new Map<string, NodeJS.Timeout>();
  /** HLS folders to remove, with when. */
  readonly #cleanups = new Map<string, number>();
  #unwatch: () => void = () => {};
  #tick: ClockTask | undefined;
  #closing = false;

  constructor(options: BroadcastManagerOptions) {
    this.store = new BroadcastStore(options.db);
    this.settings = { ...DEFAULT_BROADCAST_SETTINGS, ...options.settings };
    this.#log = options.logger.child({ module: 'broadcast' });
    this.#media = options.media ?? OFFLINE_MEDIA;
    this.#sessions = options.sessions ?? OFFLINE_SESSIONS;
    this.dir = join(options.dataDir, 'broadcasts');
  }

  /** Marks what a previous run left live as stopped, schedules old HLS folders' removal, starts watching. */
  async start(): Promise<void> {
    for (const record of await this.store.allLive()) {
      record.status = 'stopped';
      record.reason = REASON.restarted;
      for (const t of record.rtmp) t.status = 'offline';
      if (record.hls) record.hls.status = 'ended';
      await this.store.save(record, true);
    }
    if (existsSync(this.dir)) {
      for (const id of readdirSync(this.dir)) {
        const record = UUID.test(id) ? await this.store.get(id) : null;
        this.#cleanups.set(id, record ? record.updatedAt + this.settings.hlsRetentionMs : 0);
      }
    }
    this.#unwatch = this.#sessions.watch({
      connectionCountChanged: (sessionId, count) => this.#onConnectionCount(sessionId, count),
      streamAdded: (sessionId) => this.#syncSession(sessionId),
      streamRemoved: (sessionId) => this.#syncSession(sessionId),
      streamUpdated: (sessionId) => this.#syncSession(sessionId),
    });
    this.#tick = every(TICK_MS, () => this.#onTick());
  }

  // ---- REST-facing calls -------------------------------------------------------------------

  async startBroadcast(project: Project, session: SessionRecord, options: StartBroadcastOptions): Promise<BroadcastRecord> {
    if (this.#closing) throw new ColloquyError('unavailable', 'The server is shutting down', 503);
    if (session.mediaMode !== 'routed') throw conflict('Live streaming broadcasts need a routed session (mediaMode "routed")', 409);
    requireClearMedia(session, 'Live streaming broadcasts');
    if (!options.hls && options.rtmp.length === 0) throw invalid('outputs must have hls, rtmp, or both');
    if (options.rtmp.length > MAX_RTMP_TARGETS) throw invalid(`outputs.rtmp can have at most ${MAX_RTMP_TARGETS} targets`);
    if (options.hls?.dvr && options.hls.lowLatency) throw invalid('hls.dvr and hls.lowLatency cannot both be true');
    const resolution = options.resolution ?? '640x480';
    if (!(BROADCAST_RESOLUTIONS as readonly string[]).includes(resolution)) throw invalid(`Invalid resolution: must be one of ${BROADCAST_RESOLUTIONS.join(', ')}`);
    const hasAudio = options.hasAudio ?? true;
    const hasVideo = options.hasVideo ?? true;
    if (!hasAudio && !hasVideo) throw invalid('hasAudio and hasVideo cannot both be false');
    if (this.#sessions.connectionCount(session.id) === 0) throw conflict('No clients are actively connected to the OpenTok session', 409);
    const tag = options.multiBroadcastTag ?? null;
    if (await this.store.live(session.id, tag)) throw conflict('The broadcast has already started for the session', 409);
    if (this.#live.size >= this.settings.maxLive) throw new ColloquyError('unavailable', `This server runs at most ${this.settings.maxLive} broadcasts at once`, 503);

    const now = Date.now();
    const record: BroadcastRecord = {
      id: randomUUID(),
      projectId: project.id,
      sessionId: session.id,
      status: 'started',
      reason: '',
      createdAt: now,
      updatedAt: now,
      resolution,
      streamMode: options.streamMode ?? 'auto',
      hasAudio,
      hasVideo,
      maxDuration: options.maxDuration ?? 14_400,
      maxBitrate: options.maxBitrate ?? null,
      multiBroadcastTag: tag,
      layout: options.layout ?? DEFAULT_LAYOUT,
      hls: options.hls ? { ...options.hls, status: 'connecting' } : null,
      rtmp: options.rtmp.map((t) => ({ ...t, status: 'connecting' as const })),
      selected: [],
    };
    try {
      await this.store.insert(record);
    } catch (err) {
      if (err instanceof BroadcastConflictError) throw conflict('The broadcast has already started for the session', 409);
      throw err;
    }
    try {
      this.#run(record);
    } catch (err) {
      record.status = 'stopped';
      record.reason = `could not start: ${(err as Error).message}`.slice(0, 500);
      await this.store.save(record, true);
      throw err;
    }
    return record;
  }

  async stopBroadcast(project: Project, broadcastId: string): Promise<BroadcastRecord> {
    const record = await this.get(project, broadcastId);
    const live = this.#live.get(record.id);
    if (!live || live.stopping) throw conflict('Broadcast is not in started state', 409);
    return this.#stop(live, REASON.userInitiated);
  }

  /** A project's broadcast; 404 for unknown ids and other projects' broadcasts. */
  async get(project: Project, broadcastId: string): Promise<BroadcastRecord> {
    const id = broadcastId.toLowerCase();
    const record = UUID.test(id) ? (this.#live.get(id)?.record ?? (await this.store.get(id))) : null;
    if (!record || record.projectId !== project.id) throw notFound('Broadcast not found', 404);
    return record;
  }

  async list(projectId: string, options: { offset?: number; count?: number; sessionId?: string } = {}): Promise<{ count: number; items: BroadcastRecord[] }> {
    const { count, items } = await this.store.list(projectId, options);
    return { count, items: items.map((r) => this.#live.get(r.id)?.record ?? r) };
  }

  /** Streams composed by a live broadcast ([] otherwise). */
  liveStreams(broadcastId: string): Array<{ streamId: string; hasAudio: boolean; hasVideo: boolean }> {
    const live = this.#live.get(broadcastId);
    return live && !live.stopping ? live.composer.streams() : [];
  }

  async setLayout(project: Project, broadcastId: string, layout: ArchiveLayout): Promise<BroadcastRecord> {
    const live = await this.#requireLive(project, broadcastId);
    live.record.layout = layout;
    await this.store.save(live.record, false);
    live.composer.setLayout(layout);
    this.#log.info({ broadcastId: live.record.id, layout: layout.type }, 'broadcast layout changed');
    return live.record;
  }

  async addStream(project: Project, broadcastId: string, streamId: string, hasAudio: boolean, hasVideo: boolean): Promise<void> {
    const live = await this.#requireManual(project, broadcastId);
    if (!this.#media.listStreams(live.record.sessionId).some((s) => s.streamId === streamId)) throw notFound('Stream not found', 404);
    const selected = live.record.selected.filter((s) => s.streamId !== streamId);
    selected.push({ streamId, hasAudio, hasVideo });
    live.record.selected = selected;
    this.#sync(live);
    await this.store.save(live.record, false);
  }

  async removeStream(project: Project, broadcastId: string, streamId: string): Promise<void> {
    const live = await this.#requireManual(project, broadcastId);
    if (!live.record.selected.some((s) => s.streamId === streamId)) throw notFound('Stream not found in this broadcast', 404);
    live.record.selected = live.record.selected.filter((s) => s.streamId !== streamId);
    this.#sync(live);
    await this.store.save(live.record, false);
  }

  /** The path of an HLS file of a broadcast (playlist or segment), or null (404). */
  hlsFile(broadcastId: string, fileName: string): string | null {
    if (!UUID.test(broadcastId) || !/^(index\.m3u8|segment-\d{1,20}\.ts)$/.test(fileName)) return null;
    const path = join(this.dir, broadcastId, fileName);
    return existsSync(path) ? path : null;
  }

  /** Stops every live broadcast of a project (before the project is deleted) and removes their files. */
  async deleteProjectBroadcasts(projectId: string): Promise<void> {
    const live = [...this.#live.values()].filter((l) => l.record.projectId === projectId);
    await Promise.all(live.map((l) => this.#stop(l, REASON.projectDeleted).catch(() => undefined)));
    for (const l of live) await rm(join(this.dir, l.record.id), { recursive: true, force: true });
  }

  /** Live composer figures (Inspector, tests, benchmarks). */
  stats(broadcastId: string): Record<string, unknown> | null {
    return this.#live.get(broadcastId)?.composer.stats() ?? null;
  }

  /** Stops every live broadcast (server shutdown). */
  async close(): Promise<void> {
    this.#closing = true;
    this.#unwatch();
    this.#tick?.cancel();
    for (const t of this.#emptySessionTimers.values()) clearTimeout(t);
    await Promise.all([...this.#live.values()].map((l) => this.#stop(l, REASON.shutdown).catch(() => undefined)));
    await this.store.settled();
  }

  // ---- Running ------------------------------------------------------------------------------

  #run(record: BroadcastRecord): void {
    const { width, height } = parseResolution(record.resolution);
    const dir = join(this.dir, record.id);
    mkdirSync(dir, { recursive: true });
    const log = this.#log.child({ broadcastId: record.id });
    const outputs: CopyOutput[] = [];
    const live: LiveBroadcast = {
      record,
      composer: undefined as unknown as LiveComposer,
      hls: null,
      rtmp: [],
      tsBytes: 0,
      startedAt: performance.now(),
      addedAt: new Map(),
      stopping: null,
    };
    if (record.hls) {
      live.hls = new CopyOutput('hls muxer', hlsOutputArgs(dir, record.hls), log, (status) => {
        // The HLS muxer's own status; `live` is set once the playlist exists (see #onTick).
        if (record.hls && status === 'error') {
          record.hls.status = 'error';
          this.#saveIfLive(live, true);
        }
      });
      outputs.push(live.hls);
    }
    record.rtmp.forEach((target: RtmpTarget) => {
      const output = new CopyOutput(`rtmp ${target.id || target.serverUrl}`, rtmpOutputArgs(target.serverUrl, target.streamName), log, (status) => {
        if (target.status === status) return;
        target.status = status;
        log.info({ target: target.id, status }, 'rtmp target status');
        this.#saveIfLive(live, true);
      });
      live.rtmp.push(output);
      outputs.push(output);
    });
    live.composer = new LiveComposer(
      {
        width,
        height,
        hasAudio: record.hasAudio,
        hasVideo: record.hasVideo,
        videoBitrate: record.maxBitrate ?? defaultBitrate(width, height),
        gopSeconds: gopSeconds(record.hls),
        x264Preset: this.settings.x264Preset,
        media: this.#media,
        logger: log,
        onData: (chunk) => {
          for (const o of outputs) o.feed(chunk, live.tsBytes);
          live.tsBytes += chunk.length;
        },
        onFailure: (message) => {
          log.error({ message }, 'broadcast encoder failed');
          void this.#stop(live, `broadcast failed: ${message}`.slice(0, 500));
        },
      },
      record.layout,
    );
    this.#live.set(record.id, live);
    for (const o of outputs) o.start();
    live.composer.start();
    this.#sync(live);
    log.info({ sessionId: record.sessionId, resolution: record.resolution, hls: record.hls, rtmp: record.rtmp.length, streamMode: record.streamMode }, 'broadcast started');
  }

  /** Saves a live broadcast's record unless it is being stopped (the stop saves the final state). */
  #saveIfLive(live: LiveBroadcast, announce: boolean): void {
    if (live.stopping || live.record.status !== 'started') return;
    this.store.save(live.record, announce).catch((err: unknown) => this.#log.warn({ err, broadcastId: live.record.id }, 'cannot save broadcast status'));
  }

  #stop(live: LiveBroadcast, reason: string): Promise<BroadcastRecord> {
    live.stopping ??= (async () => {
      const { record } = live;
      await live.composer.stop();
      await Promise.all([live.hls, ...live.rtmp].map((o) => o?.stop()));
      this.#live.delete(record.id);
      record.status = 'stopped';
      record.reason = reason;
      for (const t of record.rtmp) t.status = 'offline';
      if (record.hls) record.hls.status = 'ended';
      await this.store.save(record, true);
      this.#cleanups.set(record.id, Date.now() + this.settings.hlsRetentionMs);
      this.#log.info({ broadcastId: record.id, reason }, 'broadcast stopped');
      return record;
    })();
    return live.stopping;
  }

  async #requireLive(project: Project, broadcastId: string): Promise<LiveBroadcast> {
    const record = await this.get(project, broadcastId);
    const live = this.#live.get(record.id);
    if (!live || live.stopping) throw conflict('Broadcast is not in started state', 409);
    return live;
  }

  async #requireManual(project: Project, broadcastId: string): Promise<LiveBroadcast> {
    const record = await this.get(project, broadcastId);
    if (record.streamMode !== 'manual') throw new ColloquyError('not-allowed', 'Unsupported Stream Mode: streams can only be added to or removed from broadcasts with streamMode "manual"', 405);
    return this.#requireLive(project, broadcastId);
  }

  /** Hands the composer the streams it should show: all of them (auto) or the chosen ones (manual). */
  #sync(live: LiveBroadcast): void {
    if (live.stopping) return;
    const streams = this.#media.listStreams(live.record.sessionId);
    const chosen = new Map(live.record.selected.map((s) => [s.streamId, s]));
    const composed: ComposedStream[] = [];
    for (const stream of streams) {
      const choice = live.record.streamMode === 'manual' ? chosen.get(stream.streamId) : { hasAudio: true, hasVideo: true };
      if (!choice) continue;
      if (!live.addedAt.has(stream.streamId)) live.addedAt.set(stream.streamId, Date.now());
      composed.push({ stream, hasAudio: choice.hasAudio && !!stream.audio, hasVideo: choice.hasVideo && !!stream.video, addedAt: live.addedAt.get(stream.streamId)! });
    }
    live.composer.setStreams(composed);
  }

  #syncSession(sessionId: string): void {
    for (const live of this.#live.values()) if (live.record.sessionId === sessionId) this.#sync(live);
  }

  #onConnectionCount(sessionId: string, count: number): void {
    if (this.#closing) return;
    if (count > 0) {
      clearTimeout(this.#emptySessionTimers.get(sessionId));
      this.#emptySessionTimers.delete(sessionId);
      return;
    }
    if (this.#emptySessionTimers.has(sessionId)) return;
    const timer = setTimeout(() => {
      this.#emptySessionTimers.delete(sessionId);
      if (this.#sessions.connectionCount(sessionId) > 0) return;
      for (const live of [...this.#live.values()]) if (live.record.sessionId === sessionId) void this.#stop(live, REASON.sessionEnded);
    }, this.settings.autoStopDelayMs);
    timer.unref();
    this.#emptySessionTimers.set(sessionId, timer);
  }

  #onTick(): void {
    const now = performance.now();
    for (const live of [...this.#live.values()]) {
      if (live.stopping) continue;
      if (now - live.startedAt >= live.record.maxDuration * 1000) {
        void this.#stop(live, REASON.maxDuration);
        continue;
      }
      const hls = live.record.hls;
      if (hls && hls.status === 'connecting' && existsSync(join(this.dir, live.record.id, 'index.m3u8'))) {
        hls.status = 'live';
        this.#saveIfLive(live, true);
      }
    }
    const wall = Date.now();
    for (const [id, at] of [...this.#cleanups]) {
      if (at > wall || this.#live.has(id)) continue;
      this.#cleanups.delete(id);
      void rm(join(this.dir, id), { recursive: true, force: true }).catch((err: unknown) => this.#log.warn({ err, broadcastId: id }, 'cannot remove HLS files'));
    }
  }
}
