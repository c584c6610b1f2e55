// Every error leaves as OpenTok's JSON body `{code, message}` with the right status, whatever
// raised it: the domain (ColloquyError), Fastify (bad JSON, body too large, wrong media type), a
// full disk (503), or a bug (500, logged, no internals in the
// answer). A 501 (a feature this server does not offer) is the client's business: a warn line
// without a stack, not an error.

import type { FastifyError, FastifyInstance } from 'fastify';
import { ZodError } from 'zod';
import { ColloquyError, DISK_FULL_MESSAGE, domainError, isDiskFull, STATUS_OF_KIND } from '../errors.js';

export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError | ColloquyError | ZodError | Error, request, reply) => {
    const domain = domainError(error);
    if (domain) {
      const status = STATUS_OF_KIND[domain.kind];
      // 501 and 503 are answers, not faults: the onResponse hook logs them at warn, without a stack.
      if (status >= 500 && status !== 501 && status !== 503) request.log.error({ err: error }, 'request failed');
      return reply.status(status).send({ code: domain.code ?? status, message: domain.message });
    }
    if (error instanceof ZodError) {
      return reply.status(400).send({ code: 400, message: describeZodError(error) });
    }
    const status = (error as FastifyError).statusCode;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      return reply.status(status).send({ code: status, message: clientMessage(error as FastifyError) });
    }
    if (isDiskFull(error)) {
      request.log.warn({ reason: error.message }, 'request failed: disk full');
      return reply.status(503).send({ code: 503, message: DISK_FULL_MESSAGE });
    }
    request.log.error({ err: error }, 'unhandled error');
    return reply.status(500).send({ code: 500, message: 'Internal server error' });
  });

  app.setNotFoundHandler((request, reply) => {
    reply.status(404).send({ code: 404, message: `Not found: ${request.method} ${request.url.split('?')[0]}` });
  });
}

function clientMessage(error: FastifyError): string {
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return 'Unsupported Content-Type: send application/json (or a form for /session/create)';
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return 'Request body is too large';
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return 'Content-Length does not match the body';
    default:
      return error.message;
  }
}

export function describeZodError(error: ZodError): string {
  return error.issues
    .map((issue) => {
      const path = issue.path.join('.');
      return path ? `${path}: ${issue.message}` : issue.message;
    })
    .join('; ');
}
