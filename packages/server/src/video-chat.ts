// Serves the tutorial video chat (examples/video-chat) at /video-chat/, so that the first `npm start`
// already shows a working call. It runs the example's own request handler with the default
// project's credentials; the handler calls this server's REST API over loopback, as any app server
// would. The example is an optional dependency: without it (or with COLLOQUY_VIDEO_CHAT=off) the
// path answers 404 with a line on why.

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AddressInfo } from 'node:net';
import type { AppContext } from './rest/context.js';
import type { Project } from './store/index.js';

type VideoChatModule = typeof import('@colloquy/video-chat');
type Handler = ReturnType<VideoChatModule['createVideoChatHandler']>;

export const VIDEO_CHAT_PATH = '/video-chat/';

export interface VideoChatMountOptions {
  /** The project whose credentials the app uses: the start's default project. */
  projectId: string | null;
}

/** The example package, or null when it is not installed (e.g. the server package on its own). */
async function loadVideoChat(): Promise<VideoChatModule | null> {
  try {
    return await import('@colloquy/video-chat');
  } catch (err) {
    const { code, message } = err as { code?: string; message?: string };
    if (code === 'ERR_MODULE_NOT_FOUND' && message?.includes('@colloquy/video-chat')) return null;
    throw err;
  }
}

/** The default project if it can sign tokens (has an API secret), else the first project that can. */
function projectFor(ctx: AppContext, projectId: string | null): (Project & { secret: string }) | null {
  const preferred = projectId === null ? null : ctx.store.projects.get(projectId);
  const project = preferred?.secret ? preferred : ctx.store.projects.list().find((p) => p.secret);
  return project?.secret ? (project as Project & { secret: string }) : null;
}

/** This server's own address, for the app's REST calls (a wildcard bind is reached on loopback). */
function selfUrl(app: FastifyInstance): string {
  const { address, port } = app.server.address() as AddressInfo;
  const host = address === '0.0.0.0' ? '127.0.0.1' : address === '::' ? '::1' : address;
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

export async function videoChatRoutes(app: FastifyInstance, ctx: AppContext, options: VideoChatMountOptions): Promise<void> {
  const videoChat = ctx.config.videoChat ? await loadVideoChat() : null;
  // The example reads request bodies itself from the raw request: Fastify must leave them unread.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, _payload, done) => done(null));
  let current: { projectId: string; secret: string; handler: Handler } | null = null;

  const handle = (request: FastifyRequest, reply: FastifyReply): void => {
    const project = videoChat ? projectFor(ctx, options.projectId) : null;
    if (!videoChat || !project) {
      const why = !ctx.config.videoChat
        ? 'The tutorial video chat is off on this server (COLLOQUY_VIDEO_CHAT=on turns it on; by default it is on only when the server listens on loopback).'
        : !videoChat
          ? 'The tutorial video chat is not installed with this server (examples/video-chat).'
          : 'The tutorial video chat needs a project with an API secret: create one with `colloquy project create`.';
      void reply.status(404).type('text/plain; charset=utf-8').send(why + '\n');
      return;
    }
    if (current?.projectId !== project.id || current.secret !== project.secret) {
      // First request, or the secret was rotated in the dashboard: a new handler (its rooms start afresh).
      const handler = videoChat.createVideoChatHandler({
        apiKey: project.id,
        apiSecret: project.secret,
        apiUrl: selfUrl(app),
        browserUrl: '', // the page loads the SDK from this same server
        basePath: VIDEO_CHAT_PATH,
      });
      current = { projectId: project.id, secret: project.secret, handler };
    }
    reply.hijack();
    current.handler(request.raw, reply.raw);
  };
  app.all('/video-chat', handle);
  app.all('/video-chat/*', handle);
}
