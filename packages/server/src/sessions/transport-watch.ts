// How a Stream or a Subscription follows the SFU transport it owns: the transport must connect
// within `connectTimeoutMs`; once connected, a `disconnected` transport gets `disconnectGraceMs` to
// come back (ICE consent can recover), before that only the connect timeout; `failed`, `closed` or
// the transport's own close end it at once. The owner is told `connected` once and `lost` once.

import type { TransportState } from '@colloquy/sfu';

/** The part of a PublisherTransport or SubscriberTransport the watch listens to. */
export interface WatchedTransport {
  on(event: 'stateChange', listener: (state: TransportState) => void): unknown;
  on(event: 'close', listener: () => void): unknown;
}

export interface TransportWatchOptions {
  connectTimeoutMs: number;
  disconnectGraceMs: number;
  /** The transport connected for the first time. */
  onConnected(): void;
  /** The transport is gone for good: the owner ends (`networkDisconnected`). */
  onLost(): void;
}

export class TransportWatch {
  readonly #options: TransportWatchOptions;
  #connected = false;
  #stopped = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(transport: WatchedTransport, options: TransportWatchOptions) {
    this.#options = options;
    transport.on('stateChange', (state) => this.#onState(state));
    transport.on('close', () => this.#lose());
    this.#arm(options.connectTimeoutMs);
  }

  /** True once the transport has connected (and still after it dropped). */
  get connected(): boolean {
    return this.#connected;
  }

  /** The owner ended: no more calls, no timer left. Idempotent. */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #onState(state: TransportState): void {
    // 'new' and 'connecting' leave the pending connect timeout in place.
    if (this.#stopped || state === 'new' || state === 'connecting') return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (state === 'connected') {
      if (this.#connected) return;
      this.#connected = true;
      this.#options.onConnected();
    } else if (state === 'failed' || state === 'closed') {
      this.#lose();
    } else if (state === 'disconnected') {
      this.#arm(this.#connected ? this.#options.disconnectGraceMs : this.#options.connectTimeoutMs);
    }
  }

  #arm(ms: number): void {
    this.#timer = setTimeout(() => this.#lose(), ms);
    this.#timer.unref?.();
  }

  #lose(): void {
    if (this.#stopped) return;
    this.stop();
    this.#options.onLost();
  }
}
