// The OpenTok-style emitter and event objects, without a browser.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { OTEventEmitter } from '../src/event-emitter.js';
import { ConnectionEvent, OTEvent, SessionDisconnectEvent, SignalEvent } from '../src/events.js';
import { Connection } from '../src/connection.js';
import { VERSION } from '../src/version.js';

type Map = { ping: OTEvent; pong: OTEvent; 'signal': SignalEvent; [k: `signal:${string}`]: SignalEvent };

class Emitter extends OTEventEmitter<Map> {
  fire(event: OTEvent, alsoAs?: string): void {
    this.dispatchEvent(event, alsoAs);
  }
}

describe('OTEventEmitter', () => {
  it('supports on/once/off with context, space-separated types and the object form', () => {
    const e = new Emitter();
    const seen: string[] = [];
    const ctx = { name: 'ctx' };
    function withContext(this: { name: string }, ev: OTEvent): void {
      seen.push(`${this.name}:${ev.type}`);
    }
    e.on('ping', withContext, ctx);
    e.once('pong', (ev) => seen.push(`once:${ev.type}`));
    e.on({ ping: () => seen.push('map-ping'), pong: () => seen.push('map-pong') });
    e.on('ping pong', () => seen.push('both'));
    e.fire(new OTEvent('ping', e));
    e.fire(new OTEvent('pong', e));
    e.fire(new OTEvent('pong', e));
    expect(seen).toEqual(['ctx:ping', 'map-ping', 'both', 'once:pong', 'map-pong', 'both', 'map-pong', 'both']);
    seen.length = 0;
    e.off('ping', withContext, ctx);
    e.off('pong');
    e.fire(new OTEvent('ping', e));
    e.fire(new OTEvent('pong', e));
    expect(seen).toEqual(['map-ping', 'both']);
    e.off();
    e.fire(new OTEvent('ping', e));
    expect(seen).toEqual(['map-ping', 'both']);
  });

  it('keeps calling handlers when one throws', () => {
    const e = new Emitter();
    const seen: string[] = [];
    e.on('ping', () => {
      throw new Error('boom');
    });
    e.on('ping', () => seen.push('second'));
    e.fire(new OTEvent('ping', e));
    expect(seen).toEqual(['second']);
  });

  it('dispatches signal:TYPE then signal with one event whose type is signal:TYPE', () => {
    const e = new Emitter();
    const seen: string[] = [];
    e.on('signal:chat', (ev) => seen.push(`typed ${ev.type} ${ev.data}`));
    e.on('signal', (ev) => seen.push(`all ${ev.type} ${ev.data}`));
    const from = new Connection({ connectionId: 'c1', creationTime: 1, data: 'd' });
    e.fire(new SignalEvent('chat', e, 'hi', from), 'signal');
    e.fire(new SignalEvent(undefined, e, 'plain', null));
    expect(seen).toEqual(['typed signal:chat hi', 'all signal:chat hi', 'all signal plain']);
  });
});

describe('event objects', () => {
  it('carry OpenTok’s properties; only cancelable events can be prevented', () => {
    const c = new Connection({ connectionId: 'c', creationTime: 5, data: 'x=1' });
    const destroyed = new ConnectionEvent('connectionDestroyed', null, c, 'networkDisconnected');
    expect(destroyed).toMatchObject({ type: 'connectionDestroyed', connection: c, reason: 'networkDisconnected', cancelable: false });
    destroyed.preventDefault();
    expect(destroyed.isDefaultPrevented()).toBe(false);
    const disconnected = new SessionDisconnectEvent(null, 'forceDisconnected');
    disconnected.preventDefault();
    expect(disconnected.isDefaultPrevented()).toBe(true);
    expect(c.id).toBe('c');
  });

  it('reports the package version', () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(VERSION).toBe(pkg.version);
  });
});
