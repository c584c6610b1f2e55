// Errors from the REST API, by status, in the style of opentok-node (AuthError, NotFoundError,
// RequestError); every one carries the server's status, code and message.

export class ApiError extends Error {
  override name = 'ApiError';
  /** HTTP status (0 when the server could not be reached). */
  readonly status: number;
  /** The server's error code from the JSON body, when it gave one. */
  readonly code: number | undefined;

  constructor(status: number, message: string, code?: number) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** 401 or 403: wrong or missing credentials, or a project that is not yours. */
export class AuthError extends ApiError {
  override name = 'AuthError';
}

/** 404: the session, connection, stream or archive does not exist (or nobody is connected). */
export class NotFoundError extends ApiError {
  override name = 'NotFoundError';
}

/** Any other failure: bad request, conflict, server error, network error. */
export class RequestError extends ApiError {
  override name = 'RequestError';
}

export function errorFor(status: number, message: string, code?: number): ApiError {
  if (status === 401 || status === 403) return new AuthError(status, message, code);
  if (status === 404) return new NotFoundError(status, message, code);
  return new RequestError(status, message, code);
}
