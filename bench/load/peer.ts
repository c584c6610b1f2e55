// werift peer connections as the load tool's clients: VP8 + Opus with NACK/PLI/REMB feedback, the
// header extensions a browser offers, and ICE on exactly one address (127.0.0.1 on this machine, or
// the test address of the benchmark's network namespace; never a public STUN server). A subscriber
// that sends transport feedback as a browser does (`transportCc`) also takes the transport-wide
// sequence number and RTX (the SFU probes its downlink with padding on RTX).

import {
  RTCPeerConnection,
  RTCRtpCodecParameters,
  RTCRtpHeaderExtensionParameters,
  useNACK,
  usePLI,
  useREMB,
  useTWCC,
} from 'werift';
import { RTP_HEADER_EXTENSIONS } from '@colloquy/protocol';
import { guardDtlsHandshakes } from '@colloquy/sfu/dtls-handshake-guard';

// The load tool's publishers are the DTLS server towards the SFU: the SFU's guard (a client flight
// read twice is taken once), or a starved machine leaves some unconnected.
guardDtlsHandshakes();

const EXT_URI = RTP_HEADER_EXTENSIONS;

export function createPeer(bindIp: string, options: { transportCc?: boolean } = {}): RTCPeerConnection {
  const twcc = options.transportCc === true;
  const transportCc = twcc ? [new RTCRtpHeaderExtensionParameters({ uri: EXT_URI.transportCc })] : [];
  return new RTCPeerConnection({
    iceServers: [],
    // No interface scan: exactly one host candidate, on bindIp.
    iceUseIpv4: false,
    iceUseIpv6: false,
    iceAdditionalHostAddresses: [bindIp],
    iceInterfaceAddresses: { udp4: bindIp },
    bundlePolicy: 'max-bundle',
    codecs: {
      audio: [new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2, ...(twcc ? { rtcpFeedback: [useTWCC()] } : {}) })],
      video: [
        new RTCRtpCodecParameters({ mimeType: 'video/VP8', clockRate: 90000, rtcpFeedback: [useNACK(), usePLI(), useREMB(), ...(twcc ? [useTWCC()] : [])] }),
        ...(twcc ? [new RTCRtpCodecParameters({ mimeType: 'video/rtx', clockRate: 90000 })] : []),
      ],
    },
    headerExtensions: {
      audio: [new RTCRtpHeaderExtensionParameters({ uri: EXT_URI.mid }), new RTCRtpHeaderExtensionParameters({ uri: EXT_URI.audioLevel }), ...transportCc],
      video: [new RTCRtpHeaderExtensionParameters({ uri: EXT_URI.mid }), new RTCRtpHeaderExtensionParameters({ uri: EXT_URI.absSendTime }), ...transportCc],
    },
  });
}

export async function gathered(pc: RTCPeerConnection, timeoutMs = 5000): Promise<void> {
  if (pc.iceGatheringState === 'complete') return;
  await pc.iceGatheringStateChange.watch((state) => state === 'complete', timeoutMs);
}

/** Waits for the peer connection; Colloquy gives up on a transport after 20 s, so wait a little longer. */
export async function connected(pc: RTCPeerConnection, timeoutMs = 25_000): Promise<void> {
  const start = Date.now();
  while (pc.connectionState !== 'connected') {
    if (pc.connectionState === 'failed' || pc.connectionState === 'closed') throw new Error(`peer connection ${pc.connectionState}`);
    if (Date.now() - start > timeoutMs) throw new Error(`peer connection not connected after ${timeoutMs} ms (${pc.connectionState})`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Payload type -> kind and clock rate, from an SDP's rtpmap lines (to read streams without werift's tracks). */
export function payloadTypes(sdp: string): Map<number, { kind: 'audio' | 'video'; clockRate: number; codec: string }> {
  const map = new Map<number, { kind: 'audio' | 'video'; clockRate: number; codec: string }>();
  let kind: 'audio' | 'video' | null = null;
  for (const line of sdp.split(/\r?\n/)) {
    if (line.startsWith('m=')) kind = line.startsWith('m=audio') ? 'audio' : line.startsWith('m=video') ? 'video' : null;
    const m = /^a=rtpmap:(\d+) ([^/]+)\/(\d+)/.exec(line);
    if (m && kind) {
      const codec = m[2]!.toUpperCase();
      // Only the media codecs: retransmissions, RED and FEC are not streams of their own here.
      if (codec === 'VP8' || codec === 'OPUS') map.set(Number(m[1]), { kind, clockRate: Number(m[3]), codec });
    }
  }
  return map;
}

/** The id an SDP maps the transport-wide sequence number to (its first such extmap), or 0 when none. */
export function transportCcId(sdp: string): number {
  const uri = EXT_URI.transportCc.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const m = new RegExp(`^a=extmap:(\\d+)(?:/\\w+)? ${uri}\\s*$`, 'm').exec(sdp);
  return m ? Number(m[1]) : 0;
}
