// A Session's session-wide events as protocol messages, for both ways they reach clients: a v1
// Channel numbers each for its own connection, v2's SessionBroadcast frames each once for an
// audience (broadcast-log.ts). One place says what each event looks like on the wire.

import type { DisconnectReason, ServerEvent, StreamDestroyedReason, StreamProperty, VideoDimensions } from '@colloquy/protocol';
import type { ArchiveNotice, Connection, Session, SignalDelivery, Stream } from '../sessions/session-manager.js';
import type { SessionEvents } from '../sessions/session.js';

type Unnumbered<M> = M extends { bseq?: number } ? Omit<M, 'seq' | 'bseq'> : never;
/** A session-wide message before it is numbered (`seq` for v1, `bseq` for v2). */
export type BroadcastMessage = Unnumbered<ServerEvent>;

/** What an event is about: the connection of a connection event, the stream of a stream event. */
export type Subject = { connection: Connection } | { stream: Stream } | null;

export interface SessionEventOptions {
  /** Connection events too (not for connectionEventsSuppressed clients). */
  connectionEvents: boolean;
  /** Signals to everyone, once for the session (v2); v1 channels take them from their Connection. */
  signals: boolean;
}

/** The protocol message of a delivered signal. */
export function signalMessage(signal: SignalDelivery): Extract<BroadcastMessage, { type: 'signal' }> {
  const message: Extract<BroadcastMessage, { type: 'signal' }> = { type: 'signal', from: signal.from?.id ?? null, data: signal.data };
  if (signal.type !== undefined) message.signalType = signal.type;
  return message;
}

/** Calls `deliver` with each session-wide event of `session` as a message; returns the unsubscribe. */
export function listenToSession(session: Session, options: SessionEventOptions, deliver: (message: BroadcastMessage, subject: Subject) => void): () => void {
  const onConnectionCreated = (connection: Connection): void => deliver({ type: 'connectionCreated', connection: connection.info() }, { connection });
  const onConnectionDestroyed = (connection: Connection, reason: DisconnectReason): void =>
    deliver({ type: 'connectionDestroyed', connectionId: connection.id, reason }, { connection });
  const onStreamCreated = (stream: Stream): void => deliver({ type: 'streamCreated', stream: stream.info() }, { stream });
  const onStreamDestroyed = (stream: Stream, reason: StreamDestroyedReason): void => deliver({ type: 'streamDestroyed', streamId: stream.id, reason }, { stream });
  const onStreamPropertyChanged = (
    stream: Stream,
    changedProperty: StreamProperty,
    oldValue: boolean | VideoDimensions | null,
    newValue: boolean | VideoDimensions | null,
  ): void => deliver({ type: 'streamPropertyChanged', streamId: stream.id, changedProperty, oldValue, newValue }, { stream });
  const onMuteForced = (active: boolean): void => deliver({ type: 'muteForced', active }, null);
  const onArchive = (notice: ArchiveNotice): void => deliver({ type: notice.type, archiveId: notice.archiveId, name: notice.name }, null);
  const onSignal = (signal: SignalDelivery): void => deliver(signalMessage(signal), null);

  const listeners: Array<[keyof SessionEvents, (...args: never[]) => void]> = [
    ['streamCreated', onStreamCreated],
    ['streamDestroyed', onStreamDestroyed],
    ['streamPropertyChanged', onStreamPropertyChanged],
    ['muteForced', onMuteForced],
    ['archive', onArchive],
  ];
  if (options.connectionEvents) listeners.push(['connectionCreated', onConnectionCreated], ['connectionDestroyed', onConnectionDestroyed]);
  if (options.signals) listeners.push(['broadcastSignal', onSignal]);
  // The tuples pair each event with its own listener; the emitter's per-event typing cannot follow a loop.
  const emitter = session as unknown as { on(event: string, listener: (...args: never[]) => void): void; off(event: string, listener: (...args: never[]) => void): void };
  for (const [event, listener] of listeners) emitter.on(event, listener);
  return () => {
    for (const [event, listener] of listeners) emitter.off(event, listener);
  };
}
