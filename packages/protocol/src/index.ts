// @colloquy/protocol: what the browser SDK and the server say to each other. One definition, used
// by both: the message types (messages.ts), error and close codes (errors.ts), signal rules
// (signals.ts), the RTP header-extension URIs both ends negotiate (rtp-header-extensions.ts). The zod schemas the server validates with are in `@colloquy/protocol/schemas`, kept
// out of this entry so the browser bundle stays small.

/** Version of the signaling protocol; bumped on any incompatible change. */
export const PROTOCOL_VERSION = 1;

/** Path of the signaling WebSocket on a Colloquy server. */
export const SIGNALING_PATH = '/v2/signaling';

export * from './signals.js';
export * from './errors.js';
export * from './rtp-header-extensions.js';
export type * from './messages.js';
