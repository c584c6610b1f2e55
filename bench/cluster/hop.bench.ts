// The cost of a cross-node hop in a Colloquy cluster (docs/cluster.md): redis-server and three
// `colloquy serve` processes on loopback. A receiver joins on the session's home node. Measured,
// p50/p99 of ROUNDS rounds each (send → arrival at the receiver, all clients in this process):
//   - a client signal from a sender on the home node (direct) and from one on another node (its
//     signaling link to the home);
//   - a REST signal (the server SDK) sent to the home node and to another node (forwarded);
// and the CPU the proxying node spent per proxied signal.
// Usage: npm run cluster:hop -w @colloquy/bench   (ROUNDS=300 by default)

import { Colloquy } from '@colloquy/sdk-node';
import { startTestCluster, type ClusterNodeProcess } from '@colloquy/testing/cluster';
import { ProtocolClient } from '@colloquy/testing/protocol';
import { Redis } from 'ioredis';
import { readFileSync } from 'node:fs';
import { envInt, fmt, percentile } from '../lib/stats.js';

const ROUNDS = envInt('ROUNDS', 300);
const log = (line: string): void => void process.stdout.write(`${line}\n`);

/** CPU time (user + system) of a process so far, in ms, from /proc. */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

async function main(): Promise<void> {
  // Signals as fast as the rounds go: the per-connection rate limit is lifted.
  const cluster = await startTestCluster({ env: { COLLOQUY_SIGNAL_RATE: '100000', COLLOQUY_SIGNAL_BURST: '100000' } });
  const redis = new Redis(cluster.redis.url);
  try {
    const [n1] = cluster.nodes as [ClusterNodeProcess];
    const sdk = (node: ClusterNodeProcess): Colloquy => new Colloquy(cluster.apiKey, cluster.apiSecret, node.url);
    const { sessionId } = await sdk(n1).createSession({ mediaMode: 'routed' });
    const token = (): string => sdk(n1).generateToken(sessionId, { role: 'publisher' });
    // The first connect places the session; the receiver then sits on the home node.
    const probe = await ProtocolClient.join(n1.url, sessionId, token());
    const home = cluster.node((await redis.get(`colloquy:session:${sessionId}:home`))!);
    const other = cluster.nodes.find((n) => n !== home)!;
    const receiver = await ProtocolClient.join(home.url, sessionId, token());
    const direct = await ProtocolClient.join(home.url, sessionId, token());
    const proxied = await ProtocolClient.join(other.url, sessionId, token());
    probe.ws.close();

    let seq = 0;
    const arrival = (tag: string): Promise<number> =>
      receiver.next((m) => m.type === 'signal' && m['data'] === tag, 10_000).then(() => performance.now());

    const clientRounds = async (sender: ProtocolClient): Promise<number[]> => {
      const out: number[] = [];
      for (let i = 0; i < ROUNDS; i++) {
        const tag = `c${seq++}`;
        const arrived = arrival(tag);
        const at = performance.now();
        void sender.tryRequest({ type: 'signal', to: receiver.connectionId, signalType: 'hop', data: tag }).catch(() => {});
        out.push((await arrived) - at);
        // Paced under the server's per-socket message rate (a flood would cut the socket off).
        await new Promise((r) => setTimeout(r, 8));
      }
      return out;
    };
    const restRounds = async (node: ClusterNodeProcess): Promise<number[]> => {
      const client = sdk(node);
      const out: number[] = [];
      for (let i = 0; i < ROUNDS; i++) {
        const tag = `r${seq++}`;
        const arrived = arrival(tag);
        const at = performance.now();
        await client.signal(sessionId, receiver.connectionId, { type: 'hop', data: tag });
        out.push((await arrived) - at);
      }
      return out;
    };

    // Warm-up (JIT, keep-alive sockets), not counted.
    await clientRounds(direct);
    await clientRounds(proxied);
    const directMs = await clientRounds(direct);
    const otherCpuBefore = cpuMs(other.child.pid!);
    const proxiedMs = await clientRounds(proxied);
    const otherCpuPerSignal = (cpuMs(other.child.pid!) - otherCpuBefore) / ROUNDS;
    await restRounds(home);
    const restHomeMs = await restRounds(home);
    const restOtherMs = await restRounds(other);

    const row = (what: string, values: number[]): string => `| ${what} | ${fmt(percentile(values, 50), 2)} | ${fmt(percentile(values, 99), 2)} |`;
    log(`\nCluster hop on loopback, ${ROUNDS} rounds each (home ${home.id}, other ${other.id}); load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
    log('| signal to a client on the home node | p50 ms | p99 ms |');
    log('|---|---|---|');
    log(row('client signal, sender on the home node (direct)', directMs));
    log(row('client signal, sender on another node (over the signaling link)', proxiedMs));
    log(row('REST signal to the home node', restHomeMs));
    log(row('REST signal to another node (forwarded)', restOtherMs));
    log(`\nExtra latency of the signaling link's hop: p50 ${fmt(percentile(proxiedMs, 50) - percentile(directMs, 50), 2)} ms; of REST forwarding: p50 ${fmt(percentile(restOtherMs, 50) - percentile(restHomeMs, 50), 2)} ms`);
    log(`CPU of the node the sender reached, per signal over its link (its whole process, incl. heartbeats): ${fmt(otherCpuPerSignal * 1000, 0)} µs`);
    for (const c of [receiver, direct, proxied]) c.ws.close();
  } finally {
    redis.disconnect();
    await cluster.close();
  }
}

await main();
