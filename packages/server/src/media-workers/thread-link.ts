// Requests between the main thread and one media worker thread, both ways, over the worker's
// message channel: each end posts { t: 'req', id, body } and answers { t: 'res', id, ok, … }. A
// request the far end fails is rejected with a ColloquyError of the kind it failed with (the media
// span's requests carry kinds, not HTTP statuses); a far end that is gone rejects every pending
// request as 'unavailable'. Messages are structured clones: plain data only.

import { ColloquyError, domainError, type ErrorKind } from '../errors.js';

/** What one end of the channel needs: a worker (main side) or parentPort (worker side). */
export interface MessageEnd {
  postMessage(message: unknown): void;
  on(event: 'message', listener: (message: unknown) => void): unknown;
}

export type LinkMessage =
  | { t: 'req'; id: number; body: Record<string, unknown> }
  | { t: 'res'; id: number; ok: true; result: unknown }
  | { t: 'res'; id: number; ok: false; kind: ErrorKind; message: string };

/** Longest a request waits for its answer (a busy thread answers within a few event-loop turns). */
const REQUEST_TIMEOUT_MS = 10_000;

export class ThreadLink {
  readonly #end: MessageEnd;
  readonly #name: string;
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  #nextId = 1;
  #closed: string | null = null;
  /** Answers the far end's requests. */
  handler: (body: Record<string, unknown>) => Promise<unknown> = () => Promise.reject(new ColloquyError('unavailable', 'no handler'));
  /** Messages that are not requests or answers (the threads' own notices). */
  onNotice: (message: Record<string, unknown>) => void = () => {};

  /** `name`: the far end, for error messages. */
  constructor(end: MessageEnd, name: string) {
    this.#end = end;
    this.#name = name;
    end.on('message', (m) => this.#onMessage(m));
  }

  /** One request to the far end; its answer, or a ColloquyError. */
  request(body: Record<string, unknown>): Promise<unknown> {
    if (this.#closed !== null) return Promise.reject(new ColloquyError('unavailable', `${this.#name}: ${this.#closed}`, 1501));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new ColloquyError('unavailable', `${this.#name} did not answer ${String(body['op'])} within ${REQUEST_TIMEOUT_MS} ms`, 1501));
      }, REQUEST_TIMEOUT_MS);
      timer.unref();
      this.#pending.set(id, { resolve, reject, timer });
      this.#end.postMessage({ t: 'req', id, body } satisfies LinkMessage);
    });
  }

  /** The far end is gone: every pending and later request fails with `why`. */
  close(why: string): void {
    if (this.#closed !== null) return;
    this.#closed = why;
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer);
      p.reject(new ColloquyError('unavailable', `${this.#name}: ${why}`, 1501));
    }
    this.#pending.clear();
  }

  #onMessage(raw: unknown): void {
    if (typeof raw !== 'object' || raw === null) return;
    const m = raw as Record<string, unknown>;
    if (m['t'] === 'req') {
      const id = m['id'] as number;
      this.handler(m['body'] as Record<string, unknown>).then(
        (result) => this.#answer({ t: 'res', id, ok: true, result: result ?? null }),
        (err: unknown) => {
          const e = domainError(err);
          this.#answer({ t: 'res', id, ok: false, kind: e?.kind ?? 'unavailable', message: (err as Error)?.message ?? String(err) });
        },
      );
    } else if (m['t'] === 'res') {
      const p = this.#pending.get(m['id'] as number);
      if (!p) return;
      this.#pending.delete(m['id'] as number);
      clearTimeout(p.timer);
      if (m['ok'] === true) p.resolve(m['result']);
      else p.reject(new ColloquyError(m['kind'] as ErrorKind, String(m['message']), 1501));
    } else {
      this.onNotice(m);
    }
  }

  #answer(message: LinkMessage): void {
    if (this.#closed === null) this.#end.postMessage(message);
  }
}
