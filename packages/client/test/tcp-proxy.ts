// A TCP proxy on loopback between a browser and the server, so a test can cut the network under an
// open WebSocket (Chromium's offline mode does not close one) and refuse reconnections for a while.

import { createServer, connect, type Server, type Socket } from 'node:net';

export interface TcpProxy {
  /** http://127.0.0.1:<port>, forwarding to the target. */
  url: string;
  /** Destroys every open connection, both ways, as a network failure would. */
  cut(): void;
  /** While true, new connections are accepted and dropped at once. */
  setBlocked(blocked: boolean): void;
  /**
   * Silences every open connection without closing it, as a dead route would: nothing is forwarded
   * either way, and the server hanging up is not passed on. Only a heartbeat can notice. New
   * connections work normally.
   */
  freeze(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetUrl: string): Promise<TcpProxy> {
  const target = new URL(targetUrl);
  const sockets = new Set<Socket>();
  const frozen = new WeakSet<Socket>();
  let blocked = false;
  const server: Server = createServer((client) => {
    if (blocked) {
      client.destroy();
      return;
    }
    const upstream = connect(Number(target.port), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {});
    }
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => {
      if (!frozen.has(client)) client.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    cut() {
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
    setBlocked(value) {
      blocked = value;
    },
    freeze() {
      for (const s of sockets) {
        frozen.add(s);
        s.unpipe();
        s.pause();
      }
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
