// The peer connections that carry a Publisher's or a Subscriber's media, one class per kind of
// session and shared by both ends (LiveKit's PCTransport is the model): a RoutedLink to the SFU,
// a RelayedLink to the other browser through the server's relay. A link owns its
// RTCPeerConnection, the offer/answer steps, the other side's candidates that arrive before its
// description, and reports connection state changes. Which tracks it carries, and what the owner
// does when it connects or fails, stay with the Publisher or Subscriber.

import type { SessionDescription } from '@colloquy/protocol';
import { candidateJson, type MediaContext } from './media-context.js';

type StateListener = (state: RTCPeerConnectionState) => void;
/** Rewrites an SDP before it is applied (Opus stereo and bitrate options, sdp.ts). */
type SdpEdit = (sdp: string) => string;

abstract class PeerLink {
  readonly pc: RTCPeerConnection;

  constructor(config: RTCConfiguration, onState: StateListener) {
    this.pc = new RTCPeerConnection(config);
    this.pc.addEventListener('connectionstatechange', () => onState(this.pc.connectionState));
  }

  /** Makes our offer (edited), applies it as ours, and returns its SDP. */
  async offer(edit?: SdpEdit): Promise<string> {
    const offer = await this.pc.createOffer();
    if (edit && offer.sdp) offer.sdp = edit(offer.sdp);
    await this.pc.setLocalDescription(offer);
    return this.pc.localDescription!.sdp;
  }

  /** Makes our answer to the applied offer (edited), applies it as ours, and returns its SDP. */
  async answer(edit?: SdpEdit): Promise<string> {
    const answer = await this.pc.createAnswer();
    if (edit && answer.sdp) answer.sdp = edit(answer.sdp);
    await this.pc.setLocalDescription(answer);
    return this.pc.localDescription!.sdp;
  }

  /** The other side's offer or answer. */
  async accept(description: RTCSessionDescriptionInit): Promise<void> {
    await this.pc.setRemoteDescription(description);
  }

  /** Whether the other side's description is applied: before that, nothing can flow. */
  get negotiated(): boolean {
    return this.pc.remoteDescription !== null;
  }

  close(): void {
    this.pc.close();
  }
}

/**
 * To the SFU. Its SDP travels in the publish/subscribe/answer requests; no candidates are
 * trickled and none awaited: the SFU is ICE-lite and learns our address from our checks.
 */
export class RoutedLink extends PeerLink {
  constructor(ctx: MediaContext, onState: StateListener) {
    super(ctx.rtcConfiguration(), onState);
  }
}

/**
 * To the other browser of one relayed subscription (its subscriber id): descriptions and
 * candidates travel through the server's `relay`; the other side's candidates that come before its
 * description wait for it.
 */
export class RelayedLink extends PeerLink {
  readonly #ctx: MediaContext;
  readonly #subscriberId: string;
  readonly #pending: RTCIceCandidateInit[] = [];

  constructor(ctx: MediaContext, subscriberId: string, onState: StateListener) {
    super(ctx.rtcConfiguration(), onState);
    this.#ctx = ctx;
    this.#subscriberId = subscriberId;
    this.pc.addEventListener('icecandidate', (e) => {
      void ctx.request('relay', { subscriberId, candidate: candidateJson(e.candidate) }).catch(() => {});
    });
  }

  /** Sends our offer or answer to the other browser. */
  async send(description: SessionDescription): Promise<void> {
    await this.#ctx.request('relay', { subscriberId: this.#subscriberId, description });
  }

  override async accept(description: RTCSessionDescriptionInit): Promise<void> {
    await super.accept(description);
    for (const candidate of this.#pending.splice(0)) await this.pc.addIceCandidate(candidate);
  }

  /** A candidate of the other browser; held until its description is applied. */
  async addCandidate(candidate: RTCIceCandidateInit): Promise<void> {
    if (this.pc.remoteDescription) await this.pc.addIceCandidate(candidate);
    else this.#pending.push(candidate);
  }
}
