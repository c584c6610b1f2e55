// Coalesces what one turn of the event loop writes to each signaling socket into one system call.
//
// ws writes every frame to its socket at once (a writev of header + payload). When one client joins
// a session of N, each of the N others gets a frame; when many join in the same turn (a join storm,
// a class starting), every socket gets several, and the kernel calls dominated the server's time
// (55 % of it in `writev` with 1,000 connections joining, bench/results). A socket's first message
// of a turn is written at once, so a lone event or a signal fanned out to everyone goes out without
// delay; from its second message on, the socket is corked until the turn's I/O is handled
// (setImmediate), and the rest leave in one writev, in the same order. Close frames go through the
// same socket, so they stay behind the messages sent before them. At most MAX_HELD_BYTES wait per
// socket.
//
// Measured (1,000 connections joining one session, bench/signaling, 4 runs before and 2 after, same
// machine and hour): server CPU 5.25-5.96 s -> 4.58-4.62 s, join 5.5-6.1 s -> 4.6 s, signal fan-out
// p50 9.7-12.6 ms -> 9.6-12.5 ms (unchanged). RSS after the storm was higher (77-114 KB per
// connection against 36-62) while the heap after a full GC was not; not explained yet.

import type { ClientSocket, FrameSink } from './socket.js';

/** Most bytes held for one socket before they are written anyway. */
const MAX_HELD_BYTES = 4 * 1024;

const socketOf = new WeakMap<ClientSocket, FrameSink>();
/** Sockets written to in this turn, and those of them corked since their second message. */
const written = new Set<FrameSink>();
const corked = new Set<FrameSink>();
let flushScheduled = false;

/** Remembers the network socket under a WebSocket (from the HTTP upgrade). */
export function trackSocket(ws: ClientSocket, socket: FrameSink): void {
  socketOf.set(ws, socket);
}

/** `ws.send(text)`; a socket's messages after its first of this turn are held and leave together. */
export function sendBatched(ws: ClientSocket, text: string): void {
  const socket = beforeWrite(ws);
  ws.send(text);
  afterWrite(socket);
}

/**
 * Writes a WebSocket frame built once for many sockets (broadcast-log.ts) straight to `ws`'s network
 * socket, batched like sendBatched. ws writes its own frames (sendBatched, pings, close) to the same
 * socket synchronously (no compression here), so the order of frames is the order of calls.
 */
export function sendFrameBatched(ws: ClientSocket, frame: Buffer): void {
  const socket = beforeWrite(ws);
  if (!socket) throw new Error('sendFrameBatched: the WebSocket was not tracked (trackSocket)');
  if (!socket.destroyed) socket.write(frame);
  afterWrite(socket);
}

function beforeWrite(ws: ClientSocket): FrameSink | undefined {
  const socket = socketOf.get(ws);
  if (socket && !socket.destroyed) {
    if (!written.has(socket)) {
      written.add(socket);
      if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(flush);
      }
    } else if (!corked.has(socket)) {
      socket.cork();
      corked.add(socket);
    }
  }
  return socket;
}

function afterWrite(socket: FrameSink | undefined): void {
  // A long batch leaves now rather than piling up in memory until the end of the turn.
  if (socket && corked.has(socket) && socket.writableLength >= MAX_HELD_BYTES) {
    corked.delete(socket);
    socket.uncork();
  }
}

function flush(): void {
  flushScheduled = false;
  for (const socket of corked) socket.uncork();
  corked.clear();
  written.clear();
}
