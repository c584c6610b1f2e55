// Serves the browser SDK (global `OT`) at /v2/js/opentok.js and /v2/js/opentok.min.js, the way an
// app swaps OpenTok.js's script tag for ours. The files are the @colloquy/client package's build
// output; a server whose client package was not built answers 404 with how to fix it.
// Beside them, the models the SDK's filters load on first use, from npm packages that
// @colloquy/client depends on (nothing comes from a CDN; only these packages' files are served):
// /v2/js/mediapipe/<file>, the person segmentation of the video filters (applyVideoFilter: the
// script, wasm, graph and .tflite files of @mediapipe/selfie_segmentation), and
// /v2/js/noise-suppressor/<file>, RNNoise for applyAudioFilter (the AudioWorklet and wasm files of
// @sapphi-red/web-noise-suppressor).

import type { FastifyInstance } from 'fastify';
import { readdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, extname, join } from 'node:path';

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

/** A package's folder, resolved from @colloquy/client (which depends on it), or null. */
function clientDependencyDir(name: string): string | null {
  try {
    const require = createRequire(createRequire(import.meta.url).resolve('@colloquy/client/package.json'));
    try {
      return dirname(require.resolve(`${name}/package.json`));
    } catch {
      // A package whose "exports" hide package.json: up from its entry point to the folder named like it.
      let dir = dirname(require.resolve(name));
      while (!dir.endsWith(join('node_modules', name)) && dirname(dir) !== dir) dir = dirname(dir);
      return dir.endsWith(join('node_modules', name)) ? dir : null;
    }
  } catch {
    return null;
  }
}

/** The kinds of file the model packages hold, with their content types (wasm must be application/wasm to stream-compile). */
const MODEL_TYPES: Record<string, string> = {
  '.js': 'application/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
  '.tflite': 'application/octet-stream',
  '.binarypb': 'application/octet-stream',
  '.data': 'application/octet-stream',
};

/**
 * The model folders under /v2/js/: each a package and the files served from it (URL name → path in
 * the package); `files` null serves every file of the package's top folder of a type above.
 */
const MODEL_FOLDERS: Record<string, { pkg: string; files: Record<string, string> | null }> = {
  mediapipe: { pkg: '@mediapipe/selfie_segmentation', files: null },
  'noise-suppressor': {
    pkg: '@sapphi-red/web-noise-suppressor',
    files: { 'rnnoiseWorklet.js': 'dist/rnnoise/workletProcessor.js', 'rnnoise.wasm': 'dist/rnnoise.wasm', 'rnnoise_simd.wasm': 'dist/rnnoise_simd.wasm' },
  },
};

/** URL name → file on disk for one model folder (empty when its package is missing). */
async function modelFiles(folder: string): Promise<Map<string, string>> {
  const spec = MODEL_FOLDERS[folder]!;
  const dir = clientDependencyDir(spec.pkg);
  if (!dir) return new Map();
  const names = spec.files ? Object.entries(spec.files) : (await readdir(dir).catch(() => [])).map((name) => [name, name] as const);
  return new Map(names.filter(([name]) => MODEL_TYPES[extname(name)]).map(([name, path]) => [name, join(dir, path)]));
}

export async function clientBundleRoutes(app: FastifyInstance): Promise<void> {
  const dir = clientBundleDir();
  // Read once per process: the bundle does not change under a running server.
  const cache = new Map<string, Buffer>();
  const listings = new Map<string, Promise<Map<string, string>>>();
  const modelCache = new Map<string, Buffer>();
  app.get<{ Params: { folder: string; file: string } }>('/v2/js/:folder/:file', async (request, reply) => {
    const { folder, file } = request.params;
    let listing = Object.hasOwn(MODEL_FOLDERS, folder) ? listings.get(folder) : undefined;
    if (!listing && Object.hasOwn(MODEL_FOLDERS, folder)) {
      listing = modelFiles(folder);
      listings.set(folder, listing);
    }
    const path = (await listing)?.get(file);
    // CORS on the 404 too: a page elsewhere then sees the status, not a bare "Failed to fetch".
    if (!path) return reply.status(404).header('access-control-allow-origin', '*').send({ code: 404, message: `Not found: /v2/js/${folder}/${file}` });
    let body = modelCache.get(path);
    if (!body) {
      body = await readFile(path);
      modelCache.set(path, body);
    }
    return reply
      .header('content-type', MODEL_TYPES[extname(file)]!)
      // The package's version fixes these files for a server's lifetime; an hour spares reloading megabytes.
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
