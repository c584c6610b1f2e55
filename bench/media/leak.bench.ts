// Resources after many publish/subscribe/leave cycles with Node WebRTC clients (both ends in this
// process, both closed every cycle): UDP sockets, timers and other handles must return to the
// baseline; heap after GC must stay flat. Prints figures at checkpoints.
//   CYCLES=1000 npm run media:leak -w @colloquy/bench   (node --expose-gc)

import { MediaEngine } from '@colloquy/sfu';
import { activeResources, joinLeaveCycle, makeTestMedia } from '@colloquy/testing/media';
import { pino } from 'pino';
import { envInt, table } from '../lib/stats.js';

const CYCLES = envInt('CYCLES', 1000);
const media = makeTestMedia({ seconds: 1, gop: 30 });
const engine = new MediaEngine({ logger: pino({ level: 'silent' }), portRange: [42000, 42999] });
const router = engine.createRouter({ id: 'leak' });

const gc = (globalThis as { gc?: () => void }).gc;
async function settle(): Promise<void> {
  await new Promise((r) => setTimeout(r, 1500)); // let closing sockets and last timers finish
  gc?.();
  gc?.();
}

function snapshot(cycle: number, started: number): (string | number)[] {
  const r = activeResources();
  const mem = process.memoryUsage();
  return [
    cycle,
    r['UDPWRAP'] ?? 0,
    r['Timeout'] ?? 0,
    Object.values(r).reduce((a, b) => a + b, 0),
    (mem.heapUsed / 1048576).toFixed(1),
    (mem.rss / 1048576).toFixed(1),
    router.transportCount,
    Math.round((Date.now() - started) / 1000),
  ];
}

if (!gc) console.log('(run with node --expose-gc for heap figures after GC)');
const rows: (string | number)[][] = [['cycles', 'UDP sockets', 'timers', 'all handles', 'heap MB', 'rss MB', 'transports', 'seconds']];
const started = Date.now();
await settle();
rows.push(snapshot(0, started));
const checkpoints = new Set([10, 100, 250, 500, 750, 1000, CYCLES]);
for (let i = 1; i <= CYCLES; i++) {
  await joinLeaveCycle(router, media);
  if (checkpoints.has(i)) {
    await settle();
    rows.push(snapshot(i, started));
    console.log(`... ${i} cycles`);
  }
}
await engine.close();
await settle();
rows.push(['engine closed', ...snapshot(CYCLES, started).slice(1)]);
console.log(`\n${CYCLES} join/leave cycles (publisher audio+video and one subscriber, media flowing, all closed each cycle)\n`);
console.log(table(rows));
