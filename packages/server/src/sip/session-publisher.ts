// The SIP participant's stream in the session: a werift peer connection inside the server that
// publishes one Opus track to the session's SFU exactly as a browser would (offer, the SFU's answer,
// ICE and DTLS on the machine's own addresses). So the phone's stream is an ordinary Stream: live
// when its transport connects, listed by REST, subscribed, archived, muted and shown in the
// Inspector like any other, with no special path in media/.

import { networkInterfaces } from 'node:os';
import { MediaStreamTrack, RTCPeerConnection, RTCRtpCodecParameters, RtpHeader, RtpPacket, type RTCRtpTransceiver } from 'werift';

export const OPUS_PAYLOAD_TYPE = 111;

export class SessionPublisher {
  readonly #pc: RTCPeerConnection;
  #transceiver: RTCRtpTransceiver | undefined;
  #seq = Math.floor(Math.random() * 0xffff);
  #timestamp = Math.floor(Math.random() * 0xffffffff) >>> 0;
  #closed = false;

  /**
   * @param sfuAddress the address the SFU announces in its candidates. When it is one of this
   *   machine's, we gather on that one address alone: a single candidate pair (werift's DTLS stalls
   *   now and then when ICE has several pairs to choose from on a loaded machine).
   */
  constructor(sfuAddress: string) {
    const local = isLocalAddress(sfuAddress);
    this.#pc = new RTCPeerConnection({
      // Never STUN or TURN: the SFU is on this machine (werift's iceServers must stay empty).
      iceServers: [],
      iceUseIpv6: false,
      // werift leaves loopback out of its host candidates unless told.
      ...(local ? { iceInterfaceAddresses: { udp4: sfuAddress }, iceAdditionalHostAddresses: [sfuAddress] } : {}),
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

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pc.close();
  }
}

function isLocalAddress(address: string): boolean {
  if (address.startsWith('127.')) return true;
  return Object.values(networkInterfaces()).some((list) => (list ?? []).some((i) => i.address === address));
}
