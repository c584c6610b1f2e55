// The dashboard's sessions of a project and its demo tokens: the session list (all, or only those
// somebody joined), a new session, and a token for an existing or new session (signed with the
// project's secret, or an application's pasted private key) with a link to the test page.

import { buildApplicationToken, buildJwtToken, buildT1Token, MAX_CONNECTION_DATA_LENGTH, MAX_TOKEN_TTL_SECONDS, ROLES } from '@colloquy/tokens';
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { invalid } from '../../errors.js';
import type { AppContext } from '../../rest/context.js';
import { parseWith } from '../../rest/validation.js';
import type { Project } from '../../store/index.js';
import type { TokenResponse } from '../api-types.js';
import { pagingSchema, projectLookup, sessionItemView } from './common.js';

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
const sessionListSchema = pagingSchema.extend({
  /** `true`: only sessions somebody connected to (the Inspector counted a connection). */
  joined: z.enum(['true', 'false']).default('false'),
});

export async function sessionRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  const requireProject = projectLookup(ctx);
  const sessionItem = sessionItemView(ctx);

  app.get<{ Params: { id: string } }>('/projects/:id/sessions', async (request) => {
    const project = requireProject(request.params.id);
    const { limit, offset, joined } = parseWith(sessionListSchema, request.query, 'Query');
    await ctx.inspector.flush(); // the counts and events of the last moments are still in memory
    if (joined === 'false') return Promise.all((await ctx.store.sessions.listByProject(project.id, limit, offset)).map(sessionItem));
    // Sessions somebody joined, newest first. Whether anyone did is the Inspector's count, so a session
    // whose Inspector data was pruned (COLLOQUY_INSPECTOR_RETENTION_DAYS) counts as never joined.
    const ids = await ctx.inspector.joinedSessionIds(project.id, limit, offset);
    const records = await Promise.all(ids.map((id) => ctx.store.sessions.get(id)));
    return Promise.all(records.flatMap((record) => (record ? [sessionItem(record)] : [])));
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
    return reply.status(201).send(await sessionItem(record));
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
}

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
