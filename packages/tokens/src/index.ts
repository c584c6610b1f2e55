export * from './base64url.js';
export * from './jwt.js';
export * from './session-id.js';
export * from './client-token.js';
