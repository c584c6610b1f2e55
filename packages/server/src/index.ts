// @colloquy/server as a library: start a server in-process (tests, embedding).
export { startServer, type RunningServer, type StartServerOptions } from './server.js';
export { loadConfig, type Config } from './config.js';
export { installProcessGuard, GUARD_EXIT_CODE, type ProcessGuardOptions } from './process-guard.js';
export { verifyClientToken, TokenError, type ClientTokenClaims } from './auth/client-token.js';
export { Inspector, type InspectorOptions } from './inspector/inspector.js';
export type * from './inspector/types.js';
export * from './media/index.js';
export { SessionPublisher, publishAudioStream, StreamAudioTap, SessionAudioMixer } from './media/audio/index.js';
