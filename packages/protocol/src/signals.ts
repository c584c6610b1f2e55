// Signal rules shared by the browser SDK (checked before sending, as OpenTok.js does) and the
// server (checked again at the boundary, for clients and for REST).

/** Longest signal type, in characters. */
export const SIGNAL_TYPE_MAX_LENGTH = 128;
/** Largest signal data, in bytes of UTF-8. */
export const SIGNAL_DATA_MAX_BYTES = 8192;
/** Characters allowed in a signal type (OpenTok.js documentation). */
export const SIGNAL_TYPE_PATTERN = /^[A-Za-z0-9\-_~]*$/;

export type SignalProblem = 'type-invalid' | 'type-too-long' | 'data-invalid' | 'data-too-long';

function utf8Length(text: string): number {
  // TextEncoder exists in browsers and Node alike.
  return new TextEncoder().encode(text).length;
}

/** Returns what is wrong with a signal's type and data, or null when it may be sent. */
export function checkSignal(type: unknown, data: unknown): { problem: SignalProblem; message: string } | null {
  if (type !== undefined && typeof type !== 'string') return { problem: 'type-invalid', message: 'signal type must be a string' };
  if (typeof type === 'string') {
    if (type.length > SIGNAL_TYPE_MAX_LENGTH) {
      return { problem: 'type-too-long', message: `signal type must be at most ${SIGNAL_TYPE_MAX_LENGTH} characters` };
    }
    if (!SIGNAL_TYPE_PATTERN.test(type)) {
      return { problem: 'type-invalid', message: 'signal type may only contain letters, digits, "-", "_" and "~"' };
    }
  }
  if (data !== undefined && typeof data !== 'string') return { problem: 'data-invalid', message: 'signal data must be a string' };
  if (typeof data === 'string' && utf8Length(data) > SIGNAL_DATA_MAX_BYTES) {
    return { problem: 'data-too-long', message: `signal data must be at most ${SIGNAL_DATA_MAX_BYTES} bytes` };
  }
  return null;
}
