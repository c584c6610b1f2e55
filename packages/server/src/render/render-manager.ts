// The Experience Composer (OpenTok's /render): starts a Composer per render, keeps each render's
// status in the store (starting → started → stopped | failed, with a reason), stops it on request,
// at maxDuration, when its page ends it, and at shutdown, and POSTs every status change to the
// render's statusCallbackUrl. At most `maxRenders` run at once on this server: each is a Chromium.

import { randomBytes } from 'node:crypto';
import { TokenError, verifyClientToken } from '../auth/client-token.js';
import type { WebhookSender } from '../callbacks/webhook-sender.js';
import { ColloquyError, conflict, invalid, notFound } from '../errors.js';
import type { Logger } from '../logger.js';
import type { SessionManager } from '../sessions/session-manager.js';
import type { Project, Store } from '../store/index.js';
import { Composer, RenderFailure } from './composer.js';
import { RenderStore, type RenderRecord, type RenderStatus } from './render-store.js';
import { requireClearMedia } from '../sessions/e2ee.js';

/** OpenTok's render resolutions (landscape and portrait). */
export const RENDER_RESOLUTIONS = ['640x480', '480x640', '1280x720', '720x1280', '1920x1080', '1080x1920'] as const;
export type RenderResolution = (typeof RENDER_RESOLUTIONS)[number];
/** OpenTok's maxDuration range and default (seconds). */
export const RENDER_MAX_DURATION = { min: 60, max: 36_000, default: 1800 } as const;
export const DEFAULT_RENDER_RESOLUTION: RenderResolution = '1280x720';

export interface RenderSettings {
  /** Renders running at once on this server (`COLLOQUY_MAX_RENDERS`); 0 turns the feature off. */
  maxRenders: number;
  chromiumPath: string;
  /** How long a page may take to load, and then to publish (ms). */
  loadTimeoutMs: number;
}

export interface StartRenderRequest {
  sessionId: string;
  token: string;
  url: string;
  maxDuration: number;
  resolution: RenderResolution;
  name: string;
  statusCallbackUrl: string | null;
}

interface LiveRender {
  project: Project;
  composer: Composer;
  maxDurationTimer: NodeJS.Timeout;
  /** Set once the render is ending: the end's status change and the browser's close. */
  ending: Promise<void> | null;
  /** The `started` write, if the page published: the end's write waits for it, so it cannot land last. */
  started: Promise<unknown> | null;
}

export interface RenderManagerOptions {
  store: Store;
  sessions: SessionManager;
  /** Sends status callbacks; null: none are sent. */
  callbacks: WebhookSender | null;
  settings: RenderSettings;
  logger: Logger;
  /** The base URL this server's own browser reaches it at (loopback), known once it listens. */
  serverUrl: () => string;
}

export class RenderManager {
  readonly renders: RenderStore;
  readonly #o: RenderManagerOptions;
  readonly #log: Logger;
  readonly #live = new Map<string, LiveRender>();
  #closed = false;

  constructor(options: RenderManagerOptions) {
    this.#o = options;
    this.#log = options.logger.child({ module: 'render' });
    this.renders = new RenderStore(options.store.db);
  }

  /** At start: renders a previous process left running are marked stopped (their browser died with it). */
  async recover(): Promise<void> {
    const interrupted = await this.renders.endInterrupted('The server stopped while the render ran');
    if (interrupted > 0) this.#log.warn({ interrupted }, 'renders left running by a previous process marked stopped');
  }

  /** Renders running now (starting or started). */
  get running(): number {
    return this.#live.size;
  }

  /** The Composer of a running render (tests). */
  composer(id: string): Composer | undefined {
    return this.#live.get(id)?.composer;
  }

  /** Checks the request, records the render as `starting` and starts its browser (202 at once). */
  async start(project: Project, request: StartRenderRequest): Promise<RenderRecord> {
    if (this.#closed) throw new ColloquyError('unavailable', 'The server is shutting down');
    const { settings } = this.#o;
    if (settings.maxRenders === 0) throw new ColloquyError('unsupported', 'Experience Composer renders are turned off on this server (COLLOQUY_MAX_RENDERS=0)', 501);
    const session = await this.#o.sessions.require(project, request.sessionId);
    if (session.mediaMode !== 'routed') throw conflict('Experience Composer renders are only possible in routed sessions (p2p.preference=disabled): this session is relayed');
    requireClearMedia(session, 'Experience Composer renders');
    let claims;
    try {
      claims = verifyClientToken(request.token, { projects: this.#o.store.projects, sessionId: session.id });
    } catch (err) {
      if (err instanceof TokenError) throw invalid(`The token is not valid for this session: ${err.message}`);
      throw err;
    }
    if (claims.projectId !== project.id) throw invalid('The token is not valid for this session: it belongs to another project');
    if (!['publisher', 'moderator'].includes(claims.role)) throw invalid('The token must allow publishing (role publisher or moderator): the render publishes the page');
    if (this.#live.size >= settings.maxRenders) {
      throw new ColloquyError('rate-limited', `Too many renders running on this server (at most ${settings.maxRenders}, COLLOQUY_MAX_RENDERS): stop one or try again later`, 429);
    }
    const now = Date.now();
    const record: RenderRecord = {
      id: randomBytes(16).toString('hex'),
      projectId: project.id,
      sessionId: session.id,
      url: request.url,
      resolution: request.resolution,
      name: request.name,
      maxDuration: request.maxDuration,
      statusCallbackUrl: request.statusCallbackUrl,
      status: 'starting',
      reason: null,
      streamId: null,
      connectionId: null,
      createdAt: now,
      updatedAt: now,
    };
    await this.renders.insert(record);
    this.#callback(record);
    const [width, height] = request.resolution.split('x').map(Number) as [number, number];
    const composer = new Composer({
      chromiumPath: settings.chromiumPath,
      serverUrl: this.#o.serverUrl(),
      url: request.url,
      width,
      height,
      publish: { apiKey: project.id, sessionId: session.id, token: request.token, name: request.name },
      loadTimeoutMs: settings.loadTimeoutMs,
      logger: this.#log.child({ renderId: record.id }),
    });
    const maxDurationTimer = setTimeout(() => void this.#end(record.id, 'stopped', 'Max duration exceeded'), request.maxDuration * 1000);
    maxDurationTimer.unref();
    const live: LiveRender = { project, composer, maxDurationTimer, ending: null, started: null };
    this.#live.set(record.id, live);
    composer.onEnded((reason, failed) => void this.#end(record.id, failed ? 'failed' : 'stopped', reason));
    this.#log.info({ renderId: record.id, sessionId: session.id, url: request.url, resolution: request.resolution }, 'render starting');
    composer.start().then(
      ({ streamId, connectionId, timings }) => {
        if (live.ending !== null) return;
        live.started = this.renders.update(record.id, { status: 'started', streamId, connectionId }).then(
          (started) => {
            this.#log.info({ renderId: record.id, streamId, ...timings }, 'render started');
            this.#callback(started);
          },
          (err: unknown) => this.#log.error({ err, renderId: record.id }, 'cannot record the render as started'),
        );
      },
      (err: unknown) => void this.#end(record.id, 'failed', err instanceof RenderFailure ? err.message : String(err)),
    );
    return record;
  }

  async get(project: Project, id: string): Promise<RenderRecord> {
    const record = await this.renders.get(project.id, id);
    if (!record) throw notFound(`Render ${id} not found`);
    return record;
  }

  list(project: Project, offset: number, count: number): Promise<{ count: number; items: RenderRecord[] }> {
    return this.renders.list(project.id, offset, count);
  }

  /** Stops a render: it leaves the session and its browser closes before this resolves. A render already over is answered as it is. */
  async stop(project: Project, id: string): Promise<RenderRecord> {
    await this.get(project, id);
    await this.#end(id, 'stopped', 'Stop requested');
    return this.get(project, id);
  }

  /** Server shutdown: every render stops and its browser closes. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#live.keys()].map((id) => this.#end(id, 'stopped', 'The server stopped')));
  }

  /** Ends a live render once: its final status first (so a second end is a no-op), then the browser. */
  #end(id: string, status: Extract<RenderStatus, 'stopped' | 'failed'>, reason: string): Promise<void> {
    const live = this.#live.get(id);
    if (!live) return Promise.resolve();
    if (live.ending) return live.ending;
    clearTimeout(live.maxDurationTimer);
    live.ending = (async () => {
      let record: RenderRecord;
      try {
        await live.started;
        record = await this.renders.update(id, { status, reason });
        this.#log.info({ renderId: id, status, reason }, 'render ended');
        this.#callback(record);
      } finally {
        await live.composer.stop();
      }
      // A page that could not leave cleanly (hung, crashed) must not leave its connection and
      // stream waiting out the resume grace: the server ends them now.
      if (record.connectionId) void this.#disconnect(live.project, record.sessionId, record.connectionId);
    })().finally(() => this.#live.delete(id));
    return live.ending;
  }

  async #disconnect(project: Project, sessionId: string, connectionId: string): Promise<void> {
    try {
      this.#o.sessions.forceDisconnect(await this.#o.sessions.restActor(project, sessionId), connectionId);
    } catch {
      // Already gone: the page left the session itself.
    }
  }

  #callback(record: RenderRecord): void {
    const url = record.statusCallbackUrl;
    if (!url || !this.#o.callbacks) return;
    this.#o.callbacks.send({ projectId: record.projectId, kind: 'render', url, body: { ...renderJson(record), name: record.name } });
  }
}

/**
 * OpenTok's render JSON: `applicationId` (the Vonage SDKs read it) and `projectId` (opentok-node's
 * Render) are both the project's key; `streamId` once published, `reason` once ended.
 */
export function renderJson(record: RenderRecord): Record<string, unknown> {
  return {
    id: record.id,
    sessionId: record.sessionId,
    applicationId: record.projectId,
    projectId: record.projectId,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
    url: record.url,
    resolution: record.resolution,
    status: record.status,
    ...(record.streamId ? { streamId: record.streamId } : {}),
    ...(record.reason ? { reason: record.reason } : {}),
  };
}
