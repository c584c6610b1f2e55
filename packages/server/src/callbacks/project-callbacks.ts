// A project's callbacks, from the events that cause them (reference §6):
// - archive status: every status an archive takes (started, paused, stopped, available, failed,
//   expired, deleted) POSTs the archive's REST JSON plus `event: "archive"`;
// - session monitoring: connectionCreated / connectionDestroyed (with reason) and streamCreated /
//   streamDestroyed (with reason) POST `{sessionId, projectId, event, timestamp, connection | stream}`.
// Streams that never went live (nobody was told of them) cause no callback. Each event goes to the
// project's URL of its kind and to every URL registered for its group and event through the REST
// registration API (connection/stream created|destroyed, archive status), the same body to each.
// The URLs are read from the store when the event happens, so a change applies at once.

import type { ArchiveManager } from '../archiving/archive-manager.js';
import { archiveJson } from '../archiving/archive-json.js';
import type { ArchiveStore } from '../archiving/archive-store.js';
import type { Connection } from '../sessions/connection.js';
import type { SessionManager } from '../sessions/session-manager.js';
import type { Stream } from '../sessions/stream.js';
import type { ProjectStore } from '../store/projects.js';
import type { CallbackGroup, CallbackStore } from './callback-store.js';
import type { WebhookSender } from './webhook-sender.js';

export interface ProjectCallbackDeps {
  sessions: SessionManager;
  archiveStore: ArchiveStore;
  archives: Pick<ArchiveManager, 'urlOf' | 'liveStreams'>;
  projects: ProjectStore;
  callbacks: CallbackStore;
  sender: WebhookSender;
  /** Absolute base URL for archive links (COLLOQUY_PUBLIC_URL, or the address the server listens on). */
  baseUrl(): string;
}

/** OpenTok's projectId in callbacks: a number for numeric API keys, the application id otherwise. */
function projectIdOf(projectId: string): number | string {
  return /^\d+$/.test(projectId) ? Number(projectId) : projectId;
}

function connectionJson(connection: Connection): Record<string, unknown> {
  return { id: connection.id, createdAt: connection.creationTime, data: connection.data };
}

function streamJson(stream: Stream): Record<string, unknown> {
  return { id: stream.id, connection: connectionJson(stream.connection), createdAt: stream.creationTime, name: stream.name, videoType: stream.videoType ?? 'camera' };
}

/** Starts sending; returns what stops it. */
export function sendProjectCallbacks(deps: ProjectCallbackDeps): () => void {
  const { sessions, callbacks, sender } = deps;

  const session = (projectId: string, sessionId: string, group: CallbackGroup, action: 'created' | 'destroyed', details: Record<string, unknown>): void => {
    const urls = callbacks.urlsFor(projectId, group, action);
    if (urls.length === 0) return;
    const event = `${group}${action === 'created' ? 'Created' : 'Destroyed'}`;
    const body = { sessionId, projectId: projectIdOf(projectId), event, timestamp: Date.now(), ...details };
    for (const url of urls) sender.send({ projectId, kind: 'session', url, body });
  };

  const onConnectionCreated = (s: { id: string; projectId: string }, connection: Connection) =>
    session(s.projectId, s.id, 'connection', 'created', { connection: connectionJson(connection) });
  const onConnectionDestroyed = (s: { id: string; projectId: string }, connection: Connection, reason: string) =>
    session(s.projectId, s.id, 'connection', 'destroyed', { reason, connection: connectionJson(connection) });
  const onStreamCreated = (s: { id: string; projectId: string }, stream: Stream) =>
    session(s.projectId, s.id, 'stream', 'created', { stream: streamJson(stream) });
  const onStreamDestroyed = (s: { id: string; projectId: string }, stream: Stream, reason: string) => {
    if (stream.live) session(s.projectId, s.id, 'stream', 'destroyed', { reason, stream: streamJson(stream) });
  };
  sessions.on('connectionCreated', onConnectionCreated);
  sessions.on('connectionDestroyed', onConnectionDestroyed);
  sessions.on('streamCreated', onStreamCreated);
  sessions.on('streamDestroyed', onStreamDestroyed);

  const stopArchives = deps.archiveStore.onStatusChange((record) => {
    const urls = callbacks.urlsFor(record.projectId, 'archive', 'status');
    if (urls.length === 0) return;
    const project = deps.projects.get(record.projectId);
    if (!project) return;
    const body = { ...archiveJson(record, project, deps.archives, deps.baseUrl()), event: 'archive' };
    for (const url of urls) sender.send({ projectId: project.id, kind: 'archive', url, body });
  });

  return () => {
    sessions.off('connectionCreated', onConnectionCreated);
    sessions.off('connectionDestroyed', onConnectionDestroyed);
    sessions.off('streamCreated', onStreamCreated);
    sessions.off('streamDestroyed', onStreamDestroyed);
    stopArchives();
  };
}
