// Time to first frame through TURN vs direct: streamCreated → first rendered video frame, median
// over JOINS joins (default 10), for a subscriber forced through coturn (iceConfig.transportPolicy
// 'relay', TURN/UDP) and one that connects directly (host candidates), in a routed session (to
// the SFU) and a relayed one (browser to browser). Same server, same publisher, one Chromium per
// part; coturn is Debian's, started on loopback with the TURN REST secret the server signs with.
//   JOINS=10 npm run sdk:relay-first-frame -w @colloquy/bench
// The publisher uses the same policy as the subscriber, so a relay-only call is relayed end to end.

import { launchChromium } from '@colloquy/testing/browser';
import { startCoturn } from '@colloquy/testing/deploy';
import { startTestServer } from '@colloquy/testing/server';
import { Colloquy } from '@colloquy/sdk-node';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { envInt, median, table } from '../lib/stats.js';
import { firstFramePage } from './first-frame-page.js';

const JOINS = envInt('JOINS', 10);
const TRANSPORT = (process.env['TURN_TRANSPORT'] ?? 'udp') as 'udp' | 'tcp' | 'tls';

async function part(mediaMode: 'routed' | 'relayed', relay: boolean, turn: { url: string; secret: string }): Promise<number[]> {
  const t = await startTestServer({ COLLOQUY_TURN_URLS: turn.url, COLLOQUY_TURN_SECRET: turn.secret });
  const sdk = new Colloquy(t.apiKey, t.apiSecret, t.url);
  const app = createServer((_q, r) => r.writeHead(200, { 'content-type': 'text/html' }).end(firstFramePage(t.url)));
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(app.address() as AddressInfo).port}/`;
  const browser = await launchChromium(TRANSPORT === 'tls' ? { args: ['--ignore-certificate-errors'] } : {});
  try {
    const { sessionId } = await sdk.createSession({ mediaMode });
    const options = { iceConfig: { transportPolicy: relay ? 'relay' : 'all' } };
    const open = async () => {
      const p = await browser.newPage();
      await p.page.goto(url);
      await p.page.evaluate((o) => ((window as any).sessionOptions = o), options);
      return p;
    };
    const pub = await open();
    await pub.page.evaluate(([k, s, tk]) => (window as any).publish(k, s, tk), [t.apiKey, sessionId, sdk.generateToken(sessionId)] as const);
    const sub = await open();
    const times: number[] = [];
    for (let i = 0; i < JOINS; i++) {
      const ms = (await sub.page.evaluate(([k, s, tk]) => (window as any).join(k, s, tk), [t.apiKey, sessionId, sdk.generateToken(sessionId)] as const)) as number | null;
      times.push(ms ?? NaN);
      await new Promise((r) => setTimeout(r, 300));
    }
    return times;
  } finally {
    await browser.close();
    await new Promise((r) => app.close(r));
    await t.close();
  }
}

{
  const coturn = await startCoturn();
  try {
    const turn = { url: coturn.urls[TRANSPORT], secret: coturn.secret };
    const rows: (string | number)[][] = [['join', 'routed direct ms', 'routed relay ms', 'relayed direct ms', 'relayed relay ms']];
    const results = [await part('routed', false, turn), await part('routed', true, turn), await part('relayed', false, turn), await part('relayed', true, turn)];
    const fmt = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? 'none in 10 s' : Math.round(x));
    for (let i = 0; i < JOINS; i++) rows.push([i + 1, ...results.map((r) => fmt(r[i]))]);
    console.log(`streamCreated -> first rendered frame, ${JOINS} joins, TURN/${TRANSPORT} through coturn on loopback vs direct (Chromium)\n`);
    console.log(table(rows));
    const [rd, rr, pd, pr] = results.map((r) => Math.round(median(r)));
    console.log(`\nmedian: routed direct ${rd} ms, routed relay-only ${rr} ms (${(rr! / rd!).toFixed(2)}x); relayed direct ${pd} ms, relayed relay-only ${pr} ms (${(pr! / pd!).toFixed(2)}x)`);
  } finally {
    await coturn.close();
  }
}
