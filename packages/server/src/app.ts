// The HTTP application: one Fastify instance with a plugin per concern. Building it has no side
// effects beyond the instance, so tests build one per case.

import { readFileSync } from 'node:fs';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { dashboardPlugin, type DashboardOptions } from './dashboard/index.js';
import { archiveDownloadRoutes } from './rest/archive-downloads.js';
import { broadcastHlsRoutes } from './rest/broadcast-hls.js';
import { decorateProject } from './rest/auth.js';
import { registerBodyParsers } from './rest/body-parsers.js';
import type { AppContext } from './rest/context.js';
import { registerErrorHandling } from './rest/errors.js';
import { projectRoutes } from './rest/project-routes.js';
import { sessionCreateRoutes } from './rest/session-create.js';
import { ConfigError } from './config.js';
import { clientBundleRoutes } from './client-bundle.js';
import { opsRoutes } from './ops/routes.js';
import { clientEventRoutes } from './rest/client-events.js';
import { HEADERS_TIMEOUT_MS, KEEP_ALIVE_TIMEOUT_MS, PendingConnectionLimit, REQUEST_TIMEOUT_MS } from './http-limits.js';
import { proxyTrust } from './proxy-trust.js';
import { composerPageRoutes } from './render/composer-page.js';
import { registerSignaling } from './signaling/plugin.js';
import { videoChatRoutes, type VideoChatMountOptions } from './video-chat.js';

export interface AppState {
  /** False while shutting down: /healthz answers 503 so a balancer stops sending traffic. */
  ready: boolean;
}

/** The PEM certificate chain and key, read now; a clear error names the file that cannot be read. */
export function readTlsFiles(tls: { certFile: string; keyFile: string }): { cert: Buffer; key: Buffer } {
  const read = (file: string, what: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new ConfigError(`cannot read ${what} ${file}: ${(err as Error).message}`);
    }
  };
  return { cert: read(tls.certFile, 'COLLOQUY_TLS_CERT'), key: read(tls.keyFile, 'COLLOQUY_TLS_KEY') };
}

/**
 * `dashboard`: the operator's web UI and its API; `videoChat`: the tutorial app at /video-chat/
 * (when the config allows it). Each is left out when not given.
 */
export async function buildApp(ctx: AppContext, state: AppState = { ready: true }, dashboard?: DashboardOptions, videoChat?: VideoChatMountOptions): Promise<FastifyInstance> {
  // One trust decision for REST, the dashboard and signaling (proxy-trust.ts).
  const trust = proxyTrust(ctx.config.trustProxy);
  const app = Fastify({
    // COLLOQUY_TLS_CERT/KEY: HTTPS and WSS on the same port (RunningServer.reloadTls re-reads them).
    ...(ctx.config.tls ? { https: readTlsFiles(ctx.config.tls) } : {}),
    loggerInstance: ctx.logger.child({ module: 'http' }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1024 * 1024,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 512 },
    trustProxy: trust,
    // Slow or silent clients cannot hold sockets for long (http-limits.ts).
    requestTimeout: REQUEST_TIMEOUT_MS,
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    http: { headersTimeout: HEADERS_TIMEOUT_MS },
  });
  const pending = new PendingConnectionLimit(app.server, {
    maxPerAddress: ctx.config.maxPendingConnectionsPerIp,
    trust,
    logger: ctx.logger.child({ module: 'http' }),
  });
  app.addHook('onResponse', async (request, reply) => {
    // 501 (not offered here) and 503 (disk full, shutting down) are expected answers, not faults.
    const level = reply.statusCode >= 500 && reply.statusCode !== 501 && reply.statusCode !== 503 ? 'error' : reply.statusCode >= 500 ? 'warn' : 'debug';
    request.log[level]({ method: request.method, url: request.url.split('?')[0], status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request');
  });
  await registerBodyParsers(app);
  registerErrorHandling(app);
  decorateProject(app);
  // Cluster mode: requests for another node's session go there (cluster/rest-forward.ts).
  ctx.cluster?.registerHttp(app, ctx.archives, ctx.logger);

  app.get('/healthz', async (_request, reply) => {
    if (!state.ready) return reply.status(503).send({ status: 'shutting down' });
    return { status: 'ok' };
  });
  const ops = ctx.ops;
  if (ops) await app.register(async (scope) => opsRoutes(scope, ops));
  await app.register(async (scope) => sessionCreateRoutes(scope, ctx));
  await app.register(async (scope) => archiveDownloadRoutes(scope, ctx));
  await app.register(async (scope) => broadcastHlsRoutes(scope, ctx));
  await app.register(async (scope) => projectRoutes(scope, ctx), { prefix: '/v2/project/:projectKey' });
  if (dashboard) await app.register(async (scope) => dashboardPlugin(scope, ctx, dashboard));
  await app.register(async (scope) => clientBundleRoutes(scope));
  if (ctx.renders) await app.register(async (scope) => composerPageRoutes(scope));
  await app.register(async (scope) => clientEventRoutes(scope, ctx));
  if (videoChat) await app.register(async (scope) => videoChatRoutes(scope, ctx, videoChat));
  registerSignaling(app, ctx, { trust, onUpgrade: (socket) => pending.settle(socket) });
  return app;
}
