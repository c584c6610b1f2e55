// Session-wide messages of protocol v2: serialized and framed once, the same bytes written to every
// recipient. v1 numbers every message per connection (`seq`), so one event to N clients was N
// JSON.stringify calls, N WebSocket frames and N entries in N replay buffers. In v2 a session has
// one numbered log per audience — clients told of other connections (`full`) and clients with
// connectionEventsSuppressed (`suppressed`) — with its own sequence (`bseq`) shared by everyone in
// it, and one replay ring per log: memory per message is O(1), not O(N). Messages for one
// connection (replies, relayed SDP) stay on the connection's own `seq` (channel.ts).
//
// Connection events are coalesced: the joins and leaves of one event-loop turn go out on the next
// turn as one `connectionEvents` message — in a session with more than COALESCE_ABOVE clients told
// of connections, those of a COALESCE_WINDOW_MS window — so a join storm of J connections into a
// session of N is a message per client per window instead of J·N messages. (Measured with 5,000
// joining: per turn alone, joins that arrive one by one still cost ~800 messages per client.) Any
// other broadcast flushes the pending ones first, so the order everyone sees is the order things
// happened.

import * as wsModule from 'ws';
import type { Connection, Session } from '../sessions/session-manager.js';
import { connectionListJson } from './connection-list.js';
import { listenToSession, type BroadcastMessage, type Subject } from './session-events.js';

/** Above this many members of the `full` audience, connection events wait for a window, not a turn. */
const COALESCE_ABOVE = 64;
/**
 * How long a join or leave may wait to be told, in a large session: 50 ms, and 1 ms more per 20
 * clients told of connections beyond 1,000, up to 250 ms (at 5,000). Every window is one write to
 * every such client; in a 5,000 join storm with 50 ms windows those writes were 36 % of the
 * server's time (each a system call of 17-33 µs on loopback, bench/signaling).
 */
const COALESCE_WINDOW_MS = 50;
const COALESCE_WINDOW_MAX_MS = 250;

/**
 * A session's batch with more than 1,000 clients told also waits, up to COALESCE_MAX_WAIT_MS, until it holds one event per
 * COALESCE_CLIENTS_PER_EVENT clients told: a join then costs at most ~20 writes however slowly
 * joins arrive (a starved server admitting 100 joins/s into 5,000 would otherwise still write to
 * everyone every window, and the storm's CPU would grow with its duration).
 */
const COALESCE_CLIENTS_PER_EVENT = 20;
/** Sessions up to this many clients told just wait their window. */
const COALESCE_THIN_ABOVE = 1000;
const COALESCE_MAX_WAIT_MS = 1000;

/** The coalescing window for a session with `told` clients told of connections (ms). */
export function coalesceWindowMs(told: number): number {
  return Math.min(COALESCE_WINDOW_MAX_MS, COALESCE_WINDOW_MS + Math.max(0, told - 1000) / 20);
}

/** Whether a large session's batch of `pending` events, the oldest `ageMs` old, goes out now. */
export function batchIsDue(pending: number, ageMs: number, told: number): boolean {
  if (ageMs < coalesceWindowMs(told)) return false;
  return told <= COALESCE_THIN_ABOVE || ageMs >= COALESCE_MAX_WAIT_MS || pending * COALESCE_CLIENTS_PER_EVENT >= told;
}

/** One broadcast message: its number and its WebSocket frame (header + JSON), built once. */
export interface BroadcastEntry {
  bseq: number;
  frame: Buffer;
}

/** What a log needs of a v2 channel (channel.ts). */
export interface BroadcastMember {
  /** Writes a broadcast frame to the member's socket (if it has one). */
  deliver(entry: BroadcastEntry): void;
  /** Last bseq the member's client acknowledged. */
  readonly ackedBseq: number;
  /** The member can no longer be brought up to date: end it. */
  lost(): void;
}

export interface BroadcastLimits {
  /** Messages and bytes kept in each log's replay ring. */
  maxBufferedMessages: number;
  maxBufferedBytes: number;
}

type ConnectionEventEntry = Extract<BroadcastMessage, { type: 'connectionEvents' }>['events'][number];

/** ws's frame builder (`Sender.frame`, public in ws but absent from @types/ws). */
const Sender = (wsModule as unknown as {
  Sender: { frame(data: Buffer, options: { fin: boolean; rsv1: boolean; opcode: number; mask: boolean; readOnly: boolean }): Buffer[] };
}).Sender;

/** Builds the one unmasked, final text frame a server sends for `text` (ws's own frame builder). */
export function textFrame(text: string): Buffer {
  const data = Buffer.from(text);
  const parts = Sender.frame(data, { fin: true, rsv1: false, opcode: 1, mask: false, readOnly: false });
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}

/** One audience's numbered stream and its replay ring. */
export class BroadcastLog {
  readonly members = new Set<BroadcastMember>();
  /** Members waiting for a resume (no socket): the ones a dropped broadcast can strand. */
  readonly away = new Set<BroadcastMember>();
  readonly #limits: BroadcastLimits;
  #lastBseq = 0;
  /** Oldest first; entries below #firstReplayable were dropped. */
  #ring: BroadcastEntry[] = [];
  #ringHead = 0;
  #ringBytes = 0;
  #firstReplayable = 1;

  constructor(limits: BroadcastLimits) {
    this.#limits = limits;
  }

  get lastBseq(): number {
    return this.#lastBseq;
  }

  /** Messages kept for replay now (for tests and metrics). */
  get buffered(): number {
    return this.#ring.length - this.#ringHead;
  }

  /** Serializes and frames `message` once, keeps it for replay, and writes it to every member. */
  publish(message: BroadcastMessage): void {
    const bseq = ++this.#lastBseq;
    const entry: BroadcastEntry = { bseq, frame: textFrame(JSON.stringify({ ...message, bseq })) };
    this.#ring.push(entry);
    this.#ringBytes += entry.frame.length;
    this.#trim();
    for (const member of this.members) member.deliver(entry);
  }

  /** Whether every message after `bseq` is still kept (and `bseq` was published). */
  canReplayAfter(bseq: number): boolean {
    return bseq <= this.#lastBseq && bseq + 1 >= this.#firstReplayable;
  }

  /** The kept messages after `bseq`, oldest first. */
  *after(bseq: number): Iterable<BroadcastEntry> {
    for (let i = this.#ringHead; i < this.#ring.length; i++) if (this.#ring[i]!.bseq > bseq) yield this.#ring[i]!;
  }

  #trim(): void {
    let dropped = 0;
    while (this.#ring.length - this.#ringHead > this.#limits.maxBufferedMessages || this.#ringBytes > this.#limits.maxBufferedBytes) {
      const old = this.#ring[this.#ringHead++]!;
      this.#ringBytes -= old.frame.length;
      this.#firstReplayable = old.bseq + 1;
      dropped = old.bseq;
    }
    if (dropped === 0) return;
    // Compact now and then: the ring is an array with a moving head.
    if (this.#ringHead > 1024 && this.#ringHead * 2 > this.#ring.length) {
      this.#ring = this.#ring.slice(this.#ringHead);
      this.#ringHead = 0;
    }
    // A client away (no socket) that had not seen what was dropped could never be brought up to
    // date. Connected clients that lag find out when they resume (canReplayAfter fails).
    for (const member of [...this.away]) if (member.ackedBseq < dropped) member.lost();
  }
}

/**
 * A session's v2 broadcasts: listens once to the Session's events and publishes each to the logs
 * of the audiences that get it. Exists while the session has v2 channels.
 */
export class SessionBroadcast {
  readonly session: Session;
  readonly full: BroadcastLog;
  readonly suppressed: BroadcastLog;
  /** Connection events of this turn, not yet published. */
  #pending: ConnectionEventEntry[] = [];
  /** When the oldest of #pending was queued (performance.now()). */
  #oldestPendingAt = 0;
  /** Connections whose connectionCreated is pending: a client joining now learns of them from the batch. */
  readonly #pendingCreated = new Set<string>();
  #flushScheduled = false;
  readonly #onEmpty: () => void;
  /** JSON array of the connections announced to the `full` audience (connection-list.ts); null: rebuild. */
  #announcedJson: string | null = null;

  readonly #unsubscribe: () => void;

  constructor(session: Session, limits: BroadcastLimits, onEmpty: () => void) {
    this.session = session;
    this.full = new BroadcastLog(limits);
    this.suppressed = new BroadcastLog(limits);
    this.#onEmpty = onEmpty;
    this.#unsubscribe = listenToSession(session, { connectionEvents: true, signals: true }, this.#onEvent);
  }

  logFor(connectionEventsSuppressed: boolean): BroadcastLog {
    return connectionEventsSuppressed ? this.suppressed : this.full;
  }

  /** Whether `connectionId`'s connectionCreated is still pending (so the batch, not the connect reply, tells of it). */
  isPendingCreation(connectionId: string): boolean {
    return this.#pendingCreated.has(connectionId);
  }

  /**
   * The connect reply's list for a client joining now: every connection but `joiner` whose
   * connectionCreated is not pending (those come in the batch). Shared by the joins of a window.
   */
  connectionListFor(joiner: Connection): string {
    const skip = (c: Connection): boolean => this.#pendingCreated.has(c.id);
    // The joiner's own connectionCreated is pending unless this broadcast began with it.
    if (!this.#pendingCreated.has(joiner.id)) return connectionListJson(this.session, joiner, skip);
    this.#announcedJson ??= connectionListJson(this.session, null, skip);
    return this.#announcedJson;
  }

  /** A member left its log; with no members left the broadcast stops listening. */
  leave(log: BroadcastLog, member: BroadcastMember): void {
    log.members.delete(member);
    log.away.delete(member);
    if (this.full.members.size === 0 && this.suppressed.members.size === 0) this.dispose();
  }

  dispose(): void {
    this.#pending = [];
    this.#pendingCreated.clear();
    this.#announcedJson = null;
    this.#unsubscribe();
    this.#onEmpty();
  }

  /** Publishes the pending connection events now (before any other broadcast, and at the end of the turn). */
  flush(): void {
    if (this.#pending.length === 0) return;
    const events = this.#pending;
    this.#pending = [];
    this.#pendingCreated.clear();
    this.#announcedJson = null;
    this.full.publish({ type: 'connectionEvents', events });
  }

  #toAll(message: BroadcastMessage): void {
    this.flush();
    this.full.publish(message);
    this.suppressed.publish(message);
  }

  #queue(event: ConnectionEventEntry): void {
    if (this.#pending.length === 0) this.#oldestPendingAt = performance.now();
    this.#pending.push(event);
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    const told = this.full.members.size;
    if (told <= COALESCE_ABOVE) {
      setImmediate(() => {
        this.#flushScheduled = false;
        this.flush();
      });
      return;
    }
    const check = (): void => {
      const members = this.full.members.size;
      const age = performance.now() - this.#oldestPendingAt;
      if (this.#pending.length === 0 || members <= COALESCE_ABOVE || batchIsDue(this.#pending.length, age, members)) {
        this.#flushScheduled = false;
        this.flush();
        return;
      }
      setTimeout(check, Math.max(1, Math.min(coalesceWindowMs(members), COALESCE_MAX_WAIT_MS - age))).unref?.();
    };
    setTimeout(check, coalesceWindowMs(told)).unref?.();
  }

  readonly #onEvent = (message: BroadcastMessage, subject: Subject): void => {
    switch (message.type) {
      case 'connectionCreated':
        this.#pendingCreated.add(message.connection.connectionId);
        this.#queue(message);
        return;
      case 'connectionDestroyed':
        this.#pendingCreated.delete(message.connectionId);
        this.#announcedJson = null;
        this.#queue(message);
        return;
      case 'streamDestroyed':
        // A stream that never went live was known only to its publisher: its channel tells it (unicast).
        if (subject && 'stream' in subject && !subject.stream.live) return;
        break;
    }
    this.#toAll(message);
  };
}
