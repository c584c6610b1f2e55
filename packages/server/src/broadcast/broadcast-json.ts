// A broadcast as OpenTok's REST API (and its broadcast status callback) describes it: lower-case
// UUID id, integer partnerId/projectId for numeric API keys (applicationId for applications),
// integer createdAt/updatedAt, `broadcastUrls` with the HLS playlist (`?DVR` appended when DVR is
// on, as OpenTok does) and every RTMP target with its status, the live `streams`.

import { ownerFields } from '../archiving/archive-json.js';
import type { Project } from '../store/index.js';
import type { BroadcastRecord } from './broadcast-store.js';

/** The public HLS playlist URL of a broadcast. */
export function hlsUrl(baseUrl: string, record: Pick<BroadcastRecord, 'id' | 'hls'>): string | null {
  if (!record.hls) return null;
  return `${baseUrl}/hls/${record.id}/index.m3u8${record.hls.dvr ? '?DVR' : ''}`;
}

export function broadcastJson(
  record: BroadcastRecord,
  project: Pick<Project, 'id' | 'kind'>,
  streams: Array<{ streamId: string; hasAudio: boolean; hasVideo: boolean }>,
  baseUrl: string,
): Record<string, unknown> {
  const owner = ownerFields(project);
  const broadcastUrls: Record<string, unknown> = {
    rtmp: record.rtmp.map((t) => ({ id: t.id, serverUrl: t.serverUrl, streamName: t.streamName, status: t.status })),
  };
  if (record.hls) {
    broadcastUrls['hls'] = hlsUrl(baseUrl, record);
    broadcastUrls['hlsStatus'] = record.hls.status;
  }
  return {
    id: record.id,
    sessionId: record.sessionId,
    ...owner,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
    resolution: record.resolution,
    status: record.status,
    ...(record.status === 'stopped' && record.reason ? { reason: record.reason } : {}),
    streamMode: record.streamMode,
    hasAudio: record.hasAudio,
    hasVideo: record.hasVideo,
    maxDuration: record.maxDuration,
    ...(record.maxBitrate !== null ? { maxBitrate: record.maxBitrate } : {}),
    ...(record.multiBroadcastTag !== null ? { multiBroadcastTag: record.multiBroadcastTag } : {}),
    settings: { hls: record.hls ? { lowLatency: record.hls.lowLatency, dvr: record.hls.dvr } : {} },
    broadcastUrls,
    streams,
  };
}
