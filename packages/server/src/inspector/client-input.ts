// What a browser reports to the Inspector (its getStats summary, its exceptions), turned into
// samples and events. The payloads are validated once, at the signaling boundary, by the protocol's
// schemas (ClientStatsMessageSchema, ClientErrorMessageSchema in @colloquy/protocol/schemas); the
// connection always comes from the authenticated socket, never from the payload.

import type { ClientErrorMessage, ClientStatsMessage } from '@colloquy/protocol';
import type { ClientStatsSample, InspectorEventInput } from './types.js';

/** Samples for `Inspector.recordQuality`, one per track of the report. */
export function clientStatsSamples(connectionId: string, report: Pick<ClientStatsMessage, 'tracks'>): ClientStatsSample[] {
  return report.tracks.map((t) => ({ source: 'client' as const, connectionId, ...stripUndefined(t) }));
}

/** An exception the browser SDK reported, as an `error` event of its connection. */
export function clientErrorEvent(connectionId: string, report: Omit<ClientErrorMessage, 'type'>): Extract<InspectorEventInput, { type: 'error' }> {
  return { type: 'error', source: 'client', connectionId, ...stripUndefined(report) };
}

function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
