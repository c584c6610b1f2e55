// A worker process of the signaling benchmark: holds thousands of signaling connections (lean
// SignalingClient), records when broadcast signals arrive, and reports its own CPU.

import { Colloquy } from '@colloquy/sdk-node';
import { machineMs, PERFORMANCE_TO_MACHINE_MS } from '../load/frame-marker.js';
import { SignalingClient } from '../load/targets/signaling-client.js';

export type SignalingWorkerRequest =
  | { op: 'connect'; url: string; apiKey: string; apiSecret: string; sessionId: string; count: number; concurrency: number; suppressed: boolean; v2: boolean }
  | { op: 'received' }
  | { op: 'send'; signalType: string }
  | { op: 'latencies' }
  | { op: 'disconnect' }
  | { op: 'cpu' };

const clients: SignalingClient[] = [];
let latencies: number[] = [];

function cpuUs(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

async function handle(m: SignalingWorkerRequest): Promise<unknown> {
  switch (m.op) {
    case 'connect': {
      const sdk = new Colloquy(m.apiKey, m.apiSecret, m.url);
      let next = 0;
      const errors: string[] = [];
      const one = async (): Promise<void> => {
        while (next < m.count) {
          next++;
          const c = new SignalingClient();
          try {
            await c.connect({ url: m.url, sessionId: m.sessionId, token: sdk.generateToken(m.sessionId, { role: 'publisher' }), timeoutMs: 60_000, connectionEventsSuppressed: m.suppressed, v2: m.v2 });
            c.on('signal', (message, at) => {
              const data = (message as { data?: string }).data;
              if (data) latencies.push(at + PERFORMANCE_TO_MACHINE_MS - Number(data));
            });
            clients.push(c);
          } catch (err) {
            if (errors.length < 5) errors.push((err as Error).message);
          }
        }
      };
      await Promise.all(Array.from({ length: m.concurrency }, one));
      return { connected: clients.length, errors };
    }
    case 'received':
      return { received: clients.reduce((n, c) => n + c.received, 0), cpuUs: cpuUs() };
    case 'send': {
      const sender = clients[0];
      if (!sender) throw new Error('no client');
      // The send time (machine monotonic clock, shared by all processes) travels in the signal; every
      // receiver (the sender too) subtracts it from its arrival.
      await sender.request<'signal'>({ type: 'signal', signalType: m.signalType, data: String(machineMs()) });
      return {};
    }
    case 'latencies': {
      const l = latencies;
      latencies = [];
      return { latencies: l };
    }
    case 'disconnect': {
      const started = performance.now();
      let next = 0;
      const one = async (): Promise<void> => {
        while (next < clients.length) await clients[next++]!.disconnect();
      };
      await Promise.all(Array.from({ length: 50 }, one));
      clients.length = 0;
      return { ms: performance.now() - started };
    }
    case 'cpu':
      return { cpuUs: cpuUs() };
  }
}

process.on('message', (raw) => {
  const m = raw as SignalingWorkerRequest & { re: number };
  void handle(m).then(
    (result) => process.send?.({ re: m.re, ok: true, result }),
    (err: unknown) => process.send?.({ re: m.re, ok: false, error: (err as Error).message }),
  );
});
process.on('disconnect', () => process.exit(0));
