// @colloquy/protocol: what the browser SDK and the server say to each other. One definition, used
// by both; the server validates every incoming message against it.

/** Version of the signaling protocol; bumped on any incompatible change. */
export const PROTOCOL_VERSION = 1;

export * from './signals.js';
