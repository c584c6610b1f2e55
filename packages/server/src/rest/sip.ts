// SIP interconnect by REST (reference §1.8): POST …/dial (and …/call, the PHP SDK's path) with
// {sessionId, token, sip: {uri, from, headers, auth, secure, video, observeForceMute, streams}}
// answers 200 {id, connectionId, streamId}; 400 bad body or token, 404 no such session, 409 relayed
// session. Hang-up is forceDisconnect on the call's connection (connections.ts).
// POST …/session/{sid}/play-dtmf and …/session/{sid}/connection/{cid}/play-dtmf {digits} play
// DTMF on the session's SIP calls (or that connection's).

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { SipGateway } from '../sip/sip-gateway.js';
import { parseWith } from './validation.js';

/** OpenTok's limit on DTMF: digits 0-9, *, #, and p (a 500 ms pause). */
const DTMF_DIGITS = /^[0-9*#p]{1,64}$/;

const sipUri = z
  .string()
  .max(1024)
  .regex(/^sips?:[^\s<>"]+$/i, 'must be a sip: or sips: URI');

const dialBody = z.object({
  sessionId: z.string().min(1).max(255),
  token: z.string().min(1).max(8192),
  sip: z.object({
    uri: sipUri,
    from: z
      .string()
      .max(256)
      .regex(/^[^\s<>"]+$/, 'must be user@host')
      .optional(),
    headers: z
      .record(z.string().regex(/^[A-Za-z0-9-]{1,64}$/, 'header names are letters, digits and -'), z.string().max(1024).regex(/^[^\r\n]*$/, 'header values are one line'))
      .optional()
      .refine((h) => h === undefined || Object.keys(h).length <= 32, 'at most 32 headers')
      .refine((h) => h === undefined || Object.keys(h).every((k) => !RESERVED_HEADERS.has(k.toLowerCase())), 'headers may not replace SIP headers the call needs'),
    auth: z.object({ username: z.string().min(1).max(256), password: z.string().max(256) }).optional(),
    secure: z.boolean().optional(),
    video: z.boolean().optional(),
    observeForceMute: z.boolean().optional(),
    streams: z.array(z.string().min(1).max(255)).max(50).optional(),
  }),
});

/** Headers a custom `headers` map may not set: they make the dialog. */
const RESERVED_HEADERS = new Set(['via', 'to', 'from', 'call-id', 'cseq', 'contact', 'max-forwards', 'content-type', 'content-length', 'route', 'record-route', 'authorization', 'proxy-authorization']);

const dtmfBody = z.object({ digits: z.string().regex(DTMF_DIGITS, 'digits are 0-9, *, # and p (pause), 1 to 64 of them') });

export async function sipRoutes(app: FastifyInstance, gateway: SipGateway): Promise<void> {
  const dial = async (request: FastifyRequest) => {
    const body = parseWith(dialBody, request.body);
    const s = body.sip;
    return gateway.dial(request.project, {
      sessionId: body.sessionId,
      token: body.token,
      sip: {
        uri: s.uri,
        from: s.from ?? null,
        headers: s.headers ?? {},
        auth: s.auth ?? null,
        secure: s.secure ?? false,
        video: s.video ?? false,
        observeForceMute: s.observeForceMute ?? false,
        streams: s.streams ?? null,
      },
    });
  };
  // /dial everywhere, /call from the PHP SDK (reference §0.6).
  app.post('/dial', dial);
  app.post('/call', dial);

  app.post<{ Params: { sessionId: string; connectionId?: string } }>('/session/:sessionId/play-dtmf', async (request, reply) => {
    const { digits } = parseWith(dtmfBody, request.body);
    await gateway.playDtmf(request.project, request.params.sessionId, null, digits);
    return reply.status(200).send();
  });
  app.post<{ Params: { sessionId: string; connectionId: string } }>('/session/:sessionId/connection/:connectionId/play-dtmf', async (request, reply) => {
    const { digits } = parseWith(dtmfBody, request.body);
    await gateway.playDtmf(request.project, request.params.sessionId, request.params.connectionId, digits);
    return reply.status(200).send();
  });
}
