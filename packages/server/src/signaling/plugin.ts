// Wires the signaling WebSocket into the HTTP server: upgrades on /v2/signaling go to the
// SignalingServer; on shutdown its sockets close before the HTTP server waits for connections.

import { SIGNALING_PATH } from '@colloquy/protocol';
import proxyAddr from '@fastify/proxy-addr';
import type { FastifyInstance } from 'fastify';
import type { IncomingMessage } from 'node:http';
import { turnCredentials } from '../ops/turn-credentials.js';
import type { AppContext } from '../rest/context.js';
import { DEFAULT_SIGNALING_OPTIONS, SignalingServer } from './signaling-server.js';

declare module 'fastify' {
  interface FastifyInstance {
    signaling: SignalingServer;
  }
}

/** Registers on the root instance (not an encapsulated scope) so `app.signaling` is visible to all. */
export function registerSignaling(app: FastifyInstance, ctx: AppContext): SignalingServer {
  const turn = ctx.config.turn;
  const signaling = new SignalingServer(
    ctx.sessions,
    ctx.store.projects,
    {
      ...DEFAULT_SIGNALING_OPTIONS,
      resumeGraceMs: ctx.config.resumeGraceMs,
      heartbeatMs: ctx.config.heartbeatMs,
      heartbeatTimeoutMs: ctx.config.heartbeatMs * 3,
      clockSkewSeconds: ctx.config.clockSkewSeconds,
      maxConnectionsPerSession: ctx.config.maxConnectionsPerSession,
      joinsPerSecond: ctx.config.joinsPerSecond,
      clientIp: clientIpFunction(ctx.config.trustProxy),
      ...(turn ? { iceServers: (connectionId: string) => [turnCredentials(turn, connectionId)] } : {}),
    },
    ctx.logger,
  );
  app.server.on('upgrade', (request, socket, head) => {
    const path = (request.url ?? '').split('?')[0];
    if (path === SIGNALING_PATH) {
      signaling.handleUpgrade(request, socket, head);
    } else if (app.server.listenerCount('upgrade') === 1) {
      // Nobody else takes WebSocket upgrades: answer rather than leave the socket hanging.
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    }
  });
  app.decorate('signaling', signaling);
  app.addHook('preClose', async () => signaling.close());
  return signaling;
}

/**
 * The client address of an upgrade request under COLLOQUY_TRUST_PROXY, as Fastify reads it for
 * HTTP requests: X-Forwarded-For hops are believed only from trusted proxies (false: none).
 */
export function clientIpFunction(trust: boolean | number | string[]): (request: IncomingMessage) => string {
  if (trust === false) return (request) => request.socket.remoteAddress ?? '';
  const trusted = trust === true ? () => true : typeof trust === 'number' ? (_addr: string, hop: number) => hop < trust : proxyAddr.compile(trust);
  return (request) => proxyAddr(request, trusted);
}
