// OpenTok.js-style events: on/once/off with a handler and optional context, several types in one
// space-separated string, or a map `{connectionCreated: fn, signal: fn}`. Typed by an event map,
// so `session.on('connectionCreated', e => e.connection)` knows its event. A handler that throws is
// logged and does not stop the other handlers.

import type { OTEvent } from './events.js';
import { log } from './logger.js';

export type EventHandler<E> = (event: E) => void;

/** Maps an event name to its event object; template keys such as `signal:${string}` are allowed. */
export type EventMap<M> = { [K in keyof M]: OTEvent };

type HandlerMap<M extends EventMap<M>> = { [K in keyof M]?: EventHandler<M[K]> };

interface Registration {
  handler: EventHandler<never>;
  context: unknown;
  once: boolean;
}

export class OTEventEmitter<M extends EventMap<M>> {
  readonly #handlers = new Map<string, Registration[]>();

  on<K extends keyof M & string>(type: K, handler: EventHandler<M[K]>, context?: object): this;
  /** Two types at once, space-separated: `on('sessionReconnecting sessionReconnected', fn)`. */
  on<K1 extends keyof M & string, K2 extends keyof M & string>(type: `${K1} ${K2}`, handler: EventHandler<M[K1] | M[K2]>, context?: object): this;
  on(handlers: HandlerMap<M>, context?: object): this;
  on(type: string | HandlerMap<M>, handler?: unknown, context?: unknown): this {
    this.#add(type, handler, context, false);
    return this;
  }

  once<K extends keyof M & string>(type: K, handler: EventHandler<M[K]>, context?: object): this;
  once<K1 extends keyof M & string, K2 extends keyof M & string>(type: `${K1} ${K2}`, handler: EventHandler<M[K1] | M[K2]>, context?: object): this;
  once(handlers: HandlerMap<M>, context?: object): this;
  once(type: string | HandlerMap<M>, handler?: unknown, context?: unknown): this {
    this.#add(type, handler, context, true);
    return this;
  }

  /**
   * Removes handlers: `off()` all of them, `off(type)` all of one type, `off(type, handler[, context])`
   * one, `off({type: handler}[, context])` several.
   */
  off<K extends keyof M & string>(type?: K, handler?: EventHandler<M[K]>, context?: object): this;
  off(handlers: HandlerMap<M>, context?: object): this;
  off(type?: string | HandlerMap<M>, handler?: unknown, context?: unknown): this {
    if (type === undefined) {
      this.#handlers.clear();
      return this;
    }
    if (typeof type === 'object') {
      for (const [name, fn] of Object.entries(type)) this.#remove(name, fn, handler);
      return this;
    }
    for (const name of splitTypes(type)) this.#remove(name, handler, context);
    return this;
  }

  /** OpenTok.js's older names for on/off. */
  addEventListener<K extends keyof M & string>(type: K, handler: EventHandler<M[K]>, context?: object): this {
    return this.on(type, handler, context);
  }

  removeEventListener<K extends keyof M & string>(type: K, handler: EventHandler<M[K]>, context?: object): this {
    return this.off(type, handler, context);
  }

  /** Calls the handlers of `event.type` (and of `alsoAs`, for signal:TYPE then signal), in order. */
  protected dispatchEvent(event: OTEvent, alsoAs?: string): void {
    for (const name of alsoAs === undefined ? [event.type] : [event.type, alsoAs]) {
      const registrations = this.#handlers.get(name);
      if (!registrations) continue;
      for (const r of [...registrations]) {
        if (r.once) this.#remove(name, r.handler, r.context);
        try {
          (r.handler as EventHandler<OTEvent>).call(r.context ?? this, event);
        } catch (err) {
          log.error(`a handler for "${name}" threw:`, err);
        }
      }
    }
  }

  protected hasHandlers(type: string): boolean {
    return (this.#handlers.get(type)?.length ?? 0) > 0;
  }

  #add(type: string | HandlerMap<M>, handler: unknown, context: unknown, once: boolean): void {
    if (typeof type === 'object' && type !== null) {
      for (const [name, fn] of Object.entries(type)) {
        if (typeof fn === 'function') this.#push(name, fn as EventHandler<never>, handler, once);
      }
      return;
    }
    if (typeof type !== 'string' || typeof handler !== 'function') {
      log.error('on/once need an event type and a handler function');
      return;
    }
    for (const name of splitTypes(type)) this.#push(name, handler as EventHandler<never>, context, once);
  }

  #push(name: string, handler: EventHandler<never>, context: unknown, once: boolean): void {
    const list = this.#handlers.get(name) ?? [];
    list.push({ handler, context, once });
    this.#handlers.set(name, list);
    this.handlerAdded(name);
  }

  /** Called after a handler for `type` is added (subclasses start work only someone listens for). */
  protected handlerAdded(_type: string): void {}

  #remove(name: string, handler: unknown, context: unknown): void {
    const list = this.#handlers.get(name);
    if (!list) return;
    const kept = handler === undefined ? [] : list.filter((r) => r.handler !== handler || (context !== undefined && r.context !== context));
    if (kept.length) this.#handlers.set(name, kept);
    else this.#handlers.delete(name);
  }
}

function splitTypes(type: string): string[] {
  return type.split(/\s+/).filter((t) => t !== '');
}
