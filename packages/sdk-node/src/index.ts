export { Colloquy, Colloquy as OpenTok } from './colloquy.js';
export type {
  Session,
  SessionOptions,
  TokenOptions,
  ColloquyOptions,
  MediaMode,
  ArchiveMode,
  ArchiveResolution,
  SignalPayload,
  ConnectionSummary,
  ConnectionList,
  StreamSummary,
  StreamList,
  ForceMuteAllOptions,
  DialOptions,
  SipCall,
  CaptionsOptions,
  CaptionsStatus,
  WebsocketConnectOptions,
  AudioConnection,
} from './colloquy.js';
export { RestClient, type Credentials, type RestClientOptions } from './rest-client.js';
export { ApiError, AuthError, NotFoundError, RequestError } from './errors.js';
export type { Role } from '@colloquy/tokens';
export { Archives } from './archives.js';
export { Broadcasts } from './broadcasts.js';
export type { Broadcast, RtmpStatus, RtmpTarget, StartBroadcastOptions } from './broadcasts.js';
export { Renders } from './renders.js';
export type { Render, RenderResolution, RenderStatus, StartRenderOptions } from './renders.js';
export type { Archive, ArchiveLayout, ArchiveStatus, ArchiveStorage, ArchiveStorageOptions, ArchiveStream, StartArchiveOptions, ListArchivesOptions } from './archives.js';
