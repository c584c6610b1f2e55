// The server's SIP user agent: one `sip` stack (the npm package: RFC 3261 parser, UDP, TCP and TLS
// transports, transactions) on the configured port (TLS on its own port when a certificate is
// configured), opened on the first dial and closed with the server. It sends requests for the calls and routes what arrives: requests inside a dialog go to
// that call (by Call-ID and tags), an out-of-dialog OPTIONS is answered 200 (a PBX's keep-alive
// probe), anything else is refused as RFC 3261 says.

import { randomBytes } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { checkServerIdentity, rootCertificates, type PeerCertificate } from 'node:tls';
import sip, { type Remote, type SipRequest, type SipResponse, type SipStack } from 'sip';
import type { Logger } from '../logger.js';

/** What a call registers to hear the far end's requests inside its dialog. */
export type DialogHandler = (request: SipRequest, remote: Remote) => void;

export interface SipUserAgentOptions {
  /** Port for UDP and TCP. */
  port: number;
  /** Address the sockets bind (all interfaces when absent). */
  bindAddress?: string;
  /** Address we put in Via, Contact and SDP: where the far end reaches us. */
  publicAddress: string;
  /** SIP over TLS: our certificate (the far end opens TLS to us for its requests in the dialog) and extra CAs to trust. */
  tls?: SipTlsSettings | null;
  logger: Logger;
}

export interface SipTlsSettings {
  port: number;
  certFile: string;
  keyFile: string;
  /** PEM CA bundle trusted for far ends' certificates besides the system's (a private PBX CA). */
  caFile: string | null;
}

export class SipUserAgent {
  readonly port: number;
  /** The TLS port; null when no certificate is configured (no SIP over TLS). */
  readonly tlsPort: number | null;
  readonly publicAddress: string;
  readonly #stack: SipStack;
  readonly #dialogs = new Map<string, DialogHandler>();
  readonly #log: Logger;
  /** Host names we dial over TLS, by the addresses they resolved to: a far end's certificate names its host, not its IP. */
  readonly #tlsNames = new Map<string, Set<string>>();
  #closed = false;

  constructor(options: SipUserAgentOptions) {
    this.port = options.port;
    this.tlsPort = options.tls?.port ?? null;
    this.publicAddress = options.publicAddress;
    this.#log = options.logger;
    const tls = options.tls
      ? {
          tls: {
            cert: readFileSync(options.tls.certFile),
            key: readFileSync(options.tls.keyFile),
            // `ca` replaces Node's roots, so they are given too.
            ...(options.tls.caFile ? { ca: [...rootCertificates, readFileSync(options.tls.caFile, 'utf8')] } : {}),
            // The far end's certificate is checked (Node's default trust plus caFile) against the
            // host the URI named; the `sip` package connects to the resolved address, so the name
            // comes from #tlsNames.
            rejectUnauthorized: true,
            checkServerIdentity: (host: string, cert: PeerCertificate) => this.#checkServerIdentity(host, cert),
            minVersion: 'TLSv1.2',
          },
          tls_port: options.tls.port,
        }
      : {};
    this.#stack = sip.create(
      {
        port: options.port,
        ...(options.bindAddress ? { address: options.bindAddress } : {}),
        // The stack treats a next hop whose host equals its own name as one of its flow tokens
        // (outbound proxy), so that name must never be a real address: a far end on our own IP
        // (a PBX on the same machine) would be unreachable. Responses still find us: UDP ones by
        // the `received`/`rport` the far end adds (RFC 3261 §18.2.2, RFC 3581), TCP ones on the
        // connection. Our real address is in Contact and SDP.
        publicAddress: `colloquy-${randomBytes(6).toString('hex')}.invalid`,
        udp: true,
        tcp: true,
        ...tls,
        logger: {
          send: (m, target) => this.#log.trace({ target, message: sip.stringify(m) }, 'SIP out'),
          recv: (m, remote) => this.#log.trace({ remote, message: sip.stringify(m) }, 'SIP in'),
          error: (err) => this.#log.warn({ err }, 'SIP stack error'),
        },
      },
      (request, remote) => this.#onRequest(request, remote),
    );
  }

  /**
   * Before a call over TLS to a host name: resolves it, so that the certificate of the address the
   * stack connects to is checked against that name.
   */
  async prepareTls(host: string): Promise<void> {
    if (isIP(host)) return;
    const addresses = await lookup(host, { all: true });
    for (const { address } of addresses) {
      const names = this.#tlsNames.get(address) ?? new Set<string>();
      names.add(host.toLowerCase());
      this.#tlsNames.set(address, names);
    }
  }

  #checkServerIdentity(host: string, cert: PeerCertificate): Error | undefined {
    const direct = checkServerIdentity(host, cert);
    if (!direct) return undefined;
    for (const name of this.#tlsNames.get(host) ?? []) {
      if (!checkServerIdentity(name, cert)) return undefined;
    }
    this.#log.warn({ host, err: direct }, 'SIP TLS: the far end\'s certificate does not name it');
    return direct;
  }

  /** Sends a request (a client transaction; responses arrive on `onResponse`) or a response. */
  send(message: SipRequest, onResponse?: (response: SipResponse) => void): void {
    if (this.#closed) return;
    this.#stack.send(message, onResponse);
  }

  respond(request: SipRequest, status: number, reason: string, extra: { headers?: Record<string, unknown>; content?: string } = {}): void {
    if (this.#closed) return;
    const response = sip.makeResponse(request, status, reason);
    Object.assign(response.headers, extra.headers ?? {});
    if (extra.content !== undefined) response.content = extra.content;
    this.#stack.send(response);
  }

  /** Hears requests in the dialog `callId` (our From tag is the dialog's local tag). */
  addDialog(callId: string, localTag: string, handler: DialogHandler): () => void {
    const key = `${callId}\n${localTag}`;
    this.#dialogs.set(key, handler);
    return () => {
      if (this.#dialogs.get(key) === handler) this.#dialogs.delete(key);
    };
  }

  get dialogCount(): number {
    return this.#dialogs.size;
  }

  #onRequest(request: SipRequest, remote: Remote): void {
    // Requests from the far end carry our tag in To.
    const localTag = request.headers.to?.params?.['tag'];
    if (localTag) {
      const handler = this.#dialogs.get(`${request.headers['call-id']}\n${localTag}`);
      if (handler) {
        handler(request, remote);
        return;
      }
      if (request.method !== 'ACK') this.respond(request, 481, 'Call/Transaction Does Not Exist');
      return;
    }
    if (request.method === 'OPTIONS') {
      this.respond(request, 200, 'OK', { headers: { allow: 'INVITE, ACK, CANCEL, BYE, OPTIONS, INFO', accept: 'application/sdp' } });
      return;
    }
    if (request.method === 'ACK') return;
    // This user agent only places calls: an INVITE from outside is not for us.
    this.respond(request, request.method === 'INVITE' ? 603 : 405, request.method === 'INVITE' ? 'Decline' : 'Method Not Allowed');
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#dialogs.clear();
    try {
      this.#stack.destroy();
    } catch (err) {
      this.#log.warn({ err }, 'SIP stack stop failed');
    }
  }
}
