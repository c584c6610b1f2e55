// Domain errors (ColloquyError) as protocol errors: OpenTok's code where the domain gave one the
// protocol knows, otherwise by kind. Anything else is a bug: INTERNAL_ERROR, and the caller logs it.

import { ERROR_NAMES, ErrorCodes, type ErrorCode, type ErrorMessage } from '@colloquy/protocol';
import { domainError, type ErrorKind } from '../errors.js';

const CODE_OF_KIND: Record<ErrorKind, ErrorCode> = {
  invalid: ErrorCodes.INVALID_PARAMETER,
  unauthenticated: ErrorCodes.AUTHENTICATION_ERROR,
  forbidden: ErrorCodes.AUTHENTICATION_ERROR,
  'not-found': ErrorCodes.NOT_FOUND,
  'not-allowed': ErrorCodes.NOT_CONNECTED,
  conflict: ErrorCodes.INVALID_PARAMETER,
  'too-large': ErrorCodes.SIGNAL_TOO_LONG,
  'rate-limited': ErrorCodes.RATE_LIMITED,
  unsupported: ErrorCodes.INTERNAL_ERROR,
  unavailable: ErrorCodes.INTERNAL_ERROR,
  internal: ErrorCodes.INTERNAL_ERROR,
};

function isProtocolCode(code: number | undefined): code is ErrorCode {
  return code !== undefined && Object.hasOwn(ERROR_NAMES, code);
}

/** The error message for a failed request; `internal` is true when it was not a ColloquyError. */
export function protocolError(err: unknown, re?: number): { message: Omit<ErrorMessage, 'seq'>; internal: boolean } {
  const domain = domainError(err);
  if (domain) {
    const code = isProtocolCode(domain.code) ? domain.code : CODE_OF_KIND[domain.kind];
    return { message: errorMessage(code, domain.message, re, domain.otName), internal: code === ErrorCodes.INTERNAL_ERROR };
  }
  return { message: errorMessage(ErrorCodes.INTERNAL_ERROR, 'internal server error', re), internal: true };
}

export function errorMessage(code: ErrorCode, message: string, re?: number, name: string = ERROR_NAMES[code]): Omit<ErrorMessage, 'seq'> {
  return re === undefined ? { type: 'error', code, name, message } : { type: 'error', re, code, name, message };
}
