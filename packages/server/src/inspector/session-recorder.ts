// Feeds the Inspector from the session domain's events: connections coming and going (with user
// agent, address and reason), streams and subscriptions, signals (type only), moderation, what
// clients report (getStats summaries, errors), and — for routed sessions — the server's own view
// of every track, sampled from the SFU's producers and consumers by one timer per session (in a
// cluster, a subscriber served by another node from that node's last report of its consumers).

import type { Consumer, Producer } from '@colloquy/sfu';
import type { Session, SessionListener, SessionManager, SessionManagerEvents } from '../sessions/session-manager.js';
import type { RemoteConsumerSample, Subscription } from '../sessions/subscription.js';
import { clientErrorEvent, clientStatsSamples } from './client-input.js';
import type { Inspector } from './inspector.js';
import { every, type ClockTask } from '../ops/thread-clock.js';

export interface RecorderOptions {
  /** How often the server samples each routed session's producers and consumers (ms). Default 5000. */
  qualityIntervalMs?: number;
}

/** Subscribes the inspector to `sessions`; returns the function that unsubscribes it. */
export function recordSessionEvents(sessions: SessionManager, inspector: Inspector, options: RecorderOptions = {}): () => void {
  const qualityIntervalMs = options.qualityIntervalMs ?? 5000;
  /** One sampling timer per routed session with a stream, cleared when the session ends. */
  const samplers = new Map<string, ClockTask>();
  /** Consumer NACK/PLI counts at the previous sample, to record what arrived during the interval. */
  const lastCounts = new WeakMap<Consumer, { nack: number; pli: number }>();
  /** Producers and consumers whose media has started (a sample with a bitrate above zero). */
  const started = new WeakSet<Producer | Consumer>();
  /**
   * False while a track has carried nothing yet (ICE/DTLS still going, or the first rate window not
   * over): a zero then would read as an outage and drag the score down. Once media has flowed, a
   * silent interval is recorded as it is.
   */
  /** The same for subscriptions served by another node (cluster), per kind: started, and last counts. */
  const remoteTracks = new WeakMap<Subscription, Map<string, { started: boolean; nack: number; pli: number }>>();
  const flowing = (track: Producer | Consumer, bitrate: number): boolean => {
    if (started.has(track)) return true;
    if (bitrate <= 0) return false;
    started.add(track);
    return true;
  };

  const onConnectionCreated: SessionListener<'connectionCreated'> = (session, connection) => {
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
  const onConnectionDestroyed: SessionListener<'connectionDestroyed'> = (session, connection, reason) => {
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
      ...(action.connectionId ? { connectionId: action.connectionId } : {}),
      ...(action.streamId ? { streamId: action.streamId } : {}),
    });
  };
  const onStreamCreated: SessionListener<'streamCreated'> = (session, stream) => {
    inspector.recordEvent(session.id, session.projectId, {
      type: 'streamCreated',
      connectionId: stream.connection.id,
      streamId: stream.id,
      ...(stream.videoType ? { videoType: stream.videoType } : {}),
      name: stream.name,
      hasAudio: stream.hasAudio,
      hasVideo: stream.hasVideo,
      ...(stream.videoDimensions ? { width: stream.videoDimensions.width, height: stream.videoDimensions.height } : {}),
    });
    if (session.mediaMode === 'routed' && !samplers.has(session.id)) {
      samplers.set(session.id, every(qualityIntervalMs, () => sampleSession(session)));
    }
  };
  const onStreamDestroyed: SessionListener<'streamDestroyed'> = (session, stream, reason) => {
    // A stream that never went live was never recorded as created.
    if (!stream.live) return;
    inspector.recordEvent(session.id, session.projectId, {
      type: 'streamDestroyed',
      connectionId: stream.connection.id,
      streamId: stream.id,
      reason: sessions.closed ? 'serverShutdown' : reason,
    });
  };
  const onStreamPropertyChanged: SessionListener<'streamPropertyChanged'> = (session, stream, property, oldValue, newValue) => {
    inspector.recordEvent(session.id, session.projectId, { type: 'streamPropertyChanged', connectionId: stream.connection.id, streamId: stream.id, property, oldValue, newValue });
  };
  const onStreamVideoDisabledForQuality: SessionListener<'streamVideoDisabledForQuality'> = (session, stream, disabled) => {
    inspector.recordEvent(session.id, session.projectId, { type: 'publisherVideoQuality', connectionId: stream.connection.id, streamId: stream.id, videoDisabled: disabled });
  };
  const onSubscriberCreated: SessionListener<'subscriberCreated'> = (session, subscription) => {
    inspector.recordEvent(session.id, session.projectId, {
      type: 'subscriberCreated',
      connectionId: subscription.connection.id,
      streamId: subscription.stream.id,
      subscriberId: subscription.id,
    });
  };
  const onSubscriberDestroyed: SessionListener<'subscriberDestroyed'> = (session, subscription, reason) => {
    inspector.recordEvent(session.id, session.projectId, {
      type: 'subscriberDestroyed',
      connectionId: subscription.connection.id,
      streamId: subscription.stream.id,
      subscriberId: subscription.id,
      reason,
    });
  };
  // Both reports were validated by the protocol's schemas when they arrived.
  const onClientStats = (...[session, connection, report]: SessionManagerEvents['clientStats']) => {
    for (const sample of clientStatsSamples(connection.id, report)) inspector.recordQuality(session.id, session.projectId, sample);
  };
  const onClientError = (...[session, connection, report]: SessionManagerEvents['clientError']) => {
    inspector.recordEvent(session.id, session.projectId, clientErrorEvent(connection.id, report));
  };
  const onSessionEnded = (...[session]: SessionManagerEvents['sessionEnded']) => {
    samplers.get(session.id)?.cancel();
    samplers.delete(session.id);
  };

  /** The server's view of each producer (what arrives) and consumer (what is sent) of one session. */
  function sampleSession(session: Session): void {
    if (session.closed) {
      onSessionEnded(session);
      return;
    }
    for (const stream of session.liveStreams()) {
      for (const producer of stream.producers) recordProducer(session, stream.connection.id, stream.id, producer);
    }
    for (const subscription of session.subscriptions.values()) {
      for (const consumer of subscription.consumers) recordConsumer(session, subscription.connection.id, subscription.stream.id, consumer);
      for (const sample of subscription.remoteConsumerSamples) recordRemoteConsumer(session, subscription, sample);
    }
  }

  /** A consumer on the node that serves this subscriber (cluster), from that node's last report. */
  function recordRemoteConsumer(session: Session, subscription: Subscription, s: RemoteConsumerSample): void {
    let tracks = remoteTracks.get(subscription);
    if (!tracks) remoteTracks.set(subscription, (tracks = new Map()));
    const track = tracks.get(s.kind) ?? { started: false, nack: 0, pli: 0 };
    tracks.set(s.kind, track);
    if (s.paused) return;
    if (!track.started && s.bitrate <= 0) return;
    track.started = true;
    const nack = Math.max(0, s.nackCount - track.nack);
    const pli = Math.max(0, s.pliCount - track.pli);
    track.nack = s.nackCount;
    track.pli = s.pliCount;
    inspector.recordQuality(session.id, session.projectId, {
      source: 'subscriber',
      connectionId: subscription.connection.id,
      streamId: subscription.stream.id,
      kind: s.kind,
      bitrate: s.bitrate,
      packetLoss: s.fractionLost,
      jitterMs: s.jitter,
      ...(s.roundTripTime !== null ? { rttMs: Math.round(s.roundTripTime * 1000) } : {}),
      nackCount: nack,
      pliCount: pli,
      ...(s.layer !== null ? { layer: s.layer } : {}),
    });
  }

  function recordProducer(session: Session, connectionId: string, streamId: string, producer: Producer): void {
    const s = producer.getStats();
    if (!flowing(producer, s.bitrate)) return;
    inspector.recordQuality(session.id, session.projectId, {
      source: 'publisher',
      connectionId,
      streamId,
      kind: s.kind,
      bitrate: s.bitrate,
      packetLoss: s.fractionLost,
      jitterMs: s.jitter,
      ...(s.frameRate !== undefined ? { frameRate: s.frameRate } : {}),
      ...(s.width !== undefined ? { width: s.width, height: s.height } : {}),
    });
  }

  function recordConsumer(session: Session, connectionId: string, streamId: string, consumer: Consumer): void {
    const s = consumer.getStats();
    // A paused consumer sends nothing on purpose (subscribeToVideo(false)): not a quality figure.
    if (s.paused || s.producerPaused || !flowing(consumer, s.bitrate)) return;
    const last = lastCounts.get(consumer) ?? { nack: 0, pli: 0 };
    lastCounts.set(consumer, { nack: s.nackCount, pli: s.pliCount + s.firCount });
    inspector.recordQuality(session.id, session.projectId, {
      source: 'subscriber',
      connectionId,
      streamId,
      kind: s.kind,
      bitrate: s.bitrate,
      packetLoss: s.fractionLost,
      jitterMs: s.jitter,
      ...(s.roundTripTime !== null ? { rttMs: Math.round(s.roundTripTime * 1000) } : {}),
      nackCount: Math.max(0, s.nackCount - last.nack),
      pliCount: Math.max(0, s.pliCount + s.firCount - last.pli),
      // Simulcast: the spatial layer this subscriber gets (absent for a single encoding).
      ...(consumer.producer.layerCount > 1 && s.currentLayer !== undefined && s.currentLayer >= 0 ? { layer: s.currentLayer } : {}),
    });
  }

  const unobserve = sessions.observeSessions({
    connectionCreated: onConnectionCreated,
    connectionDestroyed: onConnectionDestroyed,
    streamCreated: onStreamCreated,
    streamDestroyed: onStreamDestroyed,
    streamPropertyChanged: onStreamPropertyChanged,
    streamVideoDisabledForQuality: onStreamVideoDisabledForQuality,
    subscriberCreated: onSubscriberCreated,
    subscriberDestroyed: onSubscriberDestroyed,
  });
  sessions.on('signalSent', onSignalSent).on('moderation', onModeration);
  sessions.on('clientStats', onClientStats).on('clientError', onClientError).on('sessionEnded', onSessionEnded);
  return () => {
    unobserve();
    sessions.off('signalSent', onSignalSent).off('moderation', onModeration);
    sessions.off('clientStats', onClientStats).off('clientError', onClientError).off('sessionEnded', onSessionEnded);
    for (const sampler of samplers.values()) sampler.cancel();
    samplers.clear();
  };
}
