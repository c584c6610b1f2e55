// The DTLS server's handshake guard (dtls-handshake-guard.ts): a client whose flights reach us twice
// (its retransmissions when we are slow to answer) still completes the handshake with us, with the
// same SRTP keys on both sides; a late ClientHello after the handshake changes nothing. werift's own
// DtlsServer and DtlsClient talk over an in-memory link that delivers each client datagram twice in
// one go, as a loaded server reads a flight and its retransmission from one socket read. The client's
// guard (the SFU is the DTLS client towards a publisher): late copies of the server's flights.

import { afterEach, describe, expect, it } from 'vitest';
import { DtlsClient, DtlsServer, RTCDtlsTransport } from 'werift';
import { guardDtlsClient, guardDtlsServer, handshakeCopiesDropped, isGuarded, lastHandshakeError, lateFlightsSkipped } from '../src/dtls-handshake-guard.js';

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
function link(copies: number, serverCopies = 1, dropFromServer?: (datagram: Buffer) => boolean): { client: LinkEnd; server: LinkEnd; fromClient: Buffer[]; fromServer: Buffer[] } {
  const fromClient: Buffer[] = [];
  const fromServer: Buffer[] = [];
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
      fromServer.push(Buffer.from(data));
      if (dropFromServer?.(data)) return;
      setImmediate(() => {
        for (let i = 0; i < serverCopies && open; i++) client.onData?.(Buffer.from(data));
      });
    },
    close: () => void (open = false),
  };
  return { client, server, fromClient, fromServer };
}

/** The SRTP profile AES_CM_128_HMAC_SHA1_80 (RFC 5764 §4.1.2): 16-byte keys, 14-byte salts. */
const SRTP_AES128_CM_SHA1_80 = 1;

const opened: Array<{ close(): void }> = [];
afterEach(() => {
  for (const socket of opened.splice(0)) socket.close();
});

async function handshake(copies: number, options: { guardClient?: boolean; serverCopies?: number; dropFromServer?: (datagram: Buffer) => boolean } = {}): Promise<{ server: DtlsServer; client: DtlsClient; fromClient: Buffer[]; fromServer: Buffer[] }> {
  const certificate = await RTCDtlsTransport.SetupCertificate();
  const keys = { cert: certificate.certPem, key: certificate.privateKey, signatureHash: certificate.signatureHash, srtpProfiles: [SRTP_AES128_CM_SHA1_80], extendedMasterSecret: true };
  const ends = link(copies, options.serverCopies, options.dropFromServer);
  const server = new DtlsServer({ ...keys, transport: ends.server as never, certificateRequest: true });
  guardDtlsServer(server);
  const client = new DtlsClient({ ...keys, transport: ends.client as never });
  if (options.guardClient !== false) guardDtlsClient(client);
  opened.push(server, client);
  const connected = Promise.all([new Promise<void>((r) => server.onConnect.once(() => r())), new Promise<void>((r) => client.onConnect.once(() => r()))]);
  await client.connect();
  // Unguarded, werift's server answers with a wrong Finished and the client never connects.
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('the DTLS handshake did not complete within 10 s')), 10_000)));
  await Promise.race([connected, deadline]).finally(() => clearTimeout(timer));
  return { server, client, fromClient: ends.fromClient, fromServer: ends.fromServer };
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

/** The server's handshake datagrams of these message types (a record of its own each, as werift sends them). */
function serverMessages(fromServer: Buffer[], types: number[]): Buffer[] {
  return fromServer.filter((d) => d[0] === 22 /* handshake record */ && types.includes(d[13]!));
}

/** Replays datagrams to the client as late copies; resolves once werift has handled them (and sent whatever it sends). */
async function replay(client: DtlsClient, datagrams: Buffer[]): Promise<void> {
  for (const d of datagrams) (client as unknown as { udpOnMessage(d: Buffer): void }).udpOnMessage(Buffer.from(d));
  await new Promise((r) => setTimeout(r, 100));
}

describe('DTLS client handshake guard (the SFU towards a publisher)', () => {
  /** What werift's client does with a late copy of the server's flight 4 once connected: its flight state and what it sent. */
  async function lateFlight4(guardClient: boolean) {
    const { client, fromClient, fromServer } = await handshake(1, { guardClient });
    const errors: Error[] = [];
    client.onError.subscribe((e) => errors.push(e));
    const sentBefore = fromClient.length;
    const flight4 = serverMessages(fromServer, [2, 11, 12, 13, 14]);
    expect(flight4.length).toBeGreaterThanOrEqual(4);
    await replay(client, flight4);
    const flight = (client as unknown as { dtls: { flight: number } }).dtls.flight;
    return { client, flight, sent: fromClient.length - sentBefore, errors, copies: flight4.length };
  }

  it('a copy of the server\'s flight 4 after the handshake is dropped: the client stays connected in its last flight and sends nothing', async () => {
    const { client, flight, sent, errors, copies } = await lateFlight4(true);
    expect(isGuarded(client)).toBe(true);
    expect(flight).toBe(7);
    expect(sent).toBe(0);
    expect(errors).toEqual([]);
    expect(client.connected).toBe(true);
    expect(handshakeCopiesDropped(client)).toBe(copies);
  });

  it('unguarded, werift builds flight 5 anew on that copy (what failed publishers\' DTLS ~33 s later)', async () => {
    const { flight, sent } = await lateFlight4(false);
    expect(flight).toBe(5); // back to waiting for a flight 6 the server will never send again
    expect(sent).toBeGreaterThan(0);
  });

  it('keeps the last error werift raised (what fails its DTLS transport), for the transport\'s dump', async () => {
    const { client } = await handshake(1);
    expect(lastHandshakeError(client)).toBeUndefined();
    client.onError.execute(new Error('over retransmitCount : 5 7'));
    expect(lastHandshakeError(client)?.message).toBe('Error: over retransmitCount : 5 7');
    expect(lastHandshakeError(client)!.at).toBeLessThanOrEqual(performance.now());
  });

  it('a copy of the HelloVerifyRequest after the handshake is dropped too (werift would clear its handshake cache and start flight 3 over)', async () => {
    const { client, fromClient, fromServer } = await handshake(1);
    const hvr = serverMessages(fromServer, [3]);
    expect(hvr.length).toBe(1);
    const sentBefore = fromClient.length;
    await replay(client, hvr);
    expect((client as unknown as { dtls: { flight: number } }).dtls.flight).toBe(7);
    expect(fromClient.length).toBe(sentBefore);
    expect(handshakeCopiesDropped(client)).toBe(1);
  });

  /**
   * The server's first ServerKeyExchange datagram is lost: werift's client handles the rest of flight
   * 4 and its ServerHelloDone waits for the missing message, polling on timers (werift's
   * waitForReady: 0, 100, 200, 300 ms…). The server retransmits flight 4 ~500 ms on; that copy's
   * ServerHelloDone finds everything, flight 5 goes out and the handshake completes. Then the first
   * ServerHelloDone's poll finds the message too, and werift runs flight 5 again: once connected,
   * that builds a new flight 5 and waits for a flight 6 that never comes (the transport fails ~33 s
   * later, "over retransmitCount : 5 7"). The filter cannot see it (the message passed it before
   * the connection); the guard's flight 5 does nothing once connected.
   */
  async function lostServerKeyExchange(guardClient: boolean) {
    let dropped = 0;
    const dropFirstKeyExchange = (d: Buffer) => d[0] === 22 && d[13] === 12 && dropped++ === 0;
    const { client, fromClient } = await handshake(1, { guardClient, dropFromServer: dropFirstKeyExchange });
    expect(dropped).toBeGreaterThanOrEqual(2); // the lost one and the retransmission's
    const sentAtConnect = fromClient.length;
    const dtls = (client as unknown as { dtls: { flight: number } }).dtls;
    // The late ServerHelloDone polls again ~100 ms after the retransmission that connected (later on a loaded machine).
    const until = performance.now() + 5000;
    while (dtls.flight === 7 && lateFlightsSkipped(client) === 0 && performance.now() < until) await new Promise((r) => setTimeout(r, 20));
    return { client, flight: dtls.flight, sent: fromClient.length - sentAtConnect };
  }

  it('a ServerHelloDone that waited for a lost message and ran on after the handshake does not start flight 5 again', async () => {
    const { client, flight, sent } = await lostServerKeyExchange(true);
    expect(flight).toBe(7);
    expect(sent).toBe(0);
    expect(client.connected).toBe(true);
    expect(lateFlightsSkipped(client)).toBe(1);
  });

  it('unguarded, that ServerHelloDone sends werift back to flight 5 after the handshake', async () => {
    const { flight, sent } = await lostServerKeyExchange(false);
    expect(flight).toBe(5);
    expect(sent).toBeGreaterThan(0);
  });

  it('completes a handshake whose every server datagram reaches the client twice, with matching SRTP keys', async () => {
    const { server, client } = await handshake(1, { serverCopies: 2 });
    // At least the HelloVerifyRequest's copy (werift would throw on it while in flight 3); flight 4's copies as they meet flight 5.
    expect(handshakeCopiesDropped(client)).toBeGreaterThanOrEqual(1);
    const keys = srtpKeys(server, client);
    expect(keys.server.remoteKey.equals(keys.client.localKey)).toBe(true);
    expect(keys.server.localKey.equals(keys.client.remoteKey)).toBe(true);
  });
});
