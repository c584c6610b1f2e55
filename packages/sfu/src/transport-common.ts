// Functions both transport kinds use (through PeerTransport, peer-transport.ts): connection-state
// mapping, remote ICE candidates, setting the local description without leaking its sockets, and
// turning werift's codec objects into plain CodecInfo.

import type { RTCPeerConnection, RTCRtpCodecParameters, RTCSessionDescriptionInit } from 'werift';
import { MediaError, invalid } from './errors.js';
import type { CodecName } from './codecs.js';
import type { CodecInfo, IceCandidateInit, TransportState } from './types.js';

export interface Subscription {
  unSubscribe(): void;
}

export function subscribeState(pc: RTCPeerConnection, onState: (state: TransportState) => void): Subscription {
  return pc.connectionStateChange.subscribe((state) => onState(state));
}

/**
 * Sets a peer connection's local description, which is where werift binds the ICE sockets, so that
 * a close() at any moment still frees every port. werift's close() closes the sockets bound so far;
 * a bind still under way when it runs lands afterwards in an ICE connection nobody closes again
 * (a client leaving while its publish or subscribe is negotiated left its ports bound for good).
 * So a negotiation that ends on a closed transport closes the ICE connections once more, and the
 * transport's close() waits for any negotiation in flight to have done so.
 */
export class LocalNegotiation {
  readonly #pc: RTCPeerConnection;
  readonly #isClosed: () => boolean;
  #inFlight: Promise<void> = Promise.resolve();

  constructor(pc: RTCPeerConnection, isClosed: () => boolean) {
    this.#pc = pc;
    this.#isClosed = isClosed;
  }

  /** setLocalDescription (ICE gathering included); throws if the transport is or gets closed. */
  async setLocalDescription(description: RTCSessionDescriptionInit): Promise<void> {
    if (this.#isClosed()) throw new MediaError('not-allowed', 'transport closed while negotiating');
    const done = this.#pc.setLocalDescription(description);
    this.#inFlight = done.then(
      () => this.#releaseIfClosed(),
      () => this.#releaseIfClosed(),
    );
    try {
      await done;
    } finally {
      await this.#inFlight;
    }
    if (this.#isClosed()) throw new MediaError('not-allowed', 'transport closed while negotiating');
  }

  /** For close(), after the peer connection's own close: frees what a late bind left. */
  async settle(): Promise<void> {
    await this.#inFlight;
    await this.#release();
  }

  async #releaseIfClosed(): Promise<void> {
    if (this.#isClosed()) await this.#release();
  }

  async #release(): Promise<void> {
    await Promise.all(this.#pc.iceTransports.map((t) => t.connection.close().catch(() => {})));
  }
}

const MAX_CANDIDATE_LENGTH = 1024;

/** Adds a browser's trickled candidate; null, undefined or an empty candidate means end of candidates. */
export async function addRemoteCandidate(pc: RTCPeerConnection, candidate: IceCandidateInit | null | undefined): Promise<void> {
  if (candidate === null || candidate === undefined) return;
  if (typeof candidate !== 'object' || typeof candidate.candidate !== 'string') {
    throw invalid('an ICE candidate must be an object with a candidate string');
  }
  if (candidate.candidate.length > MAX_CANDIDATE_LENGTH) throw invalid('ICE candidate too long');
  if (candidate.candidate === '') return;
  if (!/^(a=)?candidate:/.test(candidate.candidate)) throw invalid('ICE candidate must start with "candidate:"');
  try {
    await pc.addIceCandidate({
      candidate: candidate.candidate.replace(/^a=/, ''),
      sdpMid: candidate.sdpMid ?? undefined,
      sdpMLineIndex: candidate.sdpMLineIndex ?? undefined,
    });
  } catch (err) {
    throw invalid(`unusable ICE candidate: ${(err as Error).message}`);
  }
}

export function codecInfo(codec: RTCRtpCodecParameters): CodecInfo {
  const mime = codec.mimeType.toLowerCase();
  const name: CodecName = mime === 'video/vp8' ? 'VP8' : mime === 'video/h264' ? 'H264' : 'opus';
  return {
    name,
    mimeType: name === 'opus' ? 'audio/opus' : name === 'VP8' ? 'video/VP8' : 'video/H264',
    payloadType: codec.payloadType,
    clockRate: codec.clockRate,
    ...(codec.channels === undefined ? {} : { channels: codec.channels }),
    ...(codec.parameters ? { parameters: codec.parameters } : {}),
  };
}
