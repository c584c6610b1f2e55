// The HLS of live streaming broadcasts, served to any player (no credentials: the broadcast id, a
// random UUID, is the capability, as OpenTok's CDN URLs are). CORS open to every origin (players on
// other sites), the playlist never cached (it changes every segment), segments cacheable (they
// never change once listed). Files exist while the broadcast runs and for a while after it ends.

import { createReadStream, statSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { notFound } from '../errors.js';
import type { AppContext } from './context.js';

type HlsRoute = { Params: { broadcastId: string; fileName: string } };

export async function broadcastHlsRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  app.options<HlsRoute>('/hls/:broadcastId/:fileName', async (_request, reply) => {
    reply.header('access-control-allow-origin', '*').header('access-control-allow-methods', 'GET, HEAD, OPTIONS').header('access-control-allow-headers', 'range').header('access-control-max-age', '86400');
    return reply.status(204).send();
  });

  app.get<HlsRoute>('/hls/:broadcastId/:fileName', async (request, reply) => {
    const { broadcastId, fileName } = request.params;
    const path = ctx.broadcasts.hlsFile(broadcastId.toLowerCase(), fileName);
    if (!path) throw notFound('No such HLS file (the broadcast ended, or the segment left the window)', 404);
    let size: number;
    try {
      size = statSync(path).size;
    } catch {
      throw notFound('No such HLS file', 404);
    }
    const playlist = fileName.endsWith('.m3u8');
    reply
      .header('access-control-allow-origin', '*')
      .header('access-control-expose-headers', 'content-length')
      .header('content-type', playlist ? 'application/vnd.apple.mpegurl' : 'video/mp2t')
      .header('cache-control', playlist ? 'no-cache, no-store' : 'public, max-age=86400, immutable')
      .header('content-length', String(size));
    // A segment deleted between stat and open (the window moved on) ends as a 404 for the player.
    return reply.send(createReadStream(path));
  });
}
