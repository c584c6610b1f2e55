// The Inspector's writing half: recording is a push onto an in-memory batch (plus an update of the
// live view), written by one transaction every `flushIntervalMs`, so the signaling and media paths
// never wait for the disk. Caps per session and a retention age bound the database; pruning runs on
// an unref'd timer that close() clears. The queries are in inspector-reader.ts.

import type { Db } from '../store/database.js';
import { isDiskFull } from '../errors.js';
import type { Logger } from '../logger.js';
import { LiveView, trackKey } from './live-view.js';
import type { InspectorEventInput, InspectorEventType, QualitySampleInput } from './types.js';

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

export class InspectorWriter {
  readonly #db: Db;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #retentionMs: number;
  readonly #maxEvents: number;
  readonly #maxSamples: number;
  readonly #maxBatchRows: number;
  readonly #minSampleIntervalMs: number;
  /** What is live in this process, updated as events and samples are recorded; the reader shows it. */
  readonly live = new LiveView();
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
    this.live.applyEvent(sessionId, projectId, event, now);
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
    const last = this.live.lastSampleAt(sessionId, key);
    if (last !== undefined && now - last < this.#minSampleIntervalMs) return;
    this.live.applySample(sessionId, projectId, key, sample, now);
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
    for (const [id, c] of this.#counters) if (now - c.touchedAt > 3_600_000 && !this.live.get(id)) this.#counters.delete(id);
    this.#unknown.clear();
    this.live.sweep(now);
    if (events + samples + sessions > 0) this.#log.info({ events, samples, sessions }, 'pruned inspector data');
    return { events, samples, sessions };
  }

  /** Drops the in-memory state of a session (after its project was deleted). */
  forgetSession(sessionId: string): void {
    this.#counters.delete(sessionId);
    this.live.forget(sessionId);
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

