// ICE over TCP to the SFU for a client whose UDP is blocked and who has no TURN: Chromium runs in a
// network namespace (created and removed here, joined by a veth pair) where nftables drops every
// UDP packet; the server announces the veth address with COLLOQUY_RTC_TCP=on, so its answers carry
// passive TCP candidates (RFC 6544), and the browser connects to them. The test proves the selected
// pair is TCP to the server's passive candidate, for the publisher and the subscriber, and that the
// subscriber decodes. A control run with ICE-TCP off fails to connect, so it is UDP that is blocked.

import { launchChromium, type TestBrowser } from '@colloquy/testing/browser';
import { chromiumInNamespace, createVethNamespace, type VethNamespace } from '@colloquy/testing/deploy';
import { startTestServer, type TestServer } from '@colloquy/testing/server';
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCall, startAppServer, type AppServer } from './call.js';

let ns: VethNamespace;
let wrapper: { path: string; remove(): void };
let browser: TestBrowser;
const cleanups: (() => Promise<void>)[] = [];
let withTcp: { t: TestServer; app: AppServer };
let withoutTcp: { t: TestServer; app: AppServer };

beforeAll(async () => {
  ns = createVethNamespace(`ictcp${process.pid}`);
  // Inside the namespace every UDP packet, in or out, is dropped (DNS included: nothing needs it).
  ns.exec(['nft', '-f', '-'], `table inet colloquy_block_udp {
  chain out { type filter hook output priority 0; policy accept; meta l4proto udp drop; }
  chain in { type filter hook input priority 0; policy accept; meta l4proto udp drop; }
}
`);
  wrapper = chromiumInNamespace(ns);
  withTcp = await serverOnVeth(true);
  withoutTcp = await serverOnVeth(false);
  // The pages are on a private address, not loopback: Chromium gives camera access to secure
  // contexts only, so these origins are declared secure.
  const origins = [withTcp, withoutTcp].flatMap(({ t, app }) => [new URL(app.url).origin, t.url]).join(',');
  browser = await launchChromium({ executablePath: wrapper.path, args: [`--unsafely-treat-insecure-origin-as-secure=${origins}`] });
});
afterAll(async () => {
  await browser?.close();
  for (const cleanup of cleanups.reverse()) await cleanup();
  wrapper?.remove();
  ns?.remove();
});

async function serverOnVeth(tcp: boolean): Promise<{ t: TestServer; app: AppServer }> {
  const t = await startTestServer({
    HOST: ns.hostAddress,
    COLLOQUY_ANNOUNCED_IP: ns.hostAddress,
    COLLOQUY_RTC_LISTEN_IP: ns.hostAddress,
    COLLOQUY_RTC_TCP: tcp ? 'on' : 'off',
    COLLOQUY_RESUME_GRACE_MS: '1000',
  });
  const app = await startAppServer(t.url, ns.hostAddress);
  cleanups.push(async () => {
    await app.close();
    await t.close();
  });
  return { t, app };
}

/** TCP ports listening on the veth address, less those of the server without ICE-TCP and its app page. */
function listeningPorts(): number[] {
  const out = execFileSync('ss', ['-Htln', 'src', ns.hostAddress], { encoding: 'utf8' });
  const ports = out.split('\n').map((l) => /:(\d+)\s/.exec(l)?.[1]).filter(Boolean).map(Number);
  const others = new Set([Number(new URL(withoutTcp.t.url).port), Number(new URL(withoutTcp.app.url).port)]);
  return ports.filter((p) => !others.has(p));
}

describe('ICE-TCP with UDP blocked', () => {
  it('the nftables rule really drops UDP in the namespace', () => {
    // A UDP datagram to the host end gets no answer path: `nft list` shows the rule in place.
    expect(ns.exec(['nft', 'list', 'table', 'inet', 'colloquy_block_udp'])).toMatch(/meta l4proto udp drop/);
  });

  it('routed: publisher and subscriber connect over TCP to the SFU and frames decode', async () => {
    const { t, app } = withTcp;
    const call = await runCall(browser, app.url, { restUrl: t.url, apiKey: t.apiKey, apiSecret: t.apiSecret, mediaMode: 'routed' });
    try {
      expect(call.width).toBeGreaterThan(0);
      // The browser's side is its active TCP candidate (Chromium reports it as prflx: the ICE-lite
      // server learns it from the check); the server's is its passive host candidate.
      const overTcp = { localProtocol: 'tcp', remote: 'host', remoteProtocol: 'tcp' };
      expect(call.subscriberPair).toMatchObject(overTcp);
      expect(call.publisherPairs).toEqual([expect.objectContaining(overTcp)]);
      expect(listeningPorts().length).toBeGreaterThanOrEqual(4); // HTTP, the app page, 2 ICE-TCP
    } finally {
      await call.close();
    }
    // When the call ends its transports close, and with them their TCP listeners.
    const deadline = Date.now() + 20_000;
    while (t.server.media.routers.some((r) => r.transportCount > 0) || listeningPorts().length > 2) {
      if (Date.now() > deadline) throw new Error(`ICE-TCP listeners left: ${listeningPorts().join(', ')}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }, 90_000);

  it('without COLLOQUY_RTC_TCP the same client cannot connect its media', async () => {
    const { t, app } = withoutTcp;
    // The publisher's ICE fails (publish reports OT_ICE_WORKFLOW_FAILED), or, at the latest, nothing decodes.
    await expect(runCall(browser, app.url, { restUrl: t.url, apiKey: t.apiKey, apiSecret: t.apiSecret, mediaMode: 'routed', timeoutMs: 8000 })).rejects.toThrow(
      /OT_ICE_WORKFLOW_FAILED|subscriber not decoding/,
    );
  }, 90_000);
});
