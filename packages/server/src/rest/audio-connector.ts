// The Audio Connector by REST (OpenTok's `connect`): POST …/connect with {sessionId, token,
// websocket: {uri, streams?, headers?, audioRate?, bidirectional?}} answers 200 {id, connectionId};
// 400 bad body, token or unreachable WebSocket server (6 s), 404 no such session, 409 relayed
// session. POST …/connect/{id}/stop closes the socket (200; 404 unknown). forceDisconnect on the
// connector's connection ends it too (connections.ts).

import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AudioConnector } from '../audio-connector/audio-connector.js';
import { ColloquyError } from '../errors.js';
import { parseWith } from './validation.js';

/** OpenTok's limit on `headers` (names and values together). */
const MAX_HEADER_BYTES = 512;

/** Headers the WebSocket upgrade itself needs: a custom header may not replace them. */
const RESERVED_HEADERS = new Set(['host', 'connection', 'upgrade', 'content-length', 'transfer-encoding', 'te', 'trailer', 'keep-alive', 'proxy-connection']);

const wsUri = z
  .string()
  .max(2048)
  .refine((uri) => {
    try {
      const url = new URL(uri);
      return (url.protocol === 'ws:' || url.protocol === 'wss:') && url.hostname !== '';
    } catch {
      return false;
    }
  }, 'must be a ws:// or wss:// URI');

const headers = z
  .record(z.string(), z.string().regex(/^[\x20-\x7e]*$/, 'header values are printable ASCII on one line'))
  .refine((h) => Object.keys(h).every((k) => /^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$/.test(k)), 'header names are HTTP tokens (letters, digits, - and the like; at most 64)')
  .refine((h) => Object.keys(h).every((k) => !RESERVED_HEADERS.has(k.toLowerCase()) && !k.toLowerCase().startsWith('sec-websocket-')), 'headers may not replace the WebSocket upgrade\'s own')
  .refine((h) => Object.entries(h).reduce((n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(v), 0) <= MAX_HEADER_BYTES, `headers may hold at most ${MAX_HEADER_BYTES} bytes (names and values)`);

const connectBody = z.object({
  sessionId: z.string().min(1).max(255),
  token: z.string().min(1).max(8192),
  websocket: z.object({
    uri: wsUri,
    // OpenTok sends up to 50 streams of a session.
    streams: z.array(z.string().min(1).max(255)).min(1).max(50).optional(),
    headers: headers.optional(),
    audioRate: z.union([z.literal(8000), z.literal(16000), z.literal(24000)], { message: 'audioRate must be 8000, 16000 or 24000' }).optional(),
    bidirectional: z.boolean().optional(),
    audioTransport: z.unknown().optional(),
  }),
});

export async function audioConnectorRoutes(app: FastifyInstance, connector: AudioConnector): Promise<void> {
  app.post('/connect', async (request) => {
    const body = parseWith(connectBody, request.body);
    const w = body.websocket;
    if (w.audioTransport !== undefined) {
      throw new ColloquyError('unsupported', 'audioTransport is not available on this server: the WebSocket carries the audio', 501);
    }
    return connector.connect(request.project, {
      sessionId: body.sessionId,
      token: body.token,
      websocket: {
        uri: w.uri,
        streams: w.streams ?? null,
        headers: w.headers ?? {},
        audioRate: w.audioRate ?? 16000,
        bidirectional: w.bidirectional ?? false,
      },
    });
  });

  app.post<{ Params: { id: string } }>('/connect/:id/stop', async (request, reply) => {
    connector.stop(request.project, request.params.id);
    return reply.status(200).send();
  });
}
