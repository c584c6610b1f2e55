// werift's ICE agent (`Connection`) has no way to share one socket between peer connections: each
// agent binds its own UDP socket and TCP listener. The muxes (udp-mux.ts, tcp-mux.ts) reach in at
// one place: `Connection.prototype.ensureProtocol`, which every agent calls on each protocol (UDP
// socket, passive TCP listener) before it binds it. This wraps it once per process and lets each
// mux look at the agent and the protocol, and take the protocol over for the agents it serves.
// An agent is a mux's when its options carry the mux's tag (werift's `iceFilterCandidatePair`,
// passed through by reference; the muxes' filters keep every pair).

import { Connection } from 'werift';

/** What werift's ICE agent exposes that the muxes read (its ufrags; earlier ones after an ICE restart). */
export interface IceAgent {
  localUsername: string;
  /** The far end's ufrag, once its description is set (the second half of a check's USERNAME). */
  remoteUsername: string;
  userHistory: Record<string, string>;
  options: { filterCandidatePair?: unknown };
}

/** Called after werift's own ensureProtocol, with the agent and the protocol it is about to bind. */
export type EnsureProtocolHook = (agent: IceAgent, protocol: unknown) => void;

const hooks: EnsureProtocolHook[] = [];

/** Adds a hook (once per mux kind: call it from a module-level install guard). */
export function onEnsureProtocol(hook: EnsureProtocolHook): void {
  if (hooks.length === 0) {
    const proto = Connection.prototype as unknown as { ensureProtocol(this: IceAgent, protocol: unknown): void };
    const ensureProtocol = proto.ensureProtocol;
    proto.ensureProtocol = function (this: IceAgent, protocol: unknown): void {
      ensureProtocol.call(this, protocol);
      for (const h of hooks) h(this, protocol);
    };
  }
  hooks.push(hook);
}

/** The tag an agent carries (its candidate-pair filter), to look its mux up by. */
export function agentTag(agent: IceAgent): object | undefined {
  const tag = agent.options.filterCandidatePair;
  return typeof tag === 'function' ? tag : undefined;
}
