// The SIP participant's stream in the session: a werift peer connection inside the server that
// publishes one Opus track to the session's SFU exactly as a browser would (offer, the SFU's answer,
// ICE and DTLS on the machine's own addresses). So the phone's stream is an ordinary Stream: live
// when its transport connects, listed by REST, subscribed, archived, muted and shown in the
// Inspector like any other, with no special path in media/.

import { MediaStreamTrack, RTCPeerConnection, RTCRtpCodecParameters, RtpHeader, RtpPacket, type RTCRtpTransceiver } from 'werift';

export const OPUS_PAYLOAD_TYPE = 111;

export class SessionPublisher {
  readonly #pc: RTCPeerConnection;
  #transceiver: RTCRtpTransceiver | undefined;
  #seq = Math.floor(Math.random() * 0xffff);
  #timestamp = Math.floor(Math.random() * 0xffffffff) >>> 0;
  #closed = false;

  constructor() {
    this.#pc = new RTCPeerConnection({
      // Never STUN or TURN: the SFU is on this machine (werift's iceServers must stay empty).
      iceServers: [],
      iceUseIpv6: false,
      // The SFU is in this process: loopback reaches it whatever interfaces the machine has.
      iceAdditionalHostAddresses: ['127.0.0.1'],
      bundlePolicy: 'max-bundle',
      codecs: { audio: [new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2, payloadType: OPUS_PAYLOAD_TYPE })], video: [] },
    });
  }

  /** Our offer, once ICE gathering is complete (no trickle towards our own SFU). */
  async createOffer(): Promise<string> {
    this.#transceiver = this.#pc.addTransceiver(new MediaStreamTrack({ kind: 'audio' }), { direction: 'sendonly' });
    await this.#pc.setLocalDescription(await this.#pc.createOffer());
    if (this.#pc.iceGatheringState !== 'complete') {
      await this.#pc.iceGatheringStateChange.watch((state) => state === 'complete', 10_000);
    }
    return this.#pc.localDescription!.sdp;
  }

  async acceptAnswer(sdp: string): Promise<void> {
    await this.#pc.setRemoteDescription({ type: 'answer', sdp });
  }

  /** Sends one Opus packet of `samples` 48 kHz samples (960 for 20 ms). */
  sendOpus(payload: Buffer, samples: number): void {
    const t = this.#transceiver;
    if (!t || this.#closed) return;
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

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pc.close();
  }
}
