// Wires the signaling WebSocket into the HTTP server: upgrades on /v2/signaling go to the
// SignalingServer; on shutdown its sockets close before the HTTP server waits for connections.

import { SIGNALING_PATH } from '@colloquy/protocol';
import type { FastifyInstance } from 'fastify';
import type { Duplex } from 'node:stream';
import { turnCredentials } from '../ops/turn-credentials.js';
import { clientAddress, type ProxyTrust } from '../proxy-trust.js';
import type { AppContext } from '../rest/context.js';
import { DEFAULT_SIGNALING_OPTIONS, SignalingServer } from './signaling-server.js';

declare module 'fastify' {
  interface FastifyInstance {
    signaling: SignalingServer;
  }
}

/** Registers on the root instance (not an encapsulated scope) so `app.signaling` is visible to all. */
export function registerSignaling(
  app: FastifyInstance,
  ctx: AppContext,
  options: { trust: ProxyTrust; onUpgrade?: (socket: Duplex) => void },
): SignalingServer {
  const { trust } = options;
  const turn = ctx.config.turn;
  const cluster = ctx.cluster;
  const signaling = new SignalingServer(
    ctx.sessions,
    ctx.store.projects,
    {
      ...DEFAULT_SIGNALING_OPTIONS,
      resumeGraceMs: ctx.config.resumeGraceMs,
      heartbeatMs: ctx.config.heartbeatMs,
      heartbeatTimeoutMs: ctx.config.heartbeatMs * 3,
      clockSkewSeconds: ctx.config.clockSkewSeconds,
      // Cluster mode: a client that reached another node comes over that node's signaling link,
      // which gives its address (SignalingServer.adoptLinked); upgrades here are the client's own.
      clientAddress: (request) => clientAddress(request, trust),
      maxConnectionsPerSession: ctx.config.maxConnectionsPerSession,
      joinsPerSecond: ctx.config.joinsPerSecond,
      ...(turn ? { iceServers: (connectionId: string) => [turnCredentials(turn, connectionId)] } : {}),
      ...(cluster ? { clusterNodes: () => cluster.nodeUrls } : {}),
    },
    ctx.logger,
  );
  app.server.on('upgrade', (request, socket, head) => {
    options.onUpgrade?.(socket);
    const path = (request.url ?? '').split('?')[0];
    if (path === SIGNALING_PATH) {
      // Cluster mode: the socket is served here or proxied to its session's home node.
      if (cluster) cluster.handleUpgrade(signaling, request, socket, head);
      else signaling.handleUpgrade(request, socket, head);
    } else if (app.server.listenerCount('upgrade') === 1) {
      // Nobody else takes WebSocket upgrades: answer rather than leave the socket hanging.
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    }
  });
  if (cluster) {
    const off = cluster.onNodesChanged((nodes) => signaling.announceClusterNodes(nodes));
    app.addHook('onClose', async () => void off());
  }
  app.decorate('signaling', signaling);
  app.addHook('preClose', async () => signaling.close());
  return signaling;
}
