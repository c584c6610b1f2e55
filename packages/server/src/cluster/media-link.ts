// The media span's requests between nodes of a cluster (media-span/media-span.ts): POST
// /v2/cluster/media, signed with the cluster secret (node-auth.ts), JSON both ways. A node that does
// not answer, or answers with an error status, rejects the request with a ColloquyError of the
// matching kind.

import type { FastifyReply, FastifyRequest } from 'fastify';
import { ColloquyError, domainError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { MediaSpan, MediaSpanLink } from '../media-span/media-span.js';
import { nodeAuthHeaders, nodeForwardedClient } from './node-auth.js';
import type { NodeRegistry } from './node-registry.js';

export const MEDIA_PATH = '/v2/cluster/media';
const REQUEST_TIMEOUT_MS = 10_000;

/** Requests to other nodes, found in the registry, signed as `nodeId`. */
export function httpMediaLink(options: { nodeId: string; secret: string; registry: NodeRegistry }): MediaSpanLink {
  return {
    async post(nodeId, body) {
      const node = await options.registry.node(nodeId).catch(() => null);
      if (!node) throw new ColloquyError('unavailable', `node ${nodeId} is not in the cluster`, 1501);
      const headers = nodeAuthHeaders(options.secret, { purpose: 'media', method: 'POST', url: MEDIA_PATH, clientAddress: options.nodeId });
      headers['content-type'] = 'application/json';
      let answer: Response;
      try {
        answer = await fetch(node.internalUrl + MEDIA_PATH, { method: 'POST', headers, body: JSON.stringify(body), signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
      } catch (err) {
        throw new ColloquyError('unavailable', `node ${nodeId} did not answer (${(err as Error).message})`, 1501);
      }
      const text = await answer.text();
      let json: Record<string, unknown> = {};
      try {
        if (text) json = JSON.parse(text) as Record<string, unknown>;
      } catch {
        json = { message: text.slice(0, 200) };
      }
      if (!answer.ok) throw new ColloquyError(answer.status === 404 ? 'not-found' : answer.status === 400 ? 'invalid' : 'unavailable', `node ${nodeId}: ${String(json['message'] ?? answer.status)}`, 1501);
      return json;
    },
  };
}

/** POST MEDIA_PATH: a request of another node (node-auth proof required: 403 without). */
export async function handleMediaHttp(span: MediaSpan, secret: string, log: Logger, request: FastifyRequest, reply: FastifyReply): Promise<unknown> {
  const from = nodeForwardedClient(secret, 'media', request.raw);
  if (!from) return reply.status(403).send({ code: 403, message: 'node-to-node only' });
  const body = request.body;
  if (typeof body !== 'object' || body === null || typeof (body as { op?: unknown }).op !== 'string') return reply.status(400).send({ code: 400, message: 'op missing' });
  try {
    return await span.handle(from.clientAddress, body as Record<string, unknown>);
  } catch (err) {
    const e = domainError(err);
    const status = e?.kind === 'invalid' ? 400 : e?.kind === 'not-found' ? 404 : e?.kind === 'conflict' ? 409 : 503;
    if (status === 503) log.warn({ err: (err as Error).message, op: (body as { op: string }).op, from: from.clientAddress }, 'media request failed');
    return reply.status(status).send({ code: status, message: (err as Error).message });
  }
}
