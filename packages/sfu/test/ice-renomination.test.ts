// ICE-lite pair selection (ice-renomination.ts): the first authenticated check selects its pair, and
// the selected pair moves to the one the browser nominates last, only on an authenticated check. The browser test that proves media follows a
// vanished interface is packages/client/test/network-change.test.ts.

import { classes, Message, methods } from 'werift';
import { describe, expect, it } from 'vitest';
import { followCheck } from '../src/ice-renomination.js';

type Address = [string, number];
const PASSWORD = 'p'.repeat(22);
const protocol = {};

function agent(options: { controlling?: boolean; lite?: boolean } = {}) {
  const old = { protocol, remoteAddr: ['10.213.0.1', 50000] as Address, nominated: true };
  const next = { protocol, remoteAddr: ['127.0.0.1', 50002] as Address, nominated: true };
  const completed: unknown[] = [];
  return {
    completed,
    old,
    next,
    options: { iceLite: options.lite ?? true },
    iceControlling: options.controlling ?? false,
    state: 'connected',
    localUsername: 'abcd',
    remoteUsername: 'wxyz',
    localPassword: PASSWORD,
    userHistory: { abcd: PASSWORD } as Record<string, string>,
    nominated: old as typeof old | undefined,
    checkList: [old, next],
    // werift's: selects a SUCCEEDED pair marked nominated when none is.
    checkComplete(pair: typeof old) {
      completed.push(pair);
      if (this.nominated === undefined && pair.nominated) this.nominated = pair;
    },
  };
}

/** A pair as werift has it when a check arrives before any selection: not nominated, waiting. */
function waitingPair(remoteAddr: Address) {
  const states: number[] = [];
  return { protocol, remoteAddr, nominated: false, states, updateState: (s: number) => states.push(s) };
}

function check(options: { password?: string; useCandidate?: boolean; username?: string; controlled?: boolean } = {}): { message: Message; data: Buffer } {
  const message = new Message(methods.BINDING, classes.REQUEST);
  message.setAttribute('USERNAME', options.username ?? 'abcd:wxyz').setAttribute('PRIORITY', 1853824767).setAttribute(options.controlled ? 'ICE-CONTROLLED' : 'ICE-CONTROLLING', BigInt(1));
  if (options.useCandidate ?? true) message.setAttribute('USE-CANDIDATE', null);
  message.addMessageIntegrity(Buffer.from(options.password ?? PASSWORD, 'utf8')).addFingerprint();
  return { message, data: message.bytes };
}

describe('ICE-lite renomination', () => {
  it('an authenticated USE-CANDIDATE on another nominated pair becomes the selected pair', () => {
    const a = agent();
    const { message, data } = check();
    followCheck(a, protocol, message, a.next.remoteAddr, data);
    expect(a.nominated).toBe(a.next);
  });

  it('a check with a wrong password, without USE-CANDIDATE, or for another ufrag moves nothing', () => {
    for (const options of [{ password: 'q'.repeat(22) }, { useCandidate: false }, { username: 'zzzz:wxyz' }]) {
      const a = agent();
      const { message, data } = check(options);
      followCheck(a, protocol, message, a.next.remoteAddr, data);
      expect(a.nominated, JSON.stringify(options)).toBe(a.old);
    }
  });

  it('a pair werift has not marked nominated, an unknown address, a controlling or full agent: nothing moves', () => {
    const unmarked = agent();
    unmarked.next.nominated = false;
    const { message, data } = check();
    followCheck(unmarked, protocol, message, unmarked.next.remoteAddr, data);
    expect(unmarked.nominated).toBe(unmarked.old);

    const unknown = agent();
    followCheck(unknown, protocol, message, ['127.0.0.1', 1], data);
    expect(unknown.nominated).toBe(unknown.old);

    for (const a of [agent({ controlling: true }), agent({ lite: false })]) {
      followCheck(a, protocol, message, a.next.remoteAddr, data);
      expect(a.nominated).toBe(a.old);
    }
  });

  it('with no pair selected yet, the first authenticated check selects its pair (no USE-CANDIDATE needed)', () => {
    const a = agent();
    const pair = waitingPair(['127.0.0.1', 50004]);
    a.nominated = undefined;
    a.checkList = [pair as never];
    const { message, data } = check({ useCandidate: false });
    followCheck(a, protocol, message, pair.remoteAddr, data);
    expect(a.nominated).toBe(pair);
    expect(pair.nominated).toBe(true);
    expect(pair.states).toEqual([3]); // CandidatePairState.SUCCEEDED, as werift sets it on USE-CANDIDATE
    expect(a.completed).toEqual([pair]);
  });

  it('with no pair selected yet, a check with a wrong password, another ufrag or the controlled role (werift answers 487), or one werift kept for later (no pair), selects nothing', () => {
    for (const options of [{ password: 'q'.repeat(22) }, { username: 'zzzz:wxyz' }, { controlled: true }]) {
      const a = agent();
      const pair = waitingPair(['127.0.0.1', 50004]);
      a.nominated = undefined;
      a.checkList = [pair as never];
      const { message, data } = check({ ...options, useCandidate: false });
      followCheck(a, protocol, message, pair.remoteAddr, data);
      expect(a.nominated, JSON.stringify(options)).toBeUndefined();
      expect(pair.nominated).toBe(false);
      expect(a.completed).toEqual([]);
    }
    const early = agent();
    early.nominated = undefined;
    early.checkList = [];
    const { message, data } = check({ useCandidate: false });
    followCheck(early, protocol, message, ['127.0.0.1', 50004], data);
    expect(early.nominated).toBeUndefined();
  });
});
