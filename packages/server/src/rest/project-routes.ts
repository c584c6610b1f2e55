// The /v2/project/{key}/… tree: every route in it is authenticated, and the key in the path must be
// the caller's. Each concern is its own plugin.

import type { FastifyInstance } from 'fastify';
import { archiveRoutes } from './archives.js';
import { archiveStorageRoutes } from './archive-storage.js';
import { broadcastRoutes } from './broadcasts.js';
import { requireProject } from './auth.js';
import { callbackRoutes } from './callbacks.js';
import { captionsRoutes } from './captions.js';
import { connectionRoutes } from './connections.js';
import { inspectorRoutes } from './inspector.js';
import type { AppContext } from './context.js';
import { renderRoutes } from './renders.js';
import { signalRoutes } from './signals.js';
import { sipRoutes } from './sip.js';
import { audioConnectorRoutes } from './audio-connector.js';
import { streamRoutes } from './streams.js';
import { unsupportedRoutes } from './unsupported.js';

export async function projectRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  requireProject(app, ctx);
  await app.register(async (scope) => signalRoutes(scope, ctx));
  await app.register(async (scope) => connectionRoutes(scope, ctx));
  await app.register(async (scope) => streamRoutes(scope, ctx));
  await app.register(async (scope) => archiveRoutes(scope, ctx));
  await app.register(async (scope) => archiveStorageRoutes(scope, ctx));
  await app.register(async (scope) => broadcastRoutes(scope, ctx));
  await app.register(async (scope) => inspectorRoutes(scope, ctx));
  await app.register(async (scope) => callbackRoutes(scope, ctx));
  const sip = ctx.sip;
  if (sip) await app.register(async (scope) => sipRoutes(scope, sip));
  const captions = ctx.captions;
  if (captions) await app.register(async (scope) => captionsRoutes(scope, captions));
  const renders = ctx.renders;
  if (renders) await app.register(async (scope) => renderRoutes(scope, renders));
  const audioConnector = ctx.audioConnector;
  if (audioConnector) await app.register(async (scope) => audioConnectorRoutes(scope, audioConnector));
  await app.register(async (scope) => unsupportedRoutes(scope, ctx));
}
