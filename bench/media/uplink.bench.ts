// How a Chromium publisher converges on a limited uplink: the browser runs in a network namespace
// whose uplink is a tbf rate limit (RATE_KBPS, default 800), publishes a 1280x720 fake camera
// through our SFU (session cap 2.5 Mbps), and each second we print what it sent, its own
// estimate, what the SFU received and the loss on the wire. Two ways of telling it its uplink:
//   remb          the REMB-only controller (the cap, backing off on > 10 % loss);
//   transport-cc  our transport-wide feedback, Chromium's own estimator (REMB only the cap).
// The source is noise at 480x270, 15 fps (a picture that wants more than the link carries). Per
// mode RUNS runs, medians per second, then per run: when the RTP rate settled in [SETTLE_LOW,
// RATE_KBPS] kbps for good (every later second within), and from 6 s on the mean rates and the
// share of what was sent that did not arrive. The measurement itself is uplink-run.ts (shared
// with impairment.bench.ts, which also varies the queue depth).
//   RUNS=3 SECONDS=20 RATE_KBPS=800 QUEUE_MS=300 [MODES=remb] [SOURCE=640x360] npm run media:uplink -w @colloquy/bench   (needs root: namespaces)

import { envInt } from '../lib/stats.js';
import { parseModes, parseSource, runUplink, sourceSize } from './uplink-run.js';

await runUplink({
  modes: parseModes(process.env['MODES'] ?? 'remb,transport-cc'),
  runs: envInt('RUNS', 3),
  seconds: envInt('SECONDS', 20),
  rateKbps: envInt('RATE_KBPS', 800),
  queueMs: envInt('QUEUE_MS', 300),
  settleLow: envInt('SETTLE_LOW', 600),
  // A panning texture at 640x360, 30 fps by default (VIDEO=noise SOURCE=480x270: the old source).
  ...(process.env['SOURCE'] ? sourceSize(process.env['SOURCE']) : process.env['VIDEO'] && process.env['VIDEO'] !== 'pan' ? {} : { width: 640, height: 360 }),
  ...(process.env['AUDIO'] === '0' ? { audio: false } : {}),
  source: parseSource(process.env['VIDEO'] ?? 'pan'),
  ...(process.env['CAP_KBPS'] ? { capKbps: envInt('CAP_KBPS', 2500) } : {}),
  ...(process.env['CHROMIUM_ARGS'] ? { chromiumArgs: process.env['CHROMIUM_ARGS'].split(' ').filter(Boolean) } : {}),
});
