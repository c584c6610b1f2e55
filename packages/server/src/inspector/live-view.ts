// The Inspector's in-memory picture of the sessions that are live in this process: who is
// connected, their streams and subscriptions, and the latest quality sample of every track. It is
// fed by the same calls that write the log, so the live dashboard reads memory, not SQLite.
// Entries go when their connection leaves; tracks with no sample for STALE_TRACK_MS are swept.

import type { InspectorEventInput, LiveStream, MediaKind, QualitySampleInput, QualitySource } from './types.js';

export interface LiveConnection {
  connectionId: string;
  createdAt: number;
  userAgent: string | null;
  ip: string | null;
  role: string | null;
  data: string | null;
}

export interface LiveSubscription {
  connectionId: string;
  streamId: string;
  createdAt: number;
}

export interface LiveTrack {
  source: QualitySource;
  connectionId: string;
  streamId: string | null;
  kind: MediaKind;
  direction: 'send' | 'receive' | null;
  at: number;
  sample: QualitySampleInput;
}

export interface LiveSession {
  sessionId: string;
  projectId: string;
  since: number;
  connections: Map<string, LiveConnection>;
  streams: Map<string, LiveStream>;
  subscriptions: Map<string, LiveSubscription>;
  tracks: Map<string, LiveTrack>;
}

/** A track with no sample for this long no longer shows as live. */
export const STALE_TRACK_MS = 30_000;

export function trackKey(s: QualitySampleInput): string {
  const direction = s.source === 'client' ? s.direction : '';
  return `${s.source}|${s.connectionId}|${s.streamId ?? ''}|${s.kind}|${direction}`;
}

export class LiveView {
  readonly #sessions = new Map<string, LiveSession>();

  get(sessionId: string): LiveSession | undefined {
    return this.#sessions.get(sessionId);
  }

  sessions(): IterableIterator<LiveSession> {
    return this.#sessions.values();
  }

  #session(sessionId: string, projectId: string, now: number): LiveSession {
    let s = this.#sessions.get(sessionId);
    if (!s) {
      s = { sessionId, projectId, since: now, connections: new Map(), streams: new Map(), subscriptions: new Map(), tracks: new Map() };
      this.#sessions.set(sessionId, s);
    }
    return s;
  }

  applyEvent(sessionId: string, projectId: string, e: InspectorEventInput, now: number): void {
    switch (e.type) {
      case 'connectionCreated': {
        const s = this.#session(sessionId, projectId, now);
        s.connections.set(e.connectionId, {
          connectionId: e.connectionId,
          createdAt: now,
          userAgent: e.userAgent ?? null,
          ip: e.ip ?? null,
          role: e.role ?? null,
          data: e.data ?? null,
        });
        return;
      }
      case 'connectionDestroyed': {
        const s = this.#sessions.get(sessionId);
        if (!s) return;
        s.connections.delete(e.connectionId);
        // Its streams go with it, and so do the others' subscriptions to them.
        const gone = new Set<string>();
        for (const [id, stream] of s.streams) if (stream.connectionId === e.connectionId) gone.add(id);
        for (const id of gone) s.streams.delete(id);
        for (const [key, sub] of s.subscriptions) if (sub.connectionId === e.connectionId || gone.has(sub.streamId)) s.subscriptions.delete(key);
        for (const [key, t] of s.tracks) if (t.connectionId === e.connectionId || (t.streamId !== null && gone.has(t.streamId))) s.tracks.delete(key);
        this.#dropIfEmpty(s);
        return;
      }
      case 'streamCreated': {
        const s = this.#session(sessionId, projectId, now);
        s.streams.set(e.streamId, {
          streamId: e.streamId,
          connectionId: e.connectionId,
          createdAt: now,
          videoType: e.videoType ?? null,
          name: e.name ?? null,
          hasAudio: e.hasAudio ?? null,
          hasVideo: e.hasVideo ?? null,
          width: e.width ?? null,
          height: e.height ?? null,
        });
        return;
      }
      case 'streamDestroyed': {
        const s = this.#sessions.get(sessionId);
        if (!s) return;
        s.streams.delete(e.streamId);
        for (const [key, sub] of s.subscriptions) if (sub.streamId === e.streamId) s.subscriptions.delete(key);
        for (const [key, t] of s.tracks) if (t.streamId === e.streamId) s.tracks.delete(key);
        this.#dropIfEmpty(s);
        return;
      }
      case 'streamPropertyChanged': {
        const stream = this.#sessions.get(sessionId)?.streams.get(e.streamId);
        if (!stream) return;
        if ((e.property === 'hasAudio' || e.property === 'hasVideo') && typeof e.newValue === 'boolean') stream[e.property] = e.newValue;
        if (e.property === 'videoDimensions') {
          const d = e.newValue as { width?: unknown; height?: unknown } | null;
          const ok = d !== null && typeof d === 'object' && typeof d.width === 'number' && typeof d.height === 'number';
          stream.width = ok ? (d.width as number) : null;
          stream.height = ok ? (d.height as number) : null;
        }
        return;
      }
      case 'subscriberCreated':
        this.#session(sessionId, projectId, now).subscriptions.set(`${e.connectionId}|${e.streamId}`, {
          connectionId: e.connectionId,
          streamId: e.streamId,
          createdAt: now,
        });
        return;
      case 'subscriberDestroyed': {
        const s = this.#sessions.get(sessionId);
        if (!s) return;
        s.subscriptions.delete(`${e.connectionId}|${e.streamId}`);
        for (const [key, t] of s.tracks) if (t.source === 'subscriber' && t.connectionId === e.connectionId && t.streamId === e.streamId) s.tracks.delete(key);
        return;
      }
      default:
        return;
    }
  }

  /** The time of the previous sample of this track, or undefined. */
  lastSampleAt(sessionId: string, key: string): number | undefined {
    return this.#sessions.get(sessionId)?.tracks.get(key)?.at;
  }

  applySample(sessionId: string, projectId: string, key: string, sample: QualitySampleInput, now: number): void {
    const s = this.#session(sessionId, projectId, now);
    s.tracks.set(key, {
      source: sample.source,
      connectionId: sample.connectionId,
      streamId: sample.streamId ?? null,
      kind: sample.kind,
      direction: sample.source === 'client' ? sample.direction : null,
      at: now,
      sample,
    });
  }

  /** Forgets tracks that stopped reporting, and sessions left with nothing in them. */
  sweep(now: number): void {
    for (const s of this.#sessions.values()) {
      for (const [key, t] of s.tracks) if (now - t.at > STALE_TRACK_MS) s.tracks.delete(key);
      this.#dropIfEmpty(s);
    }
  }

  /** Forgets a session at once (its project was deleted). */
  forget(sessionId: string): void {
    this.#sessions.delete(sessionId);
  }

  #dropIfEmpty(s: LiveSession): void {
    if (s.connections.size === 0 && s.streams.size === 0 && s.tracks.size === 0 && s.subscriptions.size === 0) this.#sessions.delete(s.sessionId);
  }
}
