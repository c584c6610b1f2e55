// Operations endpoints: GET /readyz (ready for new calls: 503 while starting, stopping or
// saturated, so a balancer sends new sessions elsewhere) and GET /metrics (Prometheus text, behind
// COLLOQUY_METRICS_TOKEN as a bearer token when set). /healthz (alive) is in app.ts.

import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { LoadMonitor } from './load-monitor.js';
import type { Metrics } from './metrics.js';

export interface OpsContext {
  metrics: Metrics;
  load: LoadMonitor;
  metricsToken: string | null;
  /** False while starting or shutting down. */
  ready: () => boolean;
}

function tokenMatches(header: string | undefined, token: string): boolean {
  const match = /^Bearer\s+(\S+)$/i.exec(header ?? '');
  if (!match) return false;
  const given = Buffer.from(match[1]!);
  const wanted = Buffer.from(token);
  return given.length === wanted.length && timingSafeEqual(given, wanted);
}

export async function opsRoutes(app: FastifyInstance, ops: OpsContext): Promise<void> {
  app.get('/readyz', async (_request, reply) => {
    const { eventLoopLagMs, cpuPercent } = ops.load.sample;
    if (!ops.ready()) return reply.status(503).send({ status: 'not ready', eventLoopLagMs, cpuPercent });
    const reason = ops.load.overloaded();
    if (reason) return reply.status(503).send({ status: 'overloaded', reason, eventLoopLagMs, cpuPercent });
    return { status: 'ready', eventLoopLagMs, cpuPercent };
  });

  app.get('/metrics', async (request, reply) => {
    if (ops.metricsToken !== null && !tokenMatches(request.headers.authorization, ops.metricsToken)) {
      return reply.status(401).header('www-authenticate', 'Bearer realm="metrics"').send({ code: 401, message: 'GET /metrics needs Authorization: Bearer <COLLOQUY_METRICS_TOKEN>' });
    }
    const { contentType, body } = await ops.metrics.scrape();
    return reply.header('content-type', contentType).header('cache-control', 'no-store').send(body);
  });
}
