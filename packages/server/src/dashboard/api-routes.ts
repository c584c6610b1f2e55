// The dashboard's JSON API under /dashboard/api: sign-in, projects and applications, demo sessions
// and tokens, live sessions, Inspector data, archives (archiving/'s ArchiveManager) and broadcasts
// (broadcast/'s BroadcastManager, read-only: the HLS player page). Every route
// but login needs the session cookie; every mutating one also the CSRF token in `X-CSRF-Token` and,
// when the browser sends an Origin, our own origin.

import { buildApplicationToken, buildJwtToken, buildT1Token, MAX_CONNECTION_DATA_LENGTH, MAX_TOKEN_TTL_SECONDS, ROLES } from '@colloquy/tokens';
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { parseStorageSettings, storageView } from '../archiving/storage/storage-settings.js';
import { CallbackValidationError } from '../callbacks/callback-store.js';
import { ColloquyError, forbidden, invalid, notFound } from '../errors.js';
import { parseEventQuery, parseQualityQuery } from '../inspector/query-params.js';
import type { AppContext } from '../rest/context.js';
import { parseWith } from '../rest/validation.js';
import type { ArchiveRecord } from '../archiving/archive-store.js';
import { hlsUrl } from '../broadcast/broadcast-json.js';
import type { BroadcastRecord } from '../broadcast/broadcast-store.js';
import type { Project, SessionRecord } from '../store/index.js';
import { ProjectValidationError } from '../store/index.js';
import { sameSecret, type AdminAuth, type AdminSession } from './admin-auth.js';
import type {
  ArchiveItem,
  ArchiveList,
  BroadcastItem,
  BroadcastList,
  CreatedApplication,
  InspectorSessionDetail,
  MeResponse,
  ProjectDetail,
  ProjectSummary,
  SessionListItem,
  TokenResponse,
} from './api-types.js';
import { LoginLimiter } from './login-limiter.js';

export const COOKIE_NAME = 'colloquy_admin';
export const CSRF_HEADER = 'x-csrf-token';

export interface DashboardApiOptions {
  admin: AdminAuth;
  limiter?: LoginLimiter;
}

declare module 'fastify' {
  interface FastifyRequest {
    adminSession: AdminSession | null;
  }
}

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

const loginSchema = z.object({ password: z.string().min(1).max(1024) });
const nameSchema = z.object({ name: z.string().trim().min(1).max(100) });
const applicationSchema = z.object({ name: z.string().trim().min(1).max(100), publicKey: z.string().max(20_000).optional() });
const publicKeySchema = z.object({ publicKey: z.string().min(1).max(20_000) });
const deleteSchema = z.object({ confirm: z.string().min(1).max(100) });
const callbacksSchema = z.object({ archive: z.string().max(2048).nullish(), session: z.string().max(2048).nullish() }).strict();
const sessionSchema = z.object({
  mediaMode: z.enum(['routed', 'relayed']).default('routed'),
  archiveMode: z.enum(['manual', 'always']).default('manual'),
});
const tokenSchema = z.object({
  /** An existing session of the project, or (instead) `newSession`: one made only once the token can be signed. */
  sessionId: z.string().trim().min(1).max(512).optional(),
  newSession: sessionSchema.optional(),
  role: z.enum(ROLES).default('publisher'),
  data: z.string().max(MAX_CONNECTION_DATA_LENGTH).optional(),
  ttlSeconds: z.number().int().min(60).max(MAX_TOKEN_TTL_SECONDS).default(86_400),
  kind: z.enum(['jwt', 't1']).default('jwt'),
  /** Applications only: their tokens are signed with the private key, which the server does not keep. */
  privateKey: z.string().max(20_000).optional(),
});
const pagingSchema = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(100),
  offset: z.coerce.number().int().min(0).default(0),
});
const sessionListSchema = pagingSchema.extend({
  /** `true`: only sessions somebody connected to (the Inspector counted a connection). */
  joined: z.enum(['true', 'false']).default('false'),
});

export async function dashboardApiRoutes(app: FastifyInstance, ctx: AppContext, options: DashboardApiOptions): Promise<void> {
  const { admin } = options;
  const limiter = options.limiter ?? new LoginLimiter();
  const log = ctx.logger.child({ module: 'dashboard' });

  app.decorateRequest('adminSession', null);
  app.addHook('onSend', async (_request, reply) => {
    reply.header('cache-control', 'no-store');
  });
  app.addHook('onRequest', async (request) => {
    const token = readCookie(request.headers.cookie, COOKIE_NAME);
    request.adminSession = token ? await admin.session(token) : null;
    const open = request.routeOptions.url === '/dashboard/api/login' || request.routeOptions.url === '/dashboard/api/me';
    if (!open && !request.adminSession) throw new ColloquyError('unauthenticated', 'Sign in first', 401);
    if (MUTATING.has(request.method)) {
      checkOrigin(request);
      if (request.adminSession) {
        const sent = request.headers[CSRF_HEADER];
        if (typeof sent !== 'string' || !sameSecret(sent, request.adminSession.csrfToken)) {
          throw forbidden('Missing or wrong CSRF token (X-CSRF-Token)', 403);
        }
      }
    }
  });

  // ---- sign-in

  app.post('/login', async (request, reply) => {
    // JSON only: a cross-site form cannot send it without a CORS preflight, so no login CSRF.
    if (!String(request.headers['content-type'] ?? '').startsWith('application/json')) {
      return reply.status(415).send({ code: 415, message: 'Send the password as JSON {"password": "..."}' });
    }
    const decision = limiter.attempt(request.ip);
    if (!decision.allowed) {
      reply.header('retry-after', String(decision.retryAfterSeconds));
      throw new ColloquyError('rate-limited', `Too many sign-in attempts; try again in ${decision.retryAfterSeconds} s`, 429);
    }
    const { password } = parseWith(loginSchema, request.body);
    if (!(await admin.verifyPassword(password))) {
      log.warn({ ip: request.ip }, 'dashboard sign-in refused');
      throw new ColloquyError('unauthenticated', 'Wrong password', 401);
    }
    limiter.succeeded(request.ip);
    if (request.adminSession) await admin.destroySession(readCookie(request.headers.cookie, COOKIE_NAME)!);
    const { token, session } = await admin.createSession(request.ip);
    reply.header('set-cookie', sessionCookie(request, token, Math.floor((session.expiresAt - Date.now()) / 1000)));
    log.info({ ip: request.ip }, 'dashboard sign-in');
    return { signedIn: true, csrfToken: session.csrfToken, expiresAt: session.expiresAt } satisfies MeResponse;
  });

  // 200 either way: the page asks at load, and a 401 there would be a console error in every browser.
  app.get('/me', async (request) => {
    if (!request.adminSession) return { signedIn: false } satisfies MeResponse;
    return { signedIn: true, csrfToken: request.adminSession.csrfToken, expiresAt: request.adminSession.expiresAt } satisfies MeResponse;
  });

  app.post('/logout', async (request, reply) => {
    const token = readCookie(request.headers.cookie, COOKIE_NAME);
    if (token) await admin.destroySession(token);
    reply.header('set-cookie', sessionCookie(request, '', 0));
    return reply.status(204).send();
  });

  // ---- projects and applications

  const summary = async (p: Project): Promise<ProjectSummary> => ({
    id: p.id,
    kind: p.kind,
    name: p.name,
    createdAt: p.createdAt,
    sessions: await ctx.store.sessions.countByProject(p.id),
  });
  const storage = ctx.archives.uploads.storage;
  const detail = async (p: Project): Promise<ProjectDetail> => {
    const archiveStorage = storage.get(p.id);
    return { ...(await summary(p)), secret: p.secret, publicKey: p.publicKey, callbacks: await ctx.store.callbacks.get(p.id), archiveStorage: archiveStorage ? storageView(archiveStorage) : null };
  };
  const requireProject = (id: string): Project => {
    const project = ctx.store.projects.get(id.toLowerCase());
    if (!project) throw notFound('No such project', 404);
    return project;
  };
  const projectErrors = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof ProjectValidationError) throw invalid(err.message);
      throw err;
    }
  };

  app.get('/projects', async () => Promise.all(ctx.store.projects.list().map(summary)));

  app.post('/projects', async (request, reply) => {
    const { name } = parseWith(nameSchema, request.body);
    const project = await projectErrors(() => ctx.store.projects.createProject(name));
    log.info({ projectId: project.id }, 'project created from the dashboard');
    return reply.status(201).send(await detail(project));
  });

  app.post('/applications', async (request, reply) => {
    const body = parseWith(applicationSchema, request.body);
    let publicKey = body.publicKey?.trim();
    let privateKey: string | null = null;
    if (!publicKey) {
      // Like Vonage's dashboard: generate the pair, keep the public half, hand the private one over once.
      const pair = generateKeyPairSync('rsa', {
        modulusLength: 2048,
        publicKeyEncoding: { type: 'spki', format: 'pem' },
        privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      });
      publicKey = pair.publicKey;
      privateKey = pair.privateKey;
    }
    const project = await projectErrors(() => ctx.store.projects.createApplication(body.name, publicKey!));
    log.info({ applicationId: project.id, generatedKey: privateKey !== null }, 'application created from the dashboard');
    return reply.status(201).send({ ...(await detail(project)), privateKey } satisfies CreatedApplication);
  });

  app.get<{ Params: { id: string } }>('/projects/:id', async (request) => detail(requireProject(request.params.id)));

  app.post<{ Params: { id: string } }>('/projects/:id/rotate-secret', async (request) => {
    const project = requireProject(request.params.id);
    if (project.kind !== 'project') throw invalid('Applications have no secret: replace their public key instead');
    const rotated = await projectErrors(() => ctx.store.projects.rotateSecret(project.id));
    log.info({ projectId: project.id }, 'project secret rotated from the dashboard');
    return await detail(rotated);
  });

  app.put<{ Params: { id: string } }>('/projects/:id/public-key', async (request) => {
    const project = requireProject(request.params.id);
    if (project.kind !== 'application') throw invalid('Only applications have a public key');
    const { publicKey } = parseWith(publicKeySchema, request.body);
    const { project: updated } = await projectErrors(() => ctx.store.projects.ensureApplication(project.id, publicKey, project.name));
    log.info({ applicationId: project.id }, 'application public key replaced from the dashboard');
    return await detail(updated);
  });

  // Archive status and session monitoring callback URLs ('' or null removes one; absent leaves it).
  app.put<{ Params: { id: string } }>('/projects/:id/callbacks', async (request) => {
    const project = requireProject(request.params.id);
    const body = parseWith(callbacksSchema, request.body);
    try {
      await ctx.store.callbacks.set(project.id, body);
    } catch (err) {
      if (err instanceof CallbackValidationError) throw invalid(err.message);
      throw err;
    }
    log.info({ projectId: project.id, ...(await ctx.store.callbacks.get(project.id)) }, 'project callbacks changed from the dashboard');
    return await detail(project);
  });

  // Archive storage, as the REST API's PUT …/archive/storage takes it; an empty or absent secretKey
  // keeps the one already set (the page never has it to send back).
  app.put<{ Params: { id: string } }>('/projects/:id/archive-storage', async (request) => {
    const project = requireProject(request.params.id);
    const body = (request.body ?? {}) as { config?: Record<string, unknown> };
    const current = storage.get(project.id);
    const secretKey = body.config?.['secretKey'];
    const withSecret = current && body.config && (secretKey === undefined || secretKey === '') ? { ...body, config: { ...body.config, secretKey: current.secretKey } } : body;
    const settings = parseStorageSettings(withSecret);
    storage.set(project.id, settings);
    log.info({ projectId: project.id, bucket: settings.bucket, endpoint: settings.endpoint ?? 'Amazon S3', fallback: settings.fallback }, 'archive storage set from the dashboard');
    return await detail(project);
  });

  app.delete<{ Params: { id: string } }>('/projects/:id/archive-storage', async (request) => {
    const project = requireProject(request.params.id);
    if (storage.delete(project.id)) log.info({ projectId: project.id }, 'archive storage removed from the dashboard');
    return await detail(project);
  });

  app.delete<{ Params: { id: string } }>('/projects/:id', async (request, reply) => {
    const project = requireProject(request.params.id);
    const { confirm } = parseWith(deleteSchema, request.body);
    if (confirm.toLowerCase() !== project.id) throw invalid('To delete a project, send {"confirm": "<its id>"}');
    // Whoever is still connected to its sessions leaves (forceDisconnected), its recordings stop
    // and every archive file goes; then its rows, which cascade to sessions, archives and the
    // Inspector's data.
    let disconnected = 0;
    for (const session of ctx.sessions.liveSessions()) {
      if (session.projectId !== project.id) continue;
      for (const connectionId of [...session.connections.keys()]) {
        try {
          await ctx.sessions.forceDisconnect(project, session.id, connectionId);
          disconnected++;
        } catch {
          // it left meanwhile
        }
      }
    }
    const archives = await ctx.archives.deleteProjectArchives(project.id);
    await ctx.broadcasts.deleteProjectBroadcasts(project.id);
    const sessionIds = await ctx.store.sessions.idsByProject(project.id);
    // Synchronously from here: what was recorded so far is written before the rows go, and nothing
    // about these sessions is recorded after.
    ctx.inspector.flush();
    await ctx.store.projects.delete(project.id);
    for (const sid of sessionIds) ctx.inspector.forgetSession(sid);
    log.info({ projectId: project.id, sessions: sessionIds.length, archives, disconnected }, 'project deleted from the dashboard');
    return reply.status(204).send();
  });

  // ---- sessions and demo tokens

  const sessionItem = (r: SessionRecord): SessionListItem => {
    const s = ctx.inspector.getSession(r.id);
    // The first connection the Inspector saw in the session: who a row of the list is about.
    const first = s && s.connections > 0 ? ctx.inspector.firstConnection(r.id) : null;
    return {
      sessionId: r.id,
      mediaMode: r.mediaMode,
      archiveMode: r.archiveMode,
      createdAt: r.createdAt,
      lastActivityAt: s?.lastActivityAt ?? null,
      connections: s?.connections ?? 0,
      liveConnections: s?.liveConnections ?? 0,
      errors: s?.errors ?? 0,
      firstParticipant: first ? { connectionId: first.connectionId, data: first.data ?? null } : null,
    };
  };

  app.get<{ Params: { id: string } }>('/projects/:id/sessions', async (request) => {
    const project = requireProject(request.params.id);
    const { limit, offset, joined } = parseWith(sessionListSchema, request.query, 'Query');
    ctx.inspector.flush(); // the counts and events of the last moments are still in memory
    if (joined === 'false') return (await ctx.store.sessions.listByProject(project.id, limit, offset)).map(sessionItem);
    // Sessions somebody joined, newest first. Whether anyone did is the Inspector's count, so a session
    // whose Inspector data was pruned (COLLOQUY_INSPECTOR_RETENTION_DAYS) counts as never joined.
    const ids = ctx.inspector.joinedSessionIds(project.id, limit, offset);
    const records = await Promise.all(ids.map((id) => ctx.store.sessions.get(id)));
    return records.flatMap((record) => (record ? [sessionItem(record)] : []));
  });

  app.post<{ Params: { id: string } }>('/projects/:id/sessions', async (request, reply) => {
    const project = requireProject(request.params.id);
    const body = parseWith(sessionSchema, request.body ?? {});
    const record = await ctx.sessions.create(project, {
      mediaMode: body.mediaMode,
      archiveMode: body.archiveMode,
      location: null,
      archiveName: null,
      archiveResolution: null,
      e2ee: false,
    });
    return reply.status(201).send(sessionItem(record));
  });

  app.post<{ Params: { id: string } }>('/projects/:id/tokens', async (request) => {
    const project = requireProject(request.params.id);
    const body = parseWith(tokenSchema, request.body);
    if ((body.sessionId === undefined) === (body.newSession === undefined)) throw invalid('Give either sessionId (an existing session) or newSession');
    // Everything that can refuse the request is checked before a new session is made, so a refused
    // token leaves no session behind.
    const privateKey = project.kind === 'application' ? applicationKey(project, body.privateKey) : null;
    if (body.sessionId !== undefined) await ctx.sessions.require(project, body.sessionId);
    const sessionId =
      body.sessionId ??
      (
        await ctx.sessions.create(project, {
          mediaMode: body.newSession!.mediaMode,
          archiveMode: body.newSession!.archiveMode,
          location: null,
          archiveName: null,
          archiveResolution: null,
          e2ee: false,
        })
      ).id;
    const expireTime = Math.floor(Date.now() / 1000) + body.ttlSeconds;
    const tokenOptions = { sessionId, role: body.role, data: body.data, expireTime };
    const token = privateKey
      ? buildApplicationToken(project.id, privateKey, tokenOptions)
      : body.kind === 't1'
        ? buildT1Token(project.id, project.secret!, tokenOptions)
        : buildJwtToken(project.id, project.secret!, tokenOptions);
    const fragment = new URLSearchParams({ apiKey: project.id, sessionId, token });
    return {
      token,
      apiKey: project.id,
      sessionId,
      role: body.role,
      expireTime,
      testPageUrl: `/test-page.html#${fragment.toString()}`,
    } satisfies TokenResponse;
  });

  // ---- live sessions and the Inspector

  const requireSession = async (request: FastifyRequest<{ Params: { id: string; sid: string } }>): Promise<{ project: Project; record: SessionRecord }> => {
    const project = requireProject(request.params.id);
    return { project, record: await ctx.sessions.require(project, request.params.sid) };
  };

  app.get<{ Params: { id: string } }>('/projects/:id/live', async (request) => ctx.inspector.liveSessions(requireProject(request.params.id).id));

  app.get<{ Params: { id: string } }>('/projects/:id/inspector-sessions', async (request) => {
    const project = requireProject(request.params.id);
    const { limit, offset } = parseWith(pagingSchema, request.query, 'Query');
    return ctx.inspector.listSessions(project.id, { limit, offset });
  });

  app.get<{ Params: { id: string; sid: string } }>('/projects/:id/sessions/:sid', async (request) => {
    const { record } = await requireSession(request);
    return {
      session: sessionItem(record),
      summary: ctx.inspector.getSession(record.id),
      participants: ctx.inspector.participants(record.id),
      live: ctx.inspector.liveSession(record.id),
    } satisfies InspectorSessionDetail;
  });

  app.get<{ Params: { id: string; sid: string } }>('/projects/:id/sessions/:sid/events', async (request) => {
    const query = parseEventQuery(request.query);
    const { record } = await requireSession(request);
    return ctx.inspector.events(record.id, query);
  });

  app.get<{ Params: { id: string; sid: string } }>('/projects/:id/sessions/:sid/quality', async (request) => {
    const query = parseQualityQuery(request.query);
    const { record } = await requireSession(request);
    return { ...ctx.inspector.quality(record.id, query), scores: ctx.inspector.scores(record.id, { since: query.since, until: query.until }) };
  });

  app.get<{ Params: { id: string; sid: string } }>('/projects/:id/sessions/:sid/live', async (request) => {
    const { record } = await requireSession(request);
    return { live: ctx.inspector.liveSession(record.id) };
  });

  // ---- archives

  // Download and play links are relative signed URLs (the same route and signature as the REST
  // API's `url`): the page plays them from its own origin.
  const archiveItem = (r: ArchiveRecord): ArchiveItem => {
    const recording = r.status === 'started' || r.status === 'paused';
    return {
      id: r.id,
      sessionId: r.sessionId,
      name: r.name,
      status: r.status,
      reason: r.reason || null,
      createdAt: r.createdAt,
      duration: recording ? Math.round(r.recordedMs / 1000) : r.duration,
      size: r.size,
      outputMode: r.outputMode,
      resolution: r.resolution,
      hasAudio: r.hasAudio,
      hasVideo: r.hasVideo,
      url: ctx.archives.urlOf(r, ''),
      upload: uploadOf(r.id),
    };
  };
  const uploadOf = (archiveId: string): ArchiveItem['upload'] => {
    const u = ctx.archives.uploads.upload(archiveId);
    return u ? { state: u.state, bucket: u.bucket, error: u.error } : null;
  };

  app.get<{ Params: { id: string } }>('/projects/:id/archives', async (request) => {
    const project = requireProject(request.params.id);
    const { limit, offset } = parseWith(pagingSchema, request.query, 'Query');
    const page = ctx.archives.list(project.id, { offset, count: limit });
    return { count: page.count, items: page.items.map(archiveItem) } satisfies ArchiveList;
  });

  app.delete<{ Params: { id: string; archiveId: string } }>('/projects/:id/archives/:archiveId', async (request, reply) => {
    const project = requireProject(request.params.id);
    await ctx.archives.deleteArchive(project, request.params.archiveId);
    log.info({ projectId: project.id, archiveId: request.params.archiveId }, 'archive deleted from the dashboard');
    return reply.status(204).send();
  });

  // ---- broadcasts (read-only: starting and stopping them is the REST API's job)

  const broadcastItem = (r: BroadcastRecord): BroadcastItem => ({
    id: r.id,
    sessionId: r.sessionId,
    status: r.status,
    reason: r.reason || null,
    createdAt: r.createdAt,
    resolution: r.resolution,
    // A path, not the public URL: the dashboard and the HLS files are served by this same server,
    // and the page's Content-Security-Policy only lets it fetch its own origin.
    hls: hlsUrl('', r),
    hlsStatus: r.hls?.status ?? null,
    lowLatency: r.hls?.lowLatency ?? false,
    dvr: r.hls?.dvr ?? false,
    rtmp: r.rtmp.map((t) => ({ id: t.id, serverUrl: t.serverUrl, status: t.status })),
  });

  app.get<{ Params: { id: string } }>('/projects/:id/broadcasts', async (request) => {
    const project = requireProject(request.params.id);
    const { limit, offset } = parseWith(pagingSchema, request.query, 'Query');
    const page = ctx.broadcasts.list(project.id, { offset, count: limit });
    return { count: page.count, items: page.items.map(broadcastItem) } satisfies BroadcastList;
  });

  app.get<{ Params: { id: string; broadcastId: string } }>('/projects/:id/broadcasts/:broadcastId', async (request) =>
    broadcastItem(ctx.broadcasts.get(requireProject(request.params.id), request.params.broadcastId)),
  );
}

/** Proves an application token verifies with the stored public key, so a wrong key shows here, not at connect. */
/** An application's private key as pasted, checked to be the pair of its registered public key. */
function applicationKey(project: Project, pem: string | undefined): KeyObject {
  if (!pem?.trim()) throw invalid("An application's tokens are signed with its private key: paste it (it is used once and not kept)");
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch {
    throw invalid('The private key is not a PEM RSA private key');
  }
  if (key.asymmetricKeyType !== 'rsa') throw invalid('The private key is not a PEM RSA private key');
  const spki = (k: KeyObject) => k.export({ type: 'spki', format: 'der' });
  if (!project.publicKey || !spki(createPublicKey(key)).equals(spki(createPublicKey(project.publicKey)))) {
    throw invalid("The private key does not match the application's public key");
  }
  return key;
}

/** Refuses a mutating request whose Origin is not this server (a second line behind SameSite and CSRF). */
function checkOrigin(request: FastifyRequest): void {
  const origin = request.headers.origin;
  if (origin === undefined || origin === 'null') {
    if (origin === 'null') throw forbidden('Cross-origin request refused', 403);
    return;
  }
  let host: string;
  try {
    host = new URL(origin).host;
  } catch {
    throw forbidden('Cross-origin request refused', 403);
  }
  // request.host believes X-Forwarded-Host only from a trusted proxy (COLLOQUY_TRUST_PROXY, proxy-trust.ts).
  const expected = request.host;
  if (host !== expected) throw forbidden('Cross-origin request refused', 403);
}

export function readCookie(header: string | undefined, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) {
      const value = part.slice(eq + 1).trim();
      return value === '' ? null : value;
    }
  }
  return null;
}

function sessionCookie(request: FastifyRequest, value: string, maxAgeSeconds: number): string {
  const parts = [`${COOKIE_NAME}=${value}`, 'Path=/dashboard', 'HttpOnly', 'SameSite=Strict', `Max-Age=${Math.max(0, maxAgeSeconds)}`];
  if (request.protocol === 'https') parts.push('Secure');
  return parts.join('; ');
}

