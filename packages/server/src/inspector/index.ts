// The Inspector module: the event log and quality samples of every session (see README.md).
export { Inspector, type InspectorOptions } from './inspector.js';
export { inspectorMigrations } from './schema.js';
export { clientStatsSamples, clientErrorEvent } from './client-input.js';
export { networkScore, trackScore, videoTargetBitrate } from './score.js';
export * from './types.js';
