// OpenTok.js's error vocabulary: OT.ExceptionCodes and the OTError passed to completion handlers
// (code, name starting with "OT_", message). App code checks `error.name`, so names match OpenTok's.

import { EXCEPTION_ERROR_CODES } from '@colloquy/protocol';

/** OT.ExceptionCodes: the protocol's codes that OpenTok.js shares, and those only the SDK raises. */
export const ExceptionCodes = {
  ...EXCEPTION_ERROR_CODES,
  JS_EXCEPTION: 2000,
  CONNECT_FAILED: 1006,
  CONNECT_REJECTED: 1007,
  CONNECTION_TIMEOUT: 1008,
  API_RESPONSE_FAILURE: 1014,
  PEER_CONNECTION_NOT_CONNECTED: 1015,
  TERMS_OF_SERVICE_FAILURE: 1026,
  CONNECTION_LIMIT_EXCEEDED: 1027,
  UNSUPPORTED_VIDEO_CODEC: 1502,
  UNEXPECTED_SERVER_RESPONSE: 2001,
} as const;

/** Titles of exception events (OT.on('exception')), by code. */
export const EXCEPTION_TITLES: Record<number, string> = {
  1004: 'Authentication Error',
  1005: 'Invalid Session ID',
  1006: 'Connect Failed',
  1010: 'Not Connected',
  1011: 'Invalid Parameter',
  1013: 'Connection Failed',
  1500: 'Unable to Publish',
  1501: 'Unable to Subscribe',
  1520: 'Unable To Force Disconnect',
  1530: 'Unable To Force Unpublish',
  1540: 'Unable To Force Mute',
  1553: 'ICE Workflow Failed',
  1554: 'ICE Workflow Failed',
  2000: 'JavaScript Exception',
  2001: 'Unexpected Server Response',
};

/** The error object completion handlers get (OpenTok.js `OT.Error`). */
export class OTError extends Error {
  readonly code: number;
  override name: string;

  constructor(code: number, name: string, message: string) {
    super(message);
    this.code = code;
    this.name = name;
  }
}

/** The signal a failed `session.signal()` was given, attached to its error as OpenTok.js does. */
export interface SignalError extends OTError {
  signal?: unknown;
}

export const notConnected = (what: string): OTError =>
  new OTError(ExceptionCodes.NOT_CONNECTED, 'OT_NOT_CONNECTED', `${what}: the session is not connected`);

export const invalidParameter = (message: string, code: number = ExceptionCodes.INVALID_PARAMETER): OTError =>
  new OTError(code, 'OT_INVALID_PARAMETER', message);

/** A publish failure (code 1500) with OpenTok.js's name for its cause. */
export const publishError = (name: string, message: string): OTError => new OTError(ExceptionCodes.UNABLE_TO_PUBLISH, name, message);

/** A subscribe failure (code 1501). */
export const subscribeError = (name: string, message: string): OTError => new OTError(ExceptionCodes.UNABLE_TO_SUBSCRIBE, name, message);

/** A non-OTError thrown inside the SDK, as OpenTok.js reports it (2000). */
export function asOTError(err: unknown, fallbackCode: number = ExceptionCodes.JS_EXCEPTION, fallbackName = 'OT_JS_EXCEPTION'): OTError {
  if (err instanceof OTError) return err;
  return new OTError(fallbackCode, fallbackName, err instanceof Error ? err.message : String(err));
}

/** A promise for callers who want one, and an (error, value) callback for those who pass it. */
export function settle<T>(promise: Promise<T>, callback?: (error: OTError | null, value?: T) => void): Promise<T> {
  if (!callback) return promise;
  promise.then(
    (value) => callback(null, value),
    (err: unknown) => callback(asOTError(err)),
  );
  return promise.catch(() => undefined as T);
}
