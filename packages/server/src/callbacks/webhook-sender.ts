// Delivers callbacks: an HTTP POST of JSON to the project's URL, one queue per project, kind and URL
// so that each receiver gets a project's events in the order they happened and a slow or dead
// receiver holds up only its own. A delivery succeeds on any 2xx; otherwise (an error status, a refused connection,
// no answer within the timeout) it is tried again after each of `retryDelaysMs`, then dropped and
// logged. A queue holds at most `maxQueued` deliveries; beyond that the newest are dropped.

import type { Logger } from '../logger.js';
import type { CallbackKind } from './callback-store.js';

export interface Delivery {
  projectId: string;
  kind: CallbackKind;
  url: string;
  body: Record<string, unknown>;
}

export interface WebhookSenderOptions {
  /** How long one POST may take (ms). */
  timeoutMs: number;
  /** Waits before the 2nd, 3rd, … attempt (ms); its length + 1 is the number of attempts. */
  retryDelaysMs: readonly number[];
  maxQueued: number;
}

export const DEFAULT_WEBHOOK_OPTIONS: WebhookSenderOptions = { timeoutMs: 5000, retryDelaysMs: [1000, 5000, 30_000], maxQueued: 1000 };

export interface WebhookStats {
  delivered: number;
  /** Given up after every attempt. */
  failed: number;
  /** Dropped because their queue was full. */
  dropped: number;
  queued: number;
}

interface Queue {
  items: Delivery[];
  running: boolean;
}

export class WebhookSender {
  readonly #options: WebhookSenderOptions;
  readonly #log: Logger;
  readonly #queues = new Map<string, Queue>();
  readonly #inFlight = new Set<AbortController>();
  readonly #timers = new Set<NodeJS.Timeout>();
  #closed = false;
  readonly #stats = { delivered: 0, failed: 0, dropped: 0 };

  constructor(log: Logger, options: Partial<WebhookSenderOptions> = {}) {
    this.#log = log;
    this.#options = { ...DEFAULT_WEBHOOK_OPTIONS, ...options };
  }

  get stats(): WebhookStats {
    let queued = 0;
    for (const q of this.#queues.values()) queued += q.items.length;
    return { ...this.#stats, queued };
  }

  send(delivery: Delivery): void {
    if (this.#closed) return;
    const key = `${delivery.projectId}\n${delivery.kind}\n${delivery.url}`;
    let queue = this.#queues.get(key);
    if (!queue) {
      queue = { items: [], running: false };
      this.#queues.set(key, queue);
    }
    if (queue.items.length >= this.#options.maxQueued) {
      this.#stats.dropped++;
      this.#log.warn({ projectId: delivery.projectId, kind: delivery.kind, queued: queue.items.length }, 'callback queue full; event dropped');
      return;
    }
    queue.items.push(delivery);
    if (!queue.running) void this.#drain(key, queue);
  }

  /** Stops: pending deliveries are abandoned (and logged), requests in flight aborted. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const pending = this.stats.queued;
    if (pending > 0) this.#log.warn({ pending }, 'server stopping: undelivered callbacks abandoned');
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    for (const controller of this.#inFlight) controller.abort();
    this.#queues.clear();
  }

  async #drain(key: string, queue: Queue): Promise<void> {
    queue.running = true;
    while (!this.#closed && queue.items.length > 0) {
      const delivery = queue.items[0]!;
      let attempt = 0;
      for (;;) {
        const problem = await this.#post(delivery);
        if (this.#closed) return;
        if (problem === null) {
          this.#stats.delivered++;
          break;
        }
        if (attempt >= this.#options.retryDelaysMs.length) {
          this.#stats.failed++;
          this.#log.warn({ projectId: delivery.projectId, kind: delivery.kind, url: delivery.url, event: delivery.body['event'], problem, attempts: attempt + 1 }, 'callback not delivered; giving up');
          break;
        }
        this.#log.info({ projectId: delivery.projectId, kind: delivery.kind, problem, attempt: attempt + 1 }, 'callback failed; will retry');
        await this.#sleep(this.#options.retryDelaysMs[attempt++]!);
        if (this.#closed) return;
      }
      queue.items.shift();
    }
    queue.running = false;
    if (queue.items.length === 0) this.#queues.delete(key);
  }

  /** One POST; null on a 2xx, else what went wrong. */
  async #post(delivery: Delivery): Promise<string | null> {
    const controller = new AbortController();
    this.#inFlight.add(controller);
    const timer = setTimeout(() => controller.abort(), this.#options.timeoutMs);
    try {
      const response = await fetch(delivery.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'Colloquy-Callbacks/1' },
        body: JSON.stringify(delivery.body),
        signal: controller.signal,
        redirect: 'manual',
      });
      await response.body?.cancel().catch(() => {});
      return response.status >= 200 && response.status < 300 ? null : `HTTP ${response.status}`;
    } catch (err) {
      return controller.signal.aborted ? `no answer within ${this.#options.timeoutMs} ms` : ((err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message);
    } finally {
      clearTimeout(timer);
      this.#inFlight.delete(controller);
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        resolve();
      }, ms);
      timer.unref?.();
      this.#timers.add(timer);
    });
  }
}
