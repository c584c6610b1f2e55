// Experience Composer start time: from the POST …/render request to the first video frame a
// subscriber renders of the render's stream, median over RUNS renders (one after another), with
// the steps in between: REST answer (202), streamCreated at the subscriber, status `started`. Also
// DELETE → streamDestroyed at the subscriber. RESOLUTION sets the render's size (default 1280x720).
//   RUNS=5 npm run render:start -w @colloquy/bench      (after npm run build)
//
// Loopback: a real server (its own headless Chromium per render), the rendered page (a moving
// counter) and the subscriber page (another Chromium, our browser SDK) served from one loopback
// HTTP server. Times are Date.now() in this process and in the subscriber page (same machine clock).

import { Colloquy } from '@colloquy/sdk-node';
import { launchChromium } from '@colloquy/testing/browser';
import { loadConfig, startServer } from '@colloquy/server';
import { startTestServerWith } from '@colloquy/testing/server';
import { until } from '@colloquy/testing/wait';
import { pino } from 'pino';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readdirSync, readFileSync } from 'node:fs';
import { sampleProcess } from '../lib/proc.js';
import { envInt, median, table } from '../lib/stats.js';

const RUNS = envInt('RUNS', 5);
const RESOLUTION = process.env['RESOLUTION'] ?? '1280x720';
/** How long the running render's CPU is measured, per run. */
const CPU_WINDOW_MS = 5000;

/** The render's Chromium (this process's child with the render flag) and all its descendants. */
function renderProcessTree(): number[] {
  const parents = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'latin1');
      parents.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  const roots = [...parents].filter(([pid, ppid]) => {
    if (ppid !== process.pid) return false;
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes('--auto-accept-this-tab-capture');
    } catch {
      return false;
    }
  });
  const tree = roots.map(([pid]) => pid);
  for (let i = 0; i < tree.length; i++) for (const [pid, ppid] of parents) if (ppid === tree[i]) tree.push(pid);
  return tree;
}

/** Proportional set size of a process (shared pages split among their users), bytes. */
function pssBytes(pid: number): number {
  try {
    const kb = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'latin1'))?.[1];
    return kb ? Number(kb) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** CPU (share of one core) over CPU_WINDOW_MS and summed PSS (MB) of the render's processes. */
async function renderCost(): Promise<{ cpu: number; pssMb: number }> {
  const pids = renderProcessTree();
  const sample = () => pids.map((pid) => {
    try {
      return sampleProcess(pid);
    } catch {
      return { cpuUs: 0, rssBytes: 0, at: performance.now() };
    }
  });
  const a = sample();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, CPU_WINDOW_MS));
  const b = sample();
  const cpuUs = b.reduce((sum, x, i) => sum + x.cpuUs - a[i]!.cpuUs, 0);
  return { cpu: cpuUs / ((performance.now() - t0) * 1000), pssMb: pids.reduce((sum, pid) => sum + pssBytes(pid), 0) / 1e6 };
}

const APP = `<!doctype html><body style="margin:0;background:#123;color:#fff;font:120px sans-serif">
<div id="c">0</div><script>let n=0;const f=()=>{c.textContent=++n;requestAnimationFrame(f)};requestAnimationFrame(f)</script></body>`;

const SUBSCRIBER = (server: string) => `<!doctype html><head><script src="${server}/v2/js/opentok.js"></script><script>
window.t = {};
window.join = (k, s, tok) => new Promise((resolve) => {
  const session = OT.initSession(k, s);
  session.on('streamCreated', (e) => {
    const id = e.stream.streamId;
    t[id] = { created: Date.now() };
    const sub = session.subscribe(e.stream, document.body, { insertMode: 'append' });
    sub.on('videoElementCreated', (ev) => {
      const v = ev.element;
      const first = () => { if (!t[id].frame) t[id].frame = Date.now(); };
      if (v.requestVideoFrameCallback) v.requestVideoFrameCallback(first); else v.addEventListener('loadeddata', first, { once: true });
    });
  });
  session.on('streamDestroyed', (e) => { (t[e.stream.streamId] = t[e.stream.streamId] || {}).destroyed = Date.now(); });
  session.connect(tok, (err) => resolve(err ? err.message : null));
});
</script></head><body></body>`;

async function main(): Promise<void> {
  // The server's 'render started' lines carry its own steps: Chromium launch, page load, publish.
  const steps: Array<{ launchMs: number; loadMs: number; publishMs: number }> = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => {
    const entry = JSON.parse(line) as { msg?: string; launchMs: number; loadMs: number; publishMs: number };
    if (entry.msg === 'render started') steps.push(entry);
  } });
  const t = await startTestServerWith({ loadConfig, startServer }, { COLLOQUY_MAX_RENDERS: '1' }, { logger });
  const sdk = new Colloquy(t.apiKey, t.apiSecret, t.url);
  const web = createServer((req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(req.url === '/app' ? APP : SUBSCRIBER(t.url)));
  await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
  const webUrl = `http://127.0.0.1:${(web.address() as AddressInfo).port}`;
  const browser = await launchChromium();
  const rows: Array<{ rest: number; created: number; started: number; frame: number; destroyed: number; cpu: number; pssMb: number }> = [];
  try {
    const { sessionId } = await sdk.createSession({ mediaMode: 'routed' });
    const { page } = await browser.newPage();
    await page.goto(`${webUrl}/sub`);
    const joined = await page.evaluate(([k, s, tok]) => (window as any).join(k, s, tok), [t.apiKey, sessionId, sdk.generateToken(sessionId, { role: 'subscriber' })] as const);
    if (joined !== null) throw new Error(`subscriber could not join: ${joined}`);
    for (let i = 0; i < RUNS; i++) {
      const t0 = Date.now();
      const render = await sdk.renders.start(sessionId, sdk.generateToken(sessionId), { url: `${webUrl}/app`, resolution: RESOLUTION as never });
      const rest = Date.now() - t0;
      let startedAt = 0;
      const live = await until(async () => {
        const r = await sdk.renders.get(render.id);
        if (r.status === 'failed') throw new Error(`render failed: ${r.reason}`);
        if (r.status === 'started' && !startedAt) startedAt = Date.now();
        return r.status === 'started' ? r : undefined;
      }, 'started');
      const seen = await until(async () => {
        const s = (await page.evaluate((id) => (window as any).t[id!], live.streamId)) as { created: number; frame?: number } | undefined;
        return s?.frame ? s : undefined;
      }, 'the first frame');
      const cost = await renderCost();
      const s0 = Date.now();
      await sdk.renders.stop(render.id);
      const gone = await until(async () => ((await page.evaluate((id) => (window as any).t[id!].destroyed, live.streamId)) as number | undefined) ?? undefined, 'streamDestroyed');
      rows.push({ rest, created: seen.created - t0, started: startedAt - t0, frame: seen.frame! - t0, destroyed: gone - s0, ...cost });
      console.error(`run ${i + 1}/${RUNS}: first frame ${seen.frame! - t0} ms`);
    }
  } finally {
    await browser.close();
    await t.close();
    await new Promise((r) => web.close(r));
  }
  const all = rows.map((r, i) => ({ ...r, launch: steps[i]!.launchMs, load: steps[i]!.loadMs, publish: steps[i]!.publishMs }));
  const col = (k: keyof (typeof all)[number]) => all.map((r) => r[k]);
  const cpu = col('cpu');
  const pss = col('pssMb');
  console.log(`Running render (Chromium process tree, ${CPU_WINDOW_MS / 1000} s after the first frame): CPU median ${median(cpu).toFixed(2)} of a core (min ${Math.min(...cpu).toFixed(2)}, max ${Math.max(...cpu).toFixed(2)}); memory (summed PSS) median ${Math.round(median(pss))} MB`);
  console.log(`Experience Composer, ${RESOLUTION}, ${RUNS} renders one after another (ms from the POST request):`);
  console.log(
    table([
      ['step', 'median', 'min', 'max'],
      ...(
        [
          ['REST 202 answer', 'rest'],
          ['  in the server: Chromium launched', 'launch'],
          ['  in the server: composer page and app page loaded', 'load'],
          ['  in the server: tab captured and published', 'publish'],
          ['status started (polled every 10 ms)', 'started'],
          ['streamCreated at the subscriber', 'created'],
          ['first frame rendered at the subscriber', 'frame'],
          ['DELETE → streamDestroyed at the subscriber', 'destroyed'],
        ] as const
      ).map(([label, k]) => [label, Math.round(median(col(k))), Math.min(...col(k)), Math.max(...col(k))]),
    ]),
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
