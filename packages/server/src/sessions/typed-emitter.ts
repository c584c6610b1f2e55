// A typed event emitter in the style of mediasoup's EnhancedEventEmitter: each class declares its
// events as a map `{ close: [reason: string] }`, so emitting or listening to a misspelled event,
// or with the wrong arguments, is a compile error. A listener that throws is logged by the caller's
// `onListenerError`, never allowed to break the emitter's other listeners.

import { EventEmitter } from 'node:events';

export type EventMap = Record<string, unknown[]>;
type Listener<Args extends unknown[]> = (...args: Args) => void;

export class TypedEmitter<E extends EventMap> {
  readonly #emitter = new EventEmitter({ captureRejections: false });
  /** Called when a listener throws; the default rethrows asynchronously so the bug is not hidden. */
  protected onListenerError: (event: string, err: unknown) => void = (_event, err) => {
    queueMicrotask(() => {
      throw err;
    });
  };

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

  /** Calls every listener in order; one that throws does not stop the others. */
  protected emit<K extends keyof E & string>(event: K, ...args: E[K]): void {
    for (const listener of this.#emitter.listeners(event) as Listener<E[K]>[]) {
      try {
        listener(...args);
      } catch (err) {
        this.onListenerError(event, err);
      }
    }
  }
}
