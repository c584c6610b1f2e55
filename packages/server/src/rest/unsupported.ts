// Vonage Video features this server does not provide: live-streaming broadcasts, Experience
// Composer and live captions. Starting one answers 501 with a plain message, so
// an app finds out at once instead of waiting for something that never comes; lists are truthfully
// empty.

import type { FastifyInstance } from 'fastify';
import { ColloquyError, notFound } from '../errors.js';
import type { AppContext } from './context.js';

const unsupported = (what: string) => async () => {
  throw new ColloquyError('unsupported', `${what} are not supported by this Colloquy server`, 501);
};

export async function unsupportedRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  const empty = async () => ({ count: 0, items: [] });
  const missing = (what: string) => async () => {
    throw notFound(`${what} not found`, 404);
  };

  app.get('/broadcast', empty);
  app.post('/broadcast', unsupported('Live-streaming broadcasts'));
  app.get('/broadcast/:id', missing('Broadcast'));
  app.post('/broadcast/:id/stop', missing('Broadcast'));
  app.put('/broadcast/:id/layout', missing('Broadcast'));
  app.patch('/broadcast/:id/streams', missing('Broadcast'));

  if (!ctx.sip) {
    // A bare app without the SIP gateway (some tests): the SIP paths still answer plainly.
    for (const path of ['/dial', '/call', '/session/:sessionId/play-dtmf', '/session/:sessionId/connection/:connectionId/play-dtmf']) {
      app.post(path, unsupported('SIP calls'));
    }
  }

  app.get('/render', empty);
  app.post('/render', unsupported('Experience Composers'));
  app.get('/render/:id', missing('Render'));
  app.post('/render/:id', missing('Render')); // the PHP SDK's getRender uses POST
  app.delete('/render/:id', missing('Render'));

  app.post('/captions', unsupported('Live captions'));
  app.get('/captions/:id', missing('Captions'));
  app.post('/captions/:id/stop', missing('Captions'));

  if (!ctx.audioConnector) {
    // A bare app without the Audio Connector (some tests): its paths still answer plainly.
    app.post('/connect', unsupported('Audio Connector WebSockets'));
    app.post('/connect/:id/stop', missing('Audio Connector'));
  }
}
