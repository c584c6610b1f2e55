// How media/ configures werift's RTCPeerConnection: codecs, header extensions, ICE on the
// operator's addresses only. One place, so publisher and subscriber sides agree.

import { RTP_HEADER_EXTENSIONS } from '@colloquy/protocol';
import {
  RTCPeerConnection,
  RTCRtpCodecParameters,
  RTCRtpHeaderExtensionParameters,
  useNACK,
  usePLI,
  useREMB,
  useTWCC,
  type RTCPeerConnectionConfig,
} from 'werift';
import type { VideoCodecName } from './codecs.js';
import type { TcpMux } from './tcp-mux.js';
import type { UdpMux } from './udp-mux.js';

/** Network settings of the engine, shared by every peer connection it makes. */
export interface IceSettings {
  /** Addresses put in ICE candidates (what browsers send to). */
  announcedIps: string[];
  /** Address the UDP sockets bind; undefined binds all interfaces. */
  listenIp: string | undefined;
  /** Inclusive UDP port range for the sockets, one per peer connection (range mode). */
  portRange: [number, number];
  /** One UDP port for every peer connection instead (one-port mode: portRange is not used). */
  udpMux?: UdpMux;
  /**
   * Passive ICE-TCP (RFC 6544 framing) as well: werift listens on a TCP port of the same range, on
   * each announced address, per peer connection; browsers whose UDP is blocked connect to it.
   */
  tcp?: boolean;
  /** Passive ICE-TCP on ONE TCP port for every peer connection instead (implies tcp). */
  tcpMux?: TcpMux;
}

const EXT = RTP_HEADER_EXTENSIONS;
export { RTP_HEADER_EXTENSIONS as EXT };

/**
 * Extensions whose value is copied from the publisher's packet to the subscriber's (under the id
 * the subscriber negotiated). mid and abs-send-time are written fresh per consumer instead; rid,
 * repaired-rid and transport-cc are never forwarded (they describe the publisher's transport).
 */
export const COPIED_EXTENSIONS: ReadonlySet<string> = new Set([EXT.audioLevel, EXT.videoOrientation, EXT.videoContentType]);

const AUDIO_EXTENSIONS = [EXT.mid, EXT.absSendTime, EXT.audioLevel];
const VIDEO_EXTENSIONS = [EXT.mid, EXT.absSendTime, EXT.videoOrientation, EXT.videoContentType];
/** Publishers may send simulcast: werift routes each rid's packets to its own track. */
const PUBLISHER_VIDEO_EXTENSIONS = [...VIDEO_EXTENSIONS, EXT.rid, EXT.repairedRid];
/** With transport-cc from publishers, every packet they send is numbered transport-wide (audio too, as libwebrtc does). */
const PUBLISHER_TWCC_AUDIO_EXTENSIONS = [...AUDIO_EXTENSIONS, EXT.transportCc];
const PUBLISHER_TWCC_VIDEO_EXTENSIONS = [...PUBLISHER_VIDEO_EXTENSIONS, EXT.transportCc];
/**
 * Towards subscribers every packet carries a transport-wide sequence number, and the browser
 * answers with transport feedback: our downlink estimate (bandwidth-estimator.ts) runs on it.
 */
const SUBSCRIBER_AUDIO_EXTENSIONS = [...AUDIO_EXTENSIONS, EXT.transportCc];
const SUBSCRIBER_VIDEO_EXTENSIONS = [...VIDEO_EXTENSIONS, EXT.transportCc];

function extensions(uris: string[]): RTCRtpHeaderExtensionParameters[] {
  return uris.map((uri) => new RTCRtpHeaderExtensionParameters({ uri }));
}

const OPUS_PARAMETERS = 'minptime=10;useinbandfec=1';

/**
 * Opus as we offer or answer it. `fromPublisher`: the publisher's fmtp, whose channel options
 * (`stereo`, `sprop-stereo`: OT.initPublisher's enableStereo) are passed on to subscribers so that
 * their browsers decode a stereo stream as stereo; the rest stays ours.
 */
export function opusCodec(payloadType?: number, fromPublisher?: string, transportCc = false): RTCRtpCodecParameters {
  const channelOptions = (fromPublisher ?? '')
    .split(';')
    .map((p) => p.trim())
    .filter((p) => /^(stereo|sprop-stereo)=[01]$/i.test(p));
  return new RTCRtpCodecParameters({
    mimeType: 'audio/opus',
    clockRate: 48000,
    channels: 2,
    parameters: [OPUS_PARAMETERS, ...channelOptions].join(';'),
    ...(transportCc ? { rtcpFeedback: [useTWCC()] } : {}),
    ...(payloadType === undefined ? {} : { payloadType }),
  });
}

export function videoCodec(name: VideoCodecName, options: { payloadType?: number; parameters?: string; transportCc?: boolean } = {}): RTCRtpCodecParameters {
  // Publishers: transport-cc with feedback we write (transport-feedback-writer.ts; werift's own kept
  // Chromium at 300 kbps, webrtc-notes.md), REMB as the cap. Subscribers: transport-cc, for our own
  // send-side estimate.
  const rtcpFeedback = [useNACK(), usePLI(), useREMB(), ...(options.transportCc ? [useTWCC()] : [])];
  return new RTCRtpCodecParameters({
    mimeType: name === 'VP8' ? 'video/VP8' : 'video/H264',
    clockRate: 90000,
    rtcpFeedback,
    ...(name === 'H264' ? { parameters: options.parameters ?? 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f' } : {}),
    ...(options.payloadType === undefined ? {} : { payloadType: options.payloadType }),
  });
}

/** RTX; `apt` given: for that payload type at `payloadType` (subscribers), else werift numbers it. */
export function rtxCodec(params: { payloadType: number; apt: number } | null = null): RTCRtpCodecParameters {
  return new RTCRtpCodecParameters({
    mimeType: 'video/rtx',
    clockRate: 90000,
    ...(params ? { payloadType: params.payloadType, parameters: `apt=${params.apt}` } : {}),
  });
}

/**
 * Our SDP as the browser must read it: werift writes `a=ice-lite` in each media section, but it is a
 * session-level attribute (RFC 8839 §5.3) and Chromium reads it only there. Not seeing it, a
 * Chromium that answers our offer (a subscriber) takes the controlled role as towards a full
 * agent, checks with ICE-CONTROLLED, gets 487 Role Conflict from our controlled lite agent and
 * checks again as controlling one ping round later (~110 ms on loopback).
 */
export function iceLiteAtSessionLevel(sdp: string): string {
  const eol = sdp.includes('\r\n') ? '\r\n' : '\n';
  const lines = sdp.split(eol);
  if (!lines.includes('a=ice-lite')) return sdp;
  const kept = lines.filter((line) => line !== 'a=ice-lite');
  const firstMedia = kept.findIndex((line) => line.startsWith('m='));
  kept.splice(firstMedia === -1 ? kept.length : firstMedia, 0, 'a=ice-lite');
  return kept.join(eol);
}

function iceConfig(ice: IceSettings): RTCPeerConnectionConfig {
  return {
    // werift's default is a public STUN server; a server has nothing to learn from one.
    iceServers: [],
    // ICE-lite, as SFUs do (mediasoup, Janus): the browser runs the checks against our announced
    // address and we answer them. Besides saving timers, it makes trickled browser candidates
    // optional: werift's full ICE fails at once if the remote description carries no candidates.
    iceLite: true,
    // Host candidates are exactly the announced addresses: with both families off, werift gathers
    // one socket per "additional host address", bound to the listen address (mediasoup's
    // listenIp/announcedIp split, so a server behind 1:1 NAT works).
    iceUseIpv4: false,
    iceUseIpv6: false,
    iceAdditionalHostAddresses: ice.announcedIps,
    ...(ice.listenIp ? { iceInterfaceAddresses: { udp4: ice.listenIp } } : {}),
    // A mux finds its agents by this tag (the UDP mux's when both are on; the TCP mux serves it too).
    ...(ice.udpMux || ice.tcpMux ? { iceFilterCandidatePair: (ice.udpMux ?? ice.tcpMux)!.candidatePairFilter } : {}),
    ...(ice.udpMux ? {} : { icePortRange: ice.portRange }),
    iceUseTcp: ice.tcp === true || ice.tcpMux !== undefined,
    bundlePolicy: 'max-bundle',
  };
}

/**
 * Server side of a publisher's connection: receives Opus and the session's video codec.
 * `transportCc`: negotiate transport-wide congestion control, for feedback we send.
 */
export function createPublisherPeer(ice: IceSettings, video: VideoCodecName, transportCc = false): RTCPeerConnection {
  return new RTCPeerConnection({
    ...iceConfig(ice),
    // RTX lets Chromium answer NACKs (and pad) on a separate SSRC that werift unwraps, so the
    // media SSRC carries only media and sequence rewriting stays simple.
    codecs: { audio: [opusCodec(undefined, undefined, transportCc)], video: [videoCodec(video, { transportCc }), rtxCodec()] },
    headerExtensions: transportCc
      ? { audio: extensions(PUBLISHER_TWCC_AUDIO_EXTENSIONS), video: extensions(PUBLISHER_TWCC_VIDEO_EXTENSIONS) }
      : { audio: extensions(AUDIO_EXTENSIONS), video: extensions(PUBLISHER_VIDEO_EXTENSIONS) },
  });
}

/** Server side of a subscriber's connection: codecs are set per transceiver from the producers. */
export function createSubscriberPeer(ice: IceSettings): RTCPeerConnection {
  const pc = new RTCPeerConnection({
    ...iceConfig(ice),
    codecs: { audio: [opusCodec()], video: [videoCodec('VP8'), videoCodec('H264')] },
    headerExtensions: { audio: extensions(SUBSCRIBER_AUDIO_EXTENSIONS), video: extensions(SUBSCRIBER_VIDEO_EXTENSIONS) },
  });
  // werift numbers extensions across kinds (audio 1..4, video 5..9), so one URI had two ids in one
  // BUNDLE; Chromium reads a bundled transport with one map, and the audio's transport-wide
  // numbers went unread (reported lost). One id per URI on both m-lines.
  const config = (pc as unknown as { config: RTCPeerConnectionConfig }).config;
  for (const list of [config.headerExtensions?.audio, config.headerExtensions?.video]) {
    for (const e of list ?? []) e.id = SUBSCRIBER_EXTENSION_IDS[e.uri] ?? e.id;
  }
  return pc;
}

/** One-byte header extension ids towards subscribers, the same on every m-line. */
const SUBSCRIBER_EXTENSION_IDS: Record<string, number> = {
  [EXT.mid]: 1,
  [EXT.absSendTime]: 2,
  [EXT.audioLevel]: 3,
  [EXT.transportCc]: 4,
  [EXT.videoOrientation]: 5,
  [EXT.videoContentType]: 6,
};

/** Resolves once werift has gathered its host candidates (a socket bind: milliseconds). */
export async function waitForGathering(pc: RTCPeerConnection, timeoutMs = 5000): Promise<void> {
  if (pc.iceGatheringState === 'complete') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      sub.unSubscribe();
      reject(new Error('ICE gathering timed out'));
    }, timeoutMs);
    const sub = pc.iceGatheringStateChange.subscribe((state) => {
      if (state === 'complete') {
        clearTimeout(timer);
        sub.unSubscribe();
        resolve();
      }
    });
  });
}
