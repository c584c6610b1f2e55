// Pieces both transport kinds share: connection-state mapping, remote ICE candidates, and turning
// werift's codec objects into plain CodecInfo.

import type { RTCPeerConnection, RTCRtpCodecParameters } from 'werift';
import { invalid } from '../errors.js';
import type { CodecName } from './codecs.js';
import type { CodecInfo, IceCandidateInit, TransportState } from './types.js';

export interface Subscription {
  unSubscribe(): void;
}

export function subscribeState(pc: RTCPeerConnection, onState: (state: TransportState) => void): Subscription {
  return pc.connectionStateChange.subscribe((state) => onState(state));
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
