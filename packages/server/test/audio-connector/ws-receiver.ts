// A WebSocket server on loopback standing in for an app's Audio Connector endpoint: it records the
// upgrade's headers, the text messages, and every binary message with its arrival time; it can
// play PCM back to the connector in real time (20 ms frames on a wall clock) and close the socket.

import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';

export interface ReceivedSocket {
  path: string;
  headers: IncomingHttpHeaders;
  texts: string[];
  /** When the first text message arrived (performance.now(), ms). */
  firstTextAt: number;
  /** Binary messages: bytes and arrival time (performance.now(), ms). */
  frames: Array<{ at: number; data: Buffer }>;
  closed: { code: number; reason: string } | null;
  ws: WebSocket;
}

export class WsReceiver {
  readonly sockets: ReceivedSocket[] = [];
  readonly #http: Server;
  readonly #wss: WebSocketServer;
  readonly #players = new Set<NodeJS.Timeout>();

  private constructor(http: Server, wss: WebSocketServer) {
    this.#http = http;
    this.#wss = wss;
    wss.on('connection', (ws, req) => {
      const socket: ReceivedSocket = { path: req.url ?? '', headers: req.headers, texts: [], firstTextAt: 0, frames: [], closed: null, ws };
      this.sockets.push(socket);
      ws.on('message', (data, isBinary) => {
        const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as Buffer);
        if (isBinary) socket.frames.push({ at: performance.now(), data: bytes });
        else {
          if (socket.texts.length === 0) socket.firstTextAt = performance.now();
          socket.texts.push(bytes.toString('utf8'));
        }
      });
      ws.on('close', (code, reason) => (socket.closed = { code, reason: reason.toString() }));
    });
  }

  static async start(): Promise<WsReceiver> {
    const http = createServer((_req, res) => res.writeHead(426).end());
    const wss = new WebSocketServer({ server: http });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    return new WsReceiver(http, wss);
  }

  uri(path: string): string {
    return `ws://127.0.0.1:${(this.#http.address() as AddressInfo).port}${path}`;
  }

  socket(path: string): ReceivedSocket | undefined {
    return this.sockets.find((s) => s.path === path);
  }

  /** Sends a sine of `hz` as 16-bit LE PCM at `rate`, one 20 ms message per 20 ms of wall time. */
  playTone(socket: ReceivedSocket, hz: number, rate: number, amplitude = 12000): () => void {
    const perFrame = rate / 50;
    const start = performance.now();
    let sent = 0;
    const timer = setInterval(() => {
      const due = Math.floor((performance.now() - start) / 20) + 1;
      while (sent < due && socket.ws.readyState === socket.ws.OPEN) {
        const frame = Buffer.alloc(perFrame * 2);
        for (let i = 0; i < perFrame; i++) frame.writeInt16LE(Math.round(amplitude * Math.sin((2 * Math.PI * hz * (sent * perFrame + i)) / rate)), i * 2);
        socket.ws.send(frame, { binary: true });
        sent++;
      }
    }, 10);
    this.#players.add(timer);
    return () => {
      clearInterval(timer);
      this.#players.delete(timer);
    };
  }

  async close(): Promise<void> {
    for (const t of this.#players) clearInterval(t);
    for (const s of this.sockets) s.ws.terminate();
    await new Promise((r) => this.#wss.close(r));
    await new Promise((r) => this.#http.close(r));
  }
}
