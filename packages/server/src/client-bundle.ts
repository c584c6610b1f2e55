// Serves the browser SDK (global `OT`) at /v2/js/opentok.js and /v2/js/opentok.min.js, the way an
// app swaps OpenTok.js's script tag for ours. The files are the @colloquy/client package's build
// output; a server whose client package was not built answers 404 with how to fix it.

import type { FastifyInstance } from 'fastify';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const FILES: Record<string, string> = {
  'opentok.js': 'application/javascript; charset=utf-8',
  'opentok.min.js': 'application/javascript; charset=utf-8',
  'opentok.js.map': 'application/json; charset=utf-8',
  'opentok.min.js.map': 'application/json; charset=utf-8',
};

/** The folder holding the built bundles, or null when @colloquy/client cannot be found. */
export function clientBundleDir(): string | null {
  try {
    const pkg = createRequire(import.meta.url).resolve('@colloquy/client/package.json');
    return join(dirname(pkg), 'dist');
  } catch {
    return null;
  }
}

export async function clientBundleRoutes(app: FastifyInstance): Promise<void> {
  const dir = clientBundleDir();
  // Read once per process: the bundle does not change under a running server.
  const cache = new Map<string, Buffer>();
  app.get<{ Params: { file: string } }>('/v2/js/:file', async (request, reply) => {
    const file = request.params.file;
    const type = FILES[file];
    if (!type) return reply.status(404).send({ code: 404, message: `Not found: /v2/js/${file}` });
    let body = cache.get(file);
    if (!body) {
      try {
        if (!dir) throw new Error('no @colloquy/client package');
        body = await readFile(join(dir, file));
        cache.set(file, body);
      } catch {
        return reply.status(404).send({ code: 404, message: `The browser SDK is not built (${file}): run \`npm run build\`` });
      }
    }
    return reply
      .header('content-type', type)
      .header('cache-control', 'no-cache')
      .header('access-control-allow-origin', '*')
      .send(body);
  });
}
