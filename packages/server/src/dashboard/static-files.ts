// Serves the built dashboard (packages/dashboard/dist): index.html at `/`, the test page, and the
// hashed assets. The files are small, so they are read once into memory at start; hashed assets are
// cached for a year, HTML is revalidated. HTML pages carry a strict Content-Security-Policy.

import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, join, relative, sep } from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.map': 'application/json',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

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

interface StaticFile {
  body: Buffer;
  type: string;
  etag: string;
  immutable: boolean;
}

/** The dist folder of @colloquy/dashboard, or null when the package is not installed. */
export function findDashboardDist(): string | null {
  try {
    const pkg = createRequire(import.meta.url).resolve('@colloquy/dashboard/package.json');
    return join(dirname(pkg), 'dist');
  } catch {
    return null;
  }
}

function loadFiles(dir: string): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>();
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const path = join(d, name);
      if (statSync(path).isDirectory()) walk(path);
      else {
        const rel = '/' + relative(dir, path).split(sep).join('/');
        const body = readFileSync(path);
        files.set(rel, {
          body,
          type: TYPES[extname(name)] ?? 'application/octet-stream',
          etag: `"${createHash('sha1').update(body).digest('base64url')}"`,
          immutable: rel.startsWith('/assets/'),
        });
      }
    }
  };
  walk(dir);
  return files;
}

export function registerStaticFiles(app: FastifyInstance, dist: string | null): void {
  const files = dist && existsSync(join(dist, 'index.html')) ? loadFiles(dist) : null;
  const serve = (path: string) => async (request: FastifyRequest, reply: FastifyReply) => {
    if (!files) {
      return reply
        .status(503)
        .type('text/plain; charset=utf-8')
        .send('The dashboard is not built. Run `npm run build` at the repository root.\n');
    }
    const file = files.get(path);
    if (!file) return reply.status(404).send({ code: 404, message: `Not found: ${path}` });
    reply.header('etag', file.etag);
    reply.header('x-content-type-options', 'nosniff');
    reply.header('cache-control', file.immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
    if (file.type.startsWith('text/html')) {
      reply.header('content-security-policy', CONTENT_SECURITY_POLICY);
      reply.header('x-frame-options', 'DENY');
      reply.header('referrer-policy', 'same-origin');
    }
    if (request.headers['if-none-match'] === file.etag) return reply.status(304).send();
    return reply.type(file.type).send(file.body);
  };
  app.get('/', serve('/index.html'));
  app.get('/index.html', serve('/index.html'));
  app.get('/test-page.html', serve('/test-page.html'));
  app.get('/favicon.svg', serve('/favicon.svg'));
  app.get<{ Params: { '*': string } }>('/assets/*', async (request, reply) => serve('/assets/' + request.params['*'])(request, reply));
}
