// Feeds the Inspector with archive lifecycle events, from the archive store's status changes.

import type { ArchiveRecord, ArchiveStatus, ArchiveStore } from '../archiving/archive-store.js';
import type { Inspector } from './inspector.js';
import type { InspectorEventInput } from './types.js';

type ArchiveEventType = Extract<InspectorEventInput, { archiveId: string }>['type'];

function eventType(status: ArchiveStatus, previous: ArchiveStatus | null): ArchiveEventType | null {
  switch (status) {
    case 'started':
      return previous === 'paused' ? 'archiveResumed' : 'archiveStarted';
    case 'paused':
      return 'archivePaused';
    case 'stopped':
      return 'archiveStopped';
    case 'available':
      return 'archiveAvailable';
    case 'failed':
      return 'archiveFailed';
    default:
      return null; // deleted / expired happen long after the session; not part of its timeline
  }
}

export function recordArchiveEvents(archives: ArchiveStore, inspector: Inspector): () => void {
  return archives.onStatusChange((record: ArchiveRecord, previous: ArchiveStatus | null) => {
    const type = eventType(record.status, previous);
    if (!type) return;
    inspector.recordEvent(record.sessionId, record.projectId, {
      type,
      archiveId: record.id,
      ...(record.name ? { name: record.name } : {}),
      ...(record.reason ? { reason: record.reason } : {}),
    });
  });
}
