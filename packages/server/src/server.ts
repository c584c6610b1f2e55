// Starting and stopping the whole server: store, projects, domain, HTTP. `close()` is graceful:
// /healthz turns 503, open requests finish, every subsystem is closed, the database last.

import type { FastifyInstance } from 'fastify';
import { buildApp, type AppState } from './app.js';
import { ArchiveManager, archivingSettings } from './archiving/archive-manager.js';
import type { ArchiveMediaSource, ArchiveSessionState } from './archiving/interfaces.js';
import { bootstrapProjects, type BootstrapResult } from './bootstrap.js';
import type { Config } from './config.js';
import { AdminAuth } from './dashboard/admin-auth.js';
import { sendProjectCallbacks } from './callbacks/project-callbacks.js';
import { WebhookSender } from './callbacks/webhook-sender.js';
import { Inspector } from './inspector/inspector.js';
import { recordArchiveEvents } from './inspector/archive-recorder.js';
import { recordSessionEvents } from './inspector/session-recorder.js';
import { createLogger, type Logger } from './logger.js';
import { MediaEngine } from './media/index.js';
import { archiveMediaSource, archiveSessionState } from './sessions/archive-source.js';
import { SessionManager } from './sessions/session-manager.js';
import { Store } from './store/index.js';
import { TypedEmitter } from './typed-emitter.js';

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
  /** Archives: recording, composing, downloads. */
  archives: ArchiveManager;
  bootstrap: BootstrapResult;
  /** The dashboard password generated at this start (first start without COLLOQUY_ADMIN_PASSWORD): shown once. */
  generatedAdminPassword: string | null;
  close(): Promise<void>;
}

/** How long a shutdown waits for HTTP responses in flight before cutting their connections. */
const HTTP_CLOSE_GRACE_MS = 5000;

export interface StartServerOptions {
  logger?: Logger;
  /** What archiving records from (the media engine and the session domain); offline when absent. */
  archiving?: { media?: ArchiveMediaSource; sessions?: ArchiveSessionState };
}

export async function startServer(config: Config, options: StartServerOptions = {}): Promise<RunningServer> {
  const logger = options.logger ?? createLogger(config);
  // A throwing event listener anywhere in the domain or the SFU is logged, never rethrown.
  const eventLog = logger.child({ module: 'events' });
  TypedEmitter.listenerError = (err, event, emitter) => eventLog.error({ err, event, emitter }, 'event listener threw');
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
  let archives: ArchiveManager | undefined;
  let callbackSender: WebhookSender | undefined;
  try {
    const bootstrap = bootstrapProjects(config, store, logger);
    const sessions = new SessionManager(store, logger, {
      signalRate: { capacity: config.signalBurst, perSecond: config.signalRatePerSecond },
      media,
    });
    inspector = new Inspector(store.db, logger, { retentionDays: config.inspectorRetentionDays });
    recordSessionEvents(sessions, inspector, { qualityIntervalMs: config.qualitySampleMs });
    archives = new ArchiveManager({
      store,
      dataDir: config.dataDir,
      logger,
      settings: archivingSettings(config.archiving),
      media: options.archiving?.media ?? archiveMediaSource(sessions),
      sessions: options.archiving?.sessions ?? archiveSessionState(sessions),
    });
    recordArchiveEvents(archives.store, inspector);
    const archiveManager = archives;
    // Clients joining while an archive records are told at once (OpenTok's archiveStarted on join).
    sessions.activeArchiveNotices = (sid) => archiveManager.activeArchives(sid).map((a) => ({ type: 'archiveStarted', archiveId: a.id, name: a.name }));
    // Archive status and session monitoring callbacks to the URLs projects set (callbacks/).
    callbackSender = new WebhookSender(logger.child({ module: 'callbacks' }));
    let baseUrl = config.publicUrl ?? `http://127.0.0.1:${config.port}`;
    const stopCallbacks = sendProjectCallbacks({
      sessions,
      archiveStore: archives.store,
      archives,
      projects: store.projects,
      callbacks: store.callbacks,
      sender: callbackSender,
      baseUrl: () => baseUrl,
    });
    await archives.start();
    const admin = new AdminAuth(store.db);
    const generatedAdminPassword = await admin.init(config.adminPassword);
    const state: AppState = { ready: false };
    app = await buildApp({ config, logger, store, sessions, inspector, archives }, state, { admin }, { projectId: bootstrap.defaultProject?.id ?? null });
    await app.listen({ port: config.port, host: config.host });
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : config.port;
    const shownHost = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
    const url = `http://${shownHost.includes(':') ? `[${shownHost}]` : shownHost}:${port}`;
    baseUrl = config.publicUrl ?? url;
    state.ready = true;
    logger.info({ url, dataDir: config.dataDir }, 'colloquy ready');

    let closing: Promise<void> | undefined;
    const sender = callbackSender;
    const server: RunningServer = {
      app,
      url,
      config,
      logger,
      store,
      sessions,
      inspector,
      media,
      archives,
      bootstrap,
      generatedAdminPassword,
      close() {
        closing ??= (async () => {
          state.ready = false;
          logger.info('shutting down');
          // Closes the signaling sockets first (preClose), then waits for HTTP requests; a client
          // that stops reading a long download must not hold the shutdown: past the grace period its
          // connection is cut.
          const cut = setTimeout(() => app!.server.closeAllConnections(), HTTP_CLOSE_GRACE_MS);
          await app!.close();
          clearTimeout(cut);
          // Archives first (they stop recording and keep what was written), then the live sessions
          // and their media, then the Inspector, which records all of the above.
          await archives!.close();
          sessions.close();
          await media.close();
          stopCallbacks();
          sender.close();
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
    await archives?.close().catch(() => {});
    callbackSender?.close();
    await media.close();
    inspector?.close();
    store.close();
    throw err;
  }
}
