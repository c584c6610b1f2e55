// Starting and stopping the whole server: store, projects, domain, HTTP. `close()` is graceful:
// /healthz turns 503, open requests finish, every subsystem is closed, the database last.

import type { FastifyInstance } from 'fastify';
import { buildApp, type AppState } from './app.js';
import { bootstrapProjects, type BootstrapResult } from './bootstrap.js';
import type { Config } from './config.js';
import { AdminAuth } from './dashboard/admin-auth.js';
import { Inspector } from './inspector/inspector.js';
import { recordSessionEvents } from './inspector/session-recorder.js';
import { createLogger, type Logger } from './logger.js';
import { MediaEngine } from './media/index.js';
import { SessionManager } from './sessions/session-manager.js';
import { Store } from './store/index.js';

export interface RunningServer {
  app: FastifyInstance;
  /** http://host:port the server listens on (a wildcard host is shown as 127.0.0.1). */
  url: string;
  config: Config;
  logger: Logger;
  store: Store;
  sessions: SessionManager;
  /** Event log and quality samples of every session (signaling and media record into it). */
  inspector: Inspector;
  /** The SFU: one router per routed session. */
  media: MediaEngine;
  bootstrap: BootstrapResult;
  /** The dashboard password generated at this start (first start without COLLOQUY_ADMIN_PASSWORD): shown once. */
  generatedAdminPassword: string | null;
  close(): Promise<void>;
}

export async function startServer(config: Config, options: { logger?: Logger } = {}): Promise<RunningServer> {
  const logger = options.logger ?? createLogger(config);
  const store = Store.open(config.dataDir);
  const media = new MediaEngine({
    announcedIps: config.announcedIps,
    ...(config.rtcListenIp ? { listenIp: config.rtcListenIp } : {}),
    portRange: config.rtcPortRange,
    maxIncomingBitrate: config.maxBitrate,
    logger,
  });
  let app: FastifyInstance | undefined;
  let inspector: Inspector | undefined;
  try {
    const bootstrap = bootstrapProjects(config, store, logger);
    const sessions = new SessionManager(store, logger, {
      signalRate: { capacity: config.signalBurst, perSecond: config.signalRatePerSecond },
      media,
    });
    inspector = new Inspector(store.db, logger, { retentionDays: config.inspectorRetentionDays });
    recordSessionEvents(sessions, inspector, { qualityIntervalMs: config.qualitySampleMs });
    const admin = new AdminAuth(store.db);
    const generatedAdminPassword = await admin.init(config.adminPassword);
    const state: AppState = { ready: false };
    app = await buildApp({ config, logger, store, sessions, inspector }, state, { admin });
    await app.listen({ port: config.port, host: config.host });
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : config.port;
    const shownHost = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
    const url = `http://${shownHost.includes(':') ? `[${shownHost}]` : shownHost}:${port}`;
    state.ready = true;
    logger.info({ url, dataDir: config.dataDir }, 'colloquy ready');

    let closing: Promise<void> | undefined;
    const server: RunningServer = {
      app,
      url,
      config,
      logger,
      store,
      sessions,
      inspector,
      media,
      bootstrap,
      generatedAdminPassword,
      close() {
        closing ??= (async () => {
          state.ready = false;
          logger.info('shutting down');
          // Closes the signaling sockets first (preClose), then waits for HTTP requests.
          await app!.close();
          sessions.close();
          await media.close();
          inspector!.close();
          store.close();
          logger.info('stopped');
        })();
        return closing;
      },
    };
    return server;
  } catch (err) {
    await app?.close().catch(() => {});
    await media.close();
    inspector?.close();
    store.close();
    throw err;
  }
}
