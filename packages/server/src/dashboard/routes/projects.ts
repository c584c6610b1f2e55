// The dashboard's projects and applications: list, create (an application's key pair generated
// when none is pasted), rotate a secret, replace a public key, callback URLs, archive storage, and
// delete (everyone disconnected, archives and Inspector data gone).

import { generateKeyPairSync } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { parseStorageSettings, storageView } from '../../archiving/storage/storage-settings.js';
import { CallbackValidationError } from '../../callbacks/callback-store.js';
import { invalid } from '../../errors.js';
import type { AppContext } from '../../rest/context.js';
import { parseWith } from '../../rest/validation.js';
import type { Project } from '../../store/index.js';
import { ProjectValidationError } from '../../store/index.js';
import type { CreatedApplication, ProjectDetail, ProjectSummary } from '../api-types.js';
import { dashboardLog, projectLookup } from './common.js';

const nameSchema = z.object({ name: z.string().trim().min(1).max(100) });
const applicationSchema = z.object({ name: z.string().trim().min(1).max(100), publicKey: z.string().max(20_000).optional() });
const publicKeySchema = z.object({ publicKey: z.string().min(1).max(20_000) });
const deleteSchema = z.object({ confirm: z.string().min(1).max(100) });
const callbacksSchema = z.object({ archive: z.string().max(2048).nullish(), session: z.string().max(2048).nullish() }).strict();

export async function projectRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  const log = dashboardLog(ctx);
  const requireProject = projectLookup(ctx);

  const summary = async (p: Project): Promise<ProjectSummary> => ({
    id: p.id,
    kind: p.kind,
    name: p.name,
    createdAt: p.createdAt,
    sessions: await ctx.store.sessions.countByProject(p.id),
  });
  const storage = ctx.archives.uploads.storage;
  const detail = async (p: Project): Promise<ProjectDetail> => {
    const archiveStorage = await storage.get(p.id);
    return { ...(await summary(p)), secret: p.secret, publicKey: p.publicKey, callbacks: await ctx.store.callbacks.get(p.id), archiveStorage: archiveStorage ? storageView(archiveStorage) : null };
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
    const current = await storage.get(project.id);
    const secretKey = body.config?.['secretKey'];
    const withSecret = current && body.config && (secretKey === undefined || secretKey === '') ? { ...body, config: { ...body.config, secretKey: current.secretKey } } : body;
    const settings = parseStorageSettings(withSecret);
    await storage.set(project.id, settings);
    log.info({ projectId: project.id, bucket: settings.bucket, endpoint: settings.endpoint ?? 'Amazon S3', fallback: settings.fallback }, 'archive storage set from the dashboard');
    return await detail(project);
  });

  app.delete<{ Params: { id: string } }>('/projects/:id/archive-storage', async (request) => {
    const project = requireProject(request.params.id);
    if (await storage.delete(project.id)) log.info({ projectId: project.id }, 'archive storage removed from the dashboard');
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
      const actor = await ctx.sessions.restActor(project, session.id);
      for (const connectionId of [...session.connections.keys()]) {
        try {
          ctx.sessions.forceDisconnect(actor, connectionId);
          disconnected++;
        } catch {
          // it left meanwhile
        }
      }
    }
    const archives = await ctx.archives.deleteProjectArchives(project.id);
    await ctx.broadcasts.deleteProjectBroadcasts(project.id);
    const sessionIds = await ctx.store.sessions.idsByProject(project.id);
    // Nothing about these sessions is recorded from here; what was is written before the rows go
    // (a batch written after would find its sessions gone and be dropped, never fail).
    for (const sid of sessionIds) ctx.inspector.forgetSession(sid);
    await ctx.inspector.flush();
    await ctx.store.projects.delete(project.id);
    log.info({ projectId: project.id, sessions: sessionIds.length, archives, disconnected }, 'project deleted from the dashboard');
    return reply.status(204).send();
  });
}
