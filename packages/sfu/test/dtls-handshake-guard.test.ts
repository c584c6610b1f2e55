// The DTLS server's handshake guard (dtls-handshake-guard.ts): a client whose flights reach us twice
// (its retransmissions when we are slow to answer) still completes the handshake with us, with the
// same SRTP keys on both sides; a late ClientHello after the handshake changes nothing. werift's own
// DtlsServer and DtlsClient talk over an in-memory link that delivers each client datagram twice in
// one go, as a loaded server reads a flight and its retransmission from one socket read.

import { afterEach, describe, expect, it } from 'vitest';
import { DtlsClient, DtlsServer, RTCDtlsTransport } from 'werift';
import { guardDtlsServer, handshakeCopiesDropped, isGuarded } from '../src/dtls-handshake-guard.js';

/** The transport werift's DTLS sockets take: they set onData and call send. */
interface LinkEnd {
  onData?: (data: Buffer) => void;
  send(data: Buffer): Promise<void>;
  close(): void;
}

/**
 * Two connected ends. What the client sends in one go (a flight: werift sends each message as a
 * datagram of its own, Chromium puts them in one) reaches the server as that flight `copies` times
 * over, in one macrotask: the retransmission read right behind the original.
 */
function link(copies: number): { client: LinkEnd; server: LinkEnd; fromClient: Buffer[] } {
  const fromClient: Buffer[] = [];
  let flight: Buffer[] = [];
  let open = true;
  const client: LinkEnd = {
    send: async (data) => {
      fromClient.push(Buffer.from(data));
      if (flight.length === 0) {
        setImmediate(() => {
          const sent = flight;
          flight = [];
          for (let i = 0; i < copies && open; i++) for (const d of sent) server.onData?.(Buffer.from(d));
        });
      }
      flight.push(Buffer.from(data));
    },
    close: () => void (open = false),
  };
  const server: LinkEnd = {
    send: async (data) => {
      setImmediate(() => open && client.onData?.(Buffer.from(data)));
    },
    close: () => void (open = false),
  };
  return { client, server, fromClient };
}

/** The SRTP profile AES_CM_128_HMAC_SHA1_80 (RFC 5764 §4.1.2): 16-byte keys, 14-byte salts. */
const SRTP_AES128_CM_SHA1_80 = 1;

const opened: Array<{ close(): void }> = [];
afterEach(() => {
  for (const socket of opened.splice(0)) socket.close();
});

async function handshake(copies: number): Promise<{ server: DtlsServer; client: DtlsClient; fromClient: Buffer[] }> {
  const certificate = await RTCDtlsTransport.SetupCertificate();
  const keys = { cert: certificate.certPem, key: certificate.privateKey, signatureHash: certificate.signatureHash, srtpProfiles: [SRTP_AES128_CM_SHA1_80], extendedMasterSecret: true };
  const ends = link(copies);
  const server = new DtlsServer({ ...keys, transport: ends.server as never, certificateRequest: true });
  guardDtlsServer(server);
  const client = new DtlsClient({ ...keys, transport: ends.client as never });
  opened.push(server, client);
  const connected = Promise.all([new Promise<void>((r) => server.onConnect.once(() => r())), new Promise<void>((r) => client.onConnect.once(() => r()))]);
  await client.connect();
  // Unguarded, werift's server answers with a wrong Finished and the client never connects.
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('the DTLS handshake did not complete within 10 s')), 10_000)));
  await Promise.race([connected, deadline]).finally(() => clearTimeout(timer));
  return { server, client, fromClient: ends.fromClient };
}

/** Both ends' exported SRTP keys, as each side's local and remote. */
function srtpKeys(server: DtlsServer, client: DtlsClient) {
  return { server: server.extractSessionKeys(16, 14), client: client.extractSessionKeys(16, 14) };
}

describe('DTLS server handshake guard', () => {
  it('completes a handshake whose every client flight arrives twice, with matching SRTP keys on both ends', async () => {
    const { server, client } = await handshake(2);
    const keys = srtpKeys(server, client);
    expect(keys.server.remoteKey.equals(keys.client.localKey)).toBe(true);
    expect(keys.server.localKey.equals(keys.client.remoteKey)).toBe(true);
    expect(keys.server.remoteSalt.equals(keys.client.localSalt)).toBe(true);
    // The second copies of flight 5 (and stale ClientHellos) were dropped before werift's handler.
    expect(handshakeCopiesDropped(server)).toBeGreaterThanOrEqual(3);
  });

  it('drops nothing when each flight arrives once; guarding twice wraps once', async () => {
    const { server, client } = await handshake(1);
    expect(isGuarded(server)).toBe(true);
    const handler = (server as unknown as { onHandleHandshakes: unknown }).onHandleHandshakes;
    guardDtlsServer(server);
    expect((server as unknown as { onHandleHandshakes: unknown }).onHandleHandshakes).toBe(handler);
    const keys = srtpKeys(server, client);
    expect(keys.server.remoteKey.equals(keys.client.localKey)).toBe(true);
    expect(handshakeCopiesDropped(server)).toBe(0);
  });

  it('a ClientHello arriving after the handshake (a late copy) keeps the session and its keys', async () => {
    const { server, client, fromClient } = await handshake(1);
    const before = srtpKeys(server, client).server;
    const dropped = handshakeCopiesDropped(server);
    // The client's first datagram is its first ClientHello; its cookie-carrying one came later.
    const hellos = fromClient.filter((d) => d[0] === 22 /* handshake record */ && d[13] === 1 /* client_hello */);
    expect(hellos.length).toBeGreaterThanOrEqual(2);
    for (const hello of hellos) (server as unknown as { udpOnMessage(d: Buffer): void }).udpOnMessage(hello);
    await new Promise((r) => setImmediate(r));
    expect(server.connected).toBe(true);
    expect(handshakeCopiesDropped(server)).toBe(dropped + hellos.length);
    const after = server.extractSessionKeys(16, 14);
    expect(after.localKey.equals(before.localKey)).toBe(true);
    expect(after.remoteKey.equals(before.remoteKey)).toBe(true);
  });
});
