// Serves the built dashboard (packages/dashboard/dist): index.html at `/`, the test page, and the
// hashed assets, through @fastify/static. Only the files present at start get a route (wildcard
// off), so anything else falls through to the API's JSON 404. Hashed assets are cached for a year,
// HTML is revalidated (ETag, 304). HTML pages carry a strict Content-Security-Policy.

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, join, relative, sep } from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply } from 'fastify';

/** The pages' policy: our own scripts only (the SDK at /v2/js is ours too), our own server to talk to. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "media-src 'self' blob: mediastream:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join('; ');

/** The dist folder of @colloquy/dashboard, or null when the package is not installed. */
export function findDashboardDist(): string | null {
  try {
    const pkg = createRequire(import.meta.url).resolve('@colloquy/dashboard/package.json');
    return join(dirname(pkg), 'dist');
  } catch {
    return null;
  }
}

export async function registerStaticFiles(app: FastifyInstance, dist: string | null): Promise<void> {
  if (!dist || !existsSync(join(dist, 'index.html'))) {
    const notBuilt = async (_request: unknown, reply: FastifyReply) =>
      reply.status(503).type('text/plain; charset=utf-8').send('The dashboard is not built. Run `npm run build` at the repository root.\n');
    for (const path of ['/', '/index.html', '/test-page.html', '/favicon.svg', '/assets/*']) app.get(path, notBuilt);
    return;
  }
  await app.register(fastifyStatic, {
    root: dist,
    wildcard: false,
    index: 'index.html',
    dotfiles: 'deny',
    decorateReply: false,
    cacheControl: false, // set per file below: the two policies differ
    setHeaders(res, path) {
      const immutable = relative(dist, path).split(sep)[0] === 'assets';
      res.setHeader('x-content-type-options', 'nosniff');
      res.setHeader('cache-control', immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
      if (extname(path) === '.html') {
        res.setHeader('content-security-policy', CONTENT_SECURITY_POLICY);
        res.setHeader('x-frame-options', 'DENY');
        res.setHeader('referrer-policy', 'same-origin');
      }
    },
  });
}
