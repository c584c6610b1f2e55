// Errors the SFU raises, by kind (mediasoup raises its own error types too). The kinds are a subset
// of the server's domain kinds (packages/server/src/errors.ts), which maps a MediaError to its own
// MediaError of the same kind: REST answers it with the kind's HTTP status, signaling with its
// protocol error. Nothing here knows HTTP.

export type MediaErrorKind =
  | 'invalid' // malformed or unusable input: SDP, a candidate, a foreign producer
  | 'not-found'
  | 'not-allowed' // not in this state: closed, consume after the offer
  | 'conflict' // a second offer/answer, a duplicate id
  | 'unsupported' // audio simulcast, a video track with more than 3 rids
  | 'internal';

export class MediaError extends Error {
  override name = 'MediaError';
  readonly kind: MediaErrorKind;

  constructor(kind: MediaErrorKind, message: string) {
    super(message);
    this.kind = kind;
  }
}

export const invalid = (message: string): MediaError => new MediaError('invalid', message);
export const conflict = (message: string): MediaError => new MediaError('conflict', message);
