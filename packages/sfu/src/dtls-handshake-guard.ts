// DTLS handshakes: repeated flights of the peer are answered, never handled twice (werift's server and client).
//
// The SFU is the DTLS server of werift's transports towards a peer that answers our offer (a
// subscriber's browser or werift client). A DTLS client retransmits a flight when our
// answer is late (RFC 6347 §4.2.4), and Chromium's first timeout follows the ICE round trip: 50 ms
// on loopback. On a loaded machine werift takes longer than that to answer, so a flight often
// arrives twice. werift's DtlsServer handles each copy as if it were new:
//   - client flight 5 (Certificate, ClientKeyExchange, CertificateVerify, Finished) again: the
//     second ClientKeyExchange recomputes the master secret from a handshake hash that now holds
//     the first CertificateVerify too (extended master secret, RFC 7627). Our Finished and the
//     exported SRTP keys then come from a wrong secret: the browser retransmits its flight 5 until
//     it gives up ("Received non-DTLS packet before DTLS complete" in its log), while our side is
//     "connected" and sends SRTP it cannot read. Seen in the tests as a subscriber that "did not
//     connect in time" on a loaded machine (werift's log: "setup cipher" twice, then "decrypt
//     failed" on each of the browser's retransmitted Finished).
//   - a ClientHello without a cookie after our flight 4: werift's flight 2 draws a new server random
//     and key pair, so the client's flight 5 (made from the flight 4 it has) no longer matches.
//   - any ClientHello once connected: werift starts over (its renegotiation()), dropping the keys.
//     WebRTC never renegotiates DTLS; such a ClientHello is a late copy.
// This filter sits in front of werift's handshake handler: a flight 5 message already taken is a
// copy (werift's own Finished handling then resends our flight 6, as the RFC asks), and the stale
// ClientHellos above are dropped. A copy of ClientHello with the cookie while our flight 4 is out
// still reaches werift, which resends flight 4.
//
// The SFU is the DTLS client towards a publisher (it answers the browser's offer; the browser is
// the DTLS server). werift's DtlsClient has the same weakness the other way round: a server's
// flight 4 that arrives again after our flight 5 went out (the browser retransmits it when our
// flight 5 is late) makes it build flight 5 anew, even once connected: a new key exchange for the
// record layer and a flight marked "waiting for flight 6" that never comes; werift retransmits it
// for ~33 s and then fails the DTLS transport (dtls-handshake-guard.test.ts shows it). The SRTP
// keys were exported before and media flows on, but werift's transport reads "failed". In the
// impairment bench, on a loaded machine, publishers' werift DTLS failed ~31 s after connecting,
// about one run in three to six, and every RTCP we sent them stopped (their Chromium cut its
// estimate to its floor); with the filter alone it still happened in 3 of 60 publishers (the
// error werift raised: "over retransmitCount : 5 7"), so our RTCP no longer stops on it
// (srtp-path.ts, rtcpWritable). The other way to it (session 35): a ServerHelloDone whose flight 4
// lost a datagram waits for the missing message on werift's timer polls, the server's
// retransmitted flight 4 completes the handshake meanwhile, and the waiting handler then runs
// flight 5 again after the connection; it passed the filter before the connection, so each flight
// 5 werift builds is guarded to do nothing once connected (guardFlight5). A HelloVerifyRequest copy is
// worse: werift clears its handshake cache and starts flight 3 over (or throws at once while in
// flight 3). So the client's filter drops every handshake message once connected, a
// HelloVerifyRequest once flight 3 is out, and the server's flight 4 messages once flight 5 is
// out, except ServerHelloDone, on which werift resends flight 5.
//
// Installed once per process by wrapping RTCDtlsTransport.start, which builds the DtlsServer (or
// the DtlsClient): by the SFU (peer-transport.ts), and by the test kit's and the load tool's
// werift publishers, which are the DTLS server towards the SFU (it answers their offers as the
// client, as it does a browser's).

import { DtlsClient, DtlsServer, RTCDtlsTransport } from 'werift';

const CLIENT_HELLO = 1;
const HELLO_VERIFY_REQUEST = 3;
/** The messages of server flight 4 that werift's client takes again when they come again (ServerHelloDone makes it resend flight 5, as the RFC asks). */
const FLIGHT_4 = new Set([2 /* server_hello */, 11 /* certificate */, 12 /* server_key_exchange */, 13 /* certificate_request */]);
/** The messages of client flight 5 that change werift's state when handled (Finished is answered by a resend). */
const FLIGHT_5 = new Set([11 /* certificate */, 15 /* certificate_verify */, 16 /* client_key_exchange */]);

/** The part of werift's assembled handshake message read here. */
interface HandshakeView {
  msg_type: number;
  fragment: Buffer;
}

/** The part of werift's DtlsServer (and DtlsClient) read and changed here. */
interface DtlsSocketView {
  connected: boolean;
  onError?: { subscribe(listener: (err: unknown) => void): unknown };
  dtls: { flight?: number; handshakeCache: Record<number, { data: Array<{ msg_type: number }> } | undefined> };
  onHandleHandshakes: (assembled: HandshakeView[]) => Promise<void>;
}

/**
 * The guard's mark, on werift's prototype (installed) and on each server it guards (its count).
 * A registered symbol: a process that loads this module twice (built and from source, as tests
 * do) still guards each server once.
 */
const MARK = Symbol.for('colloquy.dtls-handshake-guard');

interface GuardState {
  dropped: number;
  /** Flights werift's client would have run again once connected (a handler that passed the filter before the connection, see guardDtlsClient). */
  lateFlights: number;
  /** The last error werift's handshake handler raised (it fails the DTLS transport), with when (performance.now() ms). */
  lastError?: { message: string; at: number };
}

/** Guards every DTLS server werift starts in this process (idempotent). */
export function guardDtlsHandshakes(): void {
  const proto = RTCDtlsTransport.prototype as unknown as { start(this: { dtls?: unknown }): Promise<void>; [MARK]?: true };
  if (proto[MARK]) return;
  proto[MARK] = true;
  const start = proto.start;
  proto.start = function (this: { dtls?: unknown }): Promise<void> {
    // start() builds its DtlsServer (or DtlsClient) synchronously, before its first await.
    const started = start.call(this);
    if (this.dtls instanceof DtlsServer) guardDtlsServer(this.dtls);
    else if (this.dtls instanceof DtlsClient) guardDtlsClient(this.dtls);
    return started;
  };
}

/** Puts the filter in front of one DtlsClient's handshake handler (once): the server's late copies are dropped. */
export function guardDtlsClient(client: DtlsClient): void {
  const state = guard(client, isServerCopy);
  if (state) guardFlight5(client as unknown as ClientView, state);
}

/** The part of werift's DtlsClient its flight 5 guard reads and changes. */
interface ClientView extends DtlsSocketView {
  flight5?: { exec(): Promise<void> };
}

/**
 * werift's ServerHelloDone handler runs flight 5 once flight 4's messages are all in its cache,
 * polling on timers while one is missing (a flight 4 that came in part: werift's own server sends
 * each message in a datagram of its own, and a loaded socket drops some; how often a browser's
 * flight 4 comes in part, BoringSSL packing a flight into datagrams up to its MTU, is not
 * measured). Meanwhile the server's retransmitted flight 4 can complete the handshake, and the
 * waiting handler then runs flight 5 again after the connection: a new key exchange and a wait
 * for a flight 6 that never comes, the DTLS transport failed ~33 s later ("over retransmitCount :
 * 5 7"). The message passed the filter before the connection, so the filter cannot stop it: every
 * flight 5 werift builds does nothing once connected.
 */
function guardFlight5(client: ClientView, state: GuardState): void {
  const guardExec = (flight: ClientView['flight5']): ClientView['flight5'] => {
    if (!flight) return flight;
    const exec = flight.exec;
    flight.exec = function (this: unknown): Promise<void> {
      if (client.connected || (client.dtls.flight ?? 0) >= 7) {
        state.lateFlights++;
        return Promise.resolve();
      }
      return exec.call(this);
    };
    return flight;
  };
  let current = guardExec(client.flight5);
  Object.defineProperty(client, 'flight5', {
    configurable: true,
    enumerable: true,
    get: () => current,
    set: (flight: ClientView['flight5']) => void (current = guardExec(flight)),
  });
}

/** Puts the filter in front of one DtlsServer's handshake handler (once). */
export function guardDtlsServer(server: DtlsServer): void {
  guard(server, isCopy);
}

/** Wraps the handshake handler once; the new guard's state, or undefined when already guarded (or werift's internals differ). */
function guard(socket: DtlsServer | DtlsClient, copy: (view: DtlsSocketView, message: HandshakeView) => boolean): GuardState | undefined {
  const view = socket as unknown as DtlsSocketView & { [MARK]?: GuardState };
  const handle = view.onHandleHandshakes;
  // werift's internals as read here; a release that changed them shows as guarded: false in dump().
  if (view[MARK] || typeof handle !== 'function' || typeof view.dtls?.handshakeCache !== 'object') return undefined;
  const state: GuardState = { dropped: 0, lateFlights: 0 };
  view[MARK] = state;
  // What failed werift's DTLS transport, for dump(): its handshake handler's errors end there.
  view.onError?.subscribe((err) => {
    state.lastError = { message: err instanceof Error ? `${err.name}: ${err.message || '(no message)'}` : String(err), at: performance.now() };
  });
  view.onHandleHandshakes = async (assembled) => {
    const fresh = assembled.filter((message) => {
      if (!copy(view, message)) return true;
      state.dropped++;
      return false;
    });
    if (fresh.length > 0) await handle(fresh);
  };
  return state;
}

/** Whether the filter sits in front of this DTLS server's (or client's) handshake handler. */
export function isGuarded(server: object): boolean {
  return stateOf(server) !== undefined;
}

/** Handshake messages this server (or client) dropped as copies of what it had already taken. */
export function handshakeCopiesDropped(server: object): number {
  return stateOf(server)?.dropped ?? 0;
}

/** Flight 5 runs werift's client would have made after the connection (see guardFlight5); 0 for a server. */
export function lateFlightsSkipped(client: object): number {
  return stateOf(client)?.lateFlights ?? 0;
}

/** The last error werift's handshake handler raised on this server (or client), and when (performance.now() ms); undefined if none. */
export function lastHandshakeError(server: object): { message: string; at: number } | undefined {
  return stateOf(server)?.lastError;
}

function stateOf(server: object): GuardState | undefined {
  return (server as { [MARK]?: GuardState })[MARK];
}

function isCopy(server: DtlsSocketView, message: HandshakeView): boolean {
  const flight = server.dtls.flight ?? 0;
  if (message.msg_type === CLIENT_HELLO) {
    if (server.connected || flight >= 6) return true;
    return flight === 4 && !hasCookie(message.fragment);
  }
  if (FLIGHT_5.has(message.msg_type)) {
    return server.connected || (server.dtls.handshakeCache[5]?.data.some((m) => m.msg_type === message.msg_type) ?? false);
  }
  return false;
}

/** A server handshake message werift's client must not take again (see the top of this file). */
function isServerCopy(client: DtlsSocketView, message: HandshakeView): boolean {
  const flight = client.dtls.flight ?? 0;
  if (client.connected || flight >= 7) return true;
  if (message.msg_type === HELLO_VERIFY_REQUEST) return flight >= 3;
  return FLIGHT_4.has(message.msg_type) && flight >= 5;
}

/** Whether a ClientHello carries a cookie: version (2), random (32), session id (1 + n), cookie (1 + n). */
function hasCookie(clientHello: Buffer): boolean {
  const sessionIdLength = clientHello[34];
  if (sessionIdLength === undefined) return false;
  return (clientHello[35 + sessionIdLength] ?? 0) > 0;
}
