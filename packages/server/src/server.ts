// Starting and stopping the whole server: store, projects, domain, HTTP. `close()` is graceful:
// /healthz turns 503, open requests finish, every subsystem is closed, the database last.

import type { FastifyInstance } from 'fastify';
import type { Server as HttpsServer } from 'node:https';
import { createSecureContext } from 'node:tls';
import { buildApp, readTlsFiles, type AppState } from './app.js';
import { ArchiveManager, archivingSettings } from './archiving/archive-manager.js';
import type { ArchiveMediaSource, ArchiveSessionState } from './archiving/interfaces.js';
import { ClusterNode } from './cluster/index.js';
import { BroadcastManager } from './broadcast/broadcast-manager.js';
import { listenError, rtcPortError } from './listen-error.js';
import { bootstrapProjects, type BootstrapResult } from './bootstrap.js';
import type { Config } from './config.js';
import { AdminAuth } from './dashboard/admin-auth.js';
import { sendProjectCallbacks } from './callbacks/project-callbacks.js';
import { CaptionsManager } from './captions/captions-manager.js';
import { PocketsphinxProvider } from './captions/pocketsphinx-provider.js';
import { WebhookSender } from './callbacks/webhook-sender.js';
import { Inspector } from './inspector/inspector.js';
import { recordArchiveEvents } from './inspector/archive-recorder.js';
import { recordSessionEvents } from './inspector/session-recorder.js';
import { createLogger, type Logger } from './logger.js';
import type { MediaEngine } from '@colloquy/sfu';
import { openMediaEngine, type MediaThreadNetwork } from './media-workers/engine.js';
import { MediaWorkers } from './media-workers/media-workers.js';
import { LoadMonitor } from './ops/load-monitor.js';
import { Metrics } from './ops/metrics.js';
import { archiveMediaSource, archiveSessionState } from './sessions/archive-source.js';
import { SessionManager } from './sessions/session-manager.js';
import { RenderManager } from './render/render-manager.js';
import { SipGateway } from './sip/sip-gateway.js';
import { AudioConnector } from './audio-connector/audio-connector.js';
import { holdDataDir } from './store/backup.js';
import { openServerStore, type ServerStore } from './server-store.js';
import { TypedEmitter } from './typed-emitter.js';

export interface RunningServer {
  app: FastifyInstance;
  /** http://host:port the server listens on (a wildcard host is shown as 127.0.0.1). */
  url: string;
  config: Config;
  logger: Logger;
  store: ServerStore;
  sessions: SessionManager;
  /** Event log and quality samples of every session (signaling and media record into it). */
  inspector: Inspector;
  /** The SFU: one router per routed session. */
  media: MediaEngine;
  /** Media worker threads (COLLOQUY_WORKERS): subscribers of a busy server served on its other cores. */
  mediaWorkers: MediaWorkers;
  /** Archives: recording, composing, downloads. */
  archives: ArchiveManager;
  /** Live streaming broadcasts: the live composer, HLS and RTMP outputs. */
  broadcasts: BroadcastManager;
  /** SIP interconnect: dialled calls (its SIP sockets open on the first dial). */
  sip: SipGateway;
  /** Live captions: speech-to-text of captioned streams, one engine process each. */
  captions: CaptionsManager;
  /** Experience Composer: renders (a headless Chromium each) publishing web pages into sessions. */
  renders: RenderManager;
  /** Audio Connector: session audio to WebSockets (and back). */
  audioConnector: AudioConnector;
  bootstrap: BootstrapResult;
  /** The dashboard password generated at this start (first start without COLLOQUY_ADMIN_PASSWORD): shown once. */
  generatedAdminPassword: string | null;
  /** Event-loop lag and CPU; when over the limits, new routed publishes/subscribes are refused. */
  load: LoadMonitor;
  metrics: Metrics;
  /** Re-reads COLLOQUY_TLS_CERT/KEY for new connections (SIGHUP); throws when they cannot be used, keeping the old ones. */
  reloadTls(): void;
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
  const store = await openServerStore(config);
  // A pid file in the data folder: `colloquy restore` refuses to replace the database under us.
  const releaseDataDir = holdDataDir(config.dataDir);
  // With media worker threads, the main thread's engine has its share of the ports (media-workers/).
  const network: MediaThreadNetwork = {
    announcedIps: config.announcedIps,
    ...(config.rtcListenIp ? { listenIp: config.rtcListenIp } : {}),
    portRange: config.rtcPortRange,
    port: config.rtcPort,
    tcpPort: config.rtcTcpPort,
    tcp: config.rtcTcp,
    maxIncomingBitrate: config.maxBitrate,
    uplinkEstimation: config.uplinkEstimation,
    videoCodec: config.videoCodec,
  };
  let media: MediaEngine;
  try {
    media = await openMediaEngine({ ...network, ...MediaWorkers.mainPorts(network, config.mediaThreads) }, logger);
  } catch (err) {
    releaseDataDir();
    void store.close();
    throw rtcPortError(err, config) ?? err;
  }
  let app: FastifyInstance | undefined;
  let inspector: Inspector | undefined;
  let archives: ArchiveManager | undefined;
  let broadcasts: BroadcastManager | undefined;
  let callbackSender: WebhookSender | undefined;
  let sip: SipGateway | undefined;
  let captions: CaptionsManager | undefined;
  let renders: RenderManager | undefined;
  const load = new LoadMonitor(config.overload);
  let metrics: Metrics | undefined;
  let mediaWorkers: MediaWorkers | undefined;
  // Cluster mode (COLLOQUY_REDIS_URL): Redis must answer before anything is built.
  const cluster = config.cluster ? new ClusterNode(config.cluster, logger) : undefined;
  try {
    await cluster?.connect();
    const sessions = new SessionManager(store, logger, {
      signalRate: { capacity: config.signalBurst, perSecond: config.signalRatePerSecond },
      media,
      admission: () => load.overloaded(),
    });
    mediaWorkers = new MediaWorkers({
      threads: config.mediaThreads,
      spreadFrom: config.mediaWorkersFrom,
      // A worker lagging like a saturated server (COLLOQUY_OVERLOAD_LAG_MS) gets no new subscriber.
      saturatedLagMs: config.overload.maxEventLoopLagMs,
      engine: media,
      network,
      sessions,
      statsIntervalMs: config.qualitySampleMs,
      logLevel: config.logLevel,
      logPretty: config.logPretty,
      logger,
    });
    if (mediaWorkers.threads > 1) sessions.mediaWorkers = mediaWorkers;
    const workers = mediaWorkers;
    load.threads = () => workers.runningThreads;
    inspector = new Inspector(store.db, logger, { retentionDays: config.inspectorRetentionDays });
    recordSessionEvents(sessions, inspector, { qualityIntervalMs: config.qualitySampleMs });
    archives = new ArchiveManager({
      store,
      dataDir: config.dataDir,
      logger,
      settings: archivingSettings(config.archiving),
      media: options.archiving?.media ?? archiveMediaSource(sessions),
      sessions: options.archiving?.sessions ?? archiveSessionState(sessions),
      ...(cluster ? { cluster: { linkKey: cluster.archiveLinkKey } } : {}),
    });
    recordArchiveEvents(archives.store, inspector);
    // Broadcasts compose from the same media taps and session events as archives.
    broadcasts = new BroadcastManager({
      db: store.db,
      dataDir: config.dataDir,
      logger,
      media: options.archiving?.media ?? archiveMediaSource(sessions),
      sessions: options.archiving?.sessions ?? archiveSessionState(sessions),
      settings: { hlsRetentionMs: config.broadcast.hlsRetentionSeconds * 1000, maxLive: config.broadcast.maxLive },
    });
    const broadcastManager = broadcasts;
    const archiveManager = archives;
    // Clients joining while an archive records are told at once (OpenTok's archiveStarted on join).
    sessions.activeArchiveNotices = (sid) => archiveManager.activeArchives(sid).map((a) => ({ type: 'archiveStarted', archiveId: a.id, name: a.name }));
    // Archive status and session monitoring callbacks to the URLs projects set (callbacks/).
    callbackSender = new WebhookSender(logger.child({ module: 'callbacks' }));
    const gateway = new SipGateway({
      sessions,
      store,
      settings: {
        port: config.sip.port,
        bindAddress: config.rtcListenIp,
        publicAddress: config.announcedIps[0] ?? '127.0.0.1',
        sfuAddress: config.announcedIps[0] ?? '127.0.0.1',
        ringTimeoutMs: config.sip.ringTimeoutSeconds * 1000,
        keepAliveMs: config.sip.keepAliveSeconds * 1000,
        tls: config.sip.tls,
      },
      logger,
    });
    sip = gateway;
    const captionsManager = new CaptionsManager({
      sessions,
      store,
      provider: new PocketsphinxProvider({ modelDir: config.captions.modelDir, logger: logger.child({ module: 'captions' }) }),
      sender: callbackSender,
      settings: { maxStreams: config.captions.maxStreams },
      logger,
    });
    captions = captionsManager;
    const audioConnector = new AudioConnector({ sessions, store, sfuAddress: config.announcedIps[0] ?? '127.0.0.1', logger });
    let baseUrl = config.publicUrl ?? `http://127.0.0.1:${config.port}`;
    // A render's browser opens this server at the address it listens on (known once bound).
    let ownUrl = `http://127.0.0.1:${config.port}`;
    const renderManager = new RenderManager({
      store,
      sessions,
      callbacks: callbackSender,
      settings: { maxRenders: config.render.maxRenders, chromiumPath: config.render.chromiumPath, loadTimeoutMs: config.render.loadTimeoutSeconds * 1000 },
      logger,
      serverUrl: () => config.render.serverUrl ?? ownUrl,
    });
    renders = renderManager;
    await renderManager.recover();
    const stopCallbacks = sendProjectCallbacks({
      sessions,
      archiveStore: archives.store,
      archives,
      broadcasts: broadcastManager,
      projects: store.projects,
      callbacks: store.callbacks,
      logger,
      sender: callbackSender,
      sip: gateway,
      baseUrl: () => baseUrl,
    });
    await archives.start();
    await broadcastManager.start();
    const admin = new AdminAuth(store.db);
    const state: AppState = { ready: false };
    const sender = callbackSender;
    metrics = new Metrics({ sessions, media, workers, db: store.db, load, callbacks: () => sender.stats, signaling: () => (app ? { sockets: app.signaling.stats().sockets, messagesReceived: app.signaling.messagesReceived } : null) });
    const ops = { metrics, load, metricsToken: config.metricsToken, ready: () => state.ready };
    // The video chat reads its project per request: it is chosen below, once the port is bound.
    const videoChat = { projectId: null as string | null };
    app = await buildApp({ config, logger, store, sessions, inspector, archives, broadcasts: broadcastManager, ops, sip: gateway, captions: captionsManager, renders: renderManager, audioConnector, ...(cluster ? { cluster } : {}) }, state, { admin }, videoChat);
    // The port is bound before a first start creates anything it shows once (the development
    // project, the dashboard password): on a busy port nothing is made that would never be shown.
    await app.listen({ port: config.port, host: config.host }).catch((err: unknown) => {
      throw listenError(err, config) ?? err;
    });
    const bootstrap = await bootstrapProjects(config, store, logger);
    videoChat.projectId = bootstrap.defaultProject?.id ?? null;
    const generatedAdminPassword = await admin.init(config.adminPassword);
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : config.port;
    const shownHost = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
    const url = `${config.tls ? 'https' : 'http'}://${shownHost.includes(':') ? `[${shownHost}]` : shownHost}:${port}`;
    baseUrl = config.publicUrl ?? url;
    ownUrl = url;
    // Published last: other nodes place sessions here only once it can serve them.
    await cluster?.start({ sessions, archives, load, metrics, media, signaling: app.signaling, qualitySampleMs: config.qualitySampleMs });
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
      mediaWorkers: workers,
      archives,
      broadcasts: broadcastManager,
      sip: gateway,
      captions: captionsManager,
      renders: renderManager,
      audioConnector,
      bootstrap,
      generatedAdminPassword,
      load,
      metrics,
      reloadTls() {
        if (!config.tls) throw new Error('TLS is not configured (COLLOQUY_TLS_CERT, COLLOQUY_TLS_KEY)');
        // createSecureContext checks that the key matches the certificate before anything changes.
        const files = readTlsFiles(config.tls);
        createSecureContext(files);
        (app!.server as unknown as HttpsServer).setSecureContext(files);
        logger.info({ cert: config.tls.certFile }, 'TLS certificate reloaded');
      },
      close() {
        closing ??= (async () => {
          state.ready = false;
          logger.info('shutting down');
          // Draining: other nodes place no new session here while this one finishes.
          await cluster?.drain();
          // Renders first, while signaling still runs: their pages leave the sessions cleanly (others
          // see streamDestroyed) and their browsers close.
          await renderManager.close();
          // Closes the signaling sockets first (preClose), then waits for HTTP requests; a client
          // that stops reading a long download must not hold the shutdown: past the grace period its
          // connection is cut.
          const cut = setTimeout(() => app!.server.closeAllConnections(), HTTP_CLOSE_GRACE_MS);
          await app!.close();
          clearTimeout(cut);
          // Archives first (they stop recording and keep what was written), then the live sessions
          // and their media, then the Inspector, which records all of the above.
          await archives!.close();
          await broadcastManager.close();
          // SIP calls hang up (BYE) before their connections and media go.
          await gateway.close();
          // Caption engines are killed (their runs end: stopped, server shutting down).
          captionsManager.close();
          audioConnector.close();
          sessions.close();
          // After the sessions ended (their homes released): the node leaves the cluster.
          await cluster?.close();
          await workers.close();
          await media.close();
          stopCallbacks();
          sender.close();
          metrics!.close();
          load.close();
          await inspector!.close();
          await store.close();
          releaseDataDir();
          logger.info('stopped');
        })();
        return closing;
      },
    };
    return server;
  } catch (err) {
    await app?.close().catch(() => {});
    await cluster?.close().catch(() => {});
    await archives?.close().catch(() => {});
    await renders?.close().catch(() => {});
    await broadcasts?.close().catch(() => {});
    callbackSender?.close();
    await sip?.close();
    captions?.close();
    metrics?.close();
    load.close();
    await mediaWorkers?.close();
    await media.close();
    await inspector?.close();
    void store.close();
    releaseDataDir();
    throw err;
  }
}
