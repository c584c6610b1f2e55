// ICE-lite pair selection: the server sends on the pair of the browser's first authenticated check,
// then follows the pair the browser nominated last.
//
// First check. werift's lite agent selects a pair only on a check carrying USE-CANDIDATE. A browser
// that knows its peer is ICE-lite (a=ice-lite at session level) nominates only on a later check of
// a pair already writable: libwebrtc's next ping of that pair comes 50-110 ms after the first
// response (its ping pacing over every pair it has). Until then the browser is connected and starts
// DTLS, but werift, with no pair, cannot answer it. As mediasoup's IceServer does ("connected" on a
// valid check, "completed" on USE-CANDIDATE), the first check that carries our ufrag and password's
// MESSAGE-INTEGRITY selects its pair at once; a later nomination of another pair moves it (below).
// Measured on loopback: ICE checking to connected ~120 ms before, a few ms after.
//
// werift's agent keeps the first pair nominated for the whole call: it reads RFC 8445 §7.3.1.5
// ("once the nominated flag is set ... ICE processing concludes") strictly. A browser that loses
// the network interface of that pair (Wi-Fi off, a VPN or virtual interface gone) switches to
// another pair it has checked and nominates it (USE-CANDIDATE in its checks: libwebrtc's
// nomination towards an ICE-lite peer). A server that keeps sending to the old address loses the
// call in one direction: a subscriber gets nothing; a publisher's media still arrives, but none of
// our RTCP reaches it (keyframe requests, REMB, receiver reports), so once its browser dropped
// the top simulcast layer the subscribers' video froze for good (seen in the tests: a veth
// interface removed mid-call). As mediasoup's IceServer does, an authenticated check carrying
// USE-CANDIDATE on another pair makes that pair the selected one; both send paths (werift's and
// ours in srtp-path.ts) read `nominated` per packet, so media moves with it at once.
//
// Installed once per process through the hook on werift's ensureProtocol (ice-agent-hook.ts).

import { CandidatePairState, parseMessage } from 'werift';
import { onEnsureProtocol, type IceAgent } from './ice-agent-hook.js';

type Address = [string, number];

/** The part of a werift candidate pair read here. */
interface PairView {
  protocol: unknown;
  remoteAddr: Address;
  nominated: boolean;
  updateState?(state: CandidatePairState): void;
}

/** The part of werift's agent read and changed here (beyond the muxes' IceAgent). */
interface RenominatingAgent extends IceAgent {
  localPassword: string;
  iceControlling: boolean;
  options: IceAgent['options'] & { iceLite?: boolean };
  state: string;
  nominated: PairView | undefined;
  checkList: PairView[];
  /** werift's end of a check: with `nominated` set on a SUCCEEDED pair, selects it and completes ICE. */
  checkComplete?(pair: PairView): void;
}

/** What a STUN request looks like to the hook (werift's Message). */
interface StunRequestView {
  attributesKeys: string[];
  getAttributeValue(name: string): unknown;
}

interface RequestEvents {
  onRequestReceived?: { subscribe(handler: (message: StunRequestView, addr: Address, data: Buffer) => void): unknown };
}

/** Called when an agent's selected pair moves: the old and the new remote address. */
export type RenominationHandler = (from: Address, to: Address) => void;

const handlers = new WeakMap<object, RenominationHandler>();
const conflicts = new WeakMap<object, number>();
let installed = false;

/** Makes every ICE-lite agent of this process select on the first check and follow the browser's latest nomination (idempotent). */
export function followRenomination(): void {
  if (installed) return;
  installed = true;
  onEnsureProtocol((agent, protocol) => {
    const events = protocol as RequestEvents;
    // Subscribed after werift's own handler (the hook runs after ensureProtocol): by the time this
    // runs, werift has answered the check and marked the pair nominated.
    events.onRequestReceived?.subscribe((message, addr, data) => {
      countRoleConflict(agent, message);
      followCheck(agent, protocol, message, addr, data);
    });
  });
}

/** Tells `handler` each time this agent (werift's ICE Connection) moves to another pair. */
export function onRenomination(agent: object, handler: RenominationHandler): void {
  handlers.set(agent, handler);
}

/**
 * Checks this agent answered with 487 Role Conflict: a browser that took us for a full agent and
 * checked as controlled (werift's lite agent refuses those). 0 when our SDP reads as ICE-lite.
 */
export function roleConflicts(agent: object): number {
  return conflicts.get(agent) ?? 0;
}

function countRoleConflict(agentObject: object, message: StunRequestView): void {
  const agent = agentObject as RenominatingAgent;
  if (agent.options.iceLite && message.attributesKeys.includes('ICE-CONTROLLED')) conflicts.set(agent, roleConflicts(agent) + 1);
}

/**
 * @internal One check the agent has just handled (exported for tests): selects the check's pair when
 * the agent has none yet, and moves the selection when it is a USE-CANDIDATE on another pair werift
 * marked nominated. Only authenticated checks count.
 */
export function followCheck(agentObject: object, protocol: unknown, message: StunRequestView, addr: Address, data: Buffer): void {
  const agent = agentObject as RenominatingAgent;
  if (!agent.options.iceLite || agent.iceControlling || agent.state === 'closed') return;
  const current = agent.nominated;
  if (current === undefined) {
    selectFirst(agent, protocol, message, addr, data);
    return;
  }
  if (!message.attributesKeys.includes('USE-CANDIDATE')) return;
  if (current.protocol === protocol && sameAddress(current.remoteAddr, addr)) return;
  const pair = findPair(agent, protocol, addr);
  if (pair === undefined || !pair.nominated || !authenticated(agent, message, data)) return;
  const from = current.remoteAddr;
  agent.nominated = pair;
  handlers.get(agent)?.(from, pair.remoteAddr);
}

/** The first authenticated check: its pair becomes the selected one, as werift does on USE-CANDIDATE. */
function selectFirst(agent: RenominatingAgent, protocol: unknown, message: StunRequestView, addr: Address, data: Buffer): void {
  // werift keeps a check that arrives before our description is set for later (earlyChecks): no
  // pair exists for it yet, and the next check selects. A check as controlled was refused (487).
  if (message.attributesKeys.includes('ICE-CONTROLLED')) return;
  const pair = findPair(agent, protocol, addr);
  if (pair === undefined || agent.checkComplete === undefined || !authenticated(agent, message, data)) return;
  pair.nominated = true;
  pair.updateState?.(CandidatePairState.SUCCEEDED);
  agent.checkComplete(pair);
}

function findPair(agent: RenominatingAgent, protocol: unknown, addr: Address): PairView | undefined {
  return agent.checkList.find((p) => p.protocol === protocol && sameAddress(p.remoteAddr, addr));
}

/**
 * Only the far end can pick the media's path: the check must carry our password's
 * MESSAGE-INTEGRITY (werift answers checks without verifying it), for our current ufrag (a check
 * made with an earlier one, from before an ICE restart, selects nothing).
 */
function authenticated(agent: RenominatingAgent, message: StunRequestView, data: Buffer): boolean {
  const username = message.getAttributeValue('USERNAME');
  const ufrag = typeof username === 'string' ? username.split(':')[0]! : '';
  return ufrag === agent.localUsername && parseMessage(data, Buffer.from(agent.localPassword, 'utf8')) !== undefined;
}

function sameAddress(a: Address, b: Address): boolean {
  return a[0] === b[0] && a[1] === b[1];
}
