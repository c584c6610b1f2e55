// An archive as OpenTok's REST API (and its archive status callback) describes it: UUID id,
// integer partnerId/projectId for numeric API keys (applicationId for applications), a signed
// absolute `url` once available, the live `streams` while recording.

import type { Project } from '../store/index.js';
import type { ArchiveManager } from './archive-manager.js';
import type { ArchiveRecord } from './archive-store.js';

/** OpenTok's owner fields: integer partnerId/projectId for numeric API keys, applicationId for applications. */
export function ownerFields(project: Pick<Project, 'id' | 'kind'>): Record<string, number | string> {
  return project.kind === 'project' ? { partnerId: Number(project.id), projectId: Number(project.id) } : { applicationId: project.id, projectId: project.id };
}

export function archiveJson(
  record: ArchiveRecord,
  project: Pick<Project, 'id' | 'kind'>,
  archives: Pick<ArchiveManager, 'urlOf' | 'liveStreams'>,
  baseUrl: string,
): Record<string, unknown> {
  const owner = ownerFields(project);
  const recording = record.status === 'started' || record.status === 'paused';
  return {
    id: record.id,
    sessionId: record.sessionId,
    name: record.name,
    status: record.status,
    reason: record.reason,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
    duration: record.duration,
    size: record.size,
    ...owner,
    hasAudio: record.hasAudio,
    hasVideo: record.hasVideo,
    outputMode: record.outputMode,
    streamMode: record.streamMode,
    ...(record.outputMode === 'composed' ? { resolution: record.resolution } : {}),
    ...(record.multiArchiveTag !== null ? { multiArchiveTag: record.multiArchiveTag } : {}),
    ...(record.maxBitrate !== null ? { maxBitrate: record.maxBitrate } : {}),
    ...(record.quantizationParameter !== null ? { quantizationParameter: record.quantizationParameter } : {}),
    url: archives.urlOf(record, baseUrl),
    ...(record.sha256 ? { sha256sum: record.sha256 } : {}),
    password: '',
    hasTranscription: false,
    streams: recording ? archives.liveStreams(record.id) : [],
  };
}
