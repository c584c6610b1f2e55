// Media test kit: encoded sources, werift clients, and the browser harness.
export * from './media-sources.js';
export * from './media-clients.js';
export * from './media-harness.js';
export * from './media-cycle.js';
export * from './media-uplink.js';
