// How a node proves to another that a request comes from inside the cluster, and carries the
// address of the client it acts for. The proof is an HMAC with the cluster secret over the purpose
// (REST forwarding or a proxied signaling socket), the time, the method and path, and the client's
// address: a captured header is good for that one request line and client for a minute only, and
// cannot be moved to another path or made to claim another client address.
//
//   x-colloquy-node-auth:      <unix seconds>.<base64url HMAC-SHA256>
//   x-colloquy-client-address: the address the first node saw (after its own proxy trust)
//   x-colloquy-entry-node:     a proxied signaling socket: the node the client reached (covered by
//                              the proof; the session's home asks that node to serve its subscriptions)

import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export const NODE_AUTH_HEADER = 'x-colloquy-node-auth';
export const CLIENT_ADDRESS_HEADER = 'x-colloquy-client-address';
export const ENTRY_NODE_HEADER = 'x-colloquy-entry-node';
/** How far the signer's clock may be from ours (nodes run NTP), and how long a proof lasts. */
export const NODE_AUTH_WINDOW_S = 60;

export type NodeAuthPurpose = 'rest' | 'signaling' | 'signaling-link' | 'media';

/** What a proof is bound to. */
export interface NodeRequestLine {
  purpose: NodeAuthPurpose;
  method: string;
  /** The path and query exactly as sent (the receiving node's `request.url`). */
  url: string;
  clientAddress: string;
  /** A proxied signaling socket: the node the client reached. */
  entryNode?: string;
}

function mac(secret: string, line: NodeRequestLine, seconds: number): string {
  return createHmac('sha256', secret)
    .update(`colloquy-cluster:${line.purpose}\n${seconds}\n${line.method.toUpperCase()} ${line.url}\n${line.clientAddress}${line.entryNode === undefined ? '' : `\n${line.entryNode}`}`)
    .digest('base64url');
}

/** The two headers of a request sent on to another node. */
export function nodeAuthHeaders(secret: string, line: NodeRequestLine, nowMs = Date.now()): Record<string, string> {
  const seconds = Math.floor(nowMs / 1000);
  return {
    [NODE_AUTH_HEADER]: `${seconds}.${mac(secret, line, seconds)}`,
    [CLIENT_ADDRESS_HEADER]: line.clientAddress,
    ...(line.entryNode === undefined ? {} : { [ENTRY_NODE_HEADER]: line.entryNode }),
  };
}

/** Whether `value` proves `line` now. */
export function isNodeAuth(secret: string, value: string | string[] | undefined, line: NodeRequestLine, nowMs = Date.now()): boolean {
  if (typeof value !== 'string') return false;
  const match = /^(\d{1,12})\.([A-Za-z0-9_-]{43})$/.exec(value);
  if (!match) return false;
  const seconds = Number(match[1]);
  if (Math.abs(nowMs / 1000 - seconds) > NODE_AUTH_WINDOW_S) return false;
  const expected = Buffer.from(mac(secret, line, seconds));
  const given = Buffer.from(match[2]!);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/**
 * The client a request another node sent on acts for: its address when the request carries a valid
 * proof for `purpose`, else null (an ordinary request: the caller works out the address itself).
 */
export function nodeForwardedClient(secret: string, purpose: NodeAuthPurpose, request: IncomingMessage): { clientAddress: string; entryNode: string | null } | null {
  const clientAddress = request.headers[CLIENT_ADDRESS_HEADER];
  if (typeof clientAddress !== 'string' || clientAddress.length === 0 || clientAddress.length > 64) return null;
  const entry = request.headers[ENTRY_NODE_HEADER];
  if (entry !== undefined && (typeof entry !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(entry))) return null;
  const line = { purpose, method: request.method ?? 'GET', url: request.url ?? '', clientAddress, ...(entry === undefined ? {} : { entryNode: entry }) };
  return isNodeAuth(secret, request.headers[NODE_AUTH_HEADER], line) ? { clientAddress, entryNode: entry ?? null } : null;
}
