// OpenTok.js's event objects: every event has `type`, `target`, `cancelable`, and
// preventDefault()/isDefaultPrevented(); the subclasses add what their event carries.

import type { DisconnectReason, StreamInfo } from '@colloquy/protocol';
import type { Connection } from './connection.js';

export class OTEvent<Target = unknown> {
  readonly type: string;
  readonly target: Target;
  readonly cancelable: boolean;
  #defaultPrevented = false;

  constructor(type: string, target: Target, cancelable = false) {
    this.type = type;
    this.target = target;
    this.cancelable = cancelable;
  }

  /** Stops the event's default action (when it is cancelable). */
  preventDefault(): void {
    if (this.cancelable) this.#defaultPrevented = true;
  }

  isDefaultPrevented(): boolean {
    return this.#defaultPrevented;
  }
}

/** connectionCreated / connectionDestroyed. `reason` only on connectionDestroyed. */
export class ConnectionEvent<Target = unknown> extends OTEvent<Target> {
  readonly connection: Connection;
  readonly reason: DisconnectReason | undefined;

  constructor(type: 'connectionCreated' | 'connectionDestroyed', target: Target, connection: Connection, reason?: DisconnectReason) {
    super(type, target);
    this.connection = connection;
    this.reason = reason;
  }
}

/** sessionConnected: the connections and streams already in the session. */
export class SessionConnectEvent<Target = unknown> extends OTEvent<Target> {
  readonly connections: Connection[];
  readonly streams: StreamInfo[];

  constructor(target: Target, connections: Connection[], streams: StreamInfo[]) {
    super('sessionConnected', target);
    this.connections = connections;
    this.streams = streams;
  }
}

/** sessionDisconnected, with why: clientDisconnected, forceDisconnected or networkDisconnected. */
export class SessionDisconnectEvent<Target = unknown> extends OTEvent<Target> {
  readonly reason: DisconnectReason;

  constructor(target: Target, reason: DisconnectReason) {
    super('sessionDisconnected', target, true);
    this.reason = reason;
  }
}

/** signal and signal:TYPE. `type` is "signal:TYPE" for a typed signal, "signal" otherwise. */
export class SignalEvent<Target = unknown> extends OTEvent<Target> {
  readonly data: string;
  /** The sender; null when the signal came from the app server (REST API). */
  readonly from: Connection | null;

  constructor(signalType: string | undefined, target: Target, data: string, from: Connection | null) {
    super(signalType === undefined ? 'signal' : `signal:${signalType}`, target);
    this.data = data;
    this.from = from;
  }
}

/** OT.on('exception'): an error not tied to one call's completion handler. */
export class ExceptionEvent<Target = unknown> extends OTEvent<Target> {
  readonly code: number;
  readonly message: string;
  readonly title: string;

  constructor(target: Target, code: number, title: string, message: string) {
    super('exception', target);
    this.code = code;
    this.title = title;
    this.message = message;
  }
}
