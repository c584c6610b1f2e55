// Error codes of the signaling protocol. Where OpenTok.js has a code and name for the failure the
// browser SDK reports it unchanged (so app code that checks `error.name` keeps working); the 4xxx
// codes are protocol violations that only a broken or hostile client sees.

/**
 * The codes that are also OpenTok.js's `OT.ExceptionCodes` (same number, same name). The browser
 * SDK's ExceptionCodes is these plus the ones only the SDK itself raises.
 */
export const EXCEPTION_ERROR_CODES = {
  /** Token invalid, expired, for another session, or the API key does not match. */
  AUTHENTICATION_ERROR: 1004,
  /** Session id malformed or unknown to this server. */
  INVALID_SESSION_ID: 1005,
  /** The session already holds the most connections the server allows (OpenTok's CONNECTION_LIMIT_EXCEEDED). */
  CONNECTION_LIMIT_EXCEEDED: 1027,
  /** A request that needs a connected session, sent before connect (or after leaving). */
  NOT_CONNECTED: 1010,
  /** A known request with bad fields. */
  INVALID_PARAMETER: 1011,
  /** Peer-to-peer (relayed) media could not connect (reported by the browser SDK). */
  P2P_CONNECTION_FAILED: 1013,
  /** publish refused: the role may not publish (name OT_PERMISSION_DENIED), or the offer is unusable. */
  UNABLE_TO_PUBLISH: 1500,
  /** subscribe refused: the role may not subscribe (OT_PERMISSION_DENIED), or the stream is gone (OT_STREAM_DESTROYED). */
  UNABLE_TO_SUBSCRIBE: 1501,
  /** forceDisconnect without the moderator role (OpenTok's UNABLE_TO_FORCE_DISCONNECT). */
  UNABLE_TO_FORCE_DISCONNECT: 1520,
  /** forceUnpublish without the moderator role. */
  UNABLE_TO_FORCE_UNPUBLISH: 1530,
  /** forceMuteStream / forceMuteAll / disableForceMute without the moderator role. */
  UNABLE_TO_FORCE_MUTE: 1540,
  /** The publisher's media connection failed (reported by the browser SDK). */
  PUBLISHER_ICE_WORKFLOW_FAILED: 1553,
  /** A subscriber's media connection failed (reported by the browser SDK). */
  SUBSCRIBER_ICE_WORKFLOW_FAILED: 1554,
  /** Too many streams published, or subscriptions held, by one connection. */
  STREAM_LIMIT_EXCEEDED: 1605,
} as const;

export const ErrorCodes = {
  ...EXCEPTION_ERROR_CODES,
  /** Signal with a bad type or data (OpenTok.js signal code 400). */
  SIGNAL_INVALID: 400,
  /** Signal or forceDisconnect target not in the session (OpenTok.js signal code 404). */
  NOT_FOUND: 404,
  /** Signal type or data too long (OpenTok.js signal code 413). */
  SIGNAL_TOO_LONG: 413,
  /** Too many signals from this connection (OpenTok.js signal code 429). */
  RATE_LIMITED: 429,
  /** Not JSON, not an object, binary frame, or no `type`. */
  MALFORMED_MESSAGE: 4000,
  /** A `type` this protocol version does not have. */
  UNKNOWN_MESSAGE_TYPE: 4001,
  /** The client speaks a protocol version this server does not. */
  UNSUPPORTED_VERSION: 4002,
  /** A request id not greater than the previous one on this connection. */
  OUT_OF_ORDER: 4003,
  /** connect or resume on a socket that already carries a connection. */
  ALREADY_CONNECTED: 4004,
  /** Resume refused: unknown or expired connection, wrong secret, or messages no longer buffered. */
  RESUME_FAILED: 4005,
  /** The server failed; the request may not have been carried out. */
  INTERNAL_ERROR: 5000,
} as const;

export type ErrorCodeName = keyof typeof ErrorCodes;
export type ErrorCode = (typeof ErrorCodes)[ErrorCodeName];

/**
 * The OpenTok.js error `name` the browser SDK reports for each code, unless the error message names
 * a more precise one (1500 and 1501 also come as OT_PERMISSION_DENIED, 1501 as OT_STREAM_DESTROYED).
 */
export const ERROR_NAMES: Record<ErrorCode, string> = {
  1004: 'OT_AUTHENTICATION_ERROR',
  1005: 'OT_INVALID_SESSION_ID',
  1010: 'OT_NOT_CONNECTED',
  1027: 'OT_CONNECTION_LIMIT_EXCEEDED',
  1011: 'OT_INVALID_PARAMETER',
  1013: 'OT_P2P_CONNECTION_FAILED',
  1500: 'OT_UNABLE_TO_PUBLISH',
  1501: 'OT_UNABLE_TO_SUBSCRIBE',
  1520: 'OT_PERMISSION_DENIED',
  1530: 'OT_PERMISSION_DENIED',
  1540: 'OT_PERMISSION_DENIED',
  1553: 'OT_ICE_WORKFLOW_FAILED',
  1554: 'OT_ICE_WORKFLOW_FAILED',
  1605: 'OT_STREAM_LIMIT_EXCEEDED',
  400: 'OT_INVALID_PARAMETER',
  404: 'OT_NOT_FOUND',
  413: 'OT_INVALID_PARAMETER',
  429: 'OT_RATE_LIMIT_EXCEEDED',
  4000: 'OT_UNEXPECTED_SERVER_RESPONSE',
  4001: 'OT_UNEXPECTED_SERVER_RESPONSE',
  4002: 'OT_UNEXPECTED_SERVER_RESPONSE',
  4003: 'OT_UNEXPECTED_SERVER_RESPONSE',
  4004: 'OT_UNEXPECTED_SERVER_RESPONSE',
  4005: 'OT_CONNECT_FAILED',
  5000: 'OT_UNEXPECTED_SERVER_RESPONSE',
};

/** WebSocket close codes the server uses (4000-4999 is the application range). */
export const CloseCodes = {
  /** The connection left (disconnect) — do not resume. */
  NORMAL: 1000,
  /** The server is shutting down. */
  GOING_AWAY: 1001,
  /** Frame larger than the server's limit (set by the ws library). */
  MESSAGE_TOO_BIG: 1009,
  /** connect refused (bad token or session); the error message came first. */
  AUTH_FAILED: 4001,
  /** A moderator or the REST API disconnected this connection. */
  FORCE_DISCONNECTED: 4002,
  /** Too many protocol errors or messages; the connection is ended. */
  PROTOCOL_VIOLATION: 4003,
  /** resume refused; the error message came first. */
  RESUME_FAILED: 4004,
  /** Another socket resumed this connection. */
  REPLACED: 4009,
  /** No connect or resume within the time allowed after opening. */
  AUTH_TIMEOUT: 4010,
} as const;

export type CloseCode = (typeof CloseCodes)[keyof typeof CloseCodes];

/** Close codes after which a client must not try to resume. */
export const FINAL_CLOSE_CODES: readonly number[] = [
  CloseCodes.NORMAL,
  CloseCodes.AUTH_FAILED,
  CloseCodes.FORCE_DISCONNECTED,
  CloseCodes.PROTOCOL_VIOLATION,
  CloseCodes.RESUME_FAILED,
  CloseCodes.REPLACED,
];
