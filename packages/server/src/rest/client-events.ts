// The logging URL of OpenTok.js-style clients: `POST /logging/ClientEvent` (OT.properties.loggingURL
// is this server). Apps and pre-call network tests post client events there; each becomes a
// `clientEvent` in the Inspector log of the session it names. Nothing authenticates these posts,
// so: a body of at most 16 KiB and 20 events, every field typed and capped, a rate limit per
// address and one for the whole server, events recorded only for a session this server has (its
// project from our own records, never from the body), and a connection id kept only when it names
// a connection live in that session. Anything else is answered and dropped, never stored.

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { ColloquyError } from '../errors.js';
import { TokenBucket } from '../sessions/token-bucket.js';
import type { AppContext } from './context.js';

export const CLIENT_EVENT_PATH = '/logging/ClientEvent';
const MAX_BODY_BYTES = 16 * 1024;
const MAX_EVENTS_PER_POST = 20;
const MAX_PAYLOAD_CHARS = 1000;
/** Per address: a burst of 30 posts, then 5 a second; the whole server: 200, then 100 a second. */
const PER_ADDRESS = { burst: 30, perSecond: 5 };
const OVERALL = { burst: 200, perSecond: 100 };
/** Addresses remembered for their rate limit; past this the oldest is forgotten. */
const MAX_ADDRESSES = 10_000;

const name = z.string().min(1).max(64).regex(/^[A-Za-z0-9_.:\-]+$/, 'letters, digits and _ . : - only');
const id = z.string().min(1).max(256);

/** One event, in OpenTok.js's field names; unknown fields are ignored, never stored. */
const ClientEventSchema = z.object({
  action: name,
  variation: name.optional(),
  sessionId: id.optional(),
  partnerId: z.union([z.string().max(64), z.number()]).optional(),
  connectionId: id.optional(),
  streamId: id.optional(),
  clientVersion: z.string().max(64).optional(),
  payload: z.unknown().optional(),
});

const BodySchema = z.union([ClientEventSchema, z.array(ClientEventSchema).min(1).max(MAX_EVENTS_PER_POST)]);

export async function clientEventRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  const overall = new TokenBucket(OVERALL.burst, OVERALL.perSecond);
  const perAddress = new Map<string, TokenBucket>();
  const admit = (request: FastifyRequest): boolean => {
    let bucket = perAddress.get(request.ip);
    if (!bucket) {
      if (perAddress.size >= MAX_ADDRESSES) perAddress.delete(perAddress.keys().next().value!);
      bucket = new TokenBucket(PER_ADDRESS.burst, PER_ADDRESS.perSecond);
      perAddress.set(request.ip, bucket);
    }
    return bucket.take() && overall.take();
  };

  // Clients post from their app's origin, some as text/plain (no CORS preflight): both are JSON here.
  app.addContentTypeParser('text/plain', { parseAs: 'string' }, app.getDefaultJsonParser('error', 'ignore'));
  app.addHook('onSend', async (_request, reply) => {
    reply.header('access-control-allow-origin', '*');
  });
  app.options(CLIENT_EVENT_PATH, async (_request, reply) =>
    reply.header('access-control-allow-methods', 'POST').header('access-control-allow-headers', 'content-type').header('access-control-max-age', '600').status(204).send(),
  );

  app.post(CLIENT_EVENT_PATH, { bodyLimit: MAX_BODY_BYTES }, async (request, reply) => {
    if (!admit(request)) throw new ColloquyError('rate-limited', 'Too many client events: slow down');
    const parsed = BodySchema.parse(request.body);
    const events = Array.isArray(parsed) ? parsed : [parsed];
    let recorded = 0;
    for (const event of events) if (await record(ctx, event)) recorded++;
    return reply.status(200).send({ received: events.length, recorded });
  });
}

/** Records one event in its session's Inspector log; false when it names no session of ours. */
async function record(ctx: AppContext, event: z.infer<typeof ClientEventSchema>): Promise<boolean> {
  if (!event.sessionId) return false;
  const session = await ctx.store.sessions.get(event.sessionId);
  if (!session) return false;
  if (event.partnerId !== undefined && String(event.partnerId) !== session.projectId) return false;
  const live = ctx.sessions.live(session.id);
  const connectionId = event.connectionId && live?.getConnection(event.connectionId) ? event.connectionId : undefined;
  let payload: string | undefined;
  if (event.payload !== undefined) {
    const text = typeof event.payload === 'string' ? event.payload : JSON.stringify(event.payload);
    payload = text.length > MAX_PAYLOAD_CHARS ? `${text.slice(0, MAX_PAYLOAD_CHARS)}…` : text;
  }
  ctx.inspector.recordEvent(session.id, session.projectId, {
    type: 'clientEvent',
    action: event.action,
    ...(event.variation ? { variation: event.variation } : {}),
    ...(connectionId ? { connectionId } : {}),
    ...(event.streamId && connectionId ? { streamId: event.streamId.slice(0, 64) } : {}),
    ...(event.clientVersion ? { clientVersion: event.clientVersion } : {}),
    ...(payload === undefined ? {} : { payload }),
  });
  return true;
}
