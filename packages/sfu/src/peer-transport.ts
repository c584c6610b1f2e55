// PeerTransport: what a publisher's and a subscriber's transport share as the server end of one
// werift peer connection: its id and state (mapped from werift's connection state, emitted as
// `stateChange`), trickled remote candidates, the local negotiation that frees its sockets, the
// common part of `dump()`, and the close cascade (the kind's own teardown, then the peer
// connection, then whatever a late socket bind left). Each kind adds its media: producers and REMB
// (publisher-transport.ts), consumers, estimate and allocator (subscriber-transport.ts). The ICE
// pair it sends on follows the browser's latest nomination (ice-renomination.ts).

import type { RTCPeerConnection } from 'werift';
import type { Logger } from 'pino';
import { TypedEmitter, type EventMap } from './typed-emitter.js';
import { guardDtlsHandshakes, handshakeCopiesDropped, isGuarded, lastHandshakeError, lateFlightsSkipped } from './dtls-handshake-guard.js';
import { followRenomination, onRenomination, roleConflicts } from './ice-renomination.js';
import { iceLiteAtSessionLevel } from './peer-config.js';
import { srtpDump, type SrtpImplementation } from './srtp-path.js';
import { addRemoteCandidate, LocalNegotiation, subscribeState, type Subscription } from './transport-common.js';
import type { IceCandidateInit, TransportState } from './types.js';

followRenomination();
guardDtlsHandshakes();

/** The part of werift's ICE agent read here: the pair media is sent on. */
interface IceAgentView {
  nominated?: { remoteAddr: [string, number] };
}

/** The events every transport has; each kind adds its own. */
export type PeerTransportEvents = {
  stateChange: [TransportState];
  close: [];
};

/**
 * Transports of this thread whose close() has begun but not finished: they have left their router
 * (its transportCount) yet may still hold sockets, a bind still under way in their negotiation
 * included. Per thread, as each media worker has its own. Leak checks wait for this to reach 0.
 */
let closingTransports = 0;

export function transportsClosing(): number {
  return closingTransports;
}

/** The candidate lines of a local description (dump), once each: bundled media sections repeat them. */
export function candidateLines(sdp: string | undefined): string[] {
  return sdp ? [...new Set(sdp.split(/\r?\n/).filter((l) => l.startsWith('a=candidate:')))] : [];
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
  /** Times the browser moved the call to another ICE pair (and the server followed). */
  #renominations = 0;

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

  /** The browser's address media goes to (its ICE pair nominated last), or null before one. */
  get remoteAddress(): string | null {
    const pair = this.#iceAgent()?.nominated;
    return pair ? `${pair.remoteAddr[0]}:${pair.remoteAddr[1]}` : null;
  }

  /** How many times the browser moved the call to another ICE pair. */
  get renominations(): number {
    return this.#renominations;
  }

  #roleConflicts(): number {
    const agent = this.#iceAgent();
    return agent ? roleConflicts(agent) : 0;
  }

  /**
   * DTLS: our role, whether the handshake guard is on and the peer's repeated handshake messages
   * it dropped (dtls-handshake-guard.ts), the flight 5 runs it skipped after the connection (as
   * DTLS client, when a handler that waited for a lost message ran on), werift's DTLS state (our RTCP goes out while it reads
   * connected, or failed after the handshake: srtp-path.ts rtcpWritable) and the last error that
   * failed it, with how long ago.
   */
  #dtlsDump(): { role: string; state?: string; guarded?: boolean; handshakeCopiesDropped?: number; lateFlightsSkipped?: number; lastError?: string; lastErrorAgoMs?: number } | null {
    const transport = this.pc.dtlsTransports[0] as unknown as { role?: string; state?: string; dtls?: object } | undefined;
    if (!transport) return null;
    const role = transport.role ?? 'auto';
    const state = transport.state;
    if (!transport.dtls) return { role, ...(state ? { state } : {}) };
    const error = lastHandshakeError(transport.dtls);
    const lateFlights = lateFlightsSkipped(transport.dtls);
    return {
      role,
      ...(state ? { state } : {}),
      guarded: isGuarded(transport.dtls),
      handshakeCopiesDropped: handshakeCopiesDropped(transport.dtls),
      ...(lateFlights > 0 ? { lateFlightsSkipped: lateFlights } : {}),
      ...(error ? { lastError: error.message, lastErrorAgoMs: Math.round(performance.now() - error.at) } : {}),
    };
  }

  #iceAgent(): IceAgentView | undefined {
    const dtls = this.pc.dtlsTransports[0] as unknown as { iceTransport?: { connection?: IceAgentView } } | undefined;
    return dtls?.iceTransport?.connection;
  }

  /** Our local description as the browser gets it (offer or answer): a=ice-lite at session level. */
  protected localSdp(): string {
    return iceLiteAtSessionLevel(this.pc.localDescription!.sdp);
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
      ice: { remoteAddress: this.remoteAddress, renominations: this.#renominations, roleConflicts: this.#roleConflicts() },
      dtls: this.#dtlsDump(),
      srtp: srtpDump(this.pc.dtlsTransports[0]),
      localCandidates: candidateLines(this.pc.localDescription?.sdp),
    };
  }

  /** Closes the kind's media, then the peer connection and its sockets. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      closingTransports++;
      try {
        this.closeMedia();
        for (const sub of this.subscriptions.splice(0)) sub.unSubscribe();
        this.#state = 'closed';
        this.emit('close');
        this.removeAllListeners();
        await this.pc.close().catch((err: unknown) => this.logger.warn({ err }, `${this.kind} peer close failed`));
        await this.negotiation.settle();
      } finally {
        closingTransports--;
      }
    })();
    return this.#closing;
  }

  #onState(state: TransportState): void {
    if (this.closed || state === this.#state) return;
    this.#state = state;
    // One handler per agent (set again on a later 'connected', replacing itself).
    const agent = state === 'connected' ? this.#iceAgent() : undefined;
    if (agent) {
      onRenomination(agent, (from, to) => {
        this.#renominations++;
        this.logger.info({ transport: this.id, kind: this.kind, from: from.join(':'), to: to.join(':') }, 'ICE: the browser moved the call to another candidate pair');
      });
    }
    this.onStateChange(state);
    this.emit('stateChange', state);
  }
}
