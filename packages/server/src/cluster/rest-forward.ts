// "Any node answers" for REST. A request that acts on a session's live state (signal, force
// disconnect/mute, streams and their layout, archive/broadcast start, dial…) must run where the
// session lives; one that acts on a recording archive (stop, delete, layout) where it records; an
// archive download where its file is; one that names a broadcast, an Experience Composer render,
// live captions or an Audio Connector by id where it runs (the node that started it records itself
// in Redis). This hook sends such a request on to that node, unchanged, and answers with that
// node's answer, so callers see one server. Everything else (session create, archive lists, the
// Inspector, callbacks) reads the shared database and is answered here.

import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { DOWNLOAD_PATH_PREFIX } from '../archiving/download-links.js';
import type { ArchiveManager } from '../archiving/archive-manager.js';
import type { Logger } from '../logger.js';
import type { NodeInfo, NodeRegistry, RunningKind } from './node-registry.js';
import { nodeAuthHeaders, nodeForwardedClient } from './node-auth.js';

const PROJECT = '/v2/project/:projectKey';
/** POSTs whose body names the session they act on (the media they need is on its home). */
const SESSION_BODY_ROUTES = new Set(['/archive', '/broadcast', '/dial', '/call', '/connect', '/captions', '/render'].map((p) => PROJECT + p));
/** Routes that name something running on a session's home by its id: the param, and what it is. */
const RUNNING_ROUTES: ReadonlyArray<{ prefix: string; param: string; kind: RunningKind }> = [
  { prefix: `${PROJECT}/broadcast/:broadcastId`, param: 'broadcastId', kind: 'broadcast' },
  { prefix: `${PROJECT}/render/:renderId`, param: 'renderId', kind: 'render' },
  { prefix: `${PROJECT}/captions/:id`, param: 'id', kind: 'captions' },
  { prefix: `${PROJECT}/connect/:id`, param: 'id', kind: 'connect' },
];
/** The POSTs that start those, and where their answer carries the new id. */
const RUNNING_STARTS = new Map<string, RunningKind>([
  [`${PROJECT}/broadcast`, 'broadcast'],
  [`${PROJECT}/render`, 'render'],
  [`${PROJECT}/captions`, 'captions'],
  [`${PROJECT}/connect`, 'connect'],
]);
/** Headers a forwarded request keeps (the home authenticates the caller again). */
const FORWARDED_HEADERS = ['authorization', 'x-opentok-auth', 'x-tb-partner-auth', 'content-type', 'accept', 'range', 'user-agent'];
/** Headers of the home's answer passed back. */
const ANSWER_HEADERS = ['content-type', 'content-length', 'content-range', 'accept-ranges', 'content-disposition', 'cache-control', 'etag', 'location'];
const FORWARD_TIMEOUT_MS = 30_000;

export interface RestForwardOptions {
  nodeId: string;
  secret: string;
  registry: NodeRegistry;
  archives: ArchiveManager;
  logger: Logger;
}

/** Registers the forwarding hooks on the root instance (before the routes, so it sees them all). */
export function registerRestForwarding(app: FastifyInstance, options: RestForwardOptions): void {
  const log = options.logger.child({ module: 'cluster' });
  const forwarded = (request: FastifyRequest): boolean => nodeForwardedClient(options.secret, 'rest', request.raw) !== null;

  // Downloads: before anything reads the link, so the recording node verifies it (the link key is shared).
  app.addHook('onRequest', async (request, reply) => {
    if (request.method !== 'GET' || !request.url.startsWith(`${DOWNLOAD_PATH_PREFIX}/`) || forwarded(request)) return;
    const [archiveId, fileName] = request.url.slice(DOWNLOAD_PATH_PREFIX.length + 1).split('?')[0]!.split('/');
    if (!archiveId || !fileName) return;
    if (await options.archives.download(archiveId, decodeURIComponent(fileName))) return; // the file is here
    const target = await liveOther(options.registry.archiveNode(archiveId));
    if (target) await forward(request, reply, target);
  });

  app.addHook('preHandler', async (request, reply) => {
    if (forwarded(request)) return;
    const route = request.routeOptions.url ?? '';
    if (!route.startsWith(PROJECT)) return;
    const params = request.params as Record<string, string | undefined>;
    let target: NodeInfo | null = null;
    if (params['sessionId'] && route.startsWith(`${PROJECT}/session/:sessionId`)) {
      target = await liveOther(options.registry.homeIdOf(params['sessionId']));
    } else if (request.method === 'POST' && SESSION_BODY_ROUTES.has(route)) {
      const sessionId = (request.body as { sessionId?: unknown } | undefined)?.sessionId;
      if (typeof sessionId === 'string') target = await liveOther(options.registry.homeIdOf(sessionId));
    } else if (request.method !== 'GET' && params['archiveId'] && route.startsWith(`${PROJECT}/archive/:archiveId`)) {
      target = await liveOther(options.registry.archiveNode(params['archiveId']));
    } else {
      const running = RUNNING_ROUTES.find((r) => route === r.prefix || route.startsWith(`${r.prefix}/`));
      const id = running ? params[running.param] : undefined;
      // Unknown to Redis (or its node gone): answered here, from the shared database.
      if (running && id) target = await liveOther(options.registry.runningNode(running.kind, id));
    }
    if (target) {
      forwardedHere.add(request);
      await forward(request, reply, target);
    }
  });

  // A start answered here (not sent on): this node runs it, so requests naming its id come here.
  const forwardedHere = new WeakSet<FastifyRequest>();
  app.addHook('onSend', async (request, reply, payload) => {
    if (request.method !== 'POST' || reply.statusCode >= 300 || forwardedHere.has(request)) return payload;
    const kind = RUNNING_STARTS.get(request.routeOptions.url ?? '');
    if (!kind || typeof payload !== 'string') return payload;
    const id = startedId(payload);
    if (id) {
      await options.registry.recordRunningNode(kind, id, options.nodeId).catch((err: Error) => log.warn({ err: err.message, kind, id }, 'cannot record where it runs (redis)'));
    }
    return payload;
  });

  /** The node, if it is another live one (null when Redis cannot say: the node asked answers). */
  async function liveOther(nodeId: string | null | Promise<string | null>): Promise<NodeInfo | null> {
    try {
      const id = await nodeId;
      if (id === null || id === options.nodeId) return null;
      return await options.registry.node(id);
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'cannot look up the node to forward to (redis)');
      return null;
    }
  }

  async function forward(request: FastifyRequest, reply: FastifyReply, target: NodeInfo): Promise<void> {
    const headers = nodeAuthHeaders(options.secret, { purpose: 'rest', method: request.method, url: request.url, clientAddress: request.ip });
    for (const name of FORWARDED_HEADERS) {
      const value = request.headers[name];
      if (typeof value === 'string') headers[name] = value;
    }
    let body: string | Buffer | undefined;
    if (request.body !== undefined && request.method !== 'GET' && request.method !== 'HEAD') {
      if (typeof request.body === 'string' || Buffer.isBuffer(request.body)) {
        body = request.body;
      } else {
        // Parsed JSON or form: sent on as JSON (every body route accepts it).
        body = JSON.stringify(request.body);
        headers['content-type'] = 'application/json';
      }
    }
    let answer: Response;
    try {
      answer = await fetch(target.internalUrl + request.url, { method: request.method, headers, ...(body === undefined ? {} : { body }), redirect: 'manual', signal: AbortSignal.timeout(FORWARD_TIMEOUT_MS) });
    } catch (err) {
      log.warn({ err: (err as Error).message, node: target.id, url: request.url.split('?')[0] }, 'forwarding to the node failed');
      await reply.status(503).send({ code: 503, message: 'The node that holds this session did not answer; try again' });
      return;
    }
    reply.status(answer.status);
    for (const name of ANSWER_HEADERS) {
      const value = answer.headers.get(name);
      if (value !== null) reply.header(name, value);
    }
    // Streamed: an archive download is not held in memory on the way through.
    await reply.send(answer.body ? Readable.fromWeb(answer.body as unknown as WebReadableStream) : '');
  }
}

/** The id in a start's answer: `id` (broadcast, render, Audio Connector) or `captionsId`. */
function startedId(payload: string): string | null {
  try {
    const body = JSON.parse(payload) as { id?: unknown; captionsId?: unknown };
    const id = body.id ?? body.captionsId;
    return typeof id === 'string' && id.length > 0 && id.length <= 255 ? id : null;
  } catch {
    return null;
  }
}
