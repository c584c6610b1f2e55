// A small EventEmitter typed by an event map, so `on('scroe')` or a wrong listener signature is a
// compile error. Media objects emit through it; emit() is for the media module only.

import { EventEmitter } from 'node:events';

export type EventMap = Record<string, unknown[]>;

export class TypedEmitter<E extends EventMap> {
  readonly #emitter = new EventEmitter();

  /** Where a throwing listener's error goes; the MediaEngine points it at its logger. */
  static listenerError: (err: unknown, event: string) => void = (err, event) => {
    console.error(`media: listener of '${event}' threw`, err);
  };

  constructor() {
    this.#emitter.setMaxListeners(50);
  }

  on<K extends keyof E & string>(event: K, listener: (...args: E[K]) => void): this {
    this.#emitter.on(event, listener as (...args: unknown[]) => void);
    return this;
  }

  once<K extends keyof E & string>(event: K, listener: (...args: E[K]) => void): this {
    this.#emitter.once(event, listener as (...args: unknown[]) => void);
    return this;
  }

  off<K extends keyof E & string>(event: K, listener: (...args: E[K]) => void): this {
    this.#emitter.off(event, listener as (...args: unknown[]) => void);
    return this;
  }

  listenerCount<K extends keyof E & string>(event: K): number {
    return this.#emitter.listenerCount(event);
  }

  /**
   * Emits to listeners. A listener that throws must not break the media object in the middle of a
   * state change (a close cascade half done is a leak), so its error is reported, not rethrown.
   */
  protected emit<K extends keyof E & string>(event: K, ...args: E[K]): void {
    // rawListeners gives once() wrappers, which remove themselves when called.
    for (const listener of this.#emitter.rawListeners(event)) {
      try {
        (listener as (...a: unknown[]) => void).apply(this, args);
      } catch (err) {
        TypedEmitter.listenerError(err, event);
      }
    }
  }

  protected removeAllListeners(): void {
    this.#emitter.removeAllListeners();
  }
}
