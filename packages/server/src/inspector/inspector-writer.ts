// The Inspector's writing half: recording is a push onto an in-memory batch (plus an update of the
// live view), written by one transaction every `flushIntervalMs`, so the signaling and media paths
// never wait for the database. Caps per session and a retention age bound the database; pruning
// runs on an unref'd timer that close() clears. The queries are in inspector-reader.ts.
//
// The store is async (SQLite or PostgreSQL): the first record of a session this process has not
// seen waits (in memory, with its time) until the session's owner and stored counters are read;
// then it and whatever came meanwhile are recorded as if at once. A flush writes multi-row INSERTs
// (one round trip per chunk, not per row, on PostgreSQL) and flushes never overlap.

import type { Sql, SqlDatabase, SqlValue } from '../store/sql.js';
import { isDiskFull } from '../errors.js';
import type { Logger } from '../logger.js';
import { LiveView, trackKey } from './live-view.js';
import type { InspectorEventInput, InspectorEventType, QualitySampleInput } from './types.js';
import { every, type ClockTask } from '../ops/thread-clock.js';

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
/** Records kept per session while its owner is being read (a burst at a connect); more are dropped. */
const MAX_WAITING = 10_000;
/** Rows of one multi-row INSERT at most; a batch is cut into chunks of powers of two, so few statement texts exist. */
const MAX_INSERT_ROWS = 128;

const EVENT_COLUMNS = ['session_id', 'at', 'type', 'connection_id', 'stream_id', 'is_error', 'details'];
const SAMPLE_COLUMNS = [
  'session_id', 'at', 'source', 'connection_id', 'stream_id', 'kind', 'direction', 'bitrate', 'packet_loss', 'jitter_ms',
  'rtt_ms', 'frame_rate', 'width', 'height', 'nack_count', 'pli_count', 'layer',
];
// The session's row only if the session exists in that project; counters add up. `last_at` keeps
// the larger (a CASE: SQLite's two-argument MAX is PostgreSQL's GREATEST). Numbers are cast: in a
// SELECT list PostgreSQL cannot tell a parameter's type.
const UPSERT_SESSION = `INSERT INTO inspector_sessions (session_id, project_id, first_at, last_at, events, samples, errors, connections, dropped_events, dropped_samples)
  SELECT id, project_id, CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS BIGINT)
  FROM sessions WHERE id = ? AND project_id = ?
  ON CONFLICT (session_id) DO UPDATE SET
    last_at = CASE WHEN excluded.last_at > inspector_sessions.last_at THEN excluded.last_at ELSE inspector_sessions.last_at END,
    events = inspector_sessions.events + excluded.events, samples = inspector_sessions.samples + excluded.samples,
    errors = inspector_sessions.errors + excluded.errors, connections = inspector_sessions.connections + excluded.connections,
    dropped_events = inspector_sessions.dropped_events + excluded.dropped_events,
    dropped_samples = inspector_sessions.dropped_samples + excluded.dropped_samples`;

/** A session whose owner is being read: the records that came meanwhile, replayed once it is known. */
interface Waiting {
  replay: Array<{ projectId: string; run: () => void }>;
  done: Promise<void>;
}
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
  readonly #db: SqlDatabase;
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
  readonly #waiting = new Map<string, Waiting>();
  readonly #foreignWarned = new Set<string>();
  /** The flush running (flushes run one after another). */
  #flushing: Promise<void> = Promise.resolve();
  #events: PendingEvent[] = [];
  #samples: PendingSample[] = [];
  #signals = new Map<string, SignalAggregate>();
  #deltas = new Map<string, SessionDelta>();
  #seq = 0;
  #flushTimer: ClockTask | undefined;
  #pruneTimer: NodeJS.Timeout | undefined;
  #closed = false;
  /** When this process started recording: connections older than this cannot be live. */
  readonly startedAt: number;
  /** The prune at start, done (or failed and logged). */
  readonly startPruned: Promise<void>;

  constructor(db: SqlDatabase, logger: Logger, options: InspectorOptions = {}) {
    this.#db = db;
    this.#log = logger.child({ module: 'inspector' });
    this.#now = options.now ?? Date.now;
    this.#retentionMs = (options.retentionDays ?? 14) * DAY_MS;
    this.#maxEvents = options.maxEventsPerSession ?? 20_000;
    this.#maxSamples = options.maxSamplesPerSession ?? 200_000;
    this.#maxBatchRows = options.maxBatchRows ?? 2000;
    this.#minSampleIntervalMs = options.minSampleIntervalMs ?? 900;
    this.startedAt = this.#now();
    this.#flushTimer = every(options.flushIntervalMs ?? 1000, () => void this.#safeFlush());
    const pruneEvery = options.pruneIntervalMs ?? 3_600_000;
    this.#pruneTimer = setInterval(() => void this.#safePrune(), pruneEvery);
    this.#pruneTimer.unref();
    // Nothing is recorded yet: no flush first (one would take records made right after the constructor).
    this.startPruned = this.#pruneOld().then(
      () => {},
      (err: unknown) => this.#log.error({ err }, 'inspector prune failed'),
    );
  }

  // ---------------------------------------------------------------- recording

  /** Records one event of a session. Never throws for bad data: the hot path must not fail because of the log. */
  recordEvent(sessionId: string, projectId: string, event: InspectorEventInput): void {
    if (this.#closed || !this.#accepts(sessionId, projectId)) return;
    const now = this.#now();
    this.live.applyEvent(sessionId, projectId, event, now);
    this.#storeEvent(sessionId, projectId, event, now);
  }

  /** The event into the batch (once the session's owner is known: see #countersFor). */
  #storeEvent(sessionId: string, projectId: string, event: InspectorEventInput, now: number): void {
    const counters = this.#countersFor(sessionId, projectId, now, () => this.#storeEvent(sessionId, projectId, event, now));
    if (!counters) return;
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
    if (this.#closed || !this.#accepts(sessionId, projectId)) return;
    const now = this.#now();
    const key = trackKey(sample);
    const last = this.live.lastSampleAt(sessionId, key);
    if (last !== undefined && now - last < this.#minSampleIntervalMs) return;
    this.live.applySample(sessionId, projectId, key, sample, now);
    this.#storeSample(sessionId, projectId, sample, now);
  }

  /** The sample into the batch (once the session's owner is known). */
  #storeSample(sessionId: string, projectId: string, sample: QualitySampleInput, now: number): void {
    const counters = this.#countersFor(sessionId, projectId, now, () => this.#storeSample(sessionId, projectId, sample, now));
    if (!counters) return;
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
  flush(): Promise<void> {
    const run = this.#flushing.then(() => this.#flushNow());
    this.#flushing = run.catch(() => {});
    return run;
  }

  async #flushNow(): Promise<void> {
    // Records waiting for their session's owner join this batch.
    while (this.#waiting.size > 0) await Promise.all([...this.#waiting.values()].map((w) => w.done));
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
    const gone = new Set<string>();
    await this.#db.transaction(async (tx) => {
      for (const [sessionId, d] of deltas) {
        const { changes } = await tx.run(UPSERT_SESSION, [d.firstAt, d.lastAt, d.events, d.samples, d.errors, d.connections, d.droppedEvents, d.droppedSamples, sessionId, d.projectId]);
        if (changes === 0) gone.add(sessionId);
      }
      await insertRows(
        tx,
        'inspector_events',
        EVENT_COLUMNS,
        events.filter((e) => !gone.has(e.sessionId)).map((e) => [e.sessionId, e.at, e.type, e.connectionId, e.streamId, e.isError ? 1 : 0, JSON.stringify(e.details)]),
      );
      await insertRows(
        tx,
        'inspector_quality',
        SAMPLE_COLUMNS,
        samples
          .filter((x) => !gone.has(x.sessionId))
          .map(({ sessionId, at, s }) => [
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
          ]),
      );
    });
    // A session deleted meanwhile (its project was deleted): stop recording for it.
    for (const sessionId of gone) this.forgetSession(sessionId);
  }

  /** Deletes data older than the retention age; returns how many rows went. */
  async prune(): Promise<{ events: number; samples: number; sessions: number }> {
    await this.flush();
    return this.#pruneOld();
  }

  async #pruneOld(): Promise<{ events: number; samples: number; sessions: number }> {
    const cutoff = this.#now() - this.#retentionMs;
    const chunked = async (sql: string): Promise<number> => {
      // In chunks, so that a big prune does not hold the write lock for long.
      let total = 0;
      for (;;) {
        const n = (await this.#db.run(sql, [cutoff, PRUNE_CHUNK])).changes;
        total += n;
        if (n < PRUNE_CHUNK) return total;
      }
    };
    const events = await chunked('DELETE FROM inspector_events WHERE id IN (SELECT id FROM inspector_events WHERE at < ? LIMIT ?)');
    const samples = await chunked('DELETE FROM inspector_quality WHERE id IN (SELECT id FROM inspector_quality WHERE at < ? LIMIT ?)');
    const sessionIds = (await this.#db.all<{ session_id: string }>('SELECT session_id FROM inspector_sessions WHERE last_at < ?', [cutoff])).map((r) => r.session_id);
    for (const id of sessionIds) this.#counters.delete(id);
    const sessions = (await this.#db.run('DELETE FROM inspector_sessions WHERE last_at < ?', [cutoff])).changes;
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
  async close(): Promise<void> {
    if (this.#closed) return this.#flushing;
    this.#closed = true;
    this.#flushTimer?.cancel();
    clearInterval(this.#pruneTimer);
    this.#flushTimer = undefined;
    this.#pruneTimer = undefined;
    await this.#safeFlush();
  }

  /** False for a session known not to be this project's (the live view and the batch ignore it). */
  #accepts(sessionId: string, projectId: string): boolean {
    if (this.#unknown.has(sessionId)) return false;
    const owner = this.#counters.get(sessionId)?.projectId;
    if (owner !== undefined && owner !== projectId) {
      this.#warnForeign(sessionId, projectId, owner);
      return false;
    }
    return true;
  }

  /**
   * The session's counters, or null: not recorded (no such session in this project), or its owner is
   * being read, in which case `replay` runs once it is known (see the top of the file).
   */
  #countersFor(sessionId: string, projectId: string, now: number, replay: () => void): SessionCounters | null {
    const c = this.#counters.get(sessionId);
    if (c) {
      if (c.projectId !== projectId) {
        this.#warnForeign(sessionId, projectId, c.projectId);
        return null;
      }
      c.touchedAt = now;
      return c;
    }
    if (this.#unknown.has(sessionId)) return null;
    let waiting = this.#waiting.get(sessionId);
    if (!waiting) {
      const fresh: Waiting = { replay: [], done: Promise.resolve() };
      this.#waiting.set(sessionId, fresh);
      fresh.done = this.#readOwner(sessionId, fresh, now);
      waiting = fresh;
    }
    if (waiting.replay.length < MAX_WAITING) waiting.replay.push({ projectId, run: replay });
    return null;
  }

  async #readOwner(sessionId: string, waiting: Waiting, now: number): Promise<void> {
    let known = false;
    try {
      const owner = await this.#db.value<string>('SELECT project_id FROM sessions WHERE id = ?', [sessionId]);
      if (owner === undefined) {
        // Recording for a session that does not exist is a caller's bug; say so once, then ignore it.
        this.#log.warn({ sessionId, projectId: waiting.replay[0]?.projectId ?? null, owner: null }, 'inspector: no such session in this project; not recording');
        this.#unknown.add(sessionId);
        this.live.forget(sessionId);
        return;
      }
      const row = await this.#db.get<{ events: number; samples: number }>('SELECT events, samples FROM inspector_sessions WHERE session_id = ?', [sessionId]);
      this.#counters.set(sessionId, { projectId: owner, events: row?.events ?? 0, samples: row?.samples ?? 0, touchedAt: now });
      known = true;
    } catch (err) {
      // The database failed: what waited is dropped (as a failed flush drops its batch); the next record asks again.
      this.#log.warn({ err, sessionId }, 'inspector: cannot read the session; its records meanwhile are dropped');
    } finally {
      this.#waiting.delete(sessionId);
    }
    // Also when closing: what was recorded before close() goes into its last flush.
    if (known) for (const r of waiting.replay) r.run();
  }

  /** Recording for another project's session is a caller's bug: said once per session. */
  #warnForeign(sessionId: string, projectId: string, owner: string): void {
    if (this.#foreignWarned.has(sessionId)) return;
    if (this.#foreignWarned.size > 10_000) this.#foreignWarned.clear();
    this.#foreignWarned.add(sessionId);
    this.#log.warn({ sessionId, projectId, owner }, 'inspector: no such session in this project; not recording');
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
    if (this.#events.length + this.#samples.length >= this.#maxBatchRows) setImmediate(() => void this.#safeFlush());
  }

  async #safeFlush(): Promise<void> {
    try {
      await this.flush();
    } catch (err) {
      // A full disk is the machine's state, not a bug: one line without a stack per flush.
      if (isDiskFull(err)) this.#log.warn({ reason: (err as Error).message }, 'inspector flush failed: disk full; batch dropped');
      else this.#log.error({ err }, 'inspector flush failed; batch dropped');
    }
  }

  async #safePrune(): Promise<void> {
    try {
      await this.prune();
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

/** Inserts the rows with multi-row INSERTs of at most MAX_INSERT_ROWS rows, chunks of powers of two. */
async function insertRows(tx: Sql, table: string, columns: readonly string[], rows: readonly SqlValue[][]): Promise<void> {
  const tuple = `(${columns.map(() => '?').join(', ')})`;
  for (let i = 0; i < rows.length; ) {
    let n = MAX_INSERT_ROWS;
    while (n > rows.length - i) n >>= 1;
    const chunk = rows.slice(i, i + n);
    await tx.run(`INSERT INTO ${table} (${columns.join(', ')}) VALUES ${Array.from({ length: n }, () => tuple).join(', ')}`, chunk.flat());
    i += n;
  }
}
