// The REST client's handling of a connection that fails before any answer: a read (GET) is sent
// once more (a kept-alive socket closed by the server as it was reused is the usual cause on loaded
// machines), a write never is, and the error names fetch's cause instead of only "fetch failed".
// The far end is a raw TCP server that drops chosen requests without answering.

import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { RequestError } from '../src/index.js';
import { RestClient } from '../src/rest-client.js';

let server: Server | undefined;
const sockets = new Set<Socket>();
/** Closes the server and the client's kept-alive sockets (close alone waits for them to time out). */
async function closeServer(): Promise<void> {
  const s = server;
  server = undefined;
  for (const socket of sockets) socket.destroy();
  sockets.clear();
  if (s) await new Promise((r) => s.close(r));
}
afterEach(closeServer);

/** Answers `{"ok":n}` to each request, except that the requests whose number `drop` lists are cut (RST or FIN). */
async function flakyServer(drop: (n: number) => 'reset' | 'close' | null): Promise<{ url: string; requests: string[] }> {
  const requests: string[] = [];
  server = createServer((socket: Socket) => {
    sockets.add(socket);
    let buffered = '';
    socket.on('data', (chunk) => {
      buffered += chunk.toString('latin1');
      const end = buffered.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buffered.slice(0, end);
      const length = Number(/content-length: *(\d+)/i.exec(head)?.[1] ?? 0);
      if (buffered.length < end + 4 + length) return;
      buffered = buffered.slice(end + 4 + length);
      requests.push(head.split('\r\n')[0]!);
      const how = drop(requests.length);
      if (how === 'reset') return void socket.resetAndDestroy();
      if (how === 'close') return void socket.destroy();
      const body = JSON.stringify({ ok: requests.length });
      socket.write(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: keep-alive\r\n\r\n${body}`);
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server!.address() as AddressInfo).port}`, requests };
}

const client = (url: string): RestClient => new RestClient({ kind: 'project', apiKey: '1234', apiSecret: 'secret' }, { apiUrl: url, timeout: 5000 });

describe('RestClient on a failing connection', () => {
  it('a GET cut before its answer (reset or closed) is sent once more and succeeds', async () => {
    for (const how of ['reset', 'close'] as const) {
      const { url, requests } = await flakyServer((n) => (n === 1 ? how : null));
      const { data } = await client(url).request<{ ok: number }>('GET', 'render/abc');
      expect(data, how).toEqual({ ok: 2 });
      expect(requests).toEqual(['GET /v2/project/1234/render/abc HTTP/1.1', 'GET /v2/project/1234/render/abc HTTP/1.1']);
      await closeServer();
    }
  });

  it('a GET cut twice fails, naming the cause; a POST is never repeated', async () => {
    const twice = await flakyServer(() => 'reset');
    const err = await client(twice.url).request('GET', 'render/abc').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RequestError);
    expect((err as RequestError).message).toMatch(/^GET http:\/\/127\.0\.0\.1:\d+\/v2\/project\/1234\/render\/abc failed: fetch failed \(ECONNRESET: /);
    expect(twice.requests).toHaveLength(2);
    await closeServer();

    const post = await flakyServer(() => 'close');
    const refused = await client(post.url).request('POST', 'render', { url: 'x' }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RequestError);
    expect((refused as RequestError).message).toMatch(/failed: fetch failed \(.+\)/);
    expect(post.requests).toEqual(['POST /v2/project/1234/render HTTP/1.1']);
  });
});
