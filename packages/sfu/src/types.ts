// Shapes shared by the media objects: codec descriptions, stats, states. Plain data, so the
// Inspector and signaling can pass them on without touching werift types.

import type { CodecName } from './codecs.js';

export type MediaKind = 'audio' | 'video';

/** A negotiated codec as the media engine sees it. */
export interface CodecInfo {
  name: CodecName;
  /** e.g. 'video/VP8', 'audio/opus'. */
  mimeType: string;
  payloadType: number;
  clockRate: number;
  channels?: number;
  /** The fmtp line (H.264 profile, Opus options), if any. */
  parameters?: string;
}

/** Connection state of a transport, as RTCPeerConnection.connectionState. */
export type TransportState = 'new' | 'connecting' | 'connected' | 'disconnected' | 'failed' | 'closed';

/** An ICE candidate as browsers hand it over (RTCIceCandidateInit). */
export interface IceCandidateInit {
  candidate: string;
  sdpMid?: string | null;
  sdpMLineIndex?: number | null;
  usernameFragment?: string | null;
}

export interface ProducerStats {
  id: string;
  kind: MediaKind;
  codec: string;
  ssrc: number;
  paused: boolean;
  packetsReceived: number;
  bytesReceived: number;
  /** Received media bits per second over the last second. */
  bitrate: number;
  /** Packets lost on the way from the publisher (from RTP sequence gaps, after retransmission). */
  packetsLost: number;
  /** Fraction lost over the last measurement interval (0..1). */
  fractionLost: number;
  /** Interarrival jitter in milliseconds (RFC 3550). */
  jitter: number;
  /** NACKs and PLIs the server sent to the publisher. */
  nackCount: number;
  pliCount: number;
  keyFramesReceived: number;
  /** Video only: frames per second over the last second, and the last keyframe's picture size. */
  frameRate?: number;
  width?: number;
  height?: number;
  consumers: number;
  /** Simulcast: each spatial layer, lowest first (absent for a single encoding). */
  layers?: { rid: string; ssrc: number; width: number; height: number; bitrate: number; active: boolean; frameRates: number[] }[];
}

export interface ConsumerStats {
  id: string;
  producerId: string;
  kind: MediaKind;
  ssrc: number;
  paused: boolean;
  producerPaused: boolean;
  packetsSent: number;
  bytesSent: number;
  /** Sent media bits per second over the last second. */
  bitrate: number;
  /** From the subscriber's receiver reports. */
  packetsLost: number;
  fractionLost: number;
  jitter: number;
  /** Seconds, from RTCP SR/RR (null until measured). */
  roundTripTime: number | null;
  /** What the subscriber asked for, and what we resent. */
  nackCount: number;
  retransmittedPackets: number;
  /** NACKed packets not resent: resent already within a round trip, or sent too long ago to help. */
  resendsSkipped: number;
  /** Keyframes asked of the publisher because packets of the forwarded layer could not be repaired (held through a saturation, or too old). */
  repairKeyFrames: number;
  pliCount: number;
  firCount: number;
  /** The subscriber's REMB estimate in bits per second (null until it sends one). */
  availableBitrate: number | null;
  /** Video: the spatial layer being forwarded (-1 none yet) and the one it switches to (0 = lowest). */
  currentLayer?: number;
  targetLayer?: number;
  /** Layer switches done (keyframe of the new layer reached). */
  layerSwitches?: number;
  /** The highest layer the subscriber's downlink estimate allows (-1: video off for bandwidth). */
  bandwidthLayer?: number;
  /** Video off because the downlink cannot carry the lowest layer (audio fallback). */
  qualityDisabled?: boolean;
  /** Probe padding packets sent on the RTX SSRC. */
  paddingPackets?: number;
  /**
   * VP8 temporal layers: the TID forwarded up to and the one wanted (3: all; from the subscriber's
   * preferredFrameRate), and the frames dropped as above it.
   */
  currentTemporalLayer?: number;
  targetTemporalLayer?: number;
  temporalFramesDropped?: number;
}
