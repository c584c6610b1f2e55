// @colloquy/client as an ES module: `import OT from '@colloquy/client'` (or the named exports).
// The script-tag build (dist/opentok.js) puts the same object on `window.OT`.

import { OT } from './ot.js';

export { OT };
export default OT;
export { Session, type SessionEventMap, type SessionOptions, type SignalOptions, type CompletionHandler, type Capabilities, type IceConfig } from './session.js';
export { Connection } from './connection.js';
export { Stream } from './stream.js';
export { Publisher, type PublisherEventMap, type PublisherProperties, type PublisherCompletionHandler } from './publisher.js';
export type { MediaProcessorConnector } from './media-processor.js';
export { ObjectCollection, type CollectionFilter } from './collection.js';
export { Subscriber, type SubscriberEventMap, type SubscriberProperties } from './subscriber.js';
export type { DeviceInfo } from './devices.js';
export type { InsertMode, ElementStyle } from './media-element.js';
export type { AudioOutputDevice } from './audio-output.js';
export {
  OTEvent,
  ConnectionEvent,
  SessionConnectEvent,
  SessionDisconnectEvent,
  SignalEvent,
  ExceptionEvent,
  StreamEvent,
  StreamPropertyChangedEvent,
  MuteForcedEvent,
  ArchiveEvent,
  VideoElementCreatedEvent,
  AudioLevelUpdatedEvent,
  VideoEnabledChangedEvent,
  VideoDimensionsChangedEvent,
  MediaStoppedEvent,
  EncryptionSecretEvent,
  CaptionReceivedEvent,
  type VideoChangeReason,
} from './events.js';
export { OTEventEmitter, type EventHandler } from './event-emitter.js';
export { ExceptionCodes, OTError } from './errors.js';
export { LogLevels } from './logger.js';
export { defaultReconnectPolicy, type ReconnectPolicy } from './signaling-channel.js';
export { VERSION } from './version.js';
export type { DisconnectReason, StreamInfo, StreamDestroyedReason, VideoDimensions, VideoType } from '@colloquy/protocol';
