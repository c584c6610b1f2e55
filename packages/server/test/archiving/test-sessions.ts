// A TEST session domain for archiving: connection counts and stream events set by the test, and
// the archive events "sent to clients" kept for assertions. Implements ArchiveSessionState as the
// wiring over sessions/ and signaling/ will.

import type { ArchiveClientEvent, ArchiveSessionListener, ArchiveSessionState, ArchiveStream } from '../../src/archiving/interfaces.js';

export class TestSessions implements ArchiveSessionState {
  readonly #counts = new Map<string, number>();
  readonly #listeners = new Set<ArchiveSessionListener>();
  readonly sent: Array<{ sessionId: string; event: ArchiveClientEvent }> = [];

  connectionCount(sessionId: string): number {
    return this.#counts.get(sessionId) ?? 0;
  }

  watch(listener: ArchiveSessionListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  broadcast(sessionId: string, event: ArchiveClientEvent): void {
    if (this.connectionCount(sessionId) > 0) this.sent.push({ sessionId, event });
  }

  setConnections(sessionId: string, count: number): void {
    this.#counts.set(sessionId, count);
    for (const l of this.#listeners) l.connectionCountChanged(sessionId, count);
  }

  streamAdded(sessionId: string, stream: ArchiveStream): void {
    for (const l of this.#listeners) l.streamAdded(sessionId, stream);
  }

  streamRemoved(sessionId: string, streamId: string): void {
    for (const l of this.#listeners) l.streamRemoved(sessionId, streamId);
  }

  streamUpdated(sessionId: string, stream: ArchiveStream): void {
    for (const l of this.#listeners) l.streamUpdated(sessionId, stream);
  }

  get watchers(): number {
    return this.#listeners.size;
  }
}
