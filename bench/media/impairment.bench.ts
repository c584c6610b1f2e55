// Quality under impairment (issue 15, acceptance 2), through the real server, SFU and browser SDK.
//
// Case A — a weak subscriber among healthy ones: P publishers (pages of one Chromium on this machine)
// publish the fake camera at 1280x720 30 fps, simulcast (three layers: 320, 640, 1280 px) in a
// routed session; S subscribers subscribe to every stream, S-1 of them healthy (load-tool clients,
// or with HEALTHY=chromium pages of that same Chromium) and one in a second Chromium inside a
// network namespace (packages/testing netem.ts: veth + tbf + nftables loss). After a baseline, the
// namespace's downlink is limited to LIMIT_KBPS (500) with LOSS (2) % random loss for SECONDS,
// then lifted for up to RECOVER_SECONDS. Every subscriber reads what it receives every SAMPLE_MS
// (50) ms (a page its inbound-rtp: framesDecoded, frameWidth, bytes, audio packets), and from
// that we print per subscriber and stream: the limited one's settle time (the last change of decoded
// width, or of videoDisabled/videoEnabled, while limited), freeze share (no decoded frame for
// > 500 ms, the whole gap counted; over the whole limit and from 5 s into it), layer, and after the lift the time until 1280 px is decoded
// again and held for 3 s; the others' received bitrate and width per stream while the limit is on;
// the longest span without a new audio packet at every subscriber (by polling, so at best SAMPLE_MS
// resolution; and a lower bound from the browser's lastPacketReceivedTimestamp); what each
// publisher sent per layer; the SFU's estimate and forwarded layers for the limited subscriber once
// a second; the limited subscriber's layer timeline as an ASCII plot; and each publisher's own view
// once a second (its estimate, per-layer rates, our feedback and reports to it, werift's DTLS state).
// The DELAY_MS (50) one-way delay goes by tc netem where the kernel has it, else by the harness's
// userspace delay line (an NFQUEUE program: this machine's kernel has no sch_netem); the bench says
// which when it starts. The delay sits after the rate limit on the way to the limited subscriber.
//
// Case B — a publisher behind an 800 kbps uplink (tbf): uplink-run.ts (as media:uplink) for REMB and
// transport-cc, at each tbf queue depth of QUEUES_MS (50, 300, 1000 ms); the publisher's picture is
// the detailed camera at 640x360 (UPLINK_VIDEO=pan|noise|camera for the others).
//
//   RUNS=2 SECONDS=20 RECOVER_SECONDS=30 SIZES=3x4,1x2 CASES=A,B npm run media:impairment -w @colloquy/bench   (root: namespaces)
//   VIDEO=detailed: the publishers' camera is a detailed 1280x720 clip (see VIDEO below) instead of Chromium's flat fake camera.
//   PUBLISHERS=1 SUBSCRIBERS=2 (instead of SIZES) measures one size; B: UPLINK_RUNS, UPLINK_SECONDS, RATE_KBPS, QUEUES_MS, MODES, UPLINK_VIDEO, SOURCE (its size).
//   HEALTHY=load (the default): the S-1 healthy subscribers are load-tool clients (impairment-load-subscribers.ts:
//   werift, transport feedback as Chromium sends it; they count whole frames received and read the
//   width from keyframes, and have no audio playout, so no audible gap); HEALTHY=chromium: pages of
//   the publishers' Chromium, which at the 3x4 size take this 2-core machine past what it carries
//   (load 16–20 on 7 December 2026: the healthy subscribers themselves got 557–661 kbps at 640 px).
//   SERVER_NICE=-10: the server's main thread at that nice value while measuring.
//   ONSET=join: the limit is in place before the limited subscriber subscribes (default drop: on mid-call).
//
// Namespaces, the page server, the server and both Chromiums are removed when a run ends, fails or
// the process is interrupted (SIGINT/SIGTERM exit through netem.ts's exit hook).

import { longestAudibleGapMs } from '@colloquy/testing/audio-gaps';
import { launchChromium, type TestBrowser, type TestPage } from '@colloquy/testing/browser';
import { getPriority, loadavg, setPriority } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { chromiumInNamespace, createVethNamespace, delayMechanism, type VethNamespace } from '@colloquy/testing/netem';
import { startSdkApp, type SdkApp } from '../lib/sdk-app.js';
import { envInt, kbps, median, table } from '../lib/stats.js';
import { detailedCameraArg } from './detailed-clip.js';
import { LoadSubscribers } from './impairment-load-subscribers.js';
import { impairmentPage, publisherSeconds, type PubEncoding, type PubRow } from './impairment-page.js';
import { parseModes, parseSource, pictureSize, runUplink, type UplinkRun } from './uplink-run.js';

const envNumber = (name: string, fallback: number): number => {
  const n = Number(process.env[name]);
  return process.env[name] !== undefined && Number.isFinite(n) && n >= 0 ? n : fallback;
};
const RUNS = envInt('RUNS', 2);
const CASES = (process.env['CASES'] ?? 'A,B').split(',').map((c) => c.trim().toUpperCase());
const SIZES: [number, number][] =
  process.env['PUBLISHERS'] || process.env['SUBSCRIBERS']
    ? [[envInt('PUBLISHERS', 3), envInt('SUBSCRIBERS', 4)]]
    : (process.env['SIZES'] ?? '3x4,1x2').split(',').map((s) => {
        const [p, q] = s.split('x').map(Number);
        if (!Number.isInteger(p) || !Number.isInteger(q) || p! < 1 || q! < 2) throw new Error(`SIZES: PxS with P ≥ 1, S ≥ 2; got ${s}`);
        return [p!, q!];
      });
const SECONDS = envInt('SECONDS', 20);
const RECOVER_SECONDS = envInt('RECOVER_SECONDS', 30);
const BASELINE_SECONDS = envInt('BASELINE_SECONDS', 5);
const WARMUP_SECONDS = envInt('WARMUP_SECONDS', 90);
const SAMPLE_MS = envInt('SAMPLE_MS', 50);
const LIMIT_KBPS = envInt('LIMIT_KBPS', 500);
const LOSS = envNumber('LOSS', 2);
const DELAY_MS = envNumber('DELAY_MS', 50);
/**
 * The limited link's queue (tbf latency, ms): 300 by default, a home router's. The onset's gaps
 * grow with it: an overdriven limit fills it within ~40 ms, so the audio's one-way delay jumps by
 * that much (and packets that meet it full are dropped) until a cut's effect reaches it.
 */
const LIMIT_QUEUE_MS = envInt('LIMIT_QUEUE_MS', 300);
/**
 * When the limit comes: `drop` (the default) mid-call, once the limited subscriber decodes the top
 * layer of every stream (its link falls to LIMIT_KBPS under ~4.5 Mbps of video: a 9× overdrive
 * that fills the link's queue within ~40 ms, before any feedback can tell the SFU); `join`, before
 * it subscribes (a participant on a weak link joins the call: the acceptance's "one subscriber
 * limited to 500 kbps"), its clocks (settle, freeze, audio) from its subscribe and, for freezes and
 * audio gaps, from each stream's first decoded frame and the first audio packet (the time to them
 * printed apart).
 */
const ONSET = process.env['ONSET'] ?? 'drop';
if (ONSET !== 'drop' && ONSET !== 'join') throw new Error(`ONSET: drop or join; got ${ONSET}`);
/** How the delay is added: tc netem, or the harness's userspace delay line where the kernel has no netem. */
const DELAY_BY = delayMechanism() === 'netem' ? 'tc netem' : 'userspace delay line: this kernel has no tc netem';
const FREEZE_MS = 500;
/**
 * The acceptance's "settles on a layer within 5 s with freezes under 2 % of the time": freezes are
 * printed over the whole limit (its onset included: the 300 ms queue the limit fills drops the
 * frames in flight, and the picture waits for the lower layer's keyframe behind it) and from
 * this long after it, the settled state.
 */
const SETTLE_MS = 5000;
/**
 * The publishers' camera: Chromium's fake one (a mostly flat picture: its 1280 px layer carries
 * ~800 kbps whatever it may send) or `detailed`, a Mandelbrot zoom at 1280x720 30 fps that
 * Chromium loops as its camera (--use-file-for-fake-video-capture), which takes the 2.5 Mbps
 * a 720p layer may have (libvpx realtime at 2.5 Mbps: 2.6 Mbps on it), as a real camera's picture
 * does.
 */
const VIDEO = process.env['VIDEO'] ?? 'camera';
if (VIDEO !== 'camera' && VIDEO !== 'detailed') throw new Error(`VIDEO: camera or detailed; got ${VIDEO}`);
const TOP_WIDTH = 1280;
/**
 * SERVER_NICE=-10: the server's main thread (this process's: the SFU forwards on it) runs at this
 * nice value while a run measures (from the baseline to the end; restored before the next run
 * launches anything, which would inherit it). On this 2-core machine the publishers' and the
 * subscribers' Chromium hold it off the CPU for 100–700 ms at a time (the SFU line's HN), and
 * every subscriber's media stalls with it: the field's server has cores of its own. Needs root.
 */
const SERVER_NICE = process.env['SERVER_NICE'] === undefined ? null : Number(process.env['SERVER_NICE']);
if (SERVER_NICE !== null && (!Number.isInteger(SERVER_NICE) || SERVER_NICE < -20 || SERVER_NICE > 19)) throw new Error(`SERVER_NICE: an integer from -20 to 19; got ${process.env['SERVER_NICE']}`);
/** The healthy subscribers: load-tool clients (LoadSubscribers; default) or Chromium pages. */
const HEALTHY = process.env['HEALTHY'] ?? 'load';
if (HEALTHY !== 'chromium' && HEALTHY !== 'load') throw new Error(`HEALTHY: chromium or load; got ${HEALTHY}`);

type Row = [at: number, frames: number, width: number, bytes: number, audio: number, audioAge: number, nacks: number, plis: number, keyFrames: number, lost: number, concealed: number, jitterBufferMs: number, jitterBufferFrames: number, framesReceived: number, framesDropped: number];
interface Sub {
  name: string;
  limited: boolean;
  /** Its page when it is a Chromium one. */
  page: TestPage | null;
  /** The rows gathered since the last call, per stream id (`stop`: and stop gathering). */
  take(stop: boolean): Promise<Record<string, Row[]>>;
  /** Rows per stream id. */
  rows: Map<string, Row[]>;
}

/** A Chromium subscriber: its page's rows (impairment-page.ts). */
function pageSub(name: string, limited: boolean, page: TestPage): Sub {
  return { name, limited, page, rows: new Map(), take: async (stop) => (await page.page.evaluate((st) => (window as any).rows(st), stop)) as Record<string, Row[]> };
}

/** A load-tool subscriber (HEALTHY=load): its samples as rows; what only a browser reports (NACKs, concealment, the jitter buffer) is 0. */
function loadSub(name: string, group: LoadSubscribers): Sub {
  const take = async (): Promise<Record<string, Row[]>> => {
    const got = await group.take(name);
    return Object.fromEntries(Object.entries(got).map(([id, samples]) => [id, samples.map((x): Row => [x.at, x.videoFrames, x.width, x.videoBytes, x.audioPackets, 0, 0, 0, x.keyFrames, x.videoLost, 0, 0, 0, x.videoFrames, 0])]));
  };
  return { name, limited: false, page: null, rows: new Map(), take };
}

/** Called at every pull (once a second): the SFU's view of the limited subscriber. */
let onPull: () => void = () => {};

/** Takes the rows gathered in each page since the last call. */
async function pull(subs: Sub[], stop = false): Promise<void> {
  onPull();
  await Promise.all(
    subs.map(async (s) => {
      const got = await s.take(stop);
      for (const [id, rows] of Object.entries(got)) s.rows.set(id, [...(s.rows.get(id) ?? []), ...rows]);
    }),
  );
}

/** Waits (pulling rows each second) until `test` holds or `ms` pass; true if it held. */
async function waitPulling(subs: Sub[], ms: number, test: () => boolean = () => false): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    await new Promise((r) => setTimeout(r, Math.min(1000, end - Date.now())));
    await pull(subs);
    if (test()) return true;
  }
  return test();
}

const within = (rows: Row[], from: number, to: number): Row[] => rows.filter((r) => r[0] >= from && r[0] <= to);

/** Decoding in [from, to]: frames advanced in the last rows of the window. */
function decodingAt(rows: Row[], at: number, windowMs = 1000): { width: number } | null {
  const w = within(rows, at - windowMs, at);
  if (w.length < 2 || w[w.length - 1]![1] <= w[0]![1]) return null;
  return { width: w[w.length - 1]![2] };
}

/** ms frozen in [from, to]: every span without a newly decoded frame longer than FREEZE_MS, whole. */
function frozenMs(rows: Row[], from: number, to: number): number {
  const w = within(rows, from, to);
  let frozen = 0;
  let lastAdvance = from;
  for (let i = 1; i < w.length; i++) {
    if (w[i]![1] > w[i - 1]![1]) {
      if (w[i]![0] - lastAdvance > FREEZE_MS) frozen += w[i]![0] - lastAdvance;
      lastAdvance = w[i]![0];
    }
  }
  if (to - lastAdvance > FREEZE_MS) frozen += to - lastAdvance;
  return frozen;
}

/** A probe's pacing when it went unusually (ended other than by its length or bytes, ticks stalled, padding refused), else nothing. */
function pacingNote(p: { durationMs: number; endedBy: string; longestTickGapMs: number; refusedPackets: number }): string {
  const notes: string[] = [];
  if (p.endedBy !== 'duration' && p.endedBy !== 'bytes') notes.push(`ended by ${p.endedBy}`);
  if (p.longestTickGapMs > 60) notes.push(`pacing stalled ${p.longestTickGapMs} ms of ${p.durationMs}`);
  if (p.refusedPackets > 0) notes.push(`${p.refusedPackets} padding packets refused`);
  return notes.length ? `; ${notes.join(', ')}` : '';
}

/** Spans of more than `minMs` without a newly decoded frame between `from` and `to`, as "start+length" ms from `origin`. */
function frameGaps(rows: Row[], from: number, to: number, origin: number, minMs = 150): string[] {
  const w = within(rows, from, to);
  const gaps: string[] = [];
  let last = w[0]?.[0] ?? from;
  for (let i = 1; i < w.length; i++) {
    if (w[i]![1] <= w[i - 1]![1]) continue;
    if (w[i]![0] - last > minMs) gaps.push(`${last - origin}+${w[i]![0] - last}`);
    last = w[i]![0];
  }
  return gaps;
}

/** The longest span between two rows where audio packets rose (whole window), and the longest lastPacketReceivedTimestamp age seen. */
function audioGap(rows: Row[], from: number, to: number): { pollMs: number; ageMs: number; at: number } {
  const w = within(rows, from, to);
  let longest = 0;
  let at = from;
  let since = w[0]?.[0] ?? from;
  for (let i = 1; i < w.length; i++) {
    if (w[i]![4] > w[i - 1]![4]) {
      if (w[i]![0] - since > longest) [longest, at] = [w[i]![0] - since, since];
      since = w[i]![0];
    }
  }
  if ((w[w.length - 1]?.[0] ?? to) - since > longest) [longest, at] = [(w[w.length - 1]?.[0] ?? to) - since, since];
  return { pollMs: longest, ageMs: Math.max(0, ...w.map((r) => r[5])), at };
}

/** The longest audible gap between `from` and `to` (ms): see longestAudibleGapMs. */
function audibleGap(rows: Row[], from: number, to: number): number {
  return longestAudibleGapMs(within(rows, from, to).map((r) => ({ at: r[0], concealedSamples: r[10] })));
}

/** How long the top layer must hold after the lift to count as back (a brief switch up and down again does not). */
const TOP_HOLD_MS = 3000;

/** The first row after `after` from which the decoded width is TOP_WIDTH (with new frames) and stays so for TOP_HOLD_MS; null if none. */
function topHeldSince(rows: Row[], after: number): number | null {
  let start: number | null = null;
  for (let k = 1; k < rows.length; k++) {
    const r = rows[k]!;
    if (r[0] <= after) continue;
    if (r[2] !== TOP_WIDTH) start = null;
    else if (start === null && r[1] > rows[k - 1]![1]) start = r[0];
    if (start !== null && r[0] - start >= TOP_HOLD_MS) return start;
  }
  return null;
}

const layerOf = (width: number): number => (width >= 960 ? 2 : width >= 480 ? 1 : width > 0 ? 0 : -1);

/** The limited subscriber's layer per stream over time, 500 ms a column: rows L2/L1/L0/frozen. */
function plot(sub: Sub, streams: string[], from: number, limitAt: number, liftAt: number, to: number): string {
  const step = 500;
  const columns = Math.ceil((to - from) / step);
  const lines: string[] = [];
  let axis = '';
  let marks = '';
  for (let c = 0; c < columns; c++) {
    const t = from + c * step;
    axis += (t - limitAt) % 10_000 >= 0 && (t - limitAt) % 10_000 < step ? '+' : '-';
    marks += t <= limitAt && limitAt < t + step ? 'L' : t <= liftAt && liftAt < t + step ? 'U' : ' ';
  }
  lines.push(`${' '.repeat(19)}${marks}   (L: limit on, U: lifted; a column is ${step} ms, + every 10 s from the limit)`);
  for (const [i, id] of streams.entries()) {
    const rows = sub.rows.get(id) ?? [];
    const cells: number[] = [];
    for (let c = 0; c < columns; c++) {
      const w = within(rows, from + c * step - 1, from + (c + 1) * step);
      const advanced = w.length >= 2 && w[w.length - 1]![1] > w[0]![1];
      cells.push(advanced ? layerOf(Math.max(...w.map((r) => r[2]))) : -1);
    }
    const label = `stream ${i + 1}`;
    for (const level of [2, 1, 0, -1]) {
      const name = level >= 0 ? `L${level} ${level === 2 ? '1280' : level === 1 ? ' 640' : ' 320'}` : 'frozen ';
      lines.push(`${(level === 2 ? label : '').padEnd(9)}${name.padStart(8)} |${cells.map((v) => (v === level ? (level >= 0 ? '#' : 'x') : ' ')).join('')}|`);
    }
    lines.push(`${''.padEnd(17)} +${axis}+`);
  }
  return lines.join('\n');
}

interface ARun {
  size: string;
  /** Per stream of the limited subscriber. */
  settleMs: (number | null)[];
  settledWidth: number[];
  freezePercent: number[];
  /** The same from SETTLE_MS after the limit (the settled state the acceptance asks about) to the lift. */
  settledFreezePercent: number[];
  /** ONSET=join: from its subscribe to each stream's first decoded frame, and to its first audio packet (ms; drop: 0). */
  firstFrameMs: number[];
  firstAudioMs: number;
  topBackMs: (number | null)[];
  /** After the lift, until the limited one decodes (at least) the width a healthy subscriber decodes then. */
  backToPeerMs: (number | null)[];
  /** Per healthy subscriber and stream while limited. */
  othersKbps: number[];
  othersWidth: number[];
  othersFreezePercent: number[];
  /** Per subscriber (limited first): max audio gap, poll, ms. */
  audioGapMs: number[];
  /** The longest audible gap (concealment) per subscriber, limited first (audibleGap); null for a load-tool one (no playout). */
  audibleGapMs: (number | null)[];
  /** The limited subscriber's outside the limit's first SETTLE_MS. */
  settledAudibleGapMs: number;
  /** The limited subscriber's longest audio gap outside the limit's first SETTLE_MS (the queue it fills at once delays and drops what is in flight). */
  settledAudioGapMs: number;
  sampleIntervalMs: number;
  events: string[];
}

async function runA(publishers: number, subscribers: number, run: number): Promise<ARun> {
  const size = `${publishers}x${subscribers}`;
  let ns: VethNamespace | undefined;
  let wrapper: { path: string; remove(): void } | undefined;
  let app: SdkApp | undefined;
  let hostBrowser: TestBrowser | undefined;
  let limitedBrowser: TestBrowser | undefined;
  let loadSubscribers: LoadSubscribers | undefined;
  // The server's event loop (this process's): the longest it was held in each second. Held, the
  // SFU forwards nothing to anyone, and every subscriber's video and audio stall together.
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const niceBefore = getPriority();
  try {
    ns = createVethNamespace('impair');
    wrapper = chromiumInNamespace(ns);
    onExit.add(wrapper.remove);
    const host = ns.hostAddress;
    app = await startSdkApp(impairmentPage, { HOST: host, COLLOQUY_ANNOUNCED_IP: host, COLLOQUY_RTC_LISTEN_IP: host }, host);
    const secure = [`--unsafely-treat-insecure-origin-as-secure=${new URL(app.url).origin},${new URL(app.t.url).origin}`];
    hostBrowser = await launchChromium({ args: VIDEO === 'detailed' ? [...secure, detailedCameraArg()] : secure });
    limitedBrowser = await launchChromium({ executablePath: wrapper.path, args: secure });
    const { sessionId } = await app.sdk.createSession({ mediaMode: 'routed' });
    const open = async (browser: TestBrowser): Promise<TestPage> => {
      const p = await browser.newPage();
      await p.page.goto(app!.url);
      await p.page.evaluate(([k, s, tk]) => (window as any).join(k, s, tk), [app!.t.apiKey, sessionId, app!.sdk.generateToken(sessionId)] as const);
      return p;
    };
    const streams: string[] = [];
    const pubPages: TestPage[] = [];
    for (let i = 0; i < publishers; i++) {
      const p = await open(hostBrowser);
      pubPages.push(p);
      streams.push((await p.page.evaluate(() => (window as any).publish())) as string);
      await p.page.evaluate(() => (window as any).pubSample());
    }
    const subs: Sub[] = [];
    const limitedPage = await open(limitedBrowser);
    const limitedConnection = (await limitedPage.page.evaluate(() => (window as any).session.connection.connectionId)) as string;
    subs.push(pageSub('limited', true, limitedPage));
    // Once a second: the SFU's downlink estimate for the limited subscriber and the layer it forwards per stream (-1: none, 'off': video off for quality).
    const sfu: { at: number; estimateKbps: number; loss: number; layers: (number | string)[]; audio: string; probe: string; repair: string; heldMs: number }[] = [];
    /** The limited subscriber's repair counters at the last pull (NACKs, held, resent, not resent, PLIs, repair keyframes; saturation cuts). */
    let repairBefore = [0, 0, 0, 0, 0, 0, 0];
    let probeSeen: unknown = null;
    let startupSeen = false;
    let cutSeen = -Infinity;
    let audioPacketsBefore: { packets: number; at: number } | null = null;
    /** When the limit went on, in the server's performance.now() (cuts in its first seconds print their ms from it). */
    let limitClock = Infinity;
    /**
     * Every 500 ms, per publisher: the SFU's transport-cc counters for its uplink (packets numbered
     * seen, feedback messages sent, packets late), what our receiver reports count (packets received
     * and cumulative lost over its media SSRCs), and werift's DTLS state for it, with the error that
     * failed it if one did (dump().dtls).
     */
    const uplinkFeedback: { at: number; counts: [number, number, number, number, number][]; dtls: string[] }[] = [];
    onPull = () => {
      const live = app!.t.server.sessions.live(sessionId);
      if (!live) return;
      if (Date.now() - (uplinkFeedback.at(-1)?.at ?? 0) >= 500) {
        const sample: (typeof uplinkFeedback)[number] = { at: Date.now(), counts: [], dtls: [] };
        uplinkFeedback.push(sample);
        for (const id of streams) {
          const transport = live.streams.get(id)?.transport;
          const fb = transport?.getStats().transportFeedback;
          const dump = transport?.dump();
          const ssrcs = ((dump?.['receivePath'] as { ssrcs?: { rtx: boolean; packets: number; lost: number }[] } | null | undefined)?.ssrcs ?? []).filter((x) => !x.rtx);
          sample.counts.push([fb?.packets ?? 0, fb?.messages ?? 0, ssrcs.reduce((a, x) => a + x.packets, 0), ssrcs.reduce((a, x) => a + x.lost, 0), fb?.late ?? 0]);
          const dtls = dump?.['dtls'] as { state?: string; lastError?: string; lateFlightsSkipped?: number } | null | undefined;
          // A late flight 5 the DTLS client guard skipped shows as connected/connected+late1 (it failed werift's DTLS before).
          const late = dtls?.lateFlightsSkipped ? `+late${dtls.lateFlightsSkipped}` : '';
          sample.dtls.push(`${transport?.state ?? '-'}/${dtls?.state ?? '-'}${late}${dtls?.lastError ? `[${dtls.lastError.replace(/\s+/g, '_')}]` : ''}`);
        }
      }
      const mine = [...live.subscriptions.values()].filter((x) => x.connection.id === limitedConnection);
      const downlink = mine.find((x) => x.transport)?.transport?.getStats().downlink;
      if (!downlink) return;
      const layers = streams.map((id) => {
        const video = mine.find((x) => x.stream.id === id)?.consumers.find((c) => c.kind === 'video');
        // The spatial layer, and "tN" when the allocator forwards it up to TID N only (a lower frame
        // rate); ">N" the layer it waits to switch to; "p" paused (subscribeToVideo false), "P" its
        // producer paused; "@N" what the consumer sent over its last second (kbps), under 1 Mbps.
        if (!video) return -1;
        if (video.qualityDisabled) return 'off' as const;
        const st = video.getStats();
        const sent = Math.round(st.bitrate / 1000);
        // Waiting to switch: ">N", and each of the producer's layers' state in brackets (F flowing and
        // active, f flowing but asked to pause, A active and not flowing, - neither), and the
        // producer's keyframe requests sent so far (k).
        const flows = video.producer.layers.map((l) => (l.bitrate > 0 ? (l.active ? 'F' : 'f') : l.active ? 'A' : '-')).join('');
        const target = st.targetLayer !== undefined && st.targetLayer !== video.currentLayer ? `>${st.targetLayer}[${flows} k${(video.producer as { getStats?: () => { pliCount?: number } }).getStats?.().pliCount ?? '?'}]` : '';
        return `${video.currentLayer}${video.bandwidthTemporalLayer < 3 ? `t${video.currentTemporalLayer}` : ''}${target}${st.paused ? 'p' : ''}${st.producerPaused ? 'P' : ''}${sent < 1000 ? `@${sent}` : ''}`;
      });
      // A probe read since the last pull: its target → measured kbps (send / receive rate, packets, lost).
      let probe = '';
      const last = downlink.lastProbe;
      if (last && last !== probeSeen) {
        probeSeen = last;
        const d = last.detail;
        probe = ` probe ${kbps(last.target)}→${kbps(last.measured)}${last.outcome === 'succeeded' ? '' : ` ${last.outcome}`} (padding ${Math.round(last.paddingBytes / 1000)} kB, ${last.numbered} pk numbered${d ? `, s ${kbps(d.sendRate)} over ${d.sendSpan} ms/r ${kbps(d.recvRate)} over ${d.recvSpan} ms${d.drainRate === null ? '' : `, drained ${kbps(d.drainRate)}`}, ${d.packets} pk, ${d.lost} lost` : ''}${pacingNote(last.pacing)})`;
      }
      // The estimate's decreases since the last pull: reason (s saturation, o overuse, l loss), from→to kbps, and what it was cut from.
      // The start-up hold lifted since the last pull (how long it held from the first connection).
      if (downlink.startupHeldMs !== null && !startupSeen) {
        startupSeen = true;
        probe += ` lifted(${downlink.startupHeldMs} ms)`;
      }
      const cuts = downlink.cuts.filter((c) => c.at > cutSeen);
      if (cuts.length) cutSeen = cuts[cuts.length - 1]!.at;
      for (const c of cuts) {
        const why = c.reason === 'saturation' ? `${c.probe ? 'probe, ' : ''}${c.overdriven ? 'overdriven, ' : ''}sent ${kbps(c.sent!)} recv ${kbps(c.received!)} drain ${kbps(c.drain!)} (${c.drainPackets} pk, ${c.drainBusyMs} ms busy) q ${c.queuedShare}${c.queueMs === undefined ? '' : ` queue ${c.queueMs} ms`}${c.probePackets ? `, probe pk ${c.probePackets.arrived} arrived / ${c.probePackets.lost} lost, last arrived sent ${c.probePackets.lastArrivedAgoMs ?? '-'} ms before the newest` : ''}${c.staleSources ? `, ${c.staleSources} connection(s) silent` : ''}${c.drainRead && c.drain! < 0.8 * LIMIT_KBPS * 1000 ? `, read seq:bytes+gap ms ${c.drainRead}` : ''}` : c.reason === 'overuse' ? `acked ${c.received === undefined ? '-' : kbps(c.received)}` : `loss ${c.loss}`;
        const early = c.at >= limitClock && c.at - limitClock < 3000 ? ` +${Math.round(c.at - limitClock)} ms` : '';
        probe += ` cut(${c.reason[0]})${early} ${kbps(c.from)}→${kbps(c.to)} [${why}]`;
      }
      // Repair in that second, summed over the limited subscriber's videos: n NACKs received, h of them
      // held (not answered), r packets resent, d not resent (resent within a round trip, or too old),
      // k PLIs it sent; K keyframes the SFU asked for because packets went unrepaired; s saturation
      // cuts of its estimate (one for all its connections: they share it); w asks for such a keyframe
      // that waited for the keyframes on the link before them (the downlink spaces them).
      const repairNow = [0, 0, 0, 0, 0, 0, downlink.saturations, downlink.repairKeyFrames.deferred];
      for (const c of mine.flatMap((x) => x.consumers.filter((v) => v.kind === 'video'))) {
        const stats = c.getStats();
        repairNow[0]! += stats.nackCount;
        repairNow[1]! += c.nacksHeld;
        repairNow[2]! += stats.retransmittedPackets;
        repairNow[3]! += stats.resendsSkipped;
        repairNow[4]! += stats.pliCount;
        repairNow[5]! += stats.repairKeyFrames;
      }
      const repair = repairNow.map((v, i) => (v - repairBefore[i]! ? `${'nhrdkKsw'[i]}${v - repairBefore[i]!}` : '')).join('');
      repairBefore = repairNow;
      // The audio its consumers sent over their last second, all streams (kbps, and packets a second: Opus DTX sends few in silence).
      let audioBits = 0;
      let audioPackets = 0;
      for (const c of mine.flatMap((x) => x.consumers.filter((a) => a.kind === 'audio'))) {
        const st = c.getStats();
        audioBits += st.bitrate;
        audioPackets += st.packetsSent;
      }
      const audioPps = audioPacketsBefore === null ? 0 : Math.round((audioPackets - audioPacketsBefore.packets) / ((Date.now() - audioPacketsBefore.at) / 1000));
      audioPacketsBefore = { packets: audioPackets, at: Date.now() };
      const audio = `a${Math.round(audioBits / 1000)}k${audioPps}p`;
      const heldMs = Math.round(loop.max / 1e6);
      loop.reset();
      sfu.push({ at: Date.now(), estimateKbps: Math.round(downlink.estimate / 1000), loss: Math.round(downlink.lossFraction * 1000) / 10, layers, audio, probe, repair, heldMs });
    };
    if (HEALTHY === 'load') loadSubscribers = await LoadSubscribers.start({ kind: 'colloquy', url: app.t.url, apiKey: app.t.apiKey, apiSecret: app.t.apiSecret }, host);
    for (let i = 1; i < subscribers; i++) subs.push(loadSubscribers ? loadSub(`sub ${i + 1}`, loadSubscribers) : pageSub(`sub ${i + 1}`, false, await open(hostBrowser)));
    const subscribePage = async (s: Sub): Promise<void> => {
      const ids = (await s.page!.page.evaluate(([n, ms]) => (window as any).subscribeAll(n, ms), [publishers, 60_000] as const)) as string[];
      if (ids.length !== publishers) throw new Error(`${s.name} sees ${ids.length} streams`);
      await s.page!.page.evaluate((ms) => (window as any).sample(ms), SAMPLE_MS);
    };
    // ONSET=join: the limited one subscribes once its link is limited (below).
    const joinsLimited = (s: Sub): boolean => ONSET === 'join' && s.limited;
    const subscribedAt = Date.now();
    for (const s of subs) if (s.page && !joinsLimited(s)) await subscribePage(s);
    if (loadSubscribers) {
      for (const s of subs) if (!s.page) await loadSubscribers.join(sessionId, s.name, streams);
      await loadSubscribers.sample(SAMPLE_MS);
    }
    // Warm-up: every subscriber decodes every stream; then (bounded) the limited one reaches the top layer.
    const warming = subs.filter((s) => !joinsLimited(s));
    const allDecoding = (): boolean => warming.every((s) => streams.every((id) => decodingAt(s.rows.get(id) ?? [], Date.now()) !== null));
    if (!(await waitPulling(subs, WARMUP_SECONDS * 1000, allDecoding))) {
      // An overloaded machine: say what does not decode, and measure anyway (what did run is the figure).
      const missing = warming.flatMap((s) => streams.map((id, i) => (decodingAt(s.rows.get(id) ?? [], Date.now()) === null ? `${s.name} stream ${i + 1}` : null)).filter((x) => x !== null));
      console.log(`A ${size} run ${run}: after ${WARMUP_SECONDS} s NOT decoding: ${missing.join(', ')}; measuring anyway`);
    }
    if (ONSET === 'drop') {
      const limitedTop = (): boolean => streams.every((id) => decodingAt(subs[0]!.rows.get(id) ?? [], Date.now())?.width === TOP_WIDTH);
      const topBefore = await waitPulling(subs, 20_000, limitedTop);
      const widthsBefore = streams.map((id) => decodingAt(subs[0]!.rows.get(id) ?? [], Date.now())?.width ?? 0);
      // On its free link, how soon after it subscribed every stream was at 1280 px (the start-up climb; read once a second).
      const topAt = Math.max(...streams.map((id) => (subs[0]!.rows.get(id) ?? []).find((r) => r[2] === TOP_WIDTH)?.[0] ?? Infinity));
      console.log(`A ${size} run ${run}: warmed up; limited subscriber ${topBefore ? `at 1280 px on every stream (every one decoding it ${((topAt - subscribedAt) / 1000).toFixed(1)} s after it subscribed)` : `not at 1280 everywhere after 20 s: ${widthsBefore.join('/')} px`}`);
    } else console.log(`A ${size} run ${run}: warmed up; the limited subscriber subscribes once its link is limited`);
    if (SERVER_NICE !== null) setPriority(SERVER_NICE); // this thread only (Linux): the main one, where the SFU forwards
    const from = Date.now();
    await waitPulling(subs, BASELINE_SECONDS * 1000);

    const delay = DELAY_MS > 0 ? { delayMs: DELAY_MS } : {};
    type Enc = Record<string, PubEncoding>;
    const pubRead = (): Promise<{ at: number; encodings: Enc }[]> => Promise.all(pubPages.map(async (p) => ({ at: Date.now(), encodings: (await p.page.evaluate(() => (window as any).pubStats())) as Enc })));
    const pubBefore = await pubRead();
    // The server (and its SFU) runs in this process: the limit goes in place, and is lifted,
    // without holding its event loop (impairAsync). The synchronous impair() held it 74–109 ms at
    // a load of 10: the SFU forwarded nothing meanwhile, every subscriber's picture and audio
    // stalled at the onset, and the lift read as a saturation. The limit's time is when the
    // change began (its commands take tens of ms: the settle and freeze clocks start early, not late).
    let limitAt = Date.now();
    limitClock = performance.now();
    await ns.impairAsync('down', { rateKbps: LIMIT_KBPS, lossPercent: LOSS, queueMs: LIMIT_QUEUE_MS, ...delay });
    const impairMs = Math.round(performance.now() - limitClock);
    let onsetMs = impairMs;
    if (ONSET === 'join') {
      // The limit is in place: the limited subscriber subscribes now, and its clocks start.
      limitAt = Date.now();
      limitClock = performance.now();
      await subscribePage(subs[0]!);
      onsetMs = Math.round(performance.now() - limitClock);
    }
    await waitPulling(subs, SECONDS * 1000 - onsetMs);
    console.log(`A ${size} run ${run}: limited: ${ns.qdiscs('down')}; loss ${LOSS} % (nftables); delay ${DELAY_MS} ms (${DELAY_BY}); in place ${impairMs} ms after it began${ONSET === 'join' ? `; then the limited subscriber subscribed (${onsetMs} ms)` : ''}`);
    const liftAt = Date.now();
    const liftStarted = performance.now();
    await ns.impairAsync('down', {});
    console.log(`A ${size} run ${run}: lifted ${Math.round(performance.now() - liftStarted)} ms after it began`);
    const pubAfter = await pubRead();
    // What each publisher sent per layer while the limit was on (the healthy subscribers can get no more).
    const pubLines = pubAfter.map((a, i) => {
      const b = pubBefore[i]!;
      const secs = (a.at - b.at) / 1000;
      return `publisher ${i + 1}: ` + Object.entries(a.encodings).sort(([x], [y]) => x.localeCompare(y)).map(([rid, e]) => {
        const e0 = b.encodings[rid];
        return `${rid} ${Math.round(((e.bytes - (e0?.bytes ?? 0)) * 8) / secs / 1000)} kbps ${e.width} px ${Math.round((e.frames - (e0?.frames ?? 0)) / secs)} fps${e.limit && e.limit !== 'none' ? ` (limited by ${e.limit})` : ''}${e.active === false ? ' (paused)' : ''}`;
      }).join(', ');
    });
    const topAgain = (): boolean => streams.every((id) => topHeldSince(subs[0]!.rows.get(id) ?? [], liftAt) !== null);
    await waitPulling(subs, RECOVER_SECONDS * 1000, topAgain);
    await waitPulling(subs, 2000); // a little after, for the plot
    await pull(subs, true);
    const to = Date.now() - 200;
    const rawEvents = (await limitedPage.page.evaluate(() => (window as any).events)) as { type: string; streamId: string; reason?: string; at: number }[];
    const events = rawEvents.map(
      (e) => `${((e.at - limitAt) / 1000).toFixed(1)} s ${e.type}${e.reason ? ` (${e.reason})` : ''} stream ${streams.indexOf(e.streamId) + 1}`,
    );

    const result: ARun = { size, settleMs: [], settledWidth: [], freezePercent: [], settledFreezePercent: [], firstFrameMs: [], firstAudioMs: 0, topBackMs: [], backToPeerMs: [], othersKbps: [], othersWidth: [], othersFreezePercent: [], audioGapMs: [], settledAudioGapMs: 0, audibleGapMs: [], settledAudibleGapMs: 0, sampleIntervalMs: 0, events };
    const tableRows: (string | number)[][] = [['subscriber', 'stream', 'settle s', 'width px (limited: last; others: median)', 'kbps (limited)', 'freeze % (limited)', '1280 back s (held 3 s)', 'back to peer s', 'audio gap ms (poll)', 'audio gap ms (≥, browser)', 'audible gap ms (concealed)']];
    const intervals: number[] = [];
    /** The limited subscriber's frame gaps around the limit's onset, per stream. */
    const onsetGaps: string[] = [];
    /** The healthy subscribers' freezes while the other one is limited (their own links are free). */
    const othersFrozen: string[] = [];
    const videoOff: boolean[] = [];
    for (const s of subs) {
      for (const [i, id] of streams.entries()) {
        const rows = s.rows.get(id) ?? [];
        for (let k = 1; k < rows.length; k++) intervals.push(rows[k]![0] - rows[k - 1]![0]);
        const limited = within(rows, limitAt, liftAt);
        // ONSET=join: the limited subscriber's freezes from the stream's first decoded frame, its audio from the first packet.
        const firstFrameAt = s.limited && ONSET === 'join' ? (limited.find((r) => r[1] > 0)?.[0] ?? liftAt) : limitAt;
        const audioFrom = s.limited && ONSET === 'join' ? (rows.find((r) => r[4] > 0)?.[0] ?? to) : from;
        const kbps = limited.length >= 2 ? Math.round(((limited[limited.length - 1]![3] - limited[0]![3]) * 8) / (limited[limited.length - 1]![0] - limited[0]![0])) : NaN;
        const width = median(limited.filter((r) => r[2] > 0).map((r) => r[2]));
        const freeze = firstFrameAt >= liftAt ? 100 : Math.round((frozenMs(rows, firstFrameAt, liftAt) * 1000) / (liftAt - firstFrameAt)) / 10;
        if (s.limited) onsetGaps.push(`stream ${i + 1}: ${frameGaps(rows, limitAt - 1000, limitAt + 3000, limitAt).join(' ') || 'none'}`);
        else if (freeze > 0) othersFrozen.push(`${s.name} stream ${i + 1}: ${frameGaps(rows, limitAt, liftAt, limitAt, FREEZE_MS).join(' ')}`);
        const gap = audioGap(rows, audioFrom, to);
        if (s.limited) {
          const settled = Math.max(audioGap(rows, audioFrom, limitAt).pollMs, audioGap(rows, limitAt + SETTLE_MS, to).pollMs);
          result.settledAudioGapMs = Math.max(result.settledAudioGapMs, settled);
          result.settledAudibleGapMs = Math.max(result.settledAudibleGapMs, audibleGap(rows, audioFrom, limitAt), audibleGap(rows, limitAt + SETTLE_MS, to));
          result.firstFrameMs.push(firstFrameAt - limitAt);
          if (i === 0) result.firstAudioMs = audioFrom - limitAt;
        }
        const audible = s.page ? audibleGap(rows, audioFrom, to) : null;
        let settle: number | null = null;
        let back: number | null = null;
        if (s.limited) {
          // The last change of decoded width while limited (0 when it never changed).
          // Settled: the last change while limited of the decoded width or of the video being on
          // (videoDisabled / videoEnabled); 0 when neither changed.
          let lastChange = limitAt;
          for (let k = 1; k < limited.length; k++) if (limited[k]![2] !== limited[k - 1]![2]) lastChange = limited[k]![0];
          const onOff = rawEvents.filter((e) => e.streamId === id && (e.type === 'videoDisabled' || e.type === 'videoEnabled') && e.at >= limitAt && e.at <= liftAt);
          if (onOff.length) lastChange = Math.max(lastChange, onOff[onOff.length - 1]!.at);
          settle = lastChange - limitAt;
          videoOff.push(onOff[onOff.length - 1]?.type === 'videoDisabled');
          const held = topHeldSince(rows, liftAt);
          back = held === null ? null : held - liftAt;
          // Back to what the first healthy subscriber decodes at that moment (when the publishers cannot send 1280).
          const peer = subs.find((x) => !x.limited)?.rows.get(id) ?? [];
          const level = rows.find((r, k) => {
            if (r[0] <= liftAt || k === 0 || r[1] <= rows[k - 1]![1]) return false;
            const other = decodingAt(peer, r[0]);
            return other !== null && r[2] >= other.width;
          });
          result.backToPeerMs.push(level ? level[0] - liftAt : null);
          result.settleMs.push(settle);
          result.settledWidth.push(limited[limited.length - 1]?.[2] ?? 0);
          result.freezePercent.push(freeze);
          result.settledFreezePercent.push(Math.round((frozenMs(rows, limitAt + SETTLE_MS, liftAt) * 1000) / (liftAt - limitAt - SETTLE_MS)) / 10);
          result.topBackMs.push(back);
        } else {
          result.othersKbps.push(kbps);
          result.othersWidth.push(width);
          result.othersFreezePercent.push(freeze);
        }
        if (i === 0) result.audioGapMs.push(0);
        result.audioGapMs[result.audioGapMs.length - 1] = Math.max(result.audioGapMs[result.audioGapMs.length - 1]!, gap.pollMs);
        if (i === 0) result.audibleGapMs.push(audible);
        else if (audible !== null) result.audibleGapMs[result.audibleGapMs.length - 1] = Math.max(result.audibleGapMs[result.audibleGapMs.length - 1]!, audible);
        tableRows.push([
          s.name,
          i + 1,
          settle === null ? '' : (settle / 1000).toFixed(1),
          s.limited ? `${limited[limited.length - 1]?.[2] ?? '-'}${videoOff[i] ? ' (video off)' : ''}` : Number.isFinite(width) ? width : '-',
          kbps,
          freeze,
          s.limited ? (back === null ? `never (${RECOVER_SECONDS} s)` : (back / 1000).toFixed(1)) : '',
          s.limited ? (result.backToPeerMs[i] === null ? 'never' : (result.backToPeerMs[i]! / 1000).toFixed(1)) : '',
          // The limited subscriber's: when it began, in ms from the limit.
          s.limited ? `${gap.pollMs} (${gap.at >= limitAt ? '+' : ''}${gap.at - limitAt} ms)` : gap.pollMs,
          s.page ? gap.ageMs : '-',
          audible ?? '-',
        ]);
      }
    }
    result.sampleIntervalMs = Math.round(median(intervals));
    console.log(`\nA ${size} run ${run}: ${LIMIT_KBPS} kbps (queue ${LIMIT_QUEUE_MS} ms) + ${LOSS} % loss${DELAY_MS > 0 ? ` + ${DELAY_MS} ms (${DELAY_BY})` : ''} towards the limited subscriber for ${SECONDS} s; stats read every ${result.sampleIntervalMs} ms (median; asked ${SAMPLE_MS}); load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
    console.log(table(tableRows));
    console.log(`sent while limited: ${pubLines.join('; ')}`);
    console.log(`\nlayer timeline of the limited subscriber (decoded width; ${size} run ${run}):\n${plot(subs[0]!, streams, from, limitAt, liftAt, to)}`);
    console.log(`limited subscriber, spans over 150 ms without a decoded frame from 1 s before the limit to 3 s into it (start+length ms from the limit): ${onsetGaps.join('; ')}`);
    if (othersFrozen.length > 0) console.log(`healthy subscribers' freezes while the other is limited (start+length ms from the limit): ${othersFrozen.join('; ')}`);
    const fromLimit = (at: number): string => ((at - limitAt) / 1000).toFixed(0);
    const sfuLines = sfu.filter((x) => x.at >= subscribedAt);
    console.log(`SFU, limited subscriber, once a second from its subscribe (s from the limit: estimate kbps, loss %, layer per stream (>N waiting to switch to N, p/P paused by the subscriber/publisher, @ kbps sent under 1 Mbps); aNkMp: the audio sent, all streams (kbps, packets a second); off = video off for quality; repair in that second: n NACKs, h held, r resent, d not resent (within a round trip of the last, or too old), k PLIs, K keyframes asked for unrepaired packets, s saturation cuts, w such asks that waited for the keyframes on the link; a probe read in that second: target → measured kbps; HN: the server's event loop was held N ms at most in that second, when ≥ 100):`);
    console.log(sfuLines.map((x) => `${fromLimit(x.at)}:${x.estimateKbps}/${x.loss}%/${x.layers.join(',')}/${x.audio}${x.repair ? `/${x.repair}` : ''}${x.heldMs >= 100 ? `/H${x.heldMs}` : ''}${x.probe}`).join(' '));
    // The browser's side of the repair, per stream and second: n NACKs and k PLIs it sent, K keyframes decoded, l packets lost.
    for (const id of streams) {
      const rows = subs[0]!.rows.get(id) ?? [];
      const seconds: string[] = [];
      for (let t = from; t < to; t += 1000) {
        const a = rows.filter((r) => r[0] < t).at(-1);
        const b = rows.filter((r) => r[0] < t + 1000).at(-1);
        if (!a || !b) continue;
        const d = [6, 7, 8, 9].map((i) => (b[i] as number) - (a[i] as number));
        // The frames' mean time in the jitter buffer over that second, when 100 ms or more (it holds frames for A/V sync too).
        const emitted = b[12] - a[12];
        const held = emitted > 0 ? Math.round((b[11] - a[11]) / emitted) : 0;
        // Frames received but not decoded (waiting for a reference, or dropped) when more than 2.
        const received = b[13] - a[13];
        const decoded = b[1] - a[1];
        const dropped = b[14] - a[14];
        const undecoded = received - decoded > 2 || dropped > 0 ? `f${decoded}/${received}${dropped ? `x${dropped}` : ''}` : '';
        const text = d.map((v, i) => (v ? `${'nkKl'[i]}${v}` : '')).join('') + (held >= 100 ? `j${held}` : '') + undecoded;
        if (text) seconds.push(`${fromLimit(t + 1000)}:${text}`);
      }
      console.log(`browser, limited subscriber, stream ${streams.indexOf(id) + 1} (s from the limit: n NACKs sent, k PLIs sent, K keyframes decoded, l packets lost, j mean ms a frame spent in the jitter buffer when ≥ 100, fD/R frames decoded of those received and xN dropped when they differ): ${seconds.join(' ') || 'nothing'}`);
    }
    // Each publisher's own view once a second (its uplink is loopback: what it sends is its own choice).
    for (const [i, p] of pubPages.entries()) {
      const rows = ((await p.page.evaluate(() => (window as any).pubRows())) as PubRow[]).filter((r) => r[0] >= subscribedAt - 1000);
      // The SFU's side over each second: packets numbered it saw / feedback messages it sent, late
      // packets, the loss our receiver reports count, werift's DTLS state when not connected.
      const seconds = publisherSeconds(rows, fromLimit, (from, to) => {
        const a = uplinkFeedback.filter((u) => u.at <= from).at(-1);
        const b = uplinkFeedback.filter((u) => u.at <= to).at(-1);
        if (!a || !b || a === b) return '';
        const [pk, msgs, rr, lost, late] = b.counts[i]!.map((v, j) => v - a.counts[i]![j]!) as [number, number, number, number, number];
        return ` ${pk}pk/${msgs}fb${late ? `/${late}late` : ''}${lost !== 0 ? `/RR${Math.round((lost * 100) / Math.max(1, rr + lost))}%` : ''}${b.dtls[i] !== 'connected/connected' ? `/${b.dtls[i]}` : ''}`;
      });
      console.log(`publisher ${i + 1}, its own view once a second (s from the limit: its estimate kbps (availableOutgoingBitrate) / kbps sent per layer q,h,f; p paused by the SFU, b limited by bandwidth, c by CPU; then the SFU's side: packets numbered seen / transport feedback messages sent, then when not 0 or not connected: packets late, the loss our receiver reports count, our transport's / werift's DTLS state [the error that failed it]): ${seconds.join(' ')}`);
    }
    console.log(`subscriber events (s from the limit): ${events.length ? events.join('; ') : 'none'}\n`);
    return result;
  } finally {
    onPull = () => {};
    loop.disable();
    if (SERVER_NICE !== null) setPriority(niceBefore);
    await loadSubscribers?.close();
    await limitedBrowser?.close();
    await hostBrowser?.close();
    await app?.close();
    if (wrapper) {
      wrapper.remove();
      onExit.delete(wrapper.remove);
    }
    ns?.remove();
  }
}

// On an interrupted run: the namespace goes by netem.ts's own exit hook, Chromium by Playwright's; the wrapper script here.
const onExit = new Set<() => void>();
process.on('exit', () => {
  for (const f of onExit) f();
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130)); // exit hooks remove the namespaces

if (CASES.includes('A')) console.log(`towards the limited subscriber: ${LIMIT_KBPS} kbps (tbf, queue ${LIMIT_QUEUE_MS} ms), ${LOSS} % loss (nftables), ${DELAY_MS} ms delay (${DELAY_BY}); healthy subscribers: ${HEALTHY === 'load' ? 'load-tool clients' : 'Chromium pages'}; the limit ${ONSET === 'join' ? 'in place before the limited subscriber subscribes (its freezes counted from each stream\'s first frame, its audio from the first packet)' : 'on mid-call, the limited subscriber at the top layer'}; the server's main thread at nice ${SERVER_NICE ?? 'unchanged'} while measuring`);
const fmtMs = (values: (number | null)[]): string => {
  const v = values.filter((x): x is number => x !== null);
  const never = values.length - v.length;
  return `${v.length ? (median(v) / 1000).toFixed(1) : '-'} s${never ? ` (${never} of ${values.length} never)` : ''}`;
};
const summaries: string[] = [];
if (CASES.includes('A')) {
  for (const [p, s] of SIZES) {
    const runs: ARun[] = [];
    for (let run = 1; run <= RUNS; run++) {
      try {
        runs.push(await runA(p, s, run));
      } catch (err) {
        console.log(`A ${p}x${s} run ${run} FAILED: ${(err as Error).stack ?? err}`);
      }
    }
    for (const r of runs) {
      summaries.push(
        `A ${r.size}${ONSET === 'join' ? ' (joined limited)' : ''}: ${ONSET === 'join' ? `first frame ${r.firstFrameMs.map((x) => (x / 1000).toFixed(1)).join('/')} s, first audio ${(r.firstAudioMs / 1000).toFixed(1)} s after subscribing; ` : ''}limited settles ${fmtMs([Math.max(...r.settleMs.map((x) => x ?? 0))])} (slowest stream) on ${r.settledWidth.join('/')} px; freeze ${r.freezePercent.join('/')} % (from ${SETTLE_MS / 1000} s: ${r.settledFreezePercent.join('/')} %); ` +
          `1280 back ${r.topBackMs.map((x) => (x === null ? 'never' : `${(x / 1000).toFixed(1)} s`)).join('/')}, back to a healthy peer's width ${r.backToPeerMs.map((x) => (x === null ? 'never' : `${(x / 1000).toFixed(1)} s`)).join('/')}; others ${Math.round(median(r.othersKbps))} kbps median per stream ` +
          `(min ${Math.min(...r.othersKbps)}) at ${median(r.othersWidth)} px, freeze ${Math.round(median(r.othersFreezePercent) * 10) / 10} %; audio gap max per subscriber ${r.audioGapMs.map((x) => Math.round(x)).join('/')} ms (limited first; limited outside the limit's first ${SETTLE_MS / 1000} s: ${r.settledAudioGapMs} ms), audible (concealed) ${r.audibleGapMs.map((x) => x ?? '-').join('/')} ms (limited outside the first ${SETTLE_MS / 1000} s: ${r.settledAudibleGapMs} ms); stats every ${r.sampleIntervalMs} ms`,
      );
    }
    if (runs.length > 0) {
      summaries.push(
        `A ${p}x${s} medians of ${runs.length} runs: limited settle ${fmtMs(runs.map((r) => Math.max(...r.settleMs.map((x) => x ?? 0))))}, freeze ${Math.round(median(runs.map((r) => median(r.freezePercent))) * 10) / 10} % (from ${SETTLE_MS / 1000} s: ${Math.round(median(runs.map((r) => median(r.settledFreezePercent))) * 10) / 10} %), ` +
          `1280 back ${fmtMs(runs.flatMap((r) => r.topBackMs))}, to a healthy peer's width ${fmtMs(runs.flatMap((r) => r.backToPeerMs))}; others ${Math.round(median(runs.flatMap((r) => r.othersKbps)))} kbps at ${median(runs.flatMap((r) => r.othersWidth))} px; ` +
          `max audio gap ${Math.round(median(runs.map((r) => Math.max(...r.audioGapMs))))} ms (limited ${Math.round(median(runs.map((r) => r.audioGapMs[0]!)))} ms, outside the limit's first ${SETTLE_MS / 1000} s ${Math.round(median(runs.map((r) => r.settledAudioGapMs)))} ms); max audible gap ${Math.round(median(runs.map((r) => Math.max(...r.audibleGapMs.filter((x) => x !== null)))))} ms (limited ${Math.round(median(runs.map((r) => r.audibleGapMs[0]!)))} ms)`,
      );
    } else summaries.push(`A ${p}x${s}: no run completed`);
  }
}
if (CASES.includes('B')) {
  const queues = (process.env['QUEUES_MS'] ?? '50,300,1000').split(',').map(Number).filter((q) => Number.isInteger(q) && q > 0);
  const rate = envInt('RATE_KBPS', 800);
  // The publisher's picture: the detailed camera at 640x360 as in media:uplink (UPLINK_VIDEO=noise SOURCE=480x270: the first one).
  const source = parseSource(process.env['UPLINK_VIDEO'] ?? 'detailed');
  const size = pictureSize(source, process.env['SOURCE']);
  const picture = `${source} ${size.width ?? 480}x${size.height ?? 270}`;
  for (const queueMs of queues) {
    let runs: UplinkRun[] = [];
    try {
      runs = await runUplink({ modes: parseModes(process.env['MODES'] ?? 'remb,transport-cc'), runs: envInt('UPLINK_RUNS', 2), seconds: envInt('UPLINK_SECONDS', 20), rateKbps: rate, queueMs, settleLow: envInt('SETTLE_LOW', 600), verbose: false, source, ...size });
    } catch (err) {
      console.log(`B queue ${queueMs} ms FAILED: ${(err as Error).stack ?? err}`);
    }
    for (const mode of ['remb', 'remb-delay', 'transport-cc'] as const) {
      const r = runs.filter((x) => x.mode === mode);
      if (r.length === 0) continue;
      const at = (x: number | null): string => (x === null ? 'never' : `${x} s`);
      summaries.push(
        `B ${rate} kbps uplink, queue ${queueMs} ms, ${picture}, ${mode}: settled ${r.map((x) => at(x.settledAt)).join('/')} (per second), ${r.map((x) => at(x.settledAt3s)).join('/')} (3 s mean); ` +
          `mean ${r.map((x) => x.meanKbps).join('/')} kbps (median ${median(r.map((x) => x.meanKbps))}); loss ${r.map((x) => x.lossPercent).join('/')} % (median ${Math.round(median(r.map((x) => x.lossPercent)) * 10) / 10})` +
          (mode === 'transport-cc' ? `; feedback loss ${r.map((x) => x.feedbackLossPercent).join('/')} %` : '') +
          (r.some((x) => x.audioGapMs !== null) ? `; longest audio gap at the SFU ${r.map((x) => x.audioGapMs ?? '-').join('/')} ms` : ''),
      );
    }
  }
}
console.log(`\nsummary\n${summaries.join('\n')}`);
