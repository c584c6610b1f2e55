// @colloquy/protocol: what the browser SDK and the server say to each other. One definition, used
// by both: the message types (messages.ts), error and close codes (errors.ts), signal rules
// (signals.ts), the RTP header-extension URIs both ends negotiate (rtp-header-extensions.ts). The zod schemas the server validates with are in `@colloquy/protocol/schemas`, kept
// out of this entry so the browser bundle stays small.

/** Version 1 of the signaling protocol: every server message numbered per connection (`seq`). */
export const PROTOCOL_VERSION = 1;

/**
 * Version 2: session-wide events numbered per audience (`bseq`) and sent as the same bytes to every
 * recipient, connection events coalesced per turn (`connectionEvents`). A client that speaks it says
 * so in `connect.versions`; the server answers with the version it chose (`ConnectResult.version`).
 */
export const PROTOCOL_VERSION_2 = 2;

/** The versions this code speaks, oldest first. */
export const PROTOCOL_VERSIONS: readonly number[] = [PROTOCOL_VERSION, PROTOCOL_VERSION_2];

/** Path of the signaling WebSocket on a Colloquy server. */
export const SIGNALING_PATH = '/v2/signaling';

export * from './signals.js';
export * from './errors.js';
export * from './rtp-header-extensions.js';
export type * from './messages.js';
