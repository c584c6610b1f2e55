// GET /metrics scraped during a real call (Chromium publisher and subscriber through the SFU): the
// gauges show the call, the packet and byte counters move between two scrapes, the bitrate
// histograms take samples, and everything drops back when the call ends.

import { launchChromium, type TestBrowser } from '@colloquy/testing/browser';
import { startTestServer, type TestServer } from '@colloquy/testing/server';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runCall, startAppServer, type AppServer } from './call.js';

const TOKEN = 'metrics-test-token-0123456789';
let t: TestServer;
let app: AppServer;
let browser: TestBrowser;

beforeAll(async () => {
  // Closed pages leave their connections waiting for a resume: a short grace lets the test see the end.
  t = await startTestServer({ COLLOQUY_METRICS_TOKEN: TOKEN, COLLOQUY_RESUME_GRACE_MS: '1000' });
  app = await startAppServer(t.url);
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await app?.close();
  await t?.close();
});

/** One scrape, as series name{labels} → value. */
async function scrape(): Promise<Map<string, number>> {
  const res = await fetch(`${t.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
  expect(res.status).toBe(200);
  const series = new Map<string, number>();
  for (const line of (await res.text()).split('\n')) {
    const m = /^([a-z_:][a-z0-9_:]*(?:\{[^}]*\})?) (\S+)$/i.exec(line);
    if (m) series.set(m[1]!, Number(m[2]));
  }
  return series;
}

async function until(check: (s: Map<string, number>) => boolean, what: string, timeoutMs = 20_000): Promise<Map<string, number>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await scrape();
    if (check(s)) return s;
    if (Date.now() > deadline) throw new Error(`metrics never showed ${what}: ${JSON.stringify(Object.fromEntries([...s].filter(([k]) => k.startsWith('colloquy_'))))}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

it('shows a routed call in /metrics while it runs, and its end', async () => {
  const call = await runCall(browser, app.url, { restUrl: t.url, apiKey: t.apiKey, apiSecret: t.apiSecret, mediaMode: 'routed' });
  try {
    const first = await scrape();
    expect(first.get('colloquy_sessions{media_mode="routed"}')).toBe(1);
    expect(first.get('colloquy_connections')).toBe(2);
    expect(first.get('colloquy_streams')).toBe(1);
    expect(first.get('colloquy_subscribers')).toBe(1);
    expect(first.get('colloquy_signaling_sockets')).toBe(2);
    expect(first.get('colloquy_media_routers')).toBe(1);
    expect(first.get('colloquy_media_transports')).toBe(2);
    expect(first.get('colloquy_signaling_messages_received_total{type="publish"}')).toBe(1);
    expect(first.get('colloquy_signaling_messages_received_total{type="subscribe"}')).toBe(1);
    expect(first.get('colloquy_forwarded_packets_total{kind="video"}')).toBeGreaterThan(0);

    // Media keeps flowing: the counters grow between scrapes; the 5 s sampler fills the histograms.
    const later = await until(
      (s) =>
        s.get('colloquy_forwarded_packets_total{kind="video"}')! > first.get('colloquy_forwarded_packets_total{kind="video"}')! + 50 &&
        s.get('colloquy_forwarded_bytes_total{kind="audio"}')! > first.get('colloquy_forwarded_bytes_total{kind="audio"}')! &&
        s.get('colloquy_received_bytes_total{kind="video"}')! > first.get('colloquy_received_bytes_total{kind="video"}')! &&
        // Two samples: the first may cover the call's start (or a loaded machine's dip).
        (s.get('colloquy_publisher_bitrate_bps_count{kind="video"}') ?? 0) >= 2 &&
        (s.get('colloquy_subscriber_bitrate_bps_count{kind="video"}') ?? 0) > 0,
      'forwarding and bitrate samples',
      40_000,
    );
    // A video track of a 640x480 fake camera sends well over 64 kbit/s: samples land above that bucket.
    expect(later.get('colloquy_publisher_bitrate_bps_bucket{le="64000",kind="video"}')!).toBeLessThan(later.get('colloquy_publisher_bitrate_bps_count{kind="video"}')!);
    expect(later.get('colloquy_plis_received_total')).toBeGreaterThanOrEqual(0);
    expect(later.get('colloquy_event_loop_lag_seconds_count')).toBeGreaterThan(0);
    expect(later.get('colloquy_overloaded')).toBe(0);
    expect(later.get('process_resident_memory_bytes')).toBeGreaterThan(0);
  } finally {
    await call.close();
  }
  const after = await until((s) => s.get('colloquy_streams') === 0 && s.get('colloquy_connections') === 0, 'the call ending');
  expect(after.get('colloquy_media_transports')).toBe(0);
  // Counters never go back.
  expect(after.get('colloquy_forwarded_packets_total{kind="video"}')).toBeGreaterThan(0);
}, 90_000);
