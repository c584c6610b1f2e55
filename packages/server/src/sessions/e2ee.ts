// End-to-end encrypted sessions (created with e2ee=true): clients encrypt every frame with a key
// derived from a secret the server never sees, so the SFU forwards ciphertext. Every server feature
// that needs the media itself — archiving, broadcasts, SIP calls, Experience Composer, captions, the
// Audio Connector — is refused in them, as OpenTok does: 409, a conflict with the session's mode.

import { conflict } from '../errors.js';
import type { SessionRecord } from '../store/index.js';

/** Throws 409 when `feature` would need the media of an end-to-end encrypted session. */
export function requireClearMedia(session: Pick<SessionRecord, 'e2ee'>, feature: string): void {
  if (session.e2ee) {
    throw conflict(`${feature} is not supported for end-to-end encrypted (e2ee) sessions: the media router cannot decrypt their media`, 409);
  }
}
