// What the Inspector records: the event types of a session's log and the quality samples, as the
// signaling, media and archiving layers hand them over. These types are the contract with those
// layers (see README.md beside this file).

/** Why a connection left (OpenTok's session-monitoring reasons, plus our own shutdown reason). */
export type ConnectionDestroyedReason = 'clientDisconnected' | 'forceDisconnected' | 'networkDisconnected' | 'serverShutdown';

/** Why a stream ended (OpenTok's streamDestroyed reasons). */
export type StreamDestroyedReason =
  | 'clientDisconnected'
  | 'forceDisconnected'
  | 'forceUnpublished'
  | 'mediaStopped'
  | 'networkDisconnected'
  | 'serverShutdown';

/** Who performed a moderation action: an app server through REST, or a moderator's connection. */
export type ModerationActor = { kind: 'rest' } | { kind: 'connection'; connectionId: string };

/**
 * One entry of a session's event log. `connectionId` and `streamId` are the objects the event is
 * about (for a subscription: the subscribing connection and the stream it receives).
 */
export type InspectorEventInput =
  | {
      type: 'connectionCreated';
      connectionId: string;
      /** The browser's User-Agent header, as the WebSocket upgrade carried it. */
      userAgent?: string;
      ip?: string;
      role?: string;
      /** The token's connection data (shown to the operator; capped in length). */
      data?: string;
      /** SDK name and version the client reported. */
      sdk?: string;
    }
  | { type: 'connectionDestroyed'; connectionId: string; reason: ConnectionDestroyedReason }
  | {
      type: 'streamCreated';
      connectionId: string;
      streamId: string;
      videoType?: 'camera' | 'screen' | 'custom';
      name?: string;
      hasAudio?: boolean;
      hasVideo?: boolean;
      width?: number;
      height?: number;
    }
  | { type: 'streamDestroyed'; connectionId: string; streamId: string; reason: StreamDestroyedReason }
  | {
      type: 'streamPropertyChanged';
      connectionId?: string;
      streamId: string;
      property: 'hasAudio' | 'hasVideo' | 'hasCaptions' | 'videoDimensions';
      oldValue: unknown;
      newValue: unknown;
    }
  /**
   * Publisher audio fallback: the publisher stopped sending video because its uplink could not
   * carry it (`videoDisabled` true), or started again (false). Its subscribers got videoDisabled /
   * videoEnabled with reason 'quality'.
   */
  | { type: 'publisherVideoQuality'; connectionId: string; streamId: string; videoDisabled: boolean }
  | { type: 'subscriberCreated'; connectionId: string; streamId: string; subscriberId?: string }
  | { type: 'subscriberDestroyed'; connectionId: string; streamId: string; subscriberId?: string; reason?: string }
  /**
   * A signal, counted and never stored with its data: `connectionId` is the sender (absent when an
   * app server sent it by REST), `to` the one recipient or absent for the whole session.
   * Signals of the same sender, type and recipient within one flush interval become one row with
   * `count`.
   */
  | { type: 'signal'; connectionId?: string; signalType: string; to?: string }
  | {
      type: 'archiveStarted' | 'archiveStopped' | 'archivePaused' | 'archiveResumed' | 'archiveFailed' | 'archiveAvailable';
      archiveId: string;
      name?: string;
      reason?: string;
    }
  | {
      type: 'moderation';
      action: 'forceDisconnect' | 'forceUnpublish' | 'forceMute' | 'forceMuteAll' | 'disableForceMute';
      actor: ModerationActor;
      /** The connection acted on (forceDisconnect), or the owner of the stream acted on. */
      connectionId?: string;
      streamId?: string;
    }
  /**
   * A client event an OpenTok.js-style client posted to the logging URL (`/logging/ClientEvent`),
   * e.g. from a pre-call network test. Unauthenticated input: validated and capped at the boundary;
   * `connectionId` is set only when it names a connection live in the session.
   */
  | {
      type: 'clientEvent';
      action: string;
      variation?: string;
      connectionId?: string;
      streamId?: string;
      clientVersion?: string;
      /** The event's payload as JSON, at most 1,000 characters. */
      payload?: string;
    }
  | {
      type: 'error';
      /** `server`: a failure inside Colloquy; `client`: an exception the browser SDK reported. */
      source: 'server' | 'client';
      code?: number | string;
      /** OT error name (e.g. OT_UNABLE_TO_PUBLISH) or the server module that failed. */
      name?: string;
      message: string;
      connectionId?: string;
      streamId?: string;
    };

export type InspectorEventType = InspectorEventInput['type'];

export const INSPECTOR_EVENT_TYPES: readonly InspectorEventType[] = [
  'connectionCreated',
  'connectionDestroyed',
  'streamCreated',
  'streamDestroyed',
  'streamPropertyChanged',
  'publisherVideoQuality',
  'subscriberCreated',
  'subscriberDestroyed',
  'signal',
  'archiveStarted',
  'archiveStopped',
  'archivePaused',
  'archiveResumed',
  'archiveFailed',
  'archiveAvailable',
  'moderation',
  'clientEvent',
  'error',
];

/** An event as queries return it: the input's fields flattened, plus its id and time. */
export interface InspectorEvent {
  /** Monotonic within the database; the paging cursor. */
  id: number;
  sessionId: string;
  type: InspectorEventType;
  /** Milliseconds since the epoch. */
  createdAt: number;
  connectionId: string | null;
  streamId: string | null;
  /** True for `error` events (kept as a column so "errors only" is an index-friendly filter). */
  isError: boolean;
  /** The remaining fields of the input (reason, userAgent, signalType, count, action, ...). */
  details: Record<string, unknown>;
}

import type { ClientTrackStats } from '@colloquy/protocol';
import type { MediaKind } from '@colloquy/sfu';

export type { MediaKind };

/**
 * A published track as the server receives it, sampled every few seconds by media/.
 * Rates are over the interval since the previous sample of the same track.
 */
export interface PublisherTrackSample {
  source: 'publisher';
  connectionId: string;
  streamId: string;
  kind: MediaKind;
  /** Bits per second received from the publisher. */
  bitrate: number;
  /** Fraction 0..1 of packets lost on the way in (from sequence gaps / RTCP). */
  packetLoss: number;
  /** Interarrival jitter, milliseconds. */
  jitterMs?: number;
  /** Round trip to the publisher when known (RTCP SR/RR or XR), milliseconds. */
  rttMs?: number;
  frameRate?: number;
  width?: number;
  height?: number;
}

/** A subscribed track as the server sends it (one consumer), sampled every few seconds by media/. */
export interface SubscriberTrackSample {
  source: 'subscriber';
  /** The subscribing connection. */
  connectionId: string;
  streamId: string;
  kind: MediaKind;
  /** Bits per second sent to the subscriber. */
  bitrate: number;
  /** Fraction 0..1 the subscriber reported lost (RTCP RR fraction lost). */
  packetLoss: number;
  jitterMs?: number;
  rttMs?: number;
  /** NACKs and PLIs received from the subscriber during the interval. */
  nackCount?: number;
  pliCount?: number;
  /** Simulcast spatial layer being forwarded (0 = lowest). */
  layer?: number;
  frameRate?: number;
  width?: number;
  height?: number;
}

/**
 * The browser SDK's periodic getStats summary of one of its tracks (the protocol's ClientTrackStats),
 * sent over the event channel. Validated by the protocol's schema at the signaling boundary;
 * mapped by `clientStatsSamples`.
 */
export interface ClientStatsSample extends ClientTrackStats {
  source: 'client';
  connectionId: string;
}

export type QualitySampleInput = PublisherTrackSample | SubscriberTrackSample | ClientStatsSample;
export type QualitySource = QualitySampleInput['source'];

// ---- What queries answer (the REST extension and the dashboard return these as JSON) ----

/** A session the Inspector has data for. */
export interface InspectorSessionSummary {
  sessionId: string;
  projectId: string;
  mediaMode: 'routed' | 'relayed';
  /** When the session was created (POST /session/create), ms. */
  createdAt: number;
  /** First and last recorded activity, ms. */
  firstActivityAt: number;
  lastActivityAt: number;
  events: number;
  samples: number;
  errors: number;
  /** Connections ever made. */
  connections: number;
  /** Connections open now (0 once the session ended). */
  liveConnections: number;
  /** Rows refused because the session reached its cap. */
  droppedEvents: number;
  droppedSamples: number;
}

export interface EventQuery {
  /** Only these types. */
  types?: InspectorEventType[];
  connectionId?: string;
  streamId?: string;
  /** Only `error` events. */
  errorsOnly?: boolean;
  /** Time range, ms since the epoch, inclusive. */
  since?: number;
  until?: number;
  /** Paging cursor: events with a larger id than this. */
  after?: number;
  /** Page size, 1..1000 (default 100). */
  limit?: number;
}

export interface EventPage {
  items: InspectorEvent[];
  /** Cursor for the next page (`after`), or null when this is the last. */
  next: number | null;
}

export interface QualityQuery {
  connectionId?: string;
  streamId?: string;
  source?: QualitySource;
  since?: number;
  until?: number;
  /** Width of one point in ms (samples in it are averaged); by default chosen so a track has at most 600 points. */
  bucketMs?: number;
}

/** One point of a track's time series: averages over the bucket (counts summed). */
export interface QualityPoint {
  /** Start of the bucket, ms. */
  t: number;
  bitrate: number | null;
  packetLoss: number | null;
  jitterMs: number | null;
  rttMs: number | null;
  frameRate: number | null;
  width: number | null;
  height: number | null;
  nackCount: number | null;
  pliCount: number | null;
  layer: number | null;
}

export interface QualityTrack {
  source: QualitySource;
  connectionId: string;
  streamId: string | null;
  kind: MediaKind;
  direction: 'send' | 'receive' | null;
  points: QualityPoint[];
}

export interface QualitySeries {
  sessionId: string;
  bucketMs: number;
  tracks: QualityTrack[];
}

export interface TrackScore {
  source: QualitySource;
  streamId: string | null;
  kind: MediaKind;
  direction: 'send' | 'receive' | null;
  score: number;
  bitrate: number | null;
  packetLoss: number | null;
  jitterMs: number | null;
  rttMs: number | null;
}

/** The quality score of a connection (1..5, see score.ts) and the tracks it was computed from. */
export interface ConnectionScore {
  connectionId: string;
  score: number;
  /** `server` when computed from the server's own samples, `client` from getStats reports. */
  basis: 'server' | 'client';
  tracks: TrackScore[];
}

export interface ParticipantStream {
  streamId: string;
  videoType: string | null;
  name: string | null;
  createdAt: number;
  destroyedAt: number | null;
  reason: string | null;
}

export interface ParticipantSubscription {
  streamId: string;
  createdAt: number;
  destroyedAt: number | null;
}

/** A connection of a session with its timeline: when it came and went, what it published and received. */
export interface Participant {
  connectionId: string;
  createdAt: number;
  /** When it left; null while live, or when the log has no end (the server stopped first: see `endUnknown`). */
  destroyedAt: number | null;
  reason: string | null;
  /** True when the log never saw it leave and it is not live now (server restarted or cap reached). */
  endUnknown: boolean;
  live: boolean;
  userAgent: string | null;
  ip: string | null;
  role: string | null;
  data: string | null;
  streams: ParticipantStream[];
  subscriptions: ParticipantSubscription[];
  errors: number;
  score: ConnectionScore | null;
}

/** A live stream as the Inspector's live view keeps it. */
export interface LiveStream {
  streamId: string;
  connectionId: string;
  createdAt: number;
  videoType: string | null;
  name: string | null;
  hasAudio: boolean | null;
  hasVideo: boolean | null;
  /** The video's dimensions as the publisher announced them (updated by streamPropertyChanged). */
  width: number | null;
  height: number | null;
}

/** A live session as the dashboard shows it, from memory. */
export interface LiveSessionSnapshot {
  sessionId: string;
  projectId: string;
  since: number;
  connections: Array<{ connectionId: string; createdAt: number; userAgent: string | null; ip: string | null; role: string | null; data: string | null }>;
  streams: Array<
    LiveStream & {
      /** Bits per second arriving for the stream (all its tracks); null before the first sample. */
      bitrate: number | null;
      /** Frame rate of its video as last measured (server view, else the publisher's report). */
      frameRate: number | null;
    }
  >;
  subscriptions: Array<{ connectionId: string; streamId: string; createdAt: number; bitrate: number | null }>;
  /** Latest sample of every track seen in the last 30 s. */
  tracks: Array<{ source: QualitySource; connectionId: string; streamId: string | null; kind: MediaKind; direction: 'send' | 'receive' | null; at: number; bitrate: number; packetLoss: number; rttMs: number | null; jitterMs: number | null; frameRate: number | null; width: number | null; height: number | null }>;
  /** Sum of bits per second the server receives from publishers (server view, else client reports). */
  bitrateIn: number;
  /** Sum of bits per second sent to subscribers. */
  bitrateOut: number;
}
