// What archiving needs from the live sessions and the SFU, as two small objects built over
// SessionManager: the streams of a session with their producers and codecs, a raw-RTP tap and
// keyframe requests on a producer, session events (connections, streams added/removed/updated),
// and a broadcast of archiveStarted/archiveStopped to a session's clients. archiving/ defines the
// interfaces (ArchiveMediaSource, ArchiveSessionState, types only); server.ts hands these to it.

import type {
  ArchiveMediaSource,
  ArchiveSessionListener,
  ArchiveSessionState,
  ArchiveStream,
  ArchiveTrack,
} from '../archiving/interfaces.js';
import type { Producer, RtpPacket } from '@colloquy/sfu';
import type { SessionListener, SessionManager } from './session-manager.js';
import type { Stream } from './stream.js';

function trackView(producer: Producer | undefined): ArchiveTrack | null {
  if (!producer || producer.closed) return null;
  const codec = producer.codec;
  return {
    producerId: producer.id,
    kind: producer.kind,
    codec: codec.name,
    clockRate: codec.clockRate,
    ...(codec.channels === undefined ? {} : { channels: codec.channels }),
    payloadType: codec.payloadType,
  };
}

/** A live routed stream as archiving sees it. */
export function archiveStreamView(stream: Stream): ArchiveStream {
  return {
    streamId: stream.id,
    connectionId: stream.connection.id,
    connectionData: stream.connection.data,
    videoType: stream.videoType ?? 'camera',
    name: stream.name,
    layoutClassList: [...stream.layoutClassList],
    createdAt: stream.creationTime,
    audio: trackView(stream.producer('audio')),
    video: trackView(stream.producer('video')),
  };
}

/** ArchiveMediaSource over the sessions' SFU producers. */
export function archiveMediaSource(sessions: SessionManager): ArchiveMediaSource {
  const findProducer = (producerId: string): Producer | undefined => {
    for (const session of sessions.liveSessions()) {
      const producer = session.router?.getProducer(producerId);
      if (producer) return producer;
    }
    return undefined;
  };
  return {
    /** Live routed streams of the session (relayed streams have no media on the server). */
    listStreams(sessionId: string): ArchiveStream[] {
      const session = sessions.live(sessionId);
      if (!session || session.mediaMode !== 'routed') return [];
      return session.liveStreams().map(archiveStreamView);
    },
    /** Every media packet the producer forwards, synchronously; returns the unsubscribe function (a no-op for an unknown producer). */
    subscribe(producerId: string, onPacket: (packet: RtpPacket) => void): () => void {
      return findProducer(producerId)?.addRtpListener(onPacket) ?? (() => {});
    },
    requestKeyFrame(producerId: string): void {
      // A simulcast producer hands recorders its top layer only (Producer.addRtpListener).
      const producer = findProducer(producerId);
      producer?.requestKeyFrame(producer.layerCount - 1);
    },
  };
}

/** ArchiveSessionState over SessionManager (connections, streams, and the clients' archive events). */
export function archiveSessionState(sessions: SessionManager): ArchiveSessionState {
  return {
    connectionCount(sessionId: string): number {
      return sessions.live(sessionId)?.connections.size ?? 0;
    },
    watch(listener: ArchiveSessionListener): () => void {
      const onCreated: SessionListener<'connectionCreated'> = (session) => listener.connectionCountChanged(session.id, session.connections.size);
      const onDestroyed: SessionListener<'connectionDestroyed'> = (session) => listener.connectionCountChanged(session.id, session.connections.size);
      const onStreamCreated: SessionListener<'streamCreated'> = (session, stream) => {
        if (session.mediaMode === 'routed') listener.streamAdded(session.id, archiveStreamView(stream));
      };
      const onStreamDestroyed: SessionListener<'streamDestroyed'> = (session, stream) => {
        if (session.mediaMode === 'routed' && stream.live) listener.streamRemoved(session.id, stream.id);
      };
      const onLayout: SessionListener<'streamLayoutChanged'> = (session, stream) => {
        if (session.mediaMode === 'routed') listener.streamUpdated(session.id, archiveStreamView(stream));
      };
      return sessions.observeSessions({
        connectionCreated: onCreated,
        connectionDestroyed: onDestroyed,
        streamCreated: onStreamCreated,
        streamDestroyed: onStreamDestroyed,
        streamLayoutChanged: onLayout,
      });
    },
    broadcast(sessionId: string, event: { type: 'archiveStarted' | 'archiveStopped'; id: string; name: string }): void {
      sessions.broadcastArchive(sessionId, { type: event.type, archiveId: event.id, name: event.name });
    },
  };
}
