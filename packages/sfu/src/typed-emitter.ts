// The one typed event emitter of Colloquy (the SFU's and the server's), in the style of mediasoup's EnhancedEventEmitter
// (safeEmit): each class declares its events as a map `{ close: [reason: string] }`, so emitting or
// listening to a misspelled event, or with the wrong arguments, is a compile error. Media objects
// (routers, transports, producers, consumers) and domain objects (sessions, connections, streams,
// subscriptions) all emit through it. It lives here, in the lowest package that needs it; the
// server re-exports it (packages/server/src/typed-emitter.ts), so one `listenerError` handler,
// pointed at the server's logger, covers both.
//
// A listener that throws is reported to TypedEmitter.listenerError (the server points it at its
// logger) and the emitter carries on with the next listener: an exception must never end the
// process, nor leave a close cascade half done (a stream closed without its transport is a leaked
// UDP port). It is never rethrown, synchronously or later.

import { EventEmitter } from 'node:events';

export type EventMap = Record<string, unknown[]>;
type Listener<Args extends unknown[]> = (...args: Args) => void;

export type ListenerErrorHandler = (err: unknown, event: string, emitter: string) => void;

const defaultListenerError: ListenerErrorHandler = (err, event, emitter) => {
  console.error(`${emitter}: listener of '${event}' threw`, err);
};

export class TypedEmitter<E extends EventMap> {
  /**
   * Where a throwing listener's error goes; startServer points it at the server's logger. A handler
   * that throws itself is ignored (the error path must not become a crash path).
   */
  static listenerError: ListenerErrorHandler = defaultListenerError;

  /** Back to console.error (tests that changed the handler). */
  static resetListenerError(): void {
    TypedEmitter.listenerError = defaultListenerError;
  }

  readonly #emitter = new EventEmitter({ captureRejections: false });

  constructor() {
    // Every connection of a session listens to it; the count is bounded by the session size.
    this.#emitter.setMaxListeners(0);
  }

  on<K extends keyof E & string>(event: K, listener: Listener<E[K]>): this {
    this.#emitter.on(event, listener as Listener<unknown[]>);
    return this;
  }

  once<K extends keyof E & string>(event: K, listener: Listener<E[K]>): this {
    this.#emitter.once(event, listener as Listener<unknown[]>);
    return this;
  }

  off<K extends keyof E & string>(event: K, listener: Listener<E[K]>): this {
    this.#emitter.off(event, listener as Listener<unknown[]>);
    return this;
  }

  listenerCount<K extends keyof E & string>(event: K): number {
    return this.#emitter.listenerCount(event);
  }

  removeAllListeners<K extends keyof E & string>(event?: K): this {
    if (event === undefined) this.#emitter.removeAllListeners();
    else this.#emitter.removeAllListeners(event);
    return this;
  }

  /**
   * Calls every listener in order, each with `this` as the emitter. One that throws is reported and
   * the others still run. rawListeners() is a copy that keeps once() wrappers, which remove
   * themselves when called, so a listener added or removed meanwhile does not disturb this emit.
   */
  protected emit<K extends keyof E & string>(event: K, ...args: E[K]): void {
    for (const listener of this.#emitter.rawListeners(event)) {
      try {
        (listener as (...a: unknown[]) => void).apply(this, args);
      } catch (err) {
        reportListenerError(err, event, this.constructor.name);
      }
    }
  }
}

/** Reports an error thrown by a listener (also for hand-rolled listener lists, like RTP taps). */
export function reportListenerError(err: unknown, event: string, emitter: string): void {
  try {
    TypedEmitter.listenerError(err, event, emitter);
  } catch {
    // A broken error handler must not turn a reported error into a crash.
  }
}
