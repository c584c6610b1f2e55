// What a Publisher or Subscriber needs from the Session it belongs to: its signaling requests, the
// session's media mode and ICE configuration, and a place to register, so that the Session routes
// server events (streamCreated for our stream, relayed SDP, mutes) to the right object. Its
// `session` (the Session itself) is declared in session.ts, so this module imports nothing of it.

import type { IceCandidate, RequestMap } from '@colloquy/protocol';
import type { FramePipeline } from './e2ee/encoded-transform.js';
import type { OTError } from './errors.js';
import type { RequestBody, SessionRequestType } from './signaling-channel.js';

/** @internal */
export interface MediaContext {
  readonly mediaMode: 'routed' | 'relayed';
  /** iceServers and policy for new peer connections (from OT.initSession's iceConfig). */
  rtcConfiguration(): RTCConfiguration;
  /** e2ee sessions: what encrypts and decrypts every frame, and its keys (none yet without a secret); null otherwise. */
  readonly e2ee: FramePipeline | null;
  /** Settles when the latest secret's key is derived (at once when there is none). */
  keyReady(): Promise<void>;
  /** A subscriber's frames stopped (mismatch) or started again (match) decrypting: the Session dispatches it too. */
  secretMatch(subscriber: object, state: 'match' | 'mismatch'): void;
  request<T extends SessionRequestType>(type: T, body: RequestBody<T>): Promise<RequestMap[T]['result']>;
  /** Sends an error to the server's Inspector (and OT.on('exception')). */
  reportError(error: OTError, streamId?: string): void;
  registerPublisher(publisher: object, streamId: string): void;
  unregisterPublisher(publisher: object): void;
  registerSubscriber(subscriber: object, subscriberId: string): void;
  unregisterSubscriber(subscriber: object): void;
}

/** A browser ICE candidate as the protocol carries it (null: end of candidates). */
export function candidateJson(candidate: RTCIceCandidate | null): IceCandidate | null {
  if (!candidate) return null;
  return { candidate: candidate.candidate, sdpMid: candidate.sdpMid, sdpMLineIndex: candidate.sdpMLineIndex, usernameFragment: candidate.usernameFragment };
}
