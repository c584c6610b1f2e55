// OpenTok's archive storage settings (the upload target of a project's archives):
// `PUT /v2/project/{key}/archive/storage` sets it (200, the settings without the secret key; 400 for
// a body OpenTok refuses: bad JSON, a missing or unknown type, a config without bucket, accessKey or
// secretKey, a bad endpoint or fallback; 501 for type `azure`), `DELETE` removes it (204; archives
// then stay on this server). `GET` (ours, not OpenTok's) shows the settings, secret key left out.
// A change applies to archives that become available afterwards; uploads already pending use the
// settings current at each attempt.

import type { FastifyInstance } from 'fastify';
import { notFound } from '../errors.js';
import { parseStorageSettings, storageView } from '../archiving/storage/storage-settings.js';
import type { AppContext } from './context.js';

export async function archiveStorageRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  const storage = ctx.archives.uploads.storage;
  const log = ctx.logger.child({ module: 'archive-storage' });

  app.get('/archive/storage', async (request) => {
    const settings = await storage.get(request.project.id);
    if (!settings) throw notFound('No archive storage is set for this project: archives stay on this server', 404);
    return storageView(settings);
  });

  app.put('/archive/storage', async (request) => {
    const settings = parseStorageSettings(request.body);
    await storage.set(request.project.id, settings);
    log.info({ projectId: request.project.id, bucket: settings.bucket, endpoint: settings.endpoint ?? 'Amazon S3', fallback: settings.fallback }, 'archive storage set');
    return storageView(settings);
  });

  app.delete('/archive/storage', async (request, reply) => {
    if (await storage.delete(request.project.id)) log.info({ projectId: request.project.id }, 'archive storage removed');
    return reply.status(204).send();
  });
}
