// PeerTransport: what a publisher's and a subscriber's transport share as the server end of one
// werift peer connection: its id and state (mapped from werift's connection state, emitted as
// `stateChange`), trickled remote candidates, the local negotiation that frees its sockets, the
// common part of `dump()`, and the close cascade (the kind's own teardown, then the peer
// connection, then whatever a late socket bind left). Each kind adds its media: producers and REMB
// (publisher-transport.ts), consumers, estimate and allocator (subscriber-transport.ts).

import type { RTCPeerConnection } from 'werift';
import type { Logger } from '../logger.js';
import { TypedEmitter, type EventMap } from '../typed-emitter.js';
import { srtpDump, type SrtpImplementation } from './srtp-path.js';
import { addRemoteCandidate, LocalNegotiation, subscribeState, type Subscription } from './transport-common.js';
import type { IceCandidateInit, TransportState } from './types.js';

/** The events every transport has; each kind adds its own. */
export type PeerTransportEvents = {
  stateChange: [TransportState];
  close: [];
};

/** The candidate lines of a local description (dump). */
export function candidateLines(sdp: string | undefined): string[] {
  return sdp ? sdp.split(/\r?\n/).filter((l) => l.startsWith('a=candidate:')) : [];
}

export abstract class PeerTransport<E extends EventMap & PeerTransportEvents> extends TypedEmitter<E> {
  readonly id: string;
  abstract readonly kind: 'publisher' | 'subscriber';
  protected readonly pc: RTCPeerConnection;
  protected readonly logger: Logger;
  protected readonly srtp: SrtpImplementation;
  protected readonly negotiation: LocalNegotiation;
  /** werift event subscriptions of this transport (its own and the kind's), ended at close. */
  protected readonly subscriptions: Subscription[] = [];
  #state: TransportState = 'new';
  #closing: Promise<void> | undefined;

  protected constructor(options: { id: string; pc: RTCPeerConnection; srtp: SrtpImplementation; logger: Logger }) {
    super();
    this.id = options.id;
    this.pc = options.pc;
    this.srtp = options.srtp;
    this.logger = options.logger;
    this.negotiation = new LocalNegotiation(this.pc, () => this.closed);
    this.subscriptions.push(subscribeState(this.pc, (state) => this.#onState(state)));
  }

  get state(): TransportState {
    return this.#state;
  }

  get closed(): boolean {
    return this.#closing !== undefined;
  }

  async addRemoteCandidate(candidate: IceCandidateInit | null | undefined): Promise<void> {
    if (this.closed) return;
    await addRemoteCandidate(this.pc, candidate);
  }

  /** The kind's reaction to a new connection state, before `stateChange` is emitted. */
  protected abstract onStateChange(state: TransportState): void;

  /** The kind's own teardown (timers, producers or consumers), first thing in close(); synchronous. */
  protected abstract closeMedia(): void;

  /** dump(): the shared fields around the kind's own (which come between state and srtp). */
  protected dumpWith(own: Record<string, unknown>): Record<string, unknown> {
    return {
      id: this.id,
      kind: this.kind,
      state: this.#state,
      closed: this.closed,
      ...own,
      srtp: srtpDump(this.pc.dtlsTransports[0]),
      localCandidates: candidateLines(this.pc.localDescription?.sdp),
    };
  }

  /** Closes the kind's media, then the peer connection and its sockets. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.closeMedia();
      for (const sub of this.subscriptions.splice(0)) sub.unSubscribe();
      this.#state = 'closed';
      this.emit('close');
      this.removeAllListeners();
      await this.pc.close().catch((err: unknown) => this.logger.warn({ err }, `${this.kind} peer close failed`));
      await this.negotiation.settle();
    })();
    return this.#closing;
  }

  #onState(state: TransportState): void {
    if (this.closed || state === this.#state) return;
    this.#state = state;
    this.onStateChange(state);
    this.emit('stateChange', state);
  }
}
