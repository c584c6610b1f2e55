// Body parsers. JSON: ours, because an empty body is "no body" rather than an error (Fastify's own
// JSON parser refuses it): @vonage/video sends some POSTs (archive stop) with a JSON content type
// and nothing in them. Forms: @fastify/formbody (content type, buffering, the app's bodyLimit) with
// the WHATWG parser (URLSearchParams) into plain strings; a field given twice is refused rather
// than silently picking one.

import formbody from '@fastify/formbody';
import type { FastifyInstance } from 'fastify';
import { invalid } from '../errors.js';

export async function registerBodyParsers(app: FastifyInstance): Promise<void> {
  // Only JSON and forms: anything else is 415, not a string handed to a route that expects fields.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    const text = (body as string).trim();
    if (text === '') return done(null, undefined);
    try {
      done(null, JSON.parse(text));
    } catch {
      done(invalid('Request body is not valid JSON'), undefined);
    }
  });
  // A throw from the parser reaches the error handler as this 400 (Fastify catches parser throws).
  await app.register(formbody, { parser: parseForm });
}

export function parseForm(text: string): Record<string, string> {
  const fields: Record<string, string> = Object.create(null);
  for (const [name, value] of new URLSearchParams(text)) {
    if (name in fields) throw invalid(`Form field "${name}" is given more than once`);
    fields[name] = value;
  }
  return fields;
}
