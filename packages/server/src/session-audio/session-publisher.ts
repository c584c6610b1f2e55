// A server-side participant's stream in the session (a SIP phone, an Audio Connector's WebSocket):
// a werift peer connection inside the server that publishes one Opus track (and, for a SIP video
// call, one VP8 track) to the session's SFU exactly as a browser would (offer, the SFU's answer, ICE and DTLS on the machine's
// own addresses). So that stream is an ordinary Stream: live when its transport connects, listed by
// REST, subscribed, archived, muted and shown in the Inspector like any other, with no special path
// in the SFU. `publishAudioStream` does the whole publish (with retries); `sendPcm` takes 48 kHz PCM
// in any chunk size and sends it as 20 ms Opus packets. `sendVideoRtp` forwards VP8 RTP packets that
// are already packetized (a phone's), renumbered onto the track's own sequence and timestamps; the
// SFU's keyframe requests (PLI, FIR) come back through `onKeyframeRequest`.

import { networkInterfaces } from 'node:os';
import OpusScript from 'opusscript';
import { MediaStreamTrack, RTCPeerConnection, RTCRtpCodecParameters, RtcpPayloadSpecificFeedback, RtpHeader, RtpPacket, useNACK, usePLI, type RTCRtpTransceiver } from 'werift';
import { ColloquyError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Connection, SessionManager, Stream } from '../sessions/session-manager.js';
import { FRAME_48K } from './pcm.js';

export const OPUS_PAYLOAD_TYPE = 111;
export const VP8_PAYLOAD_TYPE = 96;
/** RTCP payload-specific feedback FMT of a Full Intra Request (RFC 5104 §4.3.1). */
const FIR_FMT = 4;

/** Where a forwarded video packet's numbering starts over (a new SSRC from the source). */
interface VideoNumbering {
  sourceSsrc: number;
  seqOffset: number;
  timestampOffset: number;
}

export class SessionPublisher {
  readonly #pc: RTCPeerConnection;
  #transceiver: RTCRtpTransceiver | undefined;
  #seq = Math.floor(Math.random() * 0xffff);
  #timestamp = Math.floor(Math.random() * 0xffffffff) >>> 0;
  #closed = false;
  #encoder: OpusScript | null = null;
  /** 48 kHz samples waiting for a full 20 ms frame. */
  #pending = new Int16Array(FRAME_48K * 4);
  #pendingLength = 0;
  /** Opus frames encoded by sendPcm. */
  framesSent = 0;
  readonly #video: boolean;
  #videoTransceiver: RTCRtpTransceiver | undefined;
  #videoNumbering: VideoNumbering | null = null;
  /** The next sequence number and the last timestamp of the video track (continuous across source SSRCs). */
  #videoSeq = Math.floor(Math.random() * 0xffff);
  #videoTimestamp = Math.floor(Math.random() * 0xffffffff) >>> 0;
  /** Video packets forwarded, and keyframe requests (PLI, FIR) from the SFU. */
  readonly videoStats = { packetsSent: 0, keyframeRequests: 0 };
  /** The SFU asked for a keyframe of the video track (PLI or FIR). */
  onKeyframeRequest: (() => void) | null = null;

  /**
   * @param sfuAddress the address the SFU announces in its candidates. When it is one of this
   *   machine's, we gather on that one address alone: a single candidate pair (werift's DTLS stalls
   *   now and then when ICE has several pairs to choose from on a loaded machine).
   */
  constructor(sfuAddress: string, options: { video?: boolean } = {}) {
    this.#video = options.video === true;
    const local = isLocalAddress(sfuAddress);
    this.#pc = new RTCPeerConnection({
      // Never STUN or TURN: the SFU is on this machine (werift's iceServers must stay empty).
      iceServers: [],
      iceUseIpv6: false,
      // werift leaves loopback out of its host candidates unless told.
      ...(local ? { iceInterfaceAddresses: { udp4: sfuAddress }, iceAdditionalHostAddresses: [sfuAddress] } : {}),
      bundlePolicy: 'max-bundle',
      codecs: {
        audio: [new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2, payloadType: OPUS_PAYLOAD_TYPE })],
        video: this.#video ? [new RTCRtpCodecParameters({ mimeType: 'video/VP8', clockRate: 90000, payloadType: VP8_PAYLOAD_TYPE, rtcpFeedback: [useNACK(), usePLI()] })] : [],
      },
    });
  }

  /** Our offer, once ICE gathering is complete (no trickle towards our own SFU). */
  async createOffer(): Promise<string> {
    this.#transceiver = this.#pc.addTransceiver(new MediaStreamTrack({ kind: 'audio' }), { direction: 'sendonly' });
    if (this.#video) {
      const t = this.#pc.addTransceiver(new MediaStreamTrack({ kind: 'video' }), { direction: 'sendonly' });
      this.#videoTransceiver = t;
      // werift answers NACKs from its own send history; keyframe requests are the source's business.
      t.sender.onPictureLossIndication.subscribe(() => this.#keyframeRequested());
      t.sender.onRtcp.subscribe((rtcp) => {
        if (rtcp.type === RtcpPayloadSpecificFeedback.type && rtcp.feedback.count === FIR_FMT) this.#keyframeRequested();
      });
    }
    await this.#pc.setLocalDescription(await this.#pc.createOffer());
    if (this.#pc.iceGatheringState !== 'complete') {
      await this.#pc.iceGatheringStateChange.watch((state) => state === 'complete', 10_000);
    }
    return this.#pc.localDescription!.sdp;
  }

  /** True once DTLS is up (within `timeoutMs`), false when it did not get there. */
  async waitConnected(timeoutMs: number): Promise<boolean> {
    if (this.#pc.connectionState === 'connected') return true;
    try {
      await this.#pc.connectionStateChange.watch((state) => state === 'connected', timeoutMs);
      return true;
    } catch {
      return false;
    }
  }

  /** The peer connection's states, for logs and tests. */
  get state(): { connection: string; ice: string } {
    return { connection: this.#pc.connectionState, ice: this.#pc.iceConnectionState };
  }

  async acceptAnswer(sdp: string): Promise<void> {
    await this.#pc.setRemoteDescription({ type: 'answer', sdp });
  }

  /** Sends one Opus packet of `samples` 48 kHz samples (960 for 20 ms). */
  sendOpus(payload: Buffer, samples: number): void {
    const t = this.#transceiver;
    // Nothing before DTLS is up: werift's sender would push RTP into the handshake (which then
    // stalls now and then on a loaded machine), and the SFU could not decrypt it anyway.
    if (!t || this.#closed || this.#pc.connectionState !== 'connected') return;
    const header = new RtpHeader({
      payloadType: t.codecs[0]?.payloadType ?? OPUS_PAYLOAD_TYPE,
      sequenceNumber: this.#seq,
      timestamp: this.#timestamp,
      marker: false,
    });
    this.#seq = (this.#seq + 1) & 0xffff;
    this.#timestamp = (this.#timestamp + samples) >>> 0;
    void t.sender.sendRtp(new RtpPacket(header, payload));
  }

  /**
   * Forwards one already-packetized VP8 RTP packet (a phone's) on the video track. Its sequence
   * number and timestamp are moved onto the track's own numbering by a per-source offset, so gaps
   * (losses the SFU may NACK) and frame boundaries survive, and a new source SSRC continues the track
   * without a jump. Dropped before DTLS is up, like audio.
   */
  sendVideoRtp(packet: { ssrc: number; sequenceNumber: number; timestamp: number; marker: boolean; payload: Buffer }): void {
    const t = this.#videoTransceiver;
    if (!t || this.#closed || this.#pc.connectionState !== 'connected') return;
    let n = this.#videoNumbering;
    if (n === null || n.sourceSsrc !== packet.ssrc) {
      // The new source follows on: next sequence number, and a timestamp one 30 fps frame later.
      n = { sourceSsrc: packet.ssrc, seqOffset: (this.#videoSeq - packet.sequenceNumber) & 0xffff, timestampOffset: (this.#videoTimestamp + 3000 - packet.timestamp) >>> 0 };
      this.#videoNumbering = n;
    }
    const sequenceNumber = (packet.sequenceNumber + n.seqOffset) & 0xffff;
    const timestamp = (packet.timestamp + n.timestampOffset) >>> 0;
    if (((sequenceNumber - this.#videoSeq) & 0xffff) < 0x8000) this.#videoSeq = (sequenceNumber + 1) & 0xffff;
    this.#videoTimestamp = timestamp;
    const header = new RtpHeader({ payloadType: t.codecs[0]?.payloadType ?? VP8_PAYLOAD_TYPE, sequenceNumber, timestamp, marker: packet.marker });
    this.videoStats.packetsSent++;
    void t.sender.sendRtp(new RtpPacket(header, packet.payload));
  }

  #keyframeRequested(): void {
    this.videoStats.keyframeRequests++;
    this.onKeyframeRequest?.();
  }

  /**
   * Sends 48 kHz mono PCM (any length): it is cut into 20 ms frames, Opus-encoded and sent. A
   * backlog (a burst after a pause) is capped at two frames, so what the session hears stays live.
   */
  sendPcm(pcm48: Int16Array): void {
    if (this.#closed) return;
    this.#encoder ??= new OpusScript(48000, 1, OpusScript.Application.VOIP);
    if (this.#pendingLength + pcm48.length > this.#pending.length) {
      const bigger = new Int16Array(Math.max(this.#pending.length * 2, this.#pendingLength + pcm48.length));
      bigger.set(this.#pending.subarray(0, this.#pendingLength));
      this.#pending = bigger;
    }
    this.#pending.set(pcm48, this.#pendingLength);
    this.#pendingLength += pcm48.length;
    let offset = 0;
    while (this.#pendingLength - offset >= FRAME_48K) {
      const frame = this.#pending.slice(offset, offset + FRAME_48K);
      offset += FRAME_48K;
      this.sendOpus(this.#encoder.encode(Buffer.from(frame.buffer), FRAME_48K), FRAME_48K);
      this.framesSent++;
    }
    if (offset > 0) {
      this.#pending.copyWithin(0, offset, this.#pendingLength);
      this.#pendingLength -= offset;
    }
    if (this.#pendingLength > FRAME_48K * 2) this.#pendingLength = 0;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#encoder?.delete();
    this.#encoder = null;
    await this.#pc.close();
  }
}

function isLocalAddress(address: string): boolean {
  if (address.startsWith('127.')) return true;
  return Object.values(networkInterfaces()).some((list) => (list ?? []).some((i) => i.address === address));
}

/** Attempts at publishing, and how long each may take to connect. */
const PUBLISH_ATTEMPTS = 3;
const PUBLISH_ATTEMPT_MS = 4000;

/**
 * Publishes a stream for `connection` (a server-side participant): audio, and a camera video track
 * when `video` is set, and waits for its
 * media transport, so the stream is live when this resolves. werift's DTLS client sometimes stalls
 * when a loaded event loop makes it see a duplicate HelloVerifyRequest; then that attempt is dropped
 * and a new one made (3 attempts of 4 s). Rejects with a ColloquyError (500) when none connects.
 */
export async function publishAudioStream(params: {
  sessions: SessionManager;
  connection: Connection;
  /** The address the SFU announces in its candidates (the publisher connects to it). */
  sfuAddress: string;
  name: string;
  /** A VP8 camera track too (its packets come through `sendVideoRtp`). */
  video?: boolean;
  logger: Logger;
}): Promise<{ publisher: SessionPublisher; stream: Stream }> {
  const video = params.video === true;
  for (let attempt = 1; ; attempt++) {
    const publisher = new SessionPublisher(params.sfuAddress, { video });
    let stream: Stream | undefined;
    try {
      const offer = await publisher.createOffer();
      const published = await params.sessions.publish(params.connection, { name: params.name, videoType: video ? 'camera' : null, hasAudio: true, hasVideo: video, videoDimensions: null, frameRate: null, sdp: offer });
      stream = published.stream;
      if (published.sdp === undefined) throw new Error('the SFU gave no answer');
      await publisher.acceptAnswer(published.sdp);
      if (await publisher.waitConnected(PUBLISH_ATTEMPT_MS)) return { publisher, stream };
      params.logger.warn({ attempt, state: publisher.state }, 'server-side audio stream did not connect: trying again');
    } catch (err) {
      await publisher.close();
      if (stream && !stream.closed) stream.close('networkDisconnected');
      throw err;
    }
    await publisher.close();
    if (!stream.closed) stream.close('networkDisconnected');
    if (attempt >= PUBLISH_ATTEMPTS) throw new ColloquyError('internal', 'The server-side participant could not publish its stream into the session', 500);
  }
}
