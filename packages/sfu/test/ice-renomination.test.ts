// ICE-lite renomination (media/ice-renomination.ts): the selected pair moves to the one the browser
// nominates last, and only on an authenticated check. The browser test that proves media follows a
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
  return {
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
  };
}

function check(options: { password?: string; useCandidate?: boolean; username?: string } = {}): { message: Message; data: Buffer } {
  const message = new Message(methods.BINDING, classes.REQUEST);
  message.setAttribute('USERNAME', options.username ?? 'abcd:wxyz').setAttribute('PRIORITY', 1853824767).setAttribute('ICE-CONTROLLING', BigInt(1));
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

  it('a pair werift has not marked nominated, an unknown address, a controlling or full agent, or no selection yet: nothing moves', () => {
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

    const first = agent();
    first.nominated = undefined;
    followCheck(first, protocol, message, first.next.remoteAddr, data);
    expect(first.nominated).toBeUndefined(); // the first nomination is werift's own
  });
});
