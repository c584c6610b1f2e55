// A Connection: one client in the session (OpenTok.js Connection): its id, when it joined, and the
// data its token carries. `session.connection` is your own.

import type { ConnectionInfo } from '@colloquy/protocol';

export class Connection {
  readonly connectionId: string;
  /** Epoch milliseconds. */
  readonly creationTime: number;
  /** The token's connection data ('' when none). */
  readonly data: string;

  constructor(info: ConnectionInfo) {
    this.connectionId = info.connectionId;
    this.creationTime = info.creationTime;
    this.data = info.data;
  }

  /** OpenTok.js also exposes the id as `id`. */
  get id(): string {
    return this.connectionId;
  }
}
