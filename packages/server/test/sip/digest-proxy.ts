// A SIP proxy in front of baresip that demands digest authentication, as a PBX or carrier does:
// an INVITE without credentials gets 401 with a challenge, wrong credentials get 403, right ones
// are forwarded to baresip. Built on the `sip` package's proxy and digest modules (the same library
// the server uses, its other half: challenge and verify instead of sign).

import { createRequire } from 'node:module';
import type { SipRequest, SipResponse } from 'sip';

const require = createRequire(import.meta.url);
// The proxy module runs on the package's process-wide stack (sip.start): one per test process.
const proxy = require('sip/proxy.js') as {
  start(options: Record<string, unknown>, onRequest: (rq: SipRequest) => void): void;
  send(message: SipRequest | SipResponse, callback?: (rs: SipResponse) => void): void;
  stop(): void;
};
const sip = require('sip') as { makeResponse(rq: SipRequest, status: number, reason: string): SipResponse; stop(): void };
const sipStack = sip;
const digest = require('sip/digest.js') as {
  challenge(ctx: Record<string, unknown>, rs: SipResponse): SipResponse;
  authenticateRequest(ctx: Record<string, unknown>, rq: SipRequest, creds: { user: string; password: string }): boolean;
};

export interface DigestProxy {
  uri: string;
  challenges: number;
  rejected: number;
  forwarded: number;
  stop(): void;
}

export function startDigestProxy(options: { port: number; target: string; user: string; password: string; realm: string }): DigestProxy {
  const contexts = new Map<string, Record<string, unknown>>();
  const state: DigestProxy = {
    uri: `sip:bob@127.0.0.1:${options.port}`,
    challenges: 0,
    rejected: 0,
    forwarded: 0,
    stop: () => sipStack.stop(),
  };
  // Its own name must not be 127.0.0.1, or the stack takes baresip's address for one of its flows.
  proxy.start({ port: options.port, address: '127.0.0.1', publicAddress: 'digest-proxy.invalid', tcp: false }, (rq) => {
    if (rq.method === 'INVITE' && !rq.headers.to.params['tag']) {
      const callId = rq.headers['call-id'];
      let ctx = contexts.get(callId);
      if (!rq.headers['authorization'] || !ctx) {
        ctx = { realm: options.realm };
        contexts.set(callId, ctx);
        state.challenges++;
        proxy.send(digest.challenge(ctx, sip.makeResponse(rq, 401, 'Unauthorized')));
        return;
      }
      if (!digest.authenticateRequest(ctx, rq, { user: options.user, password: options.password })) {
        state.rejected++;
        proxy.send(sip.makeResponse(rq, 403, 'Forbidden'));
        return;
      }
      state.forwarded++;
      rq.uri = options.target;
      proxy.send(rq);
      return;
    }
    // The ACK of a non-2xx ends here; CANCEL is the proxy module's own business.
    if (rq.method === 'ACK') return;
    proxy.send(sip.makeResponse(rq, 405, 'Method Not Allowed'));
  });
  return state;
}
