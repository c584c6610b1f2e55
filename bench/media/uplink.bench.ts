// How a Chromium publisher converges on a limited uplink: the browser runs in a network namespace
// whose uplink is a tbf rate limit (RATE_KBPS, default 800), publishes a 1280x720 fake camera
// through our SFU (session cap 2.5 Mbps), and each second we print what it sent, its own
// estimate, what the SFU received and the loss on the wire. Two ways of telling it its uplink:
//   remb          the REMB-only controller (the cap, backing off on > 10 % loss);
//   transport-cc  our transport-wide feedback, Chromium's own estimator (REMB only the cap).
// The source is noise at 480x270, 15 fps (a picture that wants more than the link carries). Per
// mode RUNS runs, medians per second, then per run: when the RTP rate settled in [SETTLE_LOW,
// RATE_KBPS] kbps for good (every later second within), and from 6 s on the mean rates and the
// share of what was sent that did not arrive.
//   RUNS=3 SECONDS=20 RATE_KBPS=800 QUEUE_MS=300 [MODES=remb] npm run media:uplink -w @colloquy/bench   (needs root: namespaces)

import { launchChromium } from '@colloquy/testing/browser';
import { deliveredLoss, sampleUplink, settledAt, startMediaHarness, type UplinkSample } from '@colloquy/testing/media';
import { chromiumInNamespace, createVethNamespace } from '@colloquy/testing/netem';
import type { UplinkEstimation } from '@colloquy/server';
import { envInt, median, table } from '../lib/stats.js';

const RUNS = envInt('RUNS', 3);
const SECONDS = envInt('SECONDS', 20);
const RATE_KBPS = envInt('RATE_KBPS', 800);
const SETTLE_LOW = envInt('SETTLE_LOW', 600);
/** How long the rate limiter queues before it drops (tbf latency; a home router: 300 ms). */
const QUEUE_MS = envInt('QUEUE_MS', 300);
/** MODES=remb (or transport-cc) measures one; both by default. */
const MODES: UplinkEstimation[] = (process.env['MODES'] ?? 'remb,transport-cc').split(',').map((m) => m.trim()).filter((m): m is UplinkEstimation => m === 'remb' || m === 'transport-cc');
if (MODES.length === 0) throw new Error('MODES: remb, transport-cc or both');

const ns = createVethNamespace('uplinkb');
const wrapper = chromiumInNamespace(ns);
const harness = await startMediaHarness({
  host: ns.hostAddress,
  rooms: Object.fromEntries(MODES.map((m) => [m, { uplinkEstimation: m }])),
});
const browser = await launchChromium({ executablePath: wrapper.path, args: [`--unsafely-treat-insecure-origin-as-secure=${new URL(harness.url).origin}`] });
ns.impair('up', { rateKbps: RATE_KBPS, queueMs: QUEUE_MS });
console.log(`uplink: ${ns.qdiscs('up')}`);

try {
  const results = new Map<UplinkEstimation, UplinkSample[][]>();
  for (let run = 0; run < RUNS; run++) {
    for (const mode of MODES) {
      const { page } = await browser.newPage();
      await page.goto(harness.url);
      const samples = await sampleUplink(page, harness.publishers, {
        room: mode,
        seconds: SECONDS,
        onSample: (s) => console.log(`${mode} run ${run + 1} ${JSON.stringify(s)}`),
      });
      await page.close();
      results.set(mode, [...(results.get(mode) ?? []), samples]);
    }
  }
  for (const mode of MODES) {
    const runs = results.get(mode)!;
    const med = (s: number, f: (x: UplinkSample) => number | null): string => {
      const values = runs.map((r) => f(r[s]!)).filter((v): v is number => v !== null);
      return values.length ? String(Math.round(median(values) * 10) / 10) : '-';
    };
    const rows: (string | number)[][] = [['second', 'RTP sent kbps', 'wire kbps', 'estimate kbps', 'encoder target kbps', 'SFU received kbps', 'lost % (our feedback)']];
    for (let s = 0; s < SECONDS; s++) {
      rows.push([
        s + 1,
        med(s, (x) => x.sentKbps),
        med(s, (x) => x.wireKbps),
        med(s, (x) => x.availableKbps),
        med(s, (x) => x.targetKbps),
        med(s, (x) => x.receivedKbps),
        med(s, (x) => x.feedbackLossPercent),
      ]);
    }
    console.log(`\n${mode}: ${RATE_KBPS} kbps uplink, medians of ${RUNS} runs\n${table(rows)}`);
    for (const [i, r] of runs.entries()) {
      const at = settledAt(r, SETTLE_LOW, RATE_KBPS);
      const late = r.filter((s) => s.second > 5);
      const mean = (f: (x: UplinkSample) => number | null): number => {
        const v = late.map(f).filter((x): x is number => x !== null);
        return v.length ? Math.round(v.reduce((a, b) => a + b, 0) / v.length) : NaN;
      };
      const overLink = late.filter((s) => s.sentKbps > RATE_KBPS).length;
      console.log(
        `${mode} run ${i + 1}: RTP rate in [${SETTLE_LOW}, ${RATE_KBPS}] kbps for good from ${at === null ? 'never' : `${at} s`}; ` +
          `seconds 6–${SECONDS}: mean RTP ${mean((x) => x.sentKbps)} kbps (${overLink} s above the link), estimate ${mean((x) => x.availableKbps)} kbps, ` +
          `encoder target ${mean((x) => x.targetKbps)} kbps, sent but not received ${deliveredLoss(late)} %` +
          (mode === 'transport-cc' ? `, lost by our feedback ${mean((x) => x.feedbackLossPercent)} % (max ${Math.max(...late.map((x) => x.feedbackLossPercent ?? 0))} %)` : ''),
      );
    }
  }
} finally {
  await browser.close();
  await harness.close();
  wrapper.remove();
  ns.remove();
}
