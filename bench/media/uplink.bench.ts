// How a Chromium publisher converges on a limited uplink: the browser runs in a network namespace
// whose uplink is a tbf rate limit (RATE_KBPS, default 800), publishes through our SFU (session cap
// 2.5 Mbps), and each second we print what it sent, its own estimate, its encoder target, what the
// SFU received, the loss on the wire, its retransmissions, our NACKs and REMB. Two ways of telling
// it its uplink:
//   remb-delay    our delay-based REMB (abs-send-time arrival delays; bitrate-controller.ts);
//   remb          the default: REMB carries the cap, backed off on loss (MODES=remb to measure it);
//   transport-cc  our transport-wide feedback, Chromium's own estimator (REMB only the cap).
// The source (VIDEO) is by default the detailed camera clip (detailed-clip.ts: a Mandelbrot zoom,
// natural detail in steady motion, as a real camera's picture) as Chromium's camera at 640x360;
// VIDEO=pan a panning fine texture at 640x360, 30 fps (wants about 1.5 Mbps; Chromium's encoder
// sits at ~0.7 of its estimate on it); VIDEO=noise SOURCE=480x270 the first source, noise no frame
// predicts, which Chromium cannot encode to a target (its encoder target sank to half its estimate,
// in both modes, also unlimited); VIDEO=camera its fake camera (which wants ~200 kbps). Per mode
// RUNS runs, medians per second, then per run: when the RTP rate settled in [SETTLE_LOW, RATE_KBPS]
// kbps for good (every later second within), and from 6 s on the mean rates and the share of what
// was sent that did not arrive. The measurement itself is uplink-run.ts (shared with
// impairment.bench.ts, which also varies the queue depth). For diagnosis: CAP_KBPS (the REMB cap),
// AUDIO=0, CHROMIUM_ARGS (e.g. --force-fieldtrials=WebRTC-CongestionWindow/MinBitrate:30000/).
//   RUNS=3 SECONDS=20 RATE_KBPS=800 QUEUE_MS=300 [MODES=remb-delay,transport-cc] [VIDEO=detailed|pan|noise|camera] [SOURCE=640x360] npm run media:uplink -w @colloquy/bench   (needs root: namespaces)

import { envInt } from '../lib/stats.js';
import { parseModes, parseSource, pictureSize, runUplink } from './uplink-run.js';

const VIDEO = parseSource(process.env['VIDEO'] ?? 'detailed');

await runUplink({
  modes: parseModes(process.env['MODES'] ?? 'remb-delay,transport-cc'),
  runs: envInt('RUNS', 3),
  seconds: envInt('SECONDS', 20),
  rateKbps: envInt('RATE_KBPS', 800),
  queueMs: envInt('QUEUE_MS', 300),
  settleLow: envInt('SETTLE_LOW', 600),
  // The detailed camera or the panning texture at 640x360 unless told (VIDEO=noise SOURCE=480x270: the first source).
  ...pictureSize(VIDEO, process.env['SOURCE']),
  ...(process.env['AUDIO'] === '0' ? { audio: false } : {}),
  source: VIDEO,
  ...(process.env['CAP_KBPS'] ? { capKbps: envInt('CAP_KBPS', 2500) } : {}),
  ...(process.env['CHROMIUM_ARGS'] ? { chromiumArgs: process.env['CHROMIUM_ARGS'].split(' ').filter(Boolean) } : {}),
});
