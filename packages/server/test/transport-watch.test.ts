// TransportWatch: how a Stream or Subscription follows its SFU transport (connect timeout, grace
// after `disconnected`, immediate end on `failed`/`closed`/close), with a fake transport and fake timers.

import { EventEmitter } from 'node:events';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { TransportWatch } from '../src/sessions/transport-watch.js';

function watch(): { transport: EventEmitter; events: string[]; w: TransportWatch } {
  const transport = new EventEmitter();
  const events: string[] = [];
  const w = new TransportWatch(transport as never, {
    connectTimeoutMs: 1000,
    disconnectGraceMs: 5000,
    onConnected: () => events.push('connected'),
    onLost: () => events.push('lost'),
  });
  return { transport, events, w };
}

describe('TransportWatch', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('ends a transport that does not connect in time, even while it is connecting', () => {
    const { transport, events } = watch();
    transport.emit('stateChange', 'connecting');
    vi.advanceTimersByTime(999);
    expect(events).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(events).toEqual(['lost']);
    transport.emit('close');
    vi.advanceTimersByTime(10_000);
    expect(events).toEqual(['lost']);
  });

  it('tells connected once; a connected transport that drops gets the grace period, and may come back', () => {
    const { transport, events, w } = watch();
    transport.emit('stateChange', 'connected');
    vi.advanceTimersByTime(2000); // the connect timeout is gone
    expect(events).toEqual(['connected']);
    expect(w.connected).toBe(true);
    transport.emit('stateChange', 'disconnected');
    vi.advanceTimersByTime(4999);
    transport.emit('stateChange', 'connected');
    vi.advanceTimersByTime(10_000);
    expect(events).toEqual(['connected']);
    transport.emit('stateChange', 'disconnected');
    vi.advanceTimersByTime(5000);
    expect(events).toEqual(['connected', 'lost']);
  });

  it('a transport that drops before it ever connected only has the connect timeout', () => {
    const { transport, events } = watch();
    transport.emit('stateChange', 'disconnected');
    vi.advanceTimersByTime(1000);
    expect(events).toEqual(['lost']);
  });

  it('failed, closed and the transport closing end it at once, once', () => {
    for (const end of ['failed', 'closed', 'close'] as const) {
      const { transport, events } = watch();
      transport.emit('stateChange', 'connected');
      if (end === 'close') transport.emit('close');
      else transport.emit('stateChange', end);
      transport.emit('close');
      vi.advanceTimersByTime(10_000);
      expect(events, end).toEqual(['connected', 'lost']);
    }
  });

  it('after stop (the owner ended), nothing more is told and no timer is left', () => {
    const { transport, events, w } = watch();
    w.stop();
    expect(vi.getTimerCount()).toBe(0);
    transport.emit('stateChange', 'connected');
    transport.emit('stateChange', 'failed');
    transport.emit('close');
    vi.advanceTimersByTime(10_000);
    expect(events).toEqual([]);
  });
});
