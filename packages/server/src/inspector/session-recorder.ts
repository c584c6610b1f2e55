// Feeds the Inspector from the session domain's events: connections coming and going (with user
// agent, address and reason), signals (type only) and moderation. Media and archiving record
// their own events where they happen.

import type { SessionManager, SessionManagerEvents } from '../sessions/session-manager.js';
import type { Inspector } from './inspector.js';

/** Subscribes the inspector to `sessions`; returns the function that unsubscribes it. */
export function recordSessionEvents(sessions: SessionManager, inspector: Inspector): () => void {
  const onConnectionCreated = (...[session, connection]: SessionManagerEvents['connectionCreated']) => {
    inspector.recordEvent(session.id, session.projectId, {
      type: 'connectionCreated',
      connectionId: connection.id,
      userAgent: connection.userAgent,
      ip: connection.ip,
      role: connection.role,
      data: connection.data,
      ...(connection.sdk ? { sdk: `${connection.sdk.name}/${connection.sdk.version}` } : {}),
    });
  };
  const onConnectionDestroyed = (...[session, connection, reason]: SessionManagerEvents['connectionDestroyed']) => {
    inspector.recordEvent(session.id, session.projectId, {
      type: 'connectionDestroyed',
      connectionId: connection.id,
      // The manager closes every connection when the server stops; say so rather than "network".
      reason: sessions.closed ? 'serverShutdown' : reason,
    });
  };
  const onSignalSent = (...[signal]: SessionManagerEvents['signalSent']) => {
    inspector.recordEvent(signal.sessionId, signal.projectId, {
      type: 'signal',
      signalType: signal.type ?? '',
      ...(signal.from ? { connectionId: signal.from } : {}),
      ...(signal.to ? { to: signal.to } : {}),
    });
  };
  const onModeration = (...[action]: SessionManagerEvents['moderation']) => {
    inspector.recordEvent(action.sessionId, action.projectId, {
      type: 'moderation',
      action: action.action,
      actor: action.by.origin === 'rest' ? { kind: 'rest' } : { kind: 'connection', connectionId: action.by.connectionId },
      connectionId: action.connectionId,
    });
  };
  sessions.on('connectionCreated', onConnectionCreated).on('connectionDestroyed', onConnectionDestroyed);
  sessions.on('signalSent', onSignalSent).on('moderation', onModeration);
  return () => {
    sessions.off('connectionCreated', onConnectionCreated).off('connectionDestroyed', onConnectionDestroyed);
    sessions.off('signalSent', onSignalSent).off('moderation', onModeration);
  };
}
