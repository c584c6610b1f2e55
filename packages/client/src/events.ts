// OpenTok.js's event objects: every event has `type`, `target`, `cancelable`, and
// preventDefault()/isDefaultPrevented(); the subclasses add what their event carries.

import type { DisconnectReason, StreamDestroyedReason, StreamProperty, VideoDimensions } from '@colloquy/protocol';
import type { Connection } from './connection.js';
import type { Stream } from './stream.js';

export class OTEvent<Target = unknown> {
  readonly type: string;
  readonly target: Target;
  readonly cancelable: boolean;
  #defaultPrevented = false;

  constructor(type: string, target: Target, cancelable = false) {
    this.type = type;
    this.target = target;
    this.cancelable = cancelable;
  }

  /** Stops the event's default action (when it is cancelable). */
  preventDefault(): void {
    if (this.cancelable) this.#defaultPrevented = true;
  }

  isDefaultPrevented(): boolean {
    return this.#defaultPrevented;
  }
}

/** connectionCreated / connectionDestroyed. `reason` only on connectionDestroyed. */
export class ConnectionEvent<Target = unknown> extends OTEvent<Target> {
  readonly connection: Connection;
  readonly reason: DisconnectReason | undefined;

  constructor(type: 'connectionCreated' | 'connectionDestroyed', target: Target, connection: Connection, reason?: DisconnectReason) {
    super(type, target);
    this.connection = connection;
    this.reason = reason;
  }
}

/** sessionConnected: the connections and streams already in the session. */
export class SessionConnectEvent<Target = unknown> extends OTEvent<Target> {
  readonly connections: Connection[];
  readonly streams: Stream[];

  constructor(target: Target, connections: Connection[], streams: Stream[]) {
    super('sessionConnected', target);
    this.connections = connections;
    this.streams = streams;
  }
}

/** sessionDisconnected, with why: clientDisconnected, forceDisconnected or networkDisconnected. */
export class SessionDisconnectEvent<Target = unknown> extends OTEvent<Target> {
  readonly reason: DisconnectReason;

  constructor(target: Target, reason: DisconnectReason) {
    super('sessionDisconnected', target, true);
    this.reason = reason;
  }
}

/** signal and signal:TYPE. `type` is "signal:TYPE" for a typed signal, "signal" otherwise. */
export class SignalEvent<Target = unknown> extends OTEvent<Target> {
  readonly data: string;
  /** The sender; null when the signal came from the app server (REST API). */
  readonly from: Connection | null;

  constructor(signalType: string | undefined, target: Target, data: string, from: Connection | null) {
    super(signalType === undefined ? 'signal' : `signal:${signalType}`, target);
    this.data = data;
    this.from = from;
  }
}

/** OT.on('exception'): an error not tied to one call's completion handler. */
export class ExceptionEvent<Target = unknown> extends OTEvent<Target> {
  readonly code: number;
  readonly message: string;
  readonly title: string;

  constructor(target: Target, code: number, title: string, message: string) {
    super('exception', target);
    this.code = code;
    this.title = title;
    this.message = message;
  }
}

/**
 * streamCreated / streamDestroyed, from the Session (others' streams) or a Publisher (its own).
 * streamDestroyed is cancelable: preventDefault() keeps the Subscriber (or Publisher) elements in
 * the page instead of removing them.
 */
export class StreamEvent<Target = unknown> extends OTEvent<Target> {
  readonly stream: Stream;
  /** streamDestroyed only: clientDisconnected, forceDisconnected, forceUnpublished, mediaStopped or networkDisconnected. */
  readonly reason: StreamDestroyedReason | undefined;

  constructor(type: 'streamCreated' | 'streamDestroyed', target: Target, stream: Stream, reason?: StreamDestroyedReason) {
    super(type, target, type === 'streamDestroyed');
    this.stream = stream;
    this.reason = reason;
  }
}

/**
 * videoDimensionsChanged (Publisher, Subscriber): the video's size changed — a shared screen or
 * window resized, or a capture that settled on its real size after publishing.
 */
export class VideoDimensionsChangedEvent<Target = unknown> extends OTEvent<Target> {
  readonly oldValue: VideoDimensions;
  readonly newValue: VideoDimensions;

  constructor(target: Target, oldValue: VideoDimensions, newValue: VideoDimensions) {
    super('videoDimensionsChanged', target);
    this.oldValue = oldValue;
    this.newValue = newValue;
  }
}

/** streamPropertyChanged: a stream's hasAudio, hasVideo, hasCaptions or videoDimensions changed. */
export class StreamPropertyChangedEvent<Target = unknown> extends OTEvent<Target> {
  readonly stream: Stream;
  readonly changedProperty: StreamProperty;
  readonly oldValue: boolean | VideoDimensions | null;
  readonly newValue: boolean | VideoDimensions | null;

  constructor(target: Target, stream: Stream, changedProperty: StreamProperty, oldValue: boolean | VideoDimensions | null, newValue: boolean | VideoDimensions | null) {
    super('streamPropertyChanged', target);
    this.stream = stream;
    this.changedProperty = changedProperty;
    this.oldValue = oldValue;
    this.newValue = newValue;
  }
}

/**
 * muteForced. On the Session: a moderator muted everyone (`active` true) or lifted that (`active`
 * false). On a Publisher: a moderator muted this publisher's audio (`active` undefined).
 */
export class MuteForcedEvent<Target = unknown> extends OTEvent<Target> {
  readonly active: boolean | undefined;

  constructor(target: Target, active?: boolean) {
    super('muteForced', target);
    this.active = active;
  }
}

/** archiveStarted / archiveStopped. */
export class ArchiveEvent<Target = unknown> extends OTEvent<Target> {
  readonly id: string;
  readonly name: string;

  constructor(type: 'archiveStarted' | 'archiveStopped', target: Target, id: string, name: string) {
    super(type, target);
    this.id = id;
    this.name = name;
  }
}

/**
 * encryptionSecretMismatch / encryptionSecretMatch (e2ee sessions): a subscriber's frames stopped or
 * started decrypting with this client's secret. On a Subscriber, `target` is it; the Session's copy
 * names the subscriber and its stream.
 */
export class EncryptionSecretEvent<Target = unknown> extends OTEvent<Target> {
  readonly subscriber: unknown;
  readonly stream: Stream | undefined;

  constructor(type: 'encryptionSecretMismatch' | 'encryptionSecretMatch', target: Target, subscriber: unknown, stream?: Stream) {
    super(type, target);
    this.subscriber = subscriber;
    this.stream = stream ?? (subscriber as { stream?: Stream } | null)?.stream;
  }
}

/** videoElementCreated: the video element of a Publisher or Subscriber exists (place it yourself with insertDefaultUI: false). */
export class VideoElementCreatedEvent<Target = unknown> extends OTEvent<Target> {
  readonly element: HTMLVideoElement;

  constructor(target: Target, element: HTMLVideoElement) {
    super('videoElementCreated', target);
    this.element = element;
  }
}

/** audioLevelUpdated: 0 (silence) to 1, several times a second while someone listens. */
export class AudioLevelUpdatedEvent<Target = unknown> extends OTEvent<Target> {
  readonly audioLevel: number;

  constructor(target: Target, audioLevel: number) {
    super('audioLevelUpdated', target);
    this.audioLevel = audioLevel;
  }
}

/** Why a Subscriber's video stopped or started: the publisher's publishVideo, or your subscribeToVideo. */
export type VideoChangeReason = 'publishVideo' | 'subscribeToVideo' | 'quality' | 'codecNotSupported' | 'codecChanged';

/** videoDisabled / videoEnabled on a Subscriber. */
export class VideoEnabledChangedEvent<Target = unknown> extends OTEvent<Target> {
  readonly reason: VideoChangeReason;

  constructor(type: 'videoEnabled' | 'videoDisabled', target: Target, reason: VideoChangeReason) {
    super(type, target);
    this.reason = reason;
  }
}

/**
 * captionReceived on a Subscriber (live captions, after subscribeToCaptions(true)): the text heard
 * in the stream's audio; `isFinal` false for the phrase so far, true when the phrase ended.
 */
export class CaptionReceivedEvent<Target = unknown> extends OTEvent<Target> {
  readonly streamId: string;
  readonly caption: string;
  readonly isFinal: boolean;

  constructor(target: Target, streamId: string, caption: string, isFinal: boolean) {
    super('captionReceived', target);
    this.streamId = streamId;
    this.caption = caption;
    this.isFinal = isFinal;
  }
}

/** mediaStopped on a Publisher: a track it published ended (e.g. the browser's "stop sharing"). Cancelable. */
export class MediaStoppedEvent<Target = unknown> extends OTEvent<Target> {
  readonly track: MediaStreamTrack | undefined;

  constructor(target: Target, track?: MediaStreamTrack) {
    super('mediaStopped', target, true);
    this.track = track;
  }
}
