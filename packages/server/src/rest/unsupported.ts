// The paths of features a bare app is built without (some tests leave out the SIP gateway or the
// Audio Connector): they still answer plainly, 501 to start one and 404 for the rest, instead of
// not existing.

import type { FastifyInstance } from 'fastify';
import { ColloquyError, notFound } from '../errors.js';
import type { AppContext } from './context.js';

const unsupported = (what: string) => async () => {
  throw new ColloquyError('unsupported', `${what} are not supported by this Colloquy server`, 501);
};

export async function unsupportedRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  const missing = (what: string) => async () => {
    throw notFound(`${what} not found`, 404);
  };

  if (!ctx.sip) {
    // A bare app without the SIP gateway (some tests): the SIP paths still answer plainly.
    for (const path of ['/dial', '/call', '/session/:sessionId/play-dtmf', '/session/:sessionId/connection/:connectionId/play-dtmf']) {
      app.post(path, unsupported('SIP calls'));
    }
  }

  if (!ctx.audioConnector) {
    // A bare app without the Audio Connector (some tests): its paths still answer plainly.
    app.post('/connect', unsupported('Audio Connector WebSockets'));
    app.post('/connect/:id/stop', missing('Audio Connector'));
  }
}
