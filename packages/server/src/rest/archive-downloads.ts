// Downloading an archive through the signed link in its `url`: no REST credentials, the signature
// and expiry are the authorization. Single byte ranges are served (206), so players can seek and
// downloads can resume; anything else gets the whole file. An archive uploaded to the project's
// bucket is redirected (302) to a presigned link to its object.

import { createReadStream } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { DOWNLOAD_PATH_PREFIX } from '../archiving/download-links.js';
import { forbidden, notFound } from '../errors.js';
import type { AppContext } from './context.js';

type DownloadRoute = { Params: { archiveId: string; fileName: string }; Querystring: { expires?: string; signature?: string } };

/** Parses a `Range` header against `size`: a [start, end] pair, 'unsatisfiable', or null (serve it all). */
export function parseRange(header: string | undefined, size: number): [number, number] | 'unsatisfiable' | null {
  if (!header) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return null; // several ranges or garbage: whole file
  let start: number;
  let end: number;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) return 'unsatisfiable';
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start >= size || start > end) return 'unsatisfiable';
  return [start, end];
}

export async function archiveDownloadRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  app.get<DownloadRoute>(`${DOWNLOAD_PATH_PREFIX}/:archiveId/:fileName`, async (request, reply) => {
    const { archiveId, fileName } = request.params;
    const check = ctx.archives.links.verify(archiveId, fileName, request.query.expires, request.query.signature);
    if (check === 'expired') throw forbidden('This archive link has expired: get the archive again for a fresh url', 403);
    if (check !== 'ok') throw forbidden('This archive link is not valid', 403);
    const record = await ctx.archives.store.get(archiveId);
    const uploaded = record;
    if (uploaded?.status === 'uploaded' && uploaded.fileName === fileName) {
      // The file is in the project's bucket (and no longer here): the bytes come from there, by a
      // presigned link made now, so nothing is proxied and Range requests go straight to the bucket.
      const location = await ctx.archives.uploads.downloadUrl(uploaded);
      if (!location) throw notFound("This archive was uploaded to the project's archive storage, which is no longer set: get it from the bucket", 404);
      reply.header('Cache-Control', 'private, no-store');
      return reply.redirect(location, 302);
    }
    const target = await ctx.archives.download(archiveId, fileName);
    if (!target) throw notFound('Archive not found or no longer available', 404);
    const range = parseRange(request.headers.range, target.size);
    reply.header('Accept-Ranges', 'bytes');
    if (range === 'unsatisfiable') {
      reply.header('Content-Range', `bytes */${target.size}`);
      return reply.status(416).send({ code: 416, message: 'Requested range not satisfiable' });
    }
    reply.header('Content-Type', target.contentType);
    reply.header('Content-Disposition', `attachment; filename="${target.downloadName}"`);
    reply.header('Cache-Control', 'private, no-store');
    if (record?.sha256) reply.header('ETag', `"${record.sha256}"`);
    if (range) {
      const [start, end] = range;
      reply.status(206);
      reply.header('Content-Range', `bytes ${start}-${end}/${target.size}`);
      reply.header('Content-Length', end - start + 1);
      return reply.send(createReadStream(target.path, { start, end }));
    }
    reply.header('Content-Length', target.size);
    return reply.send(createReadStream(target.path));
  });
}
