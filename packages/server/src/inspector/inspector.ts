// The Inspector: records each session's event log and quality samples into SQLite and answers the
// queries behind the dashboard and the REST extension. Recording is a push onto an in-memory batch
// (plus an update of the live view), written by one transaction every `flushIntervalMs`, so the
// signaling and media paths never wait for the disk. Caps per session and a retention age bound the
// database; pruning runs on an unref'd timer that close() clears.

import type { Db } from '../store/database.js';
import { isDiskFull } from '../errors.js';
import type { Logger } from '../logger.js';
import { LiveView, trackKey } from './live-view.js';
import { trackScore } from './score.js';
import type {
  ConnectionScore,
  EventPage,
  EventQuery,
  InspectorEvent,
  InspectorEventInput,
  InspectorEventType,
  InspectorSessionSummary,
  LiveSessionSnapshot,
  Participant,
  QualityPoint,
  QualityQuery,
  QualitySampleInput,
  QualitySeries,
  QualitySource,
  QualityTrack,
  TrackScore,
} from './types.js';

export interface InspectorOptions {
  /** Days an event or sample is kept (default 14). */
  retentionDays?: number;
  /** Events kept per session; later ones are counted as dropped (default 20,000). */
  maxEventsPerSession?: number;
  /** Quality samples kept per session (default 200,000: ten people, every track, 5 s, about 6 hours). */
  maxSamplesPerSession?: number;
  /** How often the batch is written (default 1000 ms). */
  flushIntervalMs?: number;
  /** A batch this large is written at once, not at the next tick (default 2000 rows). */
  maxBatchRows?: number;
  /**
   * Samples of one track closer together than this are ignored (default 900 ms): a chatty client
   * cannot flood the log, and a 1 s sampling timer that fires a few ms early still keeps every sample.
   */
  minSampleIntervalMs?: number;
  /** How often old data is pruned (default 1 hour; also once at start). */
  pruneIntervalMs?: number;
  /** Clock, for tests. */
  now?: () => number;
}

const DAY_MS = 86_400_000;
const MAX_STRING = 512;
/** Points per track a quality query answers with when no bucket is asked for. */
const DEFAULT_MAX_POINTS = 600;
const PRUNE_CHUNK = 5000;

interface SessionCounters {
  projectId: string;
  events: number;
  samples: number;
  /** Last time this process touched it, to forget idle entries. */
  touchedAt: number;
}

interface PendingEvent {
  sessionId: string;
  at: number;
  /** Order of recording, so rows of the same millisecond keep it. */
  seq: number;
  type: InspectorEventType;
  connectionId: string | null;
  streamId: string | null;
  isError: boolean;
  details: Record<string, unknown>;
}

interface PendingSample {
  sessionId: string;
  at: number;
  s: QualitySampleInput;
}

interface SignalAggregate {
  sessionId: string;
  at: number;
  seq: number;
  lastAt: number;
  connectionId: string | null;
  signalType: string;
  to: string | null;
  count: number;
}

interface SessionDelta {
  projectId: string;
  firstAt: number;
  lastAt: number;
  events: number;
  samples: number;
  errors: number;
  connections: number;
  droppedEvents: number;
  droppedSamples: number;
}

export class Inspector {
  readonly #db: Db;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #retentionMs: number;
  readonly #maxEvents: number;
  readonly #maxSamples: number;
  readonly #maxBatchRows: number;
  readonly #minSampleIntervalMs: number;
  readonly #live = new LiveView();
  readonly #counters = new Map<string, SessionCounters>();
  /** Sessions that do not exist (or belong to another project): recording for them is ignored. */
  readonly #unknown = new Set<string>();
  #events: PendingEvent[] = [];
  #samples: PendingSample[] = [];
  #signals = new Map<string, SignalAggregate>();
  #deltas = new Map<string, SessionDelta>();
  #seq = 0;
  #flushTimer: NodeJS.Timeout | undefined;
  #pruneTimer: NodeJS.Timeout | undefined;
  #closed = false;
  /** When this process started recording: connections older than this cannot be live. */
  readonly startedAt: number;

  constructor(db: Db, logger: Logger, options: InspectorOptions = {}) {
    this.#db = db;
    this.#log = logger.child({ module: 'inspector' });
    this.#now = options.now ?? Date.now;
    this.#retentionMs = (options.retentionDays ?? 14) * DAY_MS;
    this.#maxEvents = options.maxEventsPerSession ?? 20_000;
    this.#maxSamples = options.maxSamplesPerSession ?? 200_000;
    this.#maxBatchRows = options.maxBatchRows ?? 2000;
    this.#minSampleIntervalMs = options.minSampleIntervalMs ?? 900;
    this.startedAt = this.#now();
    this.#flushTimer = setInterval(() => this.#safeFlush(), options.flushIntervalMs ?? 1000);
    this.#flushTimer.unref();
    const pruneEvery = options.pruneIntervalMs ?? 3_600_000;
    this.#pruneTimer = setInterval(() => this.#safePrune(), pruneEvery);
    this.#pruneTimer.unref();
    this.#safePrune();
  }

  // ---------------------------------------------------------------- recording

  /** Records one event of a session. Never throws for bad data: the hot path must not fail because of the log. */
  recordEvent(sessionId: string, projectId: string, event: InspectorEventInput): void {
    if (this.#closed) return;
    const now = this.#now();
    const counters = this.#countersFor(sessionId, projectId, now);
    if (!counters) return;
    this.#live.applyEvent(sessionId, projectId, event, now);
    const delta = this.#delta(sessionId, projectId, now);
    if (event.type === 'signal') {
      // Counted, not stored one by one: one row per sender, type and recipient per flush.
      const key = `${sessionId}|${event.connectionId ?? ''}|${event.signalType}|${event.to ?? ''}`;
      const agg = this.#signals.get(key);
      if (agg) {
        agg.count++;
        agg.lastAt = now;
        return;
      }
      if (!this.#admitEvent(counters, delta)) return;
      this.#signals.set(key, {
        sessionId,
        at: now,
        seq: this.#seq++,
        lastAt: now,
        connectionId: event.connectionId ?? null,
        signalType: cap(event.signalType),
        to: event.to ?? null,
        count: 1,
      });
      return;
    }
    if (!this.#admitEvent(counters, delta)) return;
    const { type, connectionId, streamId, ...rest } = event as InspectorEventInput & { connectionId?: string; streamId?: string };
    const details: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(rest)) if (v !== undefined) details[k] = typeof v === 'string' ? cap(v) : v;
    if (type === 'error') delta.errors++;
    if (type === 'connectionCreated') delta.connections++;
    this.#events.push({ sessionId, at: now, seq: this.#seq++, type, connectionId: connectionId ?? null, streamId: streamId ?? null, isError: type === 'error', details });
    this.#maybeFlushSoon();
  }

  /** Records one quality sample. Samples of one track closer than `minSampleIntervalMs` are ignored. */
  recordQuality(sessionId: string, projectId: string, sample: QualitySampleInput): void {
    if (this.#closed) return;
    const now = this.#now();
    const counters = this.#countersFor(sessionId, projectId, now);
    if (!counters) return;
    const key = trackKey(sample);
    const last = this.#live.lastSampleAt(sessionId, key);
    if (last !== undefined && now - last < this.#minSampleIntervalMs) return;
    this.#live.applySample(sessionId, projectId, key, sample, now);
    const delta = this.#delta(sessionId, projectId, now);
    if (counters.samples >= this.#maxSamples) {
      delta.droppedSamples++;
      return;
    }
    counters.samples++;
    delta.samples++;
    this.#samples.push({ sessionId, at: now, s: sample });
    this.#maybeFlushSoon();
  }

  /** Writes the batch now (queries call it, so they see everything recorded before them). */
  flush(): void {
    if (!this.#db.open) return;
    if (this.#events.length === 0 && this.#samples.length === 0 && this.#signals.size === 0 && this.#deltas.size === 0) return;
    const events = this.#events;
    const samples = this.#samples;
    const signals = this.#signals;
    const deltas = this.#deltas;
    this.#events = [];
    this.#samples = [];
    this.#signals = new Map();
    this.#deltas = new Map();
    for (const agg of signals.values()) {
      events.push({
        sessionId: agg.sessionId,
        at: agg.at,
        seq: agg.seq,
        type: 'signal',
        connectionId: agg.connectionId,
        streamId: null,
        isError: false,
        details: agg.to ? { signalType: agg.signalType, to: agg.to, count: agg.count, lastAt: agg.lastAt } : { signalType: agg.signalType, count: agg.count, lastAt: agg.lastAt },
      });
    }
    events.sort((a, b) => a.at - b.at || a.seq - b.seq);
    const insertEvent = this.#db.prepare(
      'INSERT INTO inspector_events (session_id, at, type, connection_id, stream_id, is_error, details) VALUES (?, ?, ?, ?, ?, ?, ?)',
    );
    const insertSample = this.#db.prepare(
      `INSERT INTO inspector_quality (session_id, at, source, connection_id, stream_id, kind, direction, bitrate, packet_loss, jitter_ms,
         rtt_ms, frame_rate, width, height, nack_count, pli_count, layer) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const upsertSession = this.#db.prepare(
      `INSERT INTO inspector_sessions (session_id, project_id, first_at, last_at, events, samples, errors, connections, dropped_events, dropped_samples)
       SELECT id, ?, ?, ?, ?, ?, ?, ?, ?, ? FROM sessions WHERE id = ?
       ON CONFLICT (session_id) DO UPDATE SET
         last_at = MAX(last_at, excluded.last_at), events = events + excluded.events, samples = samples + excluded.samples,
         errors = errors + excluded.errors, connections = connections + excluded.connections,
         dropped_events = dropped_events + excluded.dropped_events, dropped_samples = dropped_samples + excluded.dropped_samples`,
    );
    const gone = new Set<string>();
    this.#db.transaction(() => {
      for (const [sessionId, d] of deltas) {
        const changes = upsertSession.run(d.projectId, d.firstAt, d.lastAt, d.events, d.samples, d.errors, d.connections, d.droppedEvents, d.droppedSamples, sessionId).changes;
        if (changes === 0) gone.add(sessionId);
      }
      for (const e of events) {
        if (gone.has(e.sessionId)) continue;
        insertEvent.run(e.sessionId, e.at, e.type, e.connectionId, e.streamId, e.isError ? 1 : 0, JSON.stringify(e.details));
      }
      for (const { sessionId, at, s } of samples) {
        if (gone.has(sessionId)) continue;
        insertSample.run(
          sessionId,
          at,
          s.source,
          s.connectionId,
          s.streamId ?? null,
          s.kind,
          s.source === 'client' ? s.direction : null,
          finiteInt(s.bitrate),
          finite(s.packetLoss),
          finite(s.jitterMs),
          finite(s.rttMs),
          finite('frameRate' in s ? s.frameRate : undefined),
          finiteInt('width' in s ? s.width : undefined),
          finiteInt('height' in s ? s.height : undefined),
          finiteInt('nackCount' in s ? s.nackCount : undefined),
          finiteInt('pliCount' in s ? s.pliCount : undefined),
          finiteInt('layer' in s ? s.layer : undefined),
        );
      }
    })();
    // A session deleted meanwhile (its project was deleted): stop recording for it.
    for (const sessionId of gone) this.forgetSession(sessionId);
  }

  /** Deletes data older than the retention age; returns how many rows went. */
  prune(): { events: number; samples: number; sessions: number } {
    this.flush();
    const cutoff = this.#now() - this.#retentionMs;
    const chunked = (sql: string): number => {
      // In chunks, so that a big prune does not hold the write lock for long.
      const stmt = this.#db.prepare(sql);
      let total = 0;
      for (;;) {
        const n = stmt.run(cutoff, PRUNE_CHUNK).changes;
        total += n;
        if (n < PRUNE_CHUNK) return total;
      }
    };
    const events = chunked('DELETE FROM inspector_events WHERE id IN (SELECT id FROM inspector_events WHERE at < ? LIMIT ?)');
    const samples = chunked('DELETE FROM inspector_quality WHERE id IN (SELECT id FROM inspector_quality WHERE at < ? LIMIT ?)');
    const sessionIds = this.#db.prepare('SELECT session_id FROM inspector_sessions WHERE last_at < ?').pluck().all(cutoff) as string[];
    for (const id of sessionIds) this.#counters.delete(id);
    const sessions = this.#db.prepare('DELETE FROM inspector_sessions WHERE last_at < ?').run(cutoff).changes;
    const now = this.#now();
    for (const [id, c] of this.#counters) if (now - c.touchedAt > 3_600_000 && !this.#live.get(id)) this.#counters.delete(id);
    this.#unknown.clear();
    this.#live.sweep(now);
    if (events + samples + sessions > 0) this.#log.info({ events, samples, sessions }, 'pruned inspector data');
    return { events, samples, sessions };
  }

  /** Drops the in-memory state of a session (after its project was deleted). */
  forgetSession(sessionId: string): void {
    this.#counters.delete(sessionId);
    this.#live.forget(sessionId);
    this.#unknown.add(sessionId);
  }

  /** Writes what is pending and stops the timers. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#flushTimer);
    clearInterval(this.#pruneTimer);
    this.#flushTimer = undefined;
    this.#pruneTimer = undefined;
    this.#safeFlush();
  }

  // ---------------------------------------------------------------- queries

  /** Sessions of a project the Inspector has data for, most recently active first. */
  listSessions(projectId: string, options: { limit?: number; offset?: number } = {}): InspectorSessionSummary[] {
    this.flush();
    const rows = this.#db
      .prepare(
        `SELECT i.*, s.media_mode, s.created_at FROM inspector_sessions i JOIN sessions s ON s.id = i.session_id
         WHERE i.project_id = ? ORDER BY i.last_at DESC, i.session_id LIMIT ? OFFSET ?`,
      )
      .all(projectId, clampInt(options.limit, 1, 1000, 100), clampInt(options.offset, 0, Number.MAX_SAFE_INTEGER, 0)) as SessionRow[];
    return rows.map((r) => this.#toSummary(r));
  }

  getSession(sessionId: string): InspectorSessionSummary | null {
    this.flush();
    const row = this.#db
      .prepare('SELECT i.*, s.media_mode, s.created_at FROM inspector_sessions i JOIN sessions s ON s.id = i.session_id WHERE i.session_id = ?')
      .get(sessionId) as SessionRow | undefined;
    return row ? this.#toSummary(row) : null;
  }

  /** A page of a session's events, oldest first. */
  events(sessionId: string, query: EventQuery = {}): EventPage {
    this.flush();
    const where = ['session_id = ?'];
    const params: unknown[] = [sessionId];
    if (query.types && query.types.length > 0) {
      where.push(`type IN (${query.types.map(() => '?').join(', ')})`);
      params.push(...query.types);
    }
    if (query.connectionId !== undefined) {
      where.push('connection_id = ?');
      params.push(query.connectionId);
    }
    if (query.streamId !== undefined) {
      where.push('stream_id = ?');
      params.push(query.streamId);
    }
    if (query.errorsOnly) where.push('is_error = 1');
    if (query.since !== undefined) {
      where.push('at >= ?');
      params.push(query.since);
    }
    if (query.until !== undefined) {
      where.push('at <= ?');
      params.push(query.until);
    }
    if (query.after !== undefined) {
      where.push('id > ?');
      params.push(query.after);
    }
    const limit = clampInt(query.limit, 1, 1000, 100);
    const rows = this.#db
      .prepare(`SELECT * FROM inspector_events WHERE ${where.join(' AND ')} ORDER BY id LIMIT ?`)
      .all(...params, limit + 1) as EventRow[];
    const more = rows.length > limit;
    const items = rows.slice(0, limit).map(toEvent);
    return { items, next: more ? items[items.length - 1]!.id : null };
  }

  /** Time series per track, averaged into buckets. */
  quality(sessionId: string, query: QualityQuery = {}): QualitySeries {
    this.flush();
    const { where, params } = qualityFilter(sessionId, query);
    let bucketMs = query.bucketMs;
    if (bucketMs === undefined) {
      const span = this.#db.prepare(`SELECT MIN(at) AS lo, MAX(at) AS hi FROM inspector_quality WHERE ${where}`).get(...params) as { lo: number | null; hi: number | null };
      const width = span.lo === null || span.hi === null ? 0 : span.hi - span.lo;
      bucketMs = Math.max(1000, Math.ceil(width / DEFAULT_MAX_POINTS / 1000) * 1000);
    }
    bucketMs = Math.max(1, Math.floor(bucketMs));
    const rows = this.#db
      .prepare(
        `SELECT source, connection_id, stream_id, kind, direction, CAST(at / ? AS INTEGER) * ? AS t,
           AVG(bitrate) AS bitrate, AVG(packet_loss) AS packet_loss, AVG(jitter_ms) AS jitter_ms, AVG(rtt_ms) AS rtt_ms,
           AVG(frame_rate) AS frame_rate, MAX(width) AS width, MAX(height) AS height,
           SUM(nack_count) AS nack_count, SUM(pli_count) AS pli_count, MAX(layer) AS layer
         FROM inspector_quality WHERE ${where}
         GROUP BY source, connection_id, stream_id, kind, direction, t
         ORDER BY source, connection_id, stream_id, kind, direction, t`,
      )
      .all(bucketMs, bucketMs, ...params) as QualityRow[];
    const tracks: QualityTrack[] = [];
    let current: QualityTrack | undefined;
    let currentKey = '';
    for (const r of rows) {
      const key = `${r.source}|${r.connection_id}|${r.stream_id ?? ''}|${r.kind}|${r.direction ?? ''}`;
      if (key !== currentKey) {
        current = { source: r.source, connectionId: r.connection_id, streamId: r.stream_id, kind: r.kind, direction: r.direction, points: [] };
        tracks.push(current);
        currentKey = key;
      }
      current!.points.push({
        t: r.t,
        bitrate: roundOrNull(r.bitrate, 0),
        packetLoss: roundOrNull(r.packet_loss, 4),
        jitterMs: roundOrNull(r.jitter_ms, 1),
        rttMs: roundOrNull(r.rtt_ms, 1),
        frameRate: roundOrNull(r.frame_rate, 1),
        width: r.width,
        height: r.height,
        nackCount: r.nack_count,
        pliCount: r.pli_count,
        layer: r.layer,
      } satisfies QualityPoint);
    }
    return { sessionId, bucketMs, tracks };
  }

  /** The quality score of every connection that has samples (score.ts defines it). */
  scores(sessionId: string, range: { since?: number; until?: number } = {}): ConnectionScore[] {
    this.flush();
    const { where, params } = qualityFilter(sessionId, range);
    const rows = this.#db
      .prepare(
        `SELECT source, connection_id, stream_id, kind, direction, AVG(bitrate) AS bitrate, AVG(packet_loss) AS packet_loss,
           AVG(jitter_ms) AS jitter_ms, AVG(rtt_ms) AS rtt_ms, AVG(frame_rate) AS frame_rate, MAX(width) AS width, MAX(height) AS height
         FROM inspector_quality WHERE ${where} GROUP BY source, connection_id, stream_id, kind, direction`,
      )
      .all(...params) as QualityRow[];
    const byConnection = new Map<string, { server: TrackScore[]; client: TrackScore[] }>();
    for (const r of rows) {
      const score = trackScore({
        kind: r.kind,
        bitrate: r.bitrate,
        packetLoss: r.packet_loss,
        jitterMs: r.jitter_ms,
        rttMs: r.rtt_ms,
        frameRate: r.frame_rate,
        width: r.width,
        height: r.height,
      });
      const track: TrackScore = {
        source: r.source,
        streamId: r.stream_id,
        kind: r.kind,
        direction: r.direction,
        score,
        bitrate: roundOrNull(r.bitrate, 0),
        packetLoss: roundOrNull(r.packet_loss, 4),
        jitterMs: roundOrNull(r.jitter_ms, 1),
        rttMs: roundOrNull(r.rtt_ms, 1),
      };
      let entry = byConnection.get(r.connection_id);
      if (!entry) byConnection.set(r.connection_id, (entry = { server: [], client: [] }));
      (r.source === 'client' ? entry.client : entry.server).push(track);
    }
    const result: ConnectionScore[] = [];
    for (const [connectionId, { server, client }] of byConnection) {
      const basis = server.length > 0 ? 'server' : 'client';
      const tracks = basis === 'server' ? server : client;
      result.push({ connectionId, basis, score: Math.min(...tracks.map((t) => t.score)), tracks });
    }
    return result.sort((a, b) => a.connectionId.localeCompare(b.connectionId));
  }

  /** Every connection of the session with its timeline, streams, subscriptions, error count and score. */
  participants(sessionId: string): Participant[] {
    this.flush();
    const rows = this.#db
      .prepare(
        `SELECT * FROM inspector_events WHERE session_id = ? AND type IN
          ('connectionCreated', 'connectionDestroyed', 'streamCreated', 'streamDestroyed', 'subscriberCreated', 'subscriberDestroyed', 'error')
         ORDER BY id`,
      )
      .all(sessionId) as EventRow[];
    const live = this.#live.get(sessionId);
    const scores = new Map(this.scores(sessionId).map((s) => [s.connectionId, s]));
    const people = new Map<string, Participant>();
    const person = (connectionId: string, at: number): Participant => {
      let p = people.get(connectionId);
      if (!p) {
        p = {
          connectionId,
          createdAt: at,
          destroyedAt: null,
          reason: null,
          endUnknown: false,
          live: false,
          userAgent: null,
          ip: null,
          role: null,
          data: null,
          streams: [],
          subscriptions: [],
          errors: 0,
          score: null,
        };
        people.set(connectionId, p);
      }
      return p;
    };
    for (const row of rows) {
      if (row.connection_id === null) continue;
      const e = toEvent(row);
      const d = e.details as Record<string, string | undefined>;
      const p = person(row.connection_id, row.at);
      switch (e.type) {
        case 'connectionCreated':
          p.createdAt = row.at;
          p.userAgent = d['userAgent'] ?? null;
          p.ip = d['ip'] ?? null;
          p.role = d['role'] ?? null;
          p.data = d['data'] ?? null;
          break;
        case 'connectionDestroyed':
          p.destroyedAt = row.at;
          p.reason = d['reason'] ?? null;
          break;
        case 'streamCreated':
          p.streams.push({ streamId: row.stream_id ?? '', videoType: d['videoType'] ?? null, name: d['name'] ?? null, createdAt: row.at, destroyedAt: null, reason: null });
          break;
        case 'streamDestroyed': {
          const s = p.streams.find((x) => x.streamId === row.stream_id && x.destroyedAt === null);
          if (s) {
            s.destroyedAt = row.at;
            s.reason = d['reason'] ?? null;
          }
          break;
        }
        case 'subscriberCreated':
          p.subscriptions.push({ streamId: row.stream_id ?? '', createdAt: row.at, destroyedAt: null });
          break;
        case 'subscriberDestroyed': {
          const s = p.subscriptions.find((x) => x.streamId === row.stream_id && x.destroyedAt === null);
          if (s) s.destroyedAt = row.at;
          break;
        }
        case 'error':
          p.errors++;
          break;
        default:
          break;
      }
    }
    const lastAt = (this.#db.prepare('SELECT last_at FROM inspector_sessions WHERE session_id = ?').pluck().get(sessionId) as number | undefined) ?? null;
    for (const p of people.values()) {
      p.live = p.destroyedAt === null && live?.connections.has(p.connectionId) === true;
      p.endUnknown = p.destroyedAt === null && !p.live;
      p.score = scores.get(p.connectionId) ?? null;
      if (!p.live) {
        // Close what the log left open at the end of the connection (or of the session).
        const end = p.destroyedAt ?? lastAt;
        for (const s of p.streams) if (s.destroyedAt === null && end !== null) s.destroyedAt = Math.max(end, s.createdAt);
        for (const s of p.subscriptions) if (s.destroyedAt === null && end !== null) s.destroyedAt = Math.max(end, s.createdAt);
      }
    }
    return [...people.values()].sort((a, b) => a.createdAt - b.createdAt);
  }

  /** Live sessions in this process, optionally of one project (from memory). */
  liveSessions(projectId?: string): LiveSessionSnapshot[] {
    const out: LiveSessionSnapshot[] = [];
    this.#live.sweep(this.#now());
    for (const s of this.#live.sessions()) {
      if (projectId !== undefined && s.projectId !== projectId) continue;
      out.push(this.#snapshot(s.sessionId)!);
    }
    return out.sort((a, b) => b.since - a.since);
  }

  liveSession(sessionId: string): LiveSessionSnapshot | null {
    this.#live.sweep(this.#now());
    return this.#snapshot(sessionId);
  }

  // ---------------------------------------------------------------- internals

  #snapshot(sessionId: string): LiveSessionSnapshot | null {
    const s = this.#live.get(sessionId);
    if (!s) return null;
    const tracks = [...s.tracks.values()].map((t) => {
      const x = t.sample as QualitySampleInput & { rttMs?: number; jitterMs?: number; frameRate?: number; width?: number; height?: number };
      return {
        source: t.source,
        connectionId: t.connectionId,
        streamId: t.streamId,
        kind: t.kind,
        direction: t.direction,
        at: t.at,
        bitrate: x.bitrate,
        packetLoss: x.packetLoss,
        rttMs: x.rttMs ?? null,
        jitterMs: x.jitterMs ?? null,
        frameRate: x.frameRate ?? null,
        width: x.width ?? null,
        height: x.height ?? null,
      };
    });
    const hasServer = tracks.some((t) => t.source !== 'client');
    const inTracks = tracks.filter((t) => (hasServer ? t.source === 'publisher' : t.source === 'client' && t.direction === 'send'));
    const outTracks = tracks.filter((t) => (hasServer ? t.source === 'subscriber' : t.source === 'client' && t.direction === 'receive'));
    const sum = (ts: typeof tracks) => ts.reduce((acc, t) => acc + t.bitrate, 0);
    return {
      sessionId: s.sessionId,
      projectId: s.projectId,
      since: s.since,
      connections: [...s.connections.values()],
      streams: [...s.streams.values()].map((st) => {
        const own = inTracks.filter((t) => t.streamId === st.streamId);
        return { ...st, bitrate: nullIfZeroTracks(own, sum), frameRate: own.find((t) => t.kind === 'video')?.frameRate ?? null };
      }),
      subscriptions: [...s.subscriptions.values()].map((sub) => ({
        ...sub,
        bitrate: nullIfZeroTracks(outTracks.filter((t) => t.streamId === sub.streamId && t.connectionId === sub.connectionId), sum),
      })),
      tracks,
      bitrateIn: sum(inTracks),
      bitrateOut: sum(outTracks),
    };
  }

  #countersFor(sessionId: string, projectId: string, now: number): SessionCounters | null {
    let c = this.#counters.get(sessionId);
    if (c) {
      if (c.projectId !== projectId) return null;
      c.touchedAt = now;
      return c;
    }
    if (this.#unknown.has(sessionId) || !this.#db.open) return null;
    const owner = this.#db.prepare('SELECT project_id FROM sessions WHERE id = ?').pluck().get(sessionId) as string | undefined;
    if (owner !== projectId) {
      // Recording for a session that does not exist is a caller's bug; say so once, then ignore it.
      this.#log.warn({ sessionId, projectId, owner: owner ?? null }, 'inspector: no such session in this project; not recording');
      this.#unknown.add(sessionId);
      return null;
    }
    const row = this.#db.prepare('SELECT events, samples FROM inspector_sessions WHERE session_id = ?').get(sessionId) as
      | { events: number; samples: number }
      | undefined;
    c = { projectId, events: row?.events ?? 0, samples: row?.samples ?? 0, touchedAt: now };
    this.#counters.set(sessionId, c);
    return c;
  }

  #delta(sessionId: string, projectId: string, now: number): SessionDelta {
    let d = this.#deltas.get(sessionId);
    if (!d) {
      d = { projectId, firstAt: now, lastAt: now, events: 0, samples: 0, errors: 0, connections: 0, droppedEvents: 0, droppedSamples: 0 };
      this.#deltas.set(sessionId, d);
    }
    d.lastAt = now;
    return d;
  }

  #admitEvent(counters: SessionCounters, delta: SessionDelta): boolean {
    if (counters.events >= this.#maxEvents) {
      delta.droppedEvents++;
      return false;
    }
    counters.events++;
    delta.events++;
    return true;
  }

  #maybeFlushSoon(): void {
    if (this.#events.length + this.#samples.length >= this.#maxBatchRows) setImmediate(() => this.#safeFlush());
  }

  #safeFlush(): void {
    try {
      this.flush();
    } catch (err) {
      // A full disk is the machine's state, not a bug: one line without a stack per flush.
      if (isDiskFull(err)) this.#log.warn({ reason: (err as Error).message }, 'inspector flush failed: disk full; batch dropped');
      else this.#log.error({ err }, 'inspector flush failed; batch dropped');
    }
  }

  #safePrune(): void {
    try {
      this.prune();
    } catch (err) {
      this.#log.error({ err }, 'inspector prune failed');
    }
  }

  #toSummary(r: SessionRow): InspectorSessionSummary {
    return {
      sessionId: r.session_id,
      projectId: r.project_id,
      mediaMode: r.media_mode,
      createdAt: r.created_at,
      firstActivityAt: r.first_at,
      lastActivityAt: r.last_at,
      events: r.events,
      samples: r.samples,
      errors: r.errors,
      connections: r.connections,
      liveConnections: this.#live.get(r.session_id)?.connections.size ?? 0,
      droppedEvents: r.dropped_events,
      droppedSamples: r.dropped_samples,
    };
  }
}

interface SessionRow {
  session_id: string;
  project_id: string;
  first_at: number;
  last_at: number;
  events: number;
  samples: number;
  errors: number;
  connections: number;
  dropped_events: number;
  dropped_samples: number;
  media_mode: 'routed' | 'relayed';
  created_at: number;
}

interface EventRow {
  id: number;
  session_id: string;
  at: number;
  type: InspectorEventType;
  connection_id: string | null;
  stream_id: string | null;
  is_error: number;
  details: string;
}

interface QualityRow {
  source: QualitySource;
  connection_id: string;
  stream_id: string | null;
  kind: 'audio' | 'video';
  direction: 'send' | 'receive' | null;
  t: number;
  bitrate: number | null;
  packet_loss: number | null;
  jitter_ms: number | null;
  rtt_ms: number | null;
  frame_rate: number | null;
  width: number | null;
  height: number | null;
  nack_count: number | null;
  pli_count: number | null;
  layer: number | null;
}

function toEvent(r: EventRow): InspectorEvent {
  return {
    id: r.id,
    sessionId: r.session_id,
    type: r.type,
    createdAt: r.at,
    connectionId: r.connection_id,
    streamId: r.stream_id,
    isError: r.is_error === 1,
    details: JSON.parse(r.details) as Record<string, unknown>,
  };
}

function qualityFilter(sessionId: string, q: QualityQuery): { where: string; params: unknown[] } {
  const where = ['session_id = ?'];
  const params: unknown[] = [sessionId];
  if (q.connectionId !== undefined) {
    where.push('connection_id = ?');
    params.push(q.connectionId);
  }
  if (q.streamId !== undefined) {
    where.push('stream_id = ?');
    params.push(q.streamId);
  }
  if (q.source !== undefined) {
    where.push('source = ?');
    params.push(q.source);
  }
  if (q.since !== undefined) {
    where.push('at >= ?');
    params.push(q.since);
  }
  if (q.until !== undefined) {
    where.push('at <= ?');
    params.push(q.until);
  }
  return { where: where.join(' AND '), params };
}

function cap(s: string): string {
  return s.length > MAX_STRING ? s.slice(0, MAX_STRING) + '…' : s;
}

function finite(x: number | undefined): number | null {
  return typeof x === 'number' && Number.isFinite(x) ? x : null;
}

function finiteInt(x: number | undefined): number | null {
  return typeof x === 'number' && Number.isFinite(x) ? Math.round(x) : null;
}

function roundOrNull(x: number | null, digits: number): number | null {
  if (x === null) return null;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function clampInt(x: number | undefined, lo: number, hi: number, fallback: number): number {
  if (x === undefined || !Number.isFinite(x)) return fallback;
  return Math.min(hi, Math.max(lo, Math.floor(x)));
}

function nullIfZeroTracks<T>(tracks: T[], sum: (ts: T[]) => number): number | null {
  return tracks.length === 0 ? null : sum(tracks);
}
