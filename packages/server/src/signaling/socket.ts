// What the signaling server uses of a client's socket. A `ws` WebSocket is one; in a cluster, a
// client that reached another node is a LinkedClientSocket (cluster/signaling-link.ts): its frames
// travel to that node over one link shared by all its clients there, which writes them to the
// client's own TCP socket. Keeping the surface this small is what lets the two be interchangeable.

import type { Duplex } from 'node:stream';
import type { RawData } from 'ws';

/** The part of a `ws` WebSocket the signaling server calls: state, send, close, read pause, events. */
export interface ClientSocket {
  /** ws's states: 0 connecting, 1 open, 2 closing, 3 closed. */
  readonly readyState: 0 | 1 | 2 | 3;
  /** Bytes written and not yet sent. */
  readonly bufferedAmount: number;
  send(data: string, cb?: (err?: Error) => void): void;
  close(code?: number, reason?: string): void;
  terminate(): void;
  /** Stops reading the client (a cut-off client). */
  pause(): void;
  on(event: 'message', listener: (data: RawData, isBinary: boolean) => void): unknown;
  on(event: 'close', listener: (code: number, reason: Buffer) => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  once(event: 'close', listener: (code: number, reason: Buffer) => void): unknown;
  emit(event: 'message', data: RawData, isBinary: boolean): boolean;
}

/** Where a socket's prebuilt frames are written (write-batching.ts): a TCP socket, or a link's slot. */
export type FrameSink = Pick<Duplex, 'write' | 'cork' | 'uncork' | 'writableLength' | 'destroyed'>;
