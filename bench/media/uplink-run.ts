// One uplink measurement (uplink.bench.ts, and case B of impairment.bench.ts): a Chromium in a
// network namespace whose uplink is a tbf rate limit (rateKbps, queue queueMs deep) publishes
// (`source`: noise at 480x270 15 fps unless told otherwise) through the media engine (session cap
// 2.5 Mbps); each second we record what it sent, its own estimate, its encoder target, what the SFU
// received, the loss on the wire, retransmissions, our NACKs and REMB, for
// each uplink estimation mode, `runs` times. Prints medians per second and a line per run; returns
// the per-run figures (from second 6 on: the mean RTP rate and the share sent but not received).
// The namespace, the browser and the harness are removed before it returns, also on a failure.

import { launchChromium } from '@colloquy/testing/browser';
import { deliveredLoss, sampleUplink, settledAt, startMediaHarness, type UplinkSample, type UplinkSource } from '@colloquy/testing/media';
import { chromiumInNamespace, createVethNamespace } from '@colloquy/testing/netem';
import type { UplinkEstimation } from '@colloquy/sfu';
import { median, table } from '../lib/stats.js';
import { detailedCameraArg } from './detailed-clip.js';

/** What the publisher sends: sampleUplink's sources, or the detailed camera clip as its camera. */
export type UplinkBenchSource = UplinkSource | 'detailed';

export interface UplinkOptions {
  modes: UplinkEstimation[];
  runs: number;
  seconds: number;
  rateKbps: number;
  /** How long the rate limiter queues before it drops (tbf latency; a home router: 300 ms). */
  queueMs: number;
  /** The low end of the settled band (kbps); the high end is rateKbps. */
  settleLow: number;
  /** The noise source's size (default 480x270, 15 fps). */
  width?: number;
  height?: number;
  /** The session's per-publisher cap (REMB), kbps; default the harness's 2.5 Mbps. */
  capKbps?: number;
  /** The video source (default noise; see sampleUplink), or `detailed`: the detailed camera clip (detailed-clip.ts) as Chromium's camera. */
  source?: UplinkBenchSource;
  /** Publish audio besides the video (default true). */
  audio?: boolean;
  /** Extra Chromium switches, for diagnosis (e.g. --force-fieldtrials=...): a real publisher's browser has none. */
  chromiumArgs?: string[];
  /** Print every second's sample as it comes. */
  verbose?: boolean;
}

export interface UplinkRun {
  mode: UplinkEstimation;
  /** First second from which the RTP rate stayed in [settleLow, rateKbps]; null: never. */
  settledAt: number | null;
  /** The same for the mean of the last 3 seconds (from second 3). */
  settledAt3s: number | null;
  /** Seconds 6 to the end: mean RTP rate sent, kbps. */
  meanKbps: number;
  /** Seconds 6 to the end: seconds whose RTP rate was above the link. */
  secondsOver: number;
  /** Seconds 6 to the end: % of the RTP bytes sent that the SFU did not receive. */
  lossPercent: number;
  /** Seconds 6 to the end: mean loss in our transport feedback, % (transport-cc only). */
  feedbackLossPercent: number | null;
  /** From second 2 (the first is the connection's start): the longest span without audio reaching the SFU, ms; null without audio. */
  audioGapMs: number | null;
}

/** Parses MODES-style text: remb, remb-delay, transport-cc (comma-separated). */
export function parseModes(text: string): UplinkEstimation[] {
  const modes = text.split(',').map((m) => m.trim()).filter((m): m is UplinkEstimation => m === 'remb' || m === 'remb-delay' || m === 'transport-cc');
  if (modes.length === 0) throw new Error('MODES: remb, remb-delay, transport-cc (comma-separated)');
  return modes;
}

export async function runUplink(o: UplinkOptions): Promise<UplinkRun[]> {
  const ns = createVethNamespace('uplinkb');
  const wrapper = chromiumInNamespace(ns);
  let harness: Awaited<ReturnType<typeof startMediaHarness>> | undefined;
  let browser: Awaited<ReturnType<typeof launchChromium>> | undefined;
  try {
    harness = await startMediaHarness({
      host: ns.hostAddress,
      rooms: Object.fromEntries(o.modes.map((m) => [m, { uplinkEstimation: m, ...(o.capKbps ? { maxIncomingBitrate: o.capKbps * 1000 } : {}) }])),
    });
    const camera = o.source === 'detailed' ? [detailedCameraArg()] : [];
    browser = await launchChromium({ executablePath: wrapper.path, args: [`--unsafely-treat-insecure-origin-as-secure=${new URL(harness.url).origin}`, ...camera, ...(o.chromiumArgs ?? [])] });
    ns.impair('up', { rateKbps: o.rateKbps, queueMs: o.queueMs });
    console.log(`uplink: ${ns.qdiscs('up')}`);
    const results = new Map<UplinkEstimation, UplinkSample[][]>();
    for (let run = 0; run < o.runs; run++) {
      for (const mode of o.modes) {
        const { page } = await browser.newPage();
        await page.goto(harness.url);
        const samples = await sampleUplink(page, harness.publishers, {
          room: mode,
          seconds: o.seconds,
          ...(o.width && o.height ? { width: o.width, height: o.height } : {}),
          ...(o.audio === false ? { audio: false } : {}),
          ...(o.source ? { source: o.source === 'detailed' ? 'camera' : o.source } : {}),
          ...(o.verbose === false ? {} : { onSample: (s: UplinkSample) => console.log(`${mode} run ${run + 1} ${JSON.stringify(s)}`) }),
        });
        await page.close();
        results.set(mode, [...(results.get(mode) ?? []), samples]);
      }
    }
    const out: UplinkRun[] = [];
    for (const mode of o.modes) {
      const runs = results.get(mode)!;
      const med = (s: number, f: (x: UplinkSample) => number | null): string => {
        const values = runs.map((r) => f(r[s]!)).filter((v): v is number => v !== null);
        return values.length ? String(Math.round(median(values) * 10) / 10) : '-';
      };
      const rows: (string | number)[][] = [['second', 'RTP sent kbps', 'wire kbps', 'estimate kbps', 'encoder target kbps', 'SFU received kbps', 'lost % (our feedback)', 'rtx kbps', 'NACKs', 'REMB kbps', 'RTCP RTT ms', 'limited by', 'audio gap ms (SFU)']];
      for (let s = 0; s < o.seconds; s++) {
        rows.push([s + 1, med(s, (x) => x.sentKbps), med(s, (x) => x.wireKbps), med(s, (x) => x.availableKbps), med(s, (x) => x.targetKbps), med(s, (x) => x.receivedKbps), med(s, (x) => x.feedbackLossPercent), med(s, (x) => x.rtxKbps), med(s, (x) => x.nacks), med(s, (x) => x.rembKbps), med(s, (x) => x.rttMs), mostCommon(runs.map((r) => r[s]!.limitation)), med(s, (x) => x.audioGapMs)]);
      }
      console.log(`\n${mode}: ${o.rateKbps} kbps uplink, tbf queue ${o.queueMs} ms, ${o.source ?? 'noise'} ${o.width ?? 480}x${o.height ?? 270}, medians of ${o.runs} runs\n${table(rows)}`);
      for (const [i, r] of runs.entries()) {
        const at = settledAt(r, o.settleLow, o.rateKbps);
        const at3 = settledAt(r, o.settleLow, o.rateKbps, 3);
        const late = r.filter((s) => s.second > 5);
        const mean = (f: (x: UplinkSample) => number | null): number => {
          const v = late.map(f).filter((x): x is number => x !== null);
          return v.length ? Math.round(v.reduce((a, b) => a + b, 0) / v.length) : NaN;
        };
        const overLink = late.filter((s) => s.sentKbps > o.rateKbps).length;
        const result: UplinkRun = {
          mode,
          settledAt: at,
          settledAt3s: at3,
          meanKbps: mean((x) => x.sentKbps),
          secondsOver: overLink,
          lossPercent: deliveredLoss(late),
          feedbackLossPercent: mode === 'transport-cc' ? mean((x) => x.feedbackLossPercent) : null,
          audioGapMs: longestAudioGap(r),
        };
        out.push(result);
        console.log(
          `${mode} run ${i + 1}: RTP rate in [${o.settleLow}, ${o.rateKbps}] kbps for good from ${at === null ? 'never' : `${at} s`} per second, ` +
            `${at3 === null ? 'never' : `${at3} s`} as a 3 s mean; ` +
            `seconds 6–${o.seconds}: mean RTP ${result.meanKbps} kbps (${overLink} s above the link), estimate ${mean((x) => x.availableKbps)} kbps, ` +
            `encoder target ${mean((x) => x.targetKbps)} kbps, retransmissions ${mean((x) => x.rtxKbps)} kbps, payload sent but not received ${result.lossPercent} %` +
            (mode === 'transport-cc' ? `, lost by our feedback ${result.feedbackLossPercent} % (max ${Math.max(...late.map((x) => x.feedbackLossPercent ?? 0))} %)` : '') +
            (result.audioGapMs === null ? '' : `; longest audio gap at the SFU from 1 s: ${result.audioGapMs} ms`),
        );
      }
    }
    return out;
  } finally {
    await browser?.close();
    await harness?.close();
    wrapper.remove();
    ns.remove();
  }
}

/** The longest audio gap at the SFU from second 2 on (ms), or null without audio. */
function longestAudioGap(samples: UplinkSample[]): number | null {
  const gaps = samples.filter((s) => s.second > 1 && s.audioGapMs !== null).map((s) => s.audioGapMs!);
  return gaps.length ? Math.max(...gaps) : null;
}

function mostCommon(values: string[]): string {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1])[0]?.[0] ?? '-';
}

/** VIDEO=noise|pan|camera|detailed: the video source. */
export function parseSource(text: string): UplinkBenchSource {
  if (text === 'noise' || text === 'pan' || text === 'camera' || text === 'detailed') return text;
  throw new Error(`VIDEO: noise, pan, camera or detailed; got ${text}`);
}

/** The picture's size: SOURCE=WxH when given, else 640x360 for the detailed camera and the pan texture, else sampleUplink's default (480x270). */
export function pictureSize(source: UplinkBenchSource, text: string | undefined): { width?: number; height?: number } {
  if (text) return sourceSize(text);
  return source === 'detailed' || source === 'pan' ? { width: 640, height: 360 } : {};
}

/** SOURCE=WxH: the noise source's size, or nothing (the default). */
export function sourceSize(text: string | undefined): { width?: number; height?: number } {
  if (!text) return {};
  const m = /^(\d+)x(\d+)$/.exec(text);
  if (!m) throw new Error(`SOURCE: WxH, e.g. 640x360; got ${text}`);
  return { width: Number(m[1]), height: Number(m[2]) };
}
