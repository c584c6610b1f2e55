// Loopback UDP sockets for the tests of the native receive and send paths: bound on demand, closed
// after each test; and a condition poll.

import { createSocket, type Socket } from 'node:dgram';
import { afterEach } from 'vitest';

/** bound(): a socket on 127.0.0.1 (or ::1), closed after the test unless forget() took it back. */
export function loopbackSockets(): { bound(type?: 'udp4' | 'udp6'): Promise<Socket>; forget(socket: Socket): void } {
  const sockets: Socket[] = [];
  afterEach(async () => {
    await Promise.all(sockets.splice(0).map((s) => new Promise<void>((resolve) => s.close(() => resolve())).catch(() => {})));
  });
  return {
    async bound(type = 'udp4') {
      const socket = createSocket(type);
      sockets.push(socket);
      await new Promise<void>((resolve) => socket.bind(0, type === 'udp4' ? '127.0.0.1' : '::1', resolve));
      return socket;
    },
    forget(socket) {
      const i = sockets.indexOf(socket);
      if (i >= 0) sockets.splice(i, 1);
    },
  };
}

/** Polls `check` every 5 ms until it holds; throws after `ms`. */
export async function until(what: string, check: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
