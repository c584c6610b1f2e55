// Parsing what a browser reports to the Inspector (its getStats summary, its exceptions): untrusted
// input, so every field is checked and bounded here before it reaches the log. The signaling layer
// calls these on the payloads of its event-channel messages and records the result.

import { z } from 'zod';
import type { ClientStatsSample, InspectorEventInput } from './types.js';

const MAX_ID = 128;
const nonNegative = (max: number) => z.number().finite().min(0).max(max);

const clientTrackStatsSchema = z.object({
  streamId: z.string().min(1).max(MAX_ID).optional(),
  direction: z.enum(['send', 'receive']),
  kind: z.enum(['audio', 'video']),
  bitrate: nonNegative(1e9),
  packetLoss: nonNegative(1),
  jitterMs: nonNegative(60_000).optional(),
  rttMs: nonNegative(60_000).optional(),
  frameRate: nonNegative(1000).optional(),
  width: z.number().int().min(0).max(16_384).optional(),
  height: z.number().int().min(0).max(16_384).optional(),
  nackCount: z.number().int().min(0).max(1e9).optional(),
  pliCount: z.number().int().min(0).max(1e9).optional(),
});

/** A getStats report: up to 32 tracks (a client rarely has more than its publisher and a few subscribers). */
export const clientStatsSchema = z.object({ tracks: z.array(clientTrackStatsSchema).max(32) });

export type ClientStatsReport = z.infer<typeof clientStatsSchema>;

/**
 * Turns a client's report into samples for `Inspector.recordQuality`, the connection taken from
 * the authenticated socket (never from the payload). Throws a ZodError on bad input.
 */
export function parseClientStats(connectionId: string, payload: unknown): ClientStatsSample[] {
  const report = clientStatsSchema.parse(payload);
  return report.tracks.map((t) => ({ source: 'client' as const, connectionId, ...stripUndefined(t) }));
}

export const clientErrorSchema = z.object({
  code: z.union([z.number().int(), z.string().max(64)]).optional(),
  name: z.string().max(64).optional(),
  message: z.string().max(1000),
  streamId: z.string().min(1).max(MAX_ID).optional(),
});

/** Turns an exception the browser SDK reported into an `error` event of its connection. */
export function parseClientError(connectionId: string, payload: unknown): Extract<InspectorEventInput, { type: 'error' }> {
  const e = clientErrorSchema.parse(payload);
  return { type: 'error', source: 'client', connectionId, ...stripUndefined(e) };
}

function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
