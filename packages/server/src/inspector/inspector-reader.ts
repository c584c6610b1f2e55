// The Inspector's reading half: the queries behind the dashboard and the REST extension (session
// list, events, quality series, scores, participants, the live view). Every query first has the
// writer flush its batch, so it sees everything recorded before it.

import type { SqlDatabase, SqlValue } from '../store/sql.js';
import type { LiveView } from './live-view.js';
import { trackScore } from './score.js';
import type {
  ConnectionScore,
  EventPage,
  EventQuery,
  InspectorEvent,
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

/** Points per track a quality query answers with when no bucket is asked for. */
const DEFAULT_MAX_POINTS = 600;

/** A track's averages (as floating point on both engines) and largest picture. */
const AVERAGES = `CAST(AVG(bitrate) AS DOUBLE PRECISION) AS bitrate, CAST(AVG(packet_loss) AS DOUBLE PRECISION) AS packet_loss,
  CAST(AVG(jitter_ms) AS DOUBLE PRECISION) AS jitter_ms, CAST(AVG(rtt_ms) AS DOUBLE PRECISION) AS rtt_ms,
  CAST(AVG(frame_rate) AS DOUBLE PRECISION) AS frame_rate, MAX(width) AS width, MAX(height) AS height`;

export interface InspectorReaderSource {
  db: SqlDatabase;
  live: LiveView;
  /** Writes the pending batch (the writer's flush). */
  flush(): Promise<void>;
  now: () => number;
}

export class InspectorReader {
  readonly #db: SqlDatabase;
  readonly #live: LiveView;
  readonly #now: () => number;
  readonly flush: () => Promise<void>;

  constructor(source: InspectorReaderSource) {
    this.#db = source.db;
    this.#live = source.live;
    this.#now = source.now;
    this.flush = source.flush;
  }

  /** Sessions of a project the Inspector has data for, most recently active first. */
  async listSessions(projectId: string, options: { limit?: number; offset?: number } = {}): Promise<InspectorSessionSummary[]> {
    await this.flush();
    const rows = await this.#db.all<SessionRow>(
      `SELECT i.*, s.media_mode, s.created_at FROM inspector_sessions i JOIN sessions s ON s.id = i.session_id
       WHERE i.project_id = ? ORDER BY i.last_at DESC, i.session_id LIMIT ? OFFSET ?`,
      [projectId, clampInt(options.limit, 1, 1000, 100), clampInt(options.offset, 0, Number.MAX_SAFE_INTEGER, 0)],
    );
    return rows.map((r) => this.#toSummary(r));
  }

  /** Ids of a project's sessions somebody joined, newest session first (the dashboard's session list). */
  async joinedSessionIds(projectId: string, limit: number, offset: number): Promise<string[]> {
    await this.flush();
    const rows = await this.#db.all<{ id: string }>(
      `SELECT s.id FROM sessions s JOIN inspector_sessions i ON i.session_id = s.id
       WHERE s.project_id = ? AND i.connections > 0 ORDER BY s.created_at DESC, s.id LIMIT ? OFFSET ?`,
      [projectId, limit, offset],
    );
    return rows.map((r) => r.id);
  }

  /** The first connection seen in a session: who a row of the dashboard's session list is about. */
  async firstConnection(sessionId: string): Promise<{ connectionId: string; data: string | null } | null> {
    // The details are JSON text, read here (no JSON function both engines share).
    const row = await this.#db.get<{ connection_id: string; details: string }>(
      "SELECT connection_id, details FROM inspector_events WHERE session_id = ? AND type = 'connectionCreated' ORDER BY id LIMIT 1",
      [sessionId],
    );
    if (!row) return null;
    const data = (JSON.parse(row.details) as { data?: unknown }).data;
    return { connectionId: row.connection_id, data: typeof data === 'string' ? data : null };
  }

  async getSession(sessionId: string): Promise<InspectorSessionSummary | null> {
    await this.flush();
    const row = await this.#db.get<SessionRow>('SELECT i.*, s.media_mode, s.created_at FROM inspector_sessions i JOIN sessions s ON s.id = i.session_id WHERE i.session_id = ?', [
      sessionId,
    ]);
    return row ? this.#toSummary(row) : null;
  }

  /** A page of a session's events, oldest first. */
  async events(sessionId: string, query: EventQuery = {}): Promise<EventPage> {
    await this.flush();
    const where = ['session_id = ?'];
    const params: SqlValue[] = [sessionId];
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
    const rows = await this.#db.all<EventRow>(`SELECT * FROM inspector_events WHERE ${where.join(' AND ')} ORDER BY id LIMIT ?`, [...params, limit + 1]);
    const more = rows.length > limit;
    const items = rows.slice(0, limit).map(toEvent);
    return { items, next: more ? items[items.length - 1]!.id : null };
  }

  /** Time series per track, averaged into buckets. */
  async quality(sessionId: string, query: QualityQuery = {}): Promise<QualitySeries> {
    await this.flush();
    const { where, params } = qualityFilter(sessionId, query);
    let bucketMs = query.bucketMs;
    if (bucketMs === undefined) {
      const span = (await this.#db.get<{ lo: number | null; hi: number | null }>(`SELECT MIN(at) AS lo, MAX(at) AS hi FROM inspector_quality WHERE ${where}`, params))!;
      const width = span.lo === null || span.hi === null ? 0 : span.hi - span.lo;
      bucketMs = Math.max(1000, Math.ceil(width / DEFAULT_MAX_POINTS / 1000) * 1000);
    }
    bucketMs = Math.max(1, Math.floor(bucketMs));
    // Averages and sums cast to one type: PostgreSQL's AVG and SUM of a BIGINT are NUMERIC (text to pg).
    const rows = await this.#db.all<QualityRow>(
      `SELECT source, connection_id, stream_id, kind, direction, CAST(at / CAST(? AS BIGINT) AS BIGINT) * CAST(? AS BIGINT) AS t,
         ${AVERAGES}, CAST(SUM(nack_count) AS BIGINT) AS nack_count, CAST(SUM(pli_count) AS BIGINT) AS pli_count, MAX(layer) AS layer
       FROM inspector_quality WHERE ${where}
       GROUP BY source, connection_id, stream_id, kind, direction, t
       ORDER BY source, connection_id, stream_id, kind, direction, t`,
      [bucketMs, bucketMs, ...params],
    );
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
  async scores(sessionId: string, range: { since?: number; until?: number } = {}): Promise<ConnectionScore[]> {
    await this.flush();
    const { where, params } = qualityFilter(sessionId, range);
    const rows = await this.#db.all<QualityRow>(
      `SELECT source, connection_id, stream_id, kind, direction, ${AVERAGES}
       FROM inspector_quality WHERE ${where} GROUP BY source, connection_id, stream_id, kind, direction`,
      params,
    );
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
  async participants(sessionId: string): Promise<Participant[]> {
    await this.flush();
    const rows = await this.#db.all<EventRow>(
      `SELECT * FROM inspector_events WHERE session_id = ? AND type IN
        ('connectionCreated', 'connectionDestroyed', 'streamCreated', 'streamDestroyed', 'subscriberCreated', 'subscriberDestroyed', 'error')
       ORDER BY id`,
      [sessionId],
    );
    const live = this.#live.get(sessionId);
    const scores = new Map((await this.scores(sessionId)).map((s) => [s.connectionId, s]));
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
    const lastAt = (await this.#db.value<number>('SELECT last_at FROM inspector_sessions WHERE session_id = ?', [sessionId])) ?? null;
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
  }}

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

function qualityFilter(sessionId: string, q: QualityQuery): { where: string; params: SqlValue[] } {
  const where = ['session_id = ?'];
  const params: SqlValue[] = [sessionId];
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

