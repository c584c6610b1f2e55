// A listener that throws never ends the process: the one typed emitter of the server (src/typed-
// emitter.ts, used by the SFU and by sessions/) logs it and carries on with the other listeners, so
// a close cascade is never left half done. Before, a throwing listener on a Session, Stream,
// Connection or Subscription was rethrown asynchronously and nothing caught it. The process-level
// guard (src/process-guard.ts) is tested in a child process: it logs an uncaught exception or an
// unhandled rejection and keeps serving, and exits only on a storm of them.

import { makeTestMedia } from '@colloquy/testing/media';
import { ProtocolClient } from '@colloquy/testing/protocol';
import { Colloquy } from '@colloquy/sdk-node';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { GUARD_EXIT_CODE } from '../src/process-guard.js';
import { TypedEmitter } from '../src/typed-emitter.js';
import { capturingLogger, startTestServer } from './helpers.js';
import { eventually } from './faults/leaks.js';

class Door extends TypedEmitter<{ open: [who: string]; close: [] }> {
  open(who: string): void {
    this.emit('open', who);
  }
  close(): void {
    this.emit('close');
  }
}

afterEach(() => TypedEmitter.resetListenerError());

describe('TypedEmitter', () => {
  it('reports a throwing listener and still calls the others, in order; once() listeners run once', () => {
    const reported: Array<[string, string, string]> = [];
    TypedEmitter.listenerError = (err, event, emitter) => reported.push([(err as Error).message, event, emitter]);
    const door = new Door();
    const calls: string[] = [];
    door.on('open', (who) => calls.push(`first ${who}`));
    door.on('open', () => {
      throw new Error('listener bug');
    });
    door.once('open', (who) => calls.push(`once ${who}`));
    door.on('open', (who) => calls.push(`last ${who}`));
    door.open('alice');
    door.open('bob');
    expect(calls).toEqual(['first alice', 'once alice', 'last alice', 'first bob', 'last bob']);
    expect(reported).toEqual([
      ['listener bug', 'open', 'Door'],
      ['listener bug', 'open', 'Door'],
    ]);
  });

  it('survives an error handler that throws itself', () => {
    TypedEmitter.listenerError = () => {
      throw new Error('handler bug');
    };
    const door = new Door();
    let closed = false;
    door.on('close', () => {
      throw new Error('listener bug');
    });
    door.on('close', () => (closed = true));
    expect(() => door.close()).not.toThrow();
    expect(closed).toBe(true);
  });
});

describe('throwing listeners on the domain objects of a running server', () => {
  it('are logged; the server, the other clients and the close cascades carry on', async () => {
    const log = capturingLogger('error');
    const t = await startTestServer({ COLLOQUY_RESUME_GRACE_MS: '300' }, { logger: log.logger });
    const sdk = new Colloquy(t.apiKey, t.apiSecret, t.url);
    const { sessionId } = await sdk.createSession({ mediaMode: 'routed' });
    const alice = await ProtocolClient.join(t.url, sessionId, sdk.generateToken(sessionId, { data: 'alice' }));
    const bob = await ProtocolClient.join(t.url, sessionId, sdk.generateToken(sessionId, { data: 'bob' }));
    try {
      const session = t.server.sessions.live(sessionId)!;
      const boom = (): never => {
        throw new Error('a buggy listener');
      };
      session.on('connectionCreated', boom).on('streamCreated', boom).on('streamDestroyed', boom).on('subscriberCreated', boom).on('connectionDestroyed', boom);
      session.on('connectionCreated', (c) => c.on('signal', boom));
      session.on('streamCreated', (s) => s.on('close', boom));
      session.on('subscriberCreated', (s) => s.on('close', boom));

      const carol = await ProtocolClient.join(t.url, sessionId, sdk.generateToken(sessionId, { data: 'carol' }));
      const { streamId } = await carol.publish({ media: makeTestMedia({ seconds: 2, gop: 30 }) });
      await bob.subscribe(streamId);
      await alice.request({ type: 'signal', to: carol.connectionId, data: 'to carol' });
      await carol.waitFor((m) => m.type === 'signal' && m['data'] === 'to carol');
      await carol.close();
      // The close cascade went through despite every throwing listener: no stream, no transport left.
      await bob.waitFor((m) => m.type === 'streamDestroyed');
      await eventually(() => t.server.media.routers.reduce((n, r) => n + r.transportCount, 0) === 0 && session.streams.size === 0, 10_000, () => 'stream and transports closed');
      expect(session.connections.size).toBe(2);
      await alice.request({ type: 'signal', to: bob.connectionId, data: 'after' });
      await bob.waitFor((m) => m.type === 'signal' && m['data'] === 'after');
      expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
      const logged = log.lines.filter((l) => l['msg'] === 'event listener threw');
      expect(logged.length).toBeGreaterThanOrEqual(6);
      expect(new Set(logged.map((l) => l['emitter']))).toEqual(new Set(['Session', 'Connection', 'Stream', 'Subscription']));
    } finally {
      await alice.close();
      await bob.close();
      await t.close();
    }
  }, 60_000);
});

describe('process guard', () => {
  // Runs the built dist (npm test builds first), as `colloquy serve` does.
  const script = fileURLToPath(new URL('./fixtures/guarded-process.mjs', import.meta.url));
  const run = (mode: string) => spawnSync(process.execPath, [script, mode], { encoding: 'utf8', timeout: 30_000 });

  it('logs an uncaught exception and an unhandled rejection, and the process keeps serving', () => {
    const r = run('one-of-each');
    expect(r.stdout).toContain('still serving');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/uncaught exception \(a bug\); the server keeps serving/);
    expect(r.stdout).toMatch(/unhandled promise rejection \(a bug\); the server keeps serving/);
  });

  it('exits (for the supervisor to restart it) on a storm of uncaught exceptions', () => {
    const r = run('storm');
    expect(r.status).toBe(GUARD_EXIT_CODE);
    expect(r.stdout).toMatch(/too many uncaught exceptions/);
  });
});
