// ICE-lite renomination: the server follows the pair the browser nominated last.
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

import { parseMessage } from 'werift';
import { onEnsureProtocol, type IceAgent } from './ice-agent-hook.js';

type Address = [string, number];

/** The part of a werift candidate pair read here. */
interface PairView {
  protocol: unknown;
  remoteAddr: Address;
  nominated: boolean;
}

/** The part of werift's agent read and changed here (beyond the muxes' IceAgent). */
interface RenominatingAgent extends IceAgent {
  localPassword: string;
  iceControlling: boolean;
  options: IceAgent['options'] & { iceLite?: boolean };
  state: string;
  nominated: PairView | undefined;
  checkList: PairView[];
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
let installed = false;

/** Makes every ICE-lite agent of this process follow the browser's latest nomination (idempotent). */
export function followRenomination(): void {
  if (installed) return;
  installed = true;
  onEnsureProtocol((agent, protocol) => {
    const events = protocol as RequestEvents;
    // Subscribed after werift's own handler (the hook runs after ensureProtocol): by the time this
    // runs, werift has answered the check and marked the pair nominated.
    events.onRequestReceived?.subscribe((message, addr, data) => followCheck(agent, protocol, message, addr, data));
  });
}

/** Tells `handler` each time this agent (werift's ICE Connection) moves to another pair. */
export function onRenomination(agent: object, handler: RenominationHandler): void {
  handlers.set(agent, handler);
}

/**
 * @internal One check the agent has just handled (exported for tests): moves the selected pair to
 * the check's when it is an authenticated USE-CANDIDATE on another pair werift marked nominated.
 */
export function followCheck(agentObject: object, protocol: unknown, message: StunRequestView, addr: Address, data: Buffer): void {
  const agent = agentObject as RenominatingAgent;
  if (!agent.options.iceLite || agent.iceControlling || agent.state === 'closed') return;
  if (!message.attributesKeys.includes('USE-CANDIDATE')) return;
  const current = agent.nominated;
  if (current === undefined) return; // the first nomination is werift's own
  if (current.protocol === protocol && sameAddress(current.remoteAddr, addr)) return;
  const pair = agent.checkList.find((p) => p.protocol === protocol && sameAddress(p.remoteAddr, addr));
  if (pair === undefined || !pair.nominated) return;
  // Only the far end can move the media: the check must carry our password's MESSAGE-INTEGRITY
  // (werift answers checks without verifying it), for our current ufrag (a check made with an
  // earlier one, from before an ICE restart, moves nothing).
  const username = message.getAttributeValue('USERNAME');
  const ufrag = typeof username === 'string' ? username.split(':')[0]! : '';
  if (ufrag !== agent.localUsername || parseMessage(data, Buffer.from(agent.localPassword, 'utf8')) === undefined) return;
  const from = current.remoteAddr;
  agent.nominated = pair;
  handlers.get(agent)?.(from, pair.remoteAddr);
}

function sameAddress(a: Address, b: Address): boolean {
  return a[0] === b[0] && a[1] === b[1];
}
