// The list of a session's connections a joining client gets in its connect reply, as JSON text.
//
// A join into a session of N connections used to build N info objects and stringify them inside
// the reply: O(N) allocations and serialization per join, so a join storm of N was O(N²) CPU (20 %
// of the server's time with 5,000 joining, bench/signaling). Each connection's info (id, creation
// time, data: all immutable) is serialized once; v2 sessions also keep the joined list of the
// connections already announced, rebuilt only when that set changes (a batch of connection events
// published, a connection gone), so the joins of one coalescing window share one list.

import type { ConnectionInfo } from '@colloquy/protocol';
import type { Connection, Session } from '../sessions/session-manager.js';

const infoJson = new WeakMap<Connection, string>();

/** `JSON.stringify(connection.info())`, made once per connection. */
export function connectionInfoJson(connection: Connection): string {
  let json = infoJson.get(connection);
  if (json === undefined) {
    json = JSON.stringify(connection.info() satisfies ConnectionInfo);
    infoJson.set(connection, json);
  }
  return json;
}

/** The JSON array of `session`'s connections but `except` and those `skip` says to leave out. */
export function connectionListJson(session: Session, except: Connection | null, skip?: (connection: Connection) => boolean): string {
  const parts: string[] = [];
  for (const c of session.connections.values()) if (c !== except && !skip?.(c)) parts.push(connectionInfoJson(c));
  return `[${parts.join(',')}]`;
}

/**
 * Serializes the message `build` makes, with the JSON array `listJson` where it put the marker it
 * is given (the connect reply's `connections`), without parsing the list back: the marker is
 * stringified and replaced. A quoted marker cannot occur
 * inside another string of the message (its quotes would be escaped there).
 */
export function withConnectionList(build: (marker: ConnectionInfo[]) => object, listJson: string): string {
  const text = JSON.stringify(build(MARKER as unknown as ConnectionInfo[]));
  const at = text.indexOf(QUOTED_MARKER);
  if (at < 0) throw new Error('withConnectionList: the marker was not placed');
  return text.slice(0, at) + listJson + text.slice(at + QUOTED_MARKER.length);
}

const MARKER = '\u0000colloquy-connection-list\u0000';
const QUOTED_MARKER = JSON.stringify(MARKER);
