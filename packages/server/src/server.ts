// Starting and stopping the whole server: store, projects, domain, HTTP. `close()` is graceful:
// /healthz turns 503, open requests finish, every subsystem is closed, the database last.

import type { FastifyInstance } from 'fastify';
import { buildApp, type AppState } from './app.js';
import { ArchiveManager, archivingSettings } from './archiving/archive-manager.js';
import type { ArchiveMediaSource, ArchiveSessionState } from './archiving/interfaces.js';
import { bootstrapProjects, type BootstrapResult } from './bootstrap.js';
import type { Config } from './config.js';
import { createLogger, type Logger } from './logger.js';
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
  archives: ArchiveManager;
  bootstrap: BootstrapResult;
  close(): Promise<void>;
}

export interface StartServerOptions {
  logger?: Logger;
  /** What archiving records from (the media engine and the session domain); offline when absent. */
  archiving?: { media?: ArchiveMediaSource; sessions?: ArchiveSessionState };
}

export async function startServer(config: Config, options: StartServerOptions = {}): Promise<RunningServer> {
  const logger = options.logger ?? createLogger(config);
  const store = Store.open(config.dataDir);
  let app: FastifyInstance | undefined;
  let archives: ArchiveManager | undefined;
  try {
    const bootstrap = bootstrapProjects(config, store, logger);
    const sessions = new SessionManager(store, logger);
    archives = new ArchiveManager({ store, dataDir: config.dataDir, logger, settings: archivingSettings(config.archiving), ...options.archiving });
    await archives.start();
    const state: AppState = { ready: false };
    app = await buildApp({ config, logger, store, sessions, archives }, state);
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
      archives,
      bootstrap,
      close() {
        closing ??= (async () => {
          state.ready = false;
          logger.info('shutting down');
          await app!.close();
          await archives!.close();
          store.close();
          logger.info('stopped');
        })();
        return closing;
      },
    };
    return server;
  } catch (err) {
    await app?.close().catch(() => {});
    await archives?.close().catch(() => {});
    store.close();
    throw err;
  }
}
