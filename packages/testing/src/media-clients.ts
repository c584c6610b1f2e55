// Node WebRTC clients (werift) that talk to the SFU like a browser would: a publisher that sends
// real VP8 and Opus at real-time pace and answers PLIs with keyframes, and a subscriber that
// records every RTP packet it gets. For media tests and benchmarks without a browser.

import {
  MediaStreamTrack,
  RTCPeerConnection,
  RTCRtpCodecParameters,
  RTCRtpHeaderExtensionParameters,
  RtpHeader,
  RtpPacket,
  useNACK,
  usePLI,
  useREMB,
  type RTCRtpTransceiver,
} from 'werift';
import { RTP_HEADER_EXTENSIONS } from '@colloquy/protocol';
import { guardDtlsHandshakes } from '@colloquy/sfu/dtls-handshake-guard';
import { packetizeVp8, type TestMedia } from './media-sources.js';

// Our werift publishers are the DTLS server towards the SFU: the same guard as the SFU's own (a
// client flight read twice is taken once), or a loaded machine now and then leaves one unconnected.
guardDtlsHandshakes();

/** The header-extension URIs: the one table the SFU uses too (@colloquy/protocol). */
export { RTP_HEADER_EXTENSIONS as EXT_URI } from '@colloquy/protocol';
const EXT_URI = RTP_HEADER_EXTENSIONS;

function clientConfig(options: { audioExtensions: string[]; videoExtensions: string[]; inboundLossPercent?: number; outboundLossPercent?: number; rtx?: boolean }) {
  return {
    iceServers: [],
    iceUseIpv4: false,
    iceUseIpv6: false,
    iceAdditionalHostAddresses: ['127.0.0.1'],
    iceInterfaceAddresses: { udp4: '127.0.0.1' },
    bundlePolicy: 'max-bundle' as const,
    codecs: {
      audio: [new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2 })],
      video: [
        new RTCRtpCodecParameters({ mimeType: 'video/VP8', clockRate: 90000, rtcpFeedback: [useNACK(), usePLI(), useREMB()] }),
        new RTCRtpCodecParameters({
          mimeType: 'video/H264',
          clockRate: 90000,
          rtcpFeedback: [useNACK(), usePLI(), useREMB()],
          parameters: 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f',
        }),
        // RTX (RFC 4588) when asked: werift unwraps what arrives on the RTX stream to the media track.
        ...(options.rtx ? [new RTCRtpCodecParameters({ mimeType: 'video/rtx', clockRate: 90000 })] : []),
      ],
    },
    headerExtensions: {
      audio: options.audioExtensions.map((uri) => new RTCRtpHeaderExtensionParameters({ uri })),
      video: options.videoExtensions.map((uri) => new RTCRtpHeaderExtensionParameters({ uri })),
    },
    // werift drops an inbound packet when loss/100 < random(): "95" drops about 5 %.
    ...(options.inboundLossPercent ? { debug: { inboundPacketLoss: 100 - options.inboundLossPercent } } : {}),
    // The same for what it sends (after its sender kept the packet for NACKs, so it can resend it).
    ...(options.outboundLossPercent ? { debug: { outboundPacketLoss: 100 - options.outboundLossPercent } } : {}),
  };
}

async function gathered(pc: RTCPeerConnection): Promise<void> {
  if (pc.iceGatheringState === 'complete') return;
  await pc.iceGatheringStateChange.watch((state) => state === 'complete', 5000);
}

export async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs: number, what = 'condition'): Promise<void> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Resolves with `count()` once it stopped rising for `quietMs` (what was in flight has arrived, however
 * late a loaded machine delivers it); fails if it keeps rising for `timeoutMs` (the media did not stop).
 */
export async function waitUntilQuiet(count: () => number, what: string, quietMs = 300, timeoutMs = 10_000): Promise<number> {
  const start = Date.now();
  for (let last = -1; ; ) {
    const now = count();
    if (now === last) return now;
    if (Date.now() - start > timeoutMs) throw new Error(`${what} kept arriving for ${timeoutMs} ms`);
    last = now;
    await new Promise((r) => setTimeout(r, quietMs));
  }
}

export interface NodePublisherOptions {
  media: TestMedia;
  audio?: boolean;
  video?: boolean;
  /** Order decides the ids the publisher offers (werift numbers them 1, 2, … audio first). */
  audioExtensions?: string[];
  videoExtensions?: string[];
  /** Put a video-orientation extension (this byte) on every video packet. */
  videoOrientation?: number;
  /** Put an audio-level extension (this byte) on every audio packet. */
  audioLevel?: number;
  /** Drop about this share (%) of what it sends, at random (werift's debug option): the SFU's NACKs bring them back. */
  outboundLossPercent?: number;
}

/** Publishes real VP8 + Opus. `negotiate` gets our offer and returns the SFU's answer. */
export class NodePublisher {
  readonly pc: RTCPeerConnection;
  pliReceived = 0;
  nackReceived = 0;
  videoPacketsSent = 0;
  audioPacketsSent = 0;
  keyFramesSent = 0;
  readonly #options: NodePublisherOptions;
  #video: RTCRtpTransceiver | undefined;
  #audio: RTCRtpTransceiver | undefined;
  #timers: NodeJS.Timeout[] = [];
  #frame = 0;
  #forceKeyFrame = false;
  #videoSeq = 1000;
  #videoTs = 0;
  #audioSeq = 5000;
  #audioTs = 0;
  #audioIndex = 0;

  constructor(options: NodePublisherOptions) {
    this.#options = options;
    this.pc = new RTCPeerConnection(
      clientConfig({
        audioExtensions: options.audioExtensions ?? [EXT_URI.audioLevel, EXT_URI.mid],
        videoExtensions: options.videoExtensions ?? [EXT_URI.videoOrientation, EXT_URI.absSendTime, EXT_URI.mid, EXT_URI.transportCc],
        ...(options.outboundLossPercent ? { outboundLossPercent: options.outboundLossPercent } : {}),
      }),
    );
  }

  /** Offers, takes the answer, waits for ICE and DTLS: up to 20 s by default, as the SDK allows its subscribers (two suites at once on 2 cores took over 10 s). */
  async connect(negotiate: (offer: string) => Promise<string>, timeoutMs = 20_000): Promise<void> {
    if (this.#options.audio !== false) {
      this.#audio = this.pc.addTransceiver(new MediaStreamTrack({ kind: 'audio' }), { direction: 'sendonly' });
    }
    if (this.#options.video !== false) {
      this.#video = this.pc.addTransceiver(new MediaStreamTrack({ kind: 'video' }), { direction: 'sendonly' });
      this.#video.sender.onPictureLossIndication.subscribe(() => {
        this.pliReceived++;
        this.#forceKeyFrame = true;
      });
      this.#video.sender.onGenericNack.subscribe(() => this.nackReceived++);
    }
    await this.pc.setLocalDescription(await this.pc.createOffer());
    await gathered(this.pc);
    const answer = await negotiate(this.pc.localDescription!.sdp);
    await this.pc.setRemoteDescription({ type: 'answer', sdp: answer });
    await waitUntil(() => this.pc.connectionState === 'connected', timeoutMs, 'publisher connected');
  }

  /** Negotiated id of an extension on the publisher side. */
  extensionId(kind: 'audio' | 'video', uri: string): number | undefined {
    const t = kind === 'audio' ? this.#audio : this.#video;
    return t?.headerExtensions.find((e) => e.uri === uri)?.id;
  }

  /** Starts sending in real time: a video frame every 33 ms, an audio packet every 20 ms. */
  start(): void {
    if (this.#video) this.#timers.push(setInterval(() => this.sendVideoFrame(), 1000 / 30));
    if (this.#audio) this.#timers.push(setInterval(() => this.sendAudioPacket(), 20));
  }

  stop(): void {
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
  }

  sendVideoFrame(): void {
    const t = this.#video;
    if (!t) return;
    const frames = this.#options.media.vp8;
    if (this.#forceKeyFrame) {
      // Answer a PLI as an encoder would: the next frame is a keyframe (the file's first).
      this.#forceKeyFrame = false;
      this.#frame = 0;
    }
    const frame = frames[this.#frame % frames.length]!;
    this.#frame++;
    if (frame.keyFrame) this.keyFramesSent++;
    this.#videoTs = (this.#videoTs + 3000) >>> 0;
    const payloads = packetizeVp8(frame.data);
    const orientationId = this.#options.videoOrientation === undefined ? undefined : this.extensionId('video', EXT_URI.videoOrientation);
    payloads.forEach((payload, i) => {
      const header = new RtpHeader({
        payloadType: t.codecs[0]!.payloadType,
        sequenceNumber: this.#videoSeq,
        timestamp: this.#videoTs,
        marker: i === payloads.length - 1,
        extensions: orientationId ? [{ id: orientationId, payload: Buffer.from([this.#options.videoOrientation!]) }] : [],
      });
      this.#videoSeq = (this.#videoSeq + 1) & 0xffff;
      void t.sender.sendRtp(new RtpPacket(header, payload));
      this.videoPacketsSent++;
    });
  }

  sendAudioPacket(): void {
    const t = this.#audio;
    if (!t) return;
    const packets = this.#options.media.opus;
    const payload = packets[this.#audioIndex++ % packets.length]!;
    this.#audioTs = (this.#audioTs + 960) >>> 0;
    const levelId = this.#options.audioLevel === undefined ? undefined : this.extensionId('audio', EXT_URI.audioLevel);
    const header = new RtpHeader({
      payloadType: t.codecs[0]!.payloadType,
      sequenceNumber: this.#audioSeq,
      timestamp: this.#audioTs,
      marker: false,
      extensions: levelId ? [{ id: levelId, payload: Buffer.from([this.#options.audioLevel!]) }] : [],
    });
    this.#audioSeq = (this.#audioSeq + 1) & 0xffff;
    void t.sender.sendRtp(new RtpPacket(header, payload));
    this.audioPacketsSent++;
  }

  async close(): Promise<void> {
    this.stop();
    await this.pc.close();
  }
}

export interface ReceivedPacket {
  kind: 'audio' | 'video';
  ssrc: number;
  payloadType: number;
  sequenceNumber: number;
  timestamp: number;
  marker: boolean;
  extensions: { id: number; payload: Buffer }[];
  /** VP8 keyframe start (descriptor S=1, PID 0, P=0). */
  keyFrameStart: boolean;
  payloadLength: number;
  at: number;
}

/** Answers the SFU's offer and records what arrives. */
export class NodeSubscriber {
  readonly pc: RTCPeerConnection;
  readonly packets: ReceivedPacket[] = [];
  readonly #maxPackets: number;

  /** `rtx`: negotiate RTX for video (retransmissions then come on the RTX stream, unwrapped here). */
  constructor(options: { inboundLossPercent?: number; maxPackets?: number; rtx?: boolean } = {}) {
    this.#maxPackets = options.maxPackets ?? 20_000;
    this.pc = new RTCPeerConnection(
      clientConfig({
        audioExtensions: [EXT_URI.mid, EXT_URI.absSendTime, EXT_URI.audioLevel],
        videoExtensions: [EXT_URI.mid, EXT_URI.absSendTime, EXT_URI.videoOrientation],
        ...(options.inboundLossPercent ? { inboundLossPercent: options.inboundLossPercent } : {}),
        ...(options.rtx ? { rtx: true } : {}),
      }),
    );
    this.pc.onTrack.subscribe((track) => {
      track.onReceiveRtp.subscribe((rtp) => {
        if (this.packets.length >= this.#maxPackets) return;
        const h = rtp.header;
        const p = rtp.payload;
        this.packets.push({
          kind: track.kind as 'audio' | 'video',
          ssrc: h.ssrc,
          payloadType: h.payloadType,
          sequenceNumber: h.sequenceNumber,
          timestamp: h.timestamp,
          marker: h.marker,
          extensions: h.extensions.map((e) => ({ id: e.id, payload: Buffer.from(e.payload) })),
          keyFrameStart: track.kind === 'video' && p.length > 3 && (p[0]! & 0x17) === 0x10 && (p[descriptorLength(p)]! & 1) === 0,
          payloadLength: p.length,
          at: performance.now(),
        });
      });
    });
  }

  /** Takes the SFU's offer, returns our answer (ICE candidates included). */
  async answer(offer: string): Promise<string> {
    await this.pc.setRemoteDescription({ type: 'offer', sdp: offer });
    await this.pc.setLocalDescription(await this.pc.createAnswer());
    await gathered(this.pc);
    return this.pc.localDescription!.sdp;
  }

  async connected(timeoutMs = 20_000): Promise<void> {
    await waitUntil(() => this.pc.connectionState === 'connected', timeoutMs, 'subscriber connected');
  }

  /** Negotiated id of an extension on the subscriber side. */
  extensionId(kind: 'audio' | 'video', uri: string): number | undefined {
    return this.pc.getTransceivers().find((t) => t.kind === kind)?.headerExtensions.find((e) => e.uri === uri)?.id;
  }

  of(kind: 'audio' | 'video'): ReceivedPacket[] {
    return this.packets.filter((p) => p.kind === kind);
  }

  async close(): Promise<void> {
    await this.pc.close();
  }
}

function descriptorLength(p: Buffer): number {
  if (!(p[0]! & 0x80)) return 1;
  const x = p[1]!;
  let i = 2;
  if (x & 0x80) i += p[i]! & 0x80 ? 2 : 1;
  if (x & 0x40) i += 1;
  if (x & 0x30) i += 1;
  return i;
}
