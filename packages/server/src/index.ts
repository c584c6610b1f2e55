// @colloquy/server as a library: start a server in-process (tests, embedding).
export { startServer, type RunningServer, type StartServerOptions } from './server.js';
export { loadConfig, type Config } from './config.js';
export { installProcessGuard, GUARD_EXIT_CODE, type ProcessGuardOptions } from './process-guard.js';
export { verifyClientToken, TokenError, type ClientTokenClaims } from './auth/client-token.js';
export { Inspector, type InspectorOptions } from './inspector/inspector.js';
export type * from './inspector/types.js';
// The SFU (MediaEngine, routers, transports, producers, consumers) is its own package: @colloquy/sfu.
export { SessionPublisher, publishAudioStream, StreamAudioTap, SessionAudioMixer } from './session-audio/index.js';
export { PocketsphinxProvider, findPocketsphinxModels, DEFAULT_POCKETSPHINX_MODEL_DIR } from './captions/pocketsphinx-provider.js';
export type { SpeechToTextProvider, SpeechRecognizer, RecognitionResult, RecognizerOptions } from './captions/provider.js';
export { s3Client, uploadFile, objectKey, PART_SIZE } from './archiving/storage/s3-target.js';
export { openServerStore, ServerStore, SERVER_MIGRATIONS } from './server-store.js';
