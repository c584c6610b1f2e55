// A project's callbacks, from the events that cause them (reference §6):
// - archive status: every status an archive takes (started, paused, stopped, available, failed,
//   expired, deleted) POSTs the archive's REST JSON plus `event: "archive"`;
// - broadcast status: started, stopped and every RTMP target's status change POST the broadcast's
//   REST JSON plus `event: "broadcast"` to the same URL;
// - session monitoring: connectionCreated / connectionDestroyed (with reason) and streamCreated /
//   streamDestroyed (with reason) POST `{sessionId, projectId, event, timestamp, connection | stream}`;
// - SIP call status (sip/): callCreated, callUpdated (state ringing, answered) and callDestroyed
//   (with the SIP code and reason that ended it) POST `{sessionId, projectId, event, timestamp, call}`
//   to the session monitoring URL, `call` being `{id, connectionId, streamId, sipUri, createdAt, state}`.
// Streams that never went live (nobody was told of them) cause no callback. Each event goes to the
// project's URL of its kind and to every URL registered for its group and event through the REST
// registration API (connection/stream created|destroyed, archive status), the same body to each.
// The URLs are read from the store when the event happens, so a change applies at once.

import type { ArchiveManager } from '../archiving/archive-manager.js';
import { archiveJson } from '../archiving/archive-json.js';
import type { ArchiveStore } from '../archiving/archive-store.js';
import { broadcastJson } from '../broadcast/broadcast-json.js';
import type { BroadcastManager } from '../broadcast/broadcast-manager.js';
import type { Connection } from '../sessions/connection.js';
import type { SessionManager } from '../sessions/session-manager.js';
import type { Stream } from '../sessions/stream.js';
import type { SipCallInfo, SipGateway } from '../sip/sip-gateway.js';
import type { SipCallEnd } from '../sip/sip-call.js';
import type { ProjectStore } from '../store/projects.js';
import type { CallbackGroup, CallbackStore } from './callback-store.js';
import type { Logger } from '../logger.js';
import type { WebhookSender } from './webhook-sender.js';

export interface ProjectCallbackDeps {
  sessions: SessionManager;
  archiveStore: ArchiveStore;
  archives: Pick<ArchiveManager, 'urlOf' | 'liveStreams'>;
  /** Broadcast status events; absent: none are sent. */
  broadcasts?: Pick<BroadcastManager, 'store' | 'liveStreams'>;
  projects: ProjectStore;
  callbacks: CallbackStore;
  sender: WebhookSender;
  /** SIP calls' status events; absent: none are sent. */
  sip?: Pick<SipGateway, 'on' | 'off'>;
  /** Absolute base URL for archive links (COLLOQUY_PUBLIC_URL, or the address the server listens on). */
  baseUrl(): string;
  /** Where a failed read of the callback settings is logged (the event's callbacks are then skipped). */
  logger: Logger;
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
  const log = deps.logger.child({ module: 'callbacks' });
  // The callback settings are read from the store asynchronously. The handlers run one after the
  // other, so the callbacks of one session go out in the order of its events on either engine (a
  // PostgreSQL pool could answer two reads out of order); a failed read is logged, never thrown.
  let queue: Promise<void> = Promise.resolve();
  const handled =
    <A extends unknown[]>(fn: (...args: A) => Promise<void>) =>
    (...args: A): void => {
      queue = queue.then(() => fn(...args)).catch((err: unknown) => log.error({ err }, 'could not read the callback settings'));
    };

  const session = handled(async (projectId: string, sessionId: string, group: CallbackGroup, action: 'created' | 'destroyed', details: Record<string, unknown>): Promise<void> => {
    const urls = await callbacks.urlsFor(projectId, group, action);
    if (urls.length === 0) return;
    const event = `${group}${action === 'created' ? 'Created' : 'Destroyed'}`;
    const body = { sessionId, projectId: projectIdOf(projectId), event, timestamp: Date.now(), ...details };
    for (const url of urls) sender.send({ projectId, kind: 'session', url, body });
  });

  const onConnectionCreated = (s: { id: string; projectId: string }, connection: Connection) =>
    session(s.projectId, s.id, 'connection', 'created', { connection: connectionJson(connection) });
  const onConnectionDestroyed = (s: { id: string; projectId: string }, connection: Connection, reason: string) =>
    session(s.projectId, s.id, 'connection', 'destroyed', { reason, connection: connectionJson(connection) });
  const onStreamCreated = (s: { id: string; projectId: string }, stream: Stream) =>
    session(s.projectId, s.id, 'stream', 'created', { stream: streamJson(stream) });
  const onStreamDestroyed = (s: { id: string; projectId: string }, stream: Stream, reason: string) => {
    if (stream.live) session(s.projectId, s.id, 'stream', 'destroyed', { reason, stream: streamJson(stream) });
  };
  const unobserve = sessions.observeSessions({
    connectionCreated: onConnectionCreated,
    connectionDestroyed: onConnectionDestroyed,
    streamCreated: onStreamCreated,
    streamDestroyed: onStreamDestroyed,
  });

  const callJson = (call: SipCallInfo) => ({ id: call.id, connectionId: call.connectionId, streamId: call.streamId, sipUri: call.sipUri, createdAt: call.createdAt, state: call.state });
  // SIP call status goes to the project's session monitoring URL only: OpenTok's registration API
  // has no group for calls.
  const call = handled(async (info: SipCallInfo, event: 'callCreated' | 'callUpdated' | 'callDestroyed', details: Record<string, unknown>): Promise<void> => {
    const url = (await callbacks.get(info.projectId)).session;
    if (!url) return;
    const body = { sessionId: info.sessionId, projectId: projectIdOf(info.projectId), event, timestamp: Date.now(), ...details };
    sender.send({ projectId: info.projectId, kind: 'session', url, body });
  });
  const onCallCreated = (info: SipCallInfo) => call(info, 'callCreated', { call: callJson(info) });
  const onCallUpdated = (info: SipCallInfo) => call(info, 'callUpdated', { call: callJson(info) });
  const onCallDestroyed = (info: SipCallInfo, end: SipCallEnd) =>
    call(info, 'callDestroyed', { call: { ...callJson(info), sipCode: end.sipCode, sipReason: end.reason, endedBy: end.by } });
  deps.sip?.on('callCreated', onCallCreated);
  deps.sip?.on('callUpdated', onCallUpdated);
  deps.sip?.on('callDestroyed', onCallDestroyed);

  const stopArchives = deps.archiveStore.onStatusChange(
    handled(async (record) => {
    const urls = await callbacks.urlsFor(record.projectId, 'archive', 'status');
    if (urls.length === 0) return;
    const project = deps.projects.get(record.projectId);
    if (!project) return;
    const body = { ...archiveJson(record, project, deps.archives, deps.baseUrl()), event: 'archive' };
    for (const url of urls) sender.send({ projectId: project.id, kind: 'archive', url, body });
  }),
  );

  // Broadcast status (started, stopped, and each RTMP target's connecting/live/offline/error) goes to
  // the project's archive status URL, as OpenTok sends its broadcast callbacks with the archive ones.
  const stopBroadcasts = deps.broadcasts?.store.onChange(
    handled(async (record) => {
    const url = (await callbacks.get(record.projectId)).archive;
    if (!url) return;
    const project = deps.projects.get(record.projectId);
    if (!project) return;
    const body = { ...broadcastJson(record, project, deps.broadcasts!.liveStreams(record.id), deps.baseUrl()), event: 'broadcast' };
    sender.send({ projectId: project.id, kind: 'archive', url, body });
  }),
  );

  return () => {
    stopBroadcasts?.();
    unobserve();
    deps.sip?.off('callCreated', onCallCreated);
    deps.sip?.off('callUpdated', onCallUpdated);
    deps.sip?.off('callDestroyed', onCallDestroyed);
    stopArchives();
  };
}
