// Live captions by REST (OpenTok's captions API): POST …/captions {sessionId, token (moderator),
// languageCode (default en-US), maxDuration (300..14400 s, default 14400), partialCaptions (default
// true; @vonage/video types it as the string 'true'|'false'), statusCallbackUrl?} answers 202
// {captionsId}; POST …/captions/{id}/stop answers 202; GET …/captions/{id} answers the status
// (@vonage/video's getCaptionStatus). 400 bad body, token or language; 404 no such session or
// captions; 409 captions already run for the session, or a relayed session; 503 engine limit.

import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { CallbackValidationError, parseCallbackUrl } from '../callbacks/callback-store.js';
import { MAX_CAPTIONS_DURATION, MIN_CAPTIONS_DURATION, type CaptionsManager } from '../captions/captions-manager.js';
import { invalid } from '../errors.js';
import { parseWith } from './validation.js';

const booleanish = z.union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')]);

const startBody = z.object({
  sessionId: z.string().min(1).max(255),
  token: z.string().min(1).max(8192),
  languageCode: z
    .string()
    .regex(/^[A-Za-z]{2,3}-[A-Za-z]{2}$/, 'must be a language code such as en-US')
    .optional(),
  maxDuration: z
    .number()
    .int()
    .min(MIN_CAPTIONS_DURATION, `must be at least ${MIN_CAPTIONS_DURATION} seconds`)
    .max(MAX_CAPTIONS_DURATION, `must be at most ${MAX_CAPTIONS_DURATION} seconds`)
    .optional(),
  partialCaptions: booleanish.optional(),
  statusCallbackUrl: z.string().max(2048).optional(),
});

export async function captionsRoutes(app: FastifyInstance, captions: CaptionsManager): Promise<void> {
  app.post('/captions', async (request, reply) => {
    const body = parseWith(startBody, request.body);
    let statusCallbackUrl: string | null;
    try {
      statusCallbackUrl = parseCallbackUrl(body.statusCallbackUrl);
    } catch (err) {
      if (err instanceof CallbackValidationError) throw invalid(`statusCallbackUrl: ${err.message}`);
      throw err;
    }
    const result = await captions.start(request.project, {
      sessionId: body.sessionId,
      token: body.token,
      languageCode: body.languageCode ?? 'en-US',
      maxDuration: body.maxDuration ?? MAX_CAPTIONS_DURATION,
      partialCaptions: body.partialCaptions ?? true,
      statusCallbackUrl,
    });
    return reply.status(202).send(result);
  });

  app.post<{ Params: { id: string } }>('/captions/:id/stop', async (request, reply) => {
    captions.stop(request.project, request.params.id);
    return reply.status(202).send();
  });

  app.get<{ Params: { id: string } }>('/captions/:id', async (request) => {
    return captions.get(request.project, request.params.id);
  });
}
