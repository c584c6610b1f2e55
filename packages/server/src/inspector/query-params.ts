// Query strings of the Inspector's read APIs (the REST extension and the dashboard share them):
// `?type=a,b&connectionId=&streamId=&errors=true&since=&until=&after=&limit=` for events and
// `?connectionId=&streamId=&source=&since=&until=&bucket=` for quality. Times are ms since the epoch.

import { z } from 'zod';
import { parseWith } from '../rest/validation.js';
import { INSPECTOR_EVENT_TYPES, type EventQuery, type InspectorEventType, type QualityQuery } from './types.js';

const ms = z.coerce.number().int().min(0).max(8.64e15);
const id = z.string().min(1).max(256);

const eventQuerySchema = z
  .object({
    type: z
      .string()
      .max(1000)
      .transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean))
      .pipe(z.array(z.enum(INSPECTOR_EVENT_TYPES as [InspectorEventType, ...InspectorEventType[]])))
      .optional(),
    connectionId: id.optional(),
    streamId: id.optional(),
    errors: z.enum(['true', 'false']).optional(),
    since: ms.optional(),
    until: ms.optional(),
    after: z.coerce.number().int().min(0).optional(),
    limit: z.coerce.number().int().min(1).max(1000).optional(),
  })
  .strict();

const qualityQuerySchema = z
  .object({
    connectionId: id.optional(),
    streamId: id.optional(),
    source: z.enum(['publisher', 'subscriber', 'client']).optional(),
    since: ms.optional(),
    until: ms.optional(),
    bucket: z.coerce.number().int().min(1000).max(86_400_000).optional(),
  })
  .strict();

export function parseEventQuery(query: unknown): EventQuery {
  const q = parseWith(eventQuerySchema, query ?? {}, 'Query');
  return {
    types: q.type,
    connectionId: q.connectionId,
    streamId: q.streamId,
    errorsOnly: q.errors === 'true',
    since: q.since,
    until: q.until,
    after: q.after,
    limit: q.limit,
  };
}

export function parseQualityQuery(query: unknown): QualityQuery {
  const q = parseWith(qualityQuerySchema, query ?? {}, 'Query');
  return { connectionId: q.connectionId, streamId: q.streamId, source: q.source, since: q.since, until: q.until, bucketMs: q.bucket };
}
