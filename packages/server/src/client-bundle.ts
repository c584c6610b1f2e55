// Serves the browser SDK (global `OT`) at /v2/js/opentok.js and /v2/js/opentok.min.js, the way an
// app swaps OpenTok.js's script tag for ours. The files are the @colloquy/client package's build
// output; a server whose client package was not built answers 404 with how to fix it.
// Beside them, /v2/js/mediapipe/<file> serves the person segmentation model the SDK's video filters
// load on first use (publisher.applyVideoFilter): the script, wasm, graph and .tflite files of the
// npm package @mediapipe/selfie_segmentation, a dependency of @colloquy/client. Nothing of it comes
// from a CDN; only that package's files are served.

import type { FastifyInstance } from 'fastify';
import { readdir, readFile } from 'node:fs/promises';
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

/** The segmentation package's folder (resolved from @colloquy/client, which depends on it), or null. */
export function mediapipeDir(): string | null {
  try {
    const client = createRequire(import.meta.url).resolve('@colloquy/client/package.json');
    return dirname(createRequire(client).resolve('@mediapipe/selfie_segmentation/package.json'));
  } catch {
    return null;
  }
}

/** The kinds of file the segmentation package holds, with their content types (wasm must be application/wasm to stream-compile). */
const MEDIAPIPE_TYPES: Record<string, string> = {
  '.js': 'application/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
  '.tflite': 'application/octet-stream',
  '.binarypb': 'application/octet-stream',
  '.data': 'application/octet-stream',
};

export async function clientBundleRoutes(app: FastifyInstance): Promise<void> {
  const dir = clientBundleDir();
  // Read once per process: the bundle does not change under a running server.
  const cache = new Map<string, Buffer>();
  const modelDir = mediapipeDir();
  // The package's own listing, read once: a request names one of these files or gets 404.
  let modelFiles: Promise<Set<string>> | null = null;
  const modelCache = new Map<string, Buffer>();
  app.get<{ Params: { file: string } }>('/v2/js/mediapipe/:file', async (request, reply) => {
    const file = request.params.file;
    const type = MEDIAPIPE_TYPES[file.slice(file.lastIndexOf('.'))];
    modelFiles ??= modelDir ? readdir(modelDir).then((names) => new Set(names)).catch(() => new Set<string>()) : Promise.resolve(new Set<string>());
    if (!type || !(await modelFiles).has(file)) return reply.status(404).send({ code: 404, message: `Not found: /v2/js/mediapipe/${file}` });
    let body = modelCache.get(file);
    if (!body) {
      body = await readFile(join(modelDir!, file));
      modelCache.set(file, body);
    }
    return reply
      .header('content-type', type)
      // The package's version fixes these files for a server's lifetime; an hour spares a reload of ~6 MB.
      .header('cache-control', 'public, max-age=3600')
      .header('access-control-allow-origin', '*')
      .send(body);
  });
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
