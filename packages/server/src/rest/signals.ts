// Signals by REST (reference §1.5): POST …/session/{sid}/signal and …/connection/{cid}/signal,
// JSON {type, data}; 204, 400 bad type, 413 too long, 404 nobody (or not that connection) there.

import { checkSignal } from '@colloquy/protocol';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ColloquyError, invalid } from '../errors.js';
import type { AppContext } from './context.js';

type SignalRequest = FastifyRequest<{ Params: { sessionId: string; connectionId?: string } }>;

export async function signalRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  const send = async (request: SignalRequest, reply: FastifyReply) => {
    const { type, data } = readSignalBody(request.body);
    ctx.sessions.signal(await ctx.sessions.restActor(request.project, request.params.sessionId), request.params.connectionId ?? null, type, data);
    return reply.status(204).send();
  };
  app.post('/session/:sessionId/signal', send);
  app.post('/session/:sessionId/connection/:connectionId/signal', send);
}

export function readSignalBody(body: unknown): { type: string | undefined; data: string } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalid('Request body must be a JSON object {type, data}');
  const { type, data } = body as { type?: unknown; data?: unknown };
  if (data === undefined || data === null) throw invalid("Signal payload 'data' must be set", 15202);
  const problem = checkSignal(type ?? undefined, data);
  if (problem) {
    if (problem.problem === 'data-too-long' || problem.problem === 'type-too-long') throw new ColloquyError('too-large', problem.message, 413);
    throw invalid(problem.message);
  }
  return { type: (type ?? undefined) as string | undefined, data: data as string };
}
