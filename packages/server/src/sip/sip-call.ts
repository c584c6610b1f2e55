// One outbound SIP call's signalling (RFC 3261 UAC): the INVITE with our SDP offer, a second INVITE
// signed with digest credentials when the far end or a proxy challenges (401/407), ACK of the 2xx,
// CANCEL while it rings (our hang-up or the ring timeout), BYE both ways, a far end's re-INVITE
// answered with our SDP (hold, new address), in-dialog OPTIONS as keep-alive (408/481 ends the call),
// INFO with `application/dtmf-relay` accepted as DTMF. It knows nothing of sessions or RTP: it
// emits what happened and the SDP the far end sent.

import { randomBytes, randomUUID } from 'node:crypto';
import type { NameAddr, Remote, SipRequest, SipResponse } from 'sip';
import digest, { type DigestContext } from 'sip/digest.js';
import type { Logger } from '../logger.js';
import { TypedEmitter } from '../typed-emitter.js';
import type { SipUserAgent } from './sip-user-agent.js';

export type SipCallState = 'dialing' | 'ringing' | 'answered' | 'ended';

/** Why a call ended, in SIP terms: the final status (or 200 for a BYE after answer) and who ended it. */
export interface SipCallEnd {
  by: 'local' | 'remote' | 'error';
  /** SIP status: a failure's final response, 487 when we cancelled, 200 for a BYE. */
  sipCode: number;
  reason: string;
}

export type SipCallEvents = {
  ringing: [];
  /** 2xx: the far end's SDP answer. */
  answered: [sdp: string];
  /** A re-INVITE from the far end with a new offer (we answered with `localSdp()`). */
  remoteSdp: [sdp: string];
  /** A digit from SIP INFO (application/dtmf-relay): phones that do not send RFC 4733. */
  dtmf: [digit: string];
  ended: [SipCallEnd];
};

export interface SipCallOptions {
  ua: SipUserAgent;
  /** The far end: a sip: or sips: URI, with `;transport=udp|tcp|tls` when given (a sips: URI has it said as tls). */
  uri: string;
  /** OpenTok's `from`: `user@host` (or a full sip: URI); the caller id the far end shows. */
  from: string | null;
  /** Extra headers OpenTok sends as given (custom X- headers). */
  headers: Record<string, string>;
  auth: { username: string; password: string } | null;
  /** Our SDP offer (and our answer to a re-INVITE). */
  localSdp: () => string;
  ringTimeoutMs: number;
  keepAliveMs: number;
  logger: Logger;
}

const ALLOW = 'INVITE, ACK, CANCEL, BYE, OPTIONS, INFO';

export class SipCall extends TypedEmitter<SipCallEvents> {
  readonly id = randomUUID();
  readonly callId = `${randomBytes(12).toString('hex')}@colloquy`;
  readonly #localTag = randomBytes(8).toString('hex');
  readonly #o: SipCallOptions;
  readonly #log: Logger;
  #state: SipCallState = 'dialing';
  #cseq = Math.floor(Math.random() * 10_000) + 1;
  /** The INVITE now in flight (for CANCEL: same branch, same CSeq number). */
  #invite: SipRequest | null = null;
  #authTried = false;
  readonly #digest: DigestContext = {};
  #remoteTag: string | null = null;
  #remoteTarget: string | null = null;
  #routeSet: NameAddr[] = [];
  #cancelWanted = false;
  #cancelSent = false;
  /** A provisional response arrived for the INVITE in flight: CANCEL may go. */
  #provisional = false;
  #removeDialog: (() => void) | null = null;
  #ringTimer: NodeJS.Timeout | undefined;
  #keepAliveTimer: NodeJS.Timeout | undefined;

  constructor(options: SipCallOptions) {
    super();
    this.#o = options;
    this.#log = options.logger.child({ sipCallId: this.id });
  }

  get state(): SipCallState {
    return this.#state;
  }

  /** Sends the INVITE. */
  start(): void {
    this.#removeDialog = this.#o.ua.addDialog(this.callId, this.#localTag, (rq, remote) => this.#onDialogRequest(rq, remote));
    this.#ringTimer = setTimeout(() => {
      if (this.#state === 'dialing' || this.#state === 'ringing') {
        this.#log.info('SIP call not answered in time: cancelling');
        this.#cancel(408, 'Request Timeout');
      }
    }, this.#o.ringTimeoutMs);
    this.#sendInvite();
  }

  /**
   * Ends the call from our side: CANCEL while it rings, BYE once answered. `failure`: the call is
   * ended because it cannot go on (an answer we cannot use): reported as an error with that status.
   */
  hangUp(failure?: { sipCode: number; reason: string }): void {
    if (this.#state === 'ended') return;
    if (this.#state === 'answered') {
      this.#sendInDialog('BYE', () => {});
      this.#end(failure ? { by: 'error', ...failure } : { by: 'local', sipCode: 200, reason: 'BYE' });
      return;
    }
    this.#cancel(487, 'Request Terminated');
  }

  #fromHeader(): NameAddr {
    const from = this.#o.from;
    const host = this.#o.ua.publicAddress;
    const uri = from === null ? `sip:colloquy@${host}` : /^sips?:/i.test(from) ? from : `sip:${from}`;
    return { uri, params: { tag: this.#localTag } };
  }

  #contact(): NameAddr[] {
    const ua = this.#o.ua;
    const transport = transportOf(this.#o.uri);
    if (transport === 'tls') {
      // The far end opens TLS to this address for its requests in the dialog (BYE, re-INVITE).
      const scheme = /^sips:/i.test(this.#o.uri) ? 'sips' : 'sip';
      return [{ uri: `${scheme}:colloquy@${ua.publicAddress}:${ua.tlsPort}${scheme === 'sip' ? ';transport=tls' : ''}`, params: {} }];
    }
    return [{ uri: `sip:colloquy@${ua.publicAddress}:${ua.port}${transport === 'tcp' ? ';transport=tcp' : ''}`, params: {} }];
  }

  #sendInvite(): void {
    const request: SipRequest = {
      method: 'INVITE',
      uri: this.#o.uri,
      headers: {
        ...this.#o.headers,
        to: { uri: this.#o.uri.replace(/;transport=\w+/i, ''), params: {} },
        from: this.#fromHeader(),
        'call-id': this.callId,
        cseq: { method: 'INVITE', seq: this.#cseq },
        contact: this.#contact(),
        'max-forwards': 70,
        allow: ALLOW,
        'user-agent': 'Colloquy',
        'content-type': 'application/sdp',
      },
      content: this.#o.localSdp(),
    };
    this.#invite = request;
    this.#o.ua.send(request, (rs) => this.#onInviteResponse(request, rs));
  }

  #onInviteResponse(request: SipRequest, rs: SipResponse): void {
    if (this.#state === 'ended') {
      // A 2xx racing our CANCEL: the dialog exists at the far end, so ACK and BYE it.
      if (rs.status >= 200 && rs.status < 300) this.#ackAndBye(rs);
      return;
    }
    if (rs.status < 200) {
      this.#provisional = true;
      if (rs.status === 180 || rs.status === 183) {
        if (this.#state === 'dialing') {
          this.#state = 'ringing';
          this.emit('ringing');
        }
      }
      if (this.#cancelWanted) this.#sendCancel(request);
      return;
    }
    if (rs.status >= 300) {
      if ((rs.status === 401 || rs.status === 407) && this.#o.auth && !this.#authTried && !this.#cancelWanted) {
        this.#authTried = true;
        this.#cseq++;
        const user = { user: this.#o.auth.username, password: this.#o.auth.password };
        const retry = this.#inviteTemplate();
        digest.signRequest(this.#digest, retry, rs, user);
        this.#invite = retry;
        this.#provisional = false;
        this.#o.ua.send(retry, (r) => this.#onInviteResponse(retry, r));
        return;
      }
      this.#end({ by: this.#cancelWanted ? 'local' : 'remote', sipCode: rs.status, reason: rs.reason });
      return;
    }
    // 2xx: the dialog is up.
    this.#remoteTag = rs.headers.to.params['tag'] ?? null;
    this.#remoteTarget = rs.headers.contact?.[0]?.uri ?? this.#o.uri;
    this.#routeSet = [...(rs.headers['record-route'] ?? [])].reverse();
    this.#sendAck(rs);
    if (this.#cancelWanted) {
      this.#sendInDialog('BYE', () => {});
      this.#end({ by: 'local', sipCode: 487, reason: 'Request Terminated' });
      return;
    }
    clearTimeout(this.#ringTimer);
    this.#state = 'answered';
    this.#keepAliveTimer = setInterval(() => this.#keepAlive(), this.#o.keepAliveMs);
    this.#keepAliveTimer.unref();
    this.emit('answered', rs.content ?? '');
  }

  /** A fresh INVITE like the first one, for the signed retry (new branch, next CSeq). */
  #inviteTemplate(): SipRequest {
    const first = this.#invite!;
    return {
      method: 'INVITE',
      uri: first.uri,
      headers: { ...first.headers, via: [], cseq: { method: 'INVITE', seq: this.#cseq } },
      content: first.content ?? '',
    };
  }

  #sendAck(rs: SipResponse): void {
    const ack: SipRequest = {
      method: 'ACK',
      uri: this.#remoteTarget ?? this.#o.uri,
      headers: {
        to: rs.headers.to,
        from: rs.headers.from,
        'call-id': this.callId,
        cseq: { method: 'ACK', seq: rs.headers.cseq.seq },
        via: [],
        ...(this.#routeSet.length ? { route: this.#routeSet } : {}),
        ...(this.#authHeaders()),
      },
    };
    this.#o.ua.send(ack);
  }

  #ackAndBye(rs: SipResponse): void {
    this.#remoteTag = rs.headers.to.params['tag'] ?? null;
    this.#remoteTarget = rs.headers.contact?.[0]?.uri ?? this.#o.uri;
    this.#routeSet = [...(rs.headers['record-route'] ?? [])].reverse();
    this.#sendAck(rs);
    this.#sendInDialog('BYE', () => {}, true);
  }

  /** The Authorization header the accepted INVITE carried: proxies want it on every request. */
  #authHeaders(): Record<string, unknown> {
    const h = this.#invite?.headers;
    if (!h) return {};
    const out: Record<string, unknown> = {};
    if (h['authorization']) out['authorization'] = h['authorization'];
    if (h['proxy-authorization']) out['proxy-authorization'] = h['proxy-authorization'];
    return out;
  }

  #cancel(sipCode: number, reason: string): void {
    if (this.#cancelWanted) return;
    this.#cancelWanted = true;
    // A CANCEL may go only after a provisional response (RFC 3261 §9.1); before one, it waits.
    if (this.#provisional && this.#invite) this.#sendCancel(this.#invite);
    this.#end({ by: sipCode === 408 ? 'error' : 'local', sipCode, reason });
  }

  #sendCancel(invite: SipRequest): void {
    if (this.#cancelSent) return;
    this.#cancelSent = true;
    const cancel: SipRequest = {
      method: 'CANCEL',
      uri: invite.uri,
      headers: {
        to: invite.headers.to,
        from: invite.headers.from,
        'call-id': invite.headers['call-id'],
        cseq: { method: 'CANCEL', seq: invite.headers.cseq.seq },
        via: invite.headers.via ?? [],
        'max-forwards': 70,
      },
    };
    this.#o.ua.send(cancel, () => {});
  }

  #sendInDialog(method: string, onResponse: (rs: SipResponse) => void, force = false, content?: { type: string; body: string }): void {
    if (!force && this.#state !== 'answered') return;
    this.#cseq++;
    const request: SipRequest = {
      method,
      uri: this.#remoteTarget ?? this.#o.uri,
      headers: {
        to: { uri: this.#o.uri.replace(/;transport=\w+/i, ''), params: this.#remoteTag ? { tag: this.#remoteTag } : {} },
        from: this.#fromHeader(),
        'call-id': this.callId,
        cseq: { method, seq: this.#cseq },
        contact: this.#contact(),
        'max-forwards': 70,
        ...(this.#routeSet.length ? { route: [...this.#routeSet] } : {}),
        ...(content ? { 'content-type': content.type } : {}),
      },
      ...(content ? { content: content.body } : {}),
    };
    this.#o.ua.send(request, onResponse);
  }

  #keepAlive(): void {
    this.#sendInDialog('OPTIONS', (rs) => {
      // Any answer proves the far end is there, except "no such dialog" and a timeout (RFC 3261 §12.2.1.2).
      if (rs.status === 481 || rs.status === 408) {
        this.#log.info({ status: rs.status }, 'SIP keep-alive failed: the call is gone');
        this.#end({ by: 'error', sipCode: rs.status, reason: rs.reason });
      }
    });
  }

  #onDialogRequest(rq: SipRequest, _remote: Remote): void {
    const ua = this.#o.ua;
    switch (rq.method) {
      case 'ACK':
        return;
      case 'BYE':
        ua.respond(rq, 200, 'OK');
        this.#end({ by: 'remote', sipCode: 200, reason: 'BYE' });
        return;
      case 'INVITE': {
        // A re-INVITE: answer with our (unchanged) SDP; the media side follows the new offer.
        if (this.#state !== 'answered') {
          ua.respond(rq, 491, 'Request Pending');
          return;
        }
        ua.respond(rq, 200, 'OK', { headers: { contact: this.#contact(), 'content-type': 'application/sdp', allow: ALLOW }, content: this.#o.localSdp() });
        if (rq.content) this.emit('remoteSdp', rq.content);
        return;
      }
      case 'OPTIONS':
        ua.respond(rq, 200, 'OK', { headers: { allow: ALLOW, accept: 'application/sdp' } });
        return;
      case 'INFO': {
        ua.respond(rq, 200, 'OK');
        const type = String(rq.headers['content-type'] ?? '').toLowerCase();
        if (type.startsWith('application/dtmf-relay')) {
          const digit = /Signal\s*=\s*([0-9*#A-Da-d])/.exec(rq.content ?? '')?.[1];
          if (digit) this.emit('dtmf', digit.toUpperCase());
        }
        return;
      }
      default:
        ua.respond(rq, 405, 'Method Not Allowed', { headers: { allow: ALLOW } });
    }
  }

  #end(end: SipCallEnd): void {
    if (this.#state === 'ended') return;
    this.#state = 'ended';
    clearTimeout(this.#ringTimer);
    clearInterval(this.#keepAliveTimer);
    // Keep hearing the dialog a little while: a BYE retransmission or a late 2xx still gets an answer.
    const remove = this.#removeDialog;
    this.#removeDialog = null;
    if (remove) setTimeout(remove, 32_000).unref();
    this.#log.info(end, 'SIP call ended');
    this.emit('ended', end);
  }
}

/** The transport a SIP URI asks for: its `transport` parameter; `sips:` means TLS (RFC 3261 §26.2). */
export function transportOf(uri: string): 'udp' | 'tcp' | 'tls' {
  const param = /;transport=(\w+)/i.exec(uri)?.[1]?.toLowerCase();
  if (param === 'tls' || (param === undefined && /^sips:/i.test(uri))) return 'tls';
  return param === 'tcp' ? 'tcp' : 'udp';
}
