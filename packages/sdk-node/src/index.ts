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
  WebsocketConnectOptions,
  AudioConnection,
} from './colloquy.js';
export { RestClient, type Credentials, type RestClientOptions } from './rest-client.js';
export { ApiError, AuthError, NotFoundError, RequestError } from './errors.js';
export type { Role } from '@colloquy/tokens';
export { Archives } from './archives.js';
export type { Archive, ArchiveLayout, ArchiveStatus, ArchiveStream, StartArchiveOptions, ListArchivesOptions } from './archives.js';
