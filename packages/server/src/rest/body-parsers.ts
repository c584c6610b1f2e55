// Body parsers. JSON: an empty body is "no body" rather than an error, because @vonage/video sends
// some POSTs (archive stop) with a JSON content type and nothing in them. Forms: parsed into plain
// strings; a field given twice is refused rather than silently picking one.

import type { FastifyInstance } from 'fastify';
import { invalid } from '../errors.js';

export function registerBodyParsers(app: FastifyInstance): void {
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
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, parseForm(body as string));
    } catch (err) {
      done(err as Error, undefined);
    }
  });
}

export function parseForm(text: string): Record<string, string> {
  const fields: Record<string, string> = Object.create(null);
  for (const [name, value] of new URLSearchParams(text)) {
    if (name in fields) throw invalid(`Form field "${name}" is given more than once`);
    fields[name] = value;
  }
  return fields;
}
