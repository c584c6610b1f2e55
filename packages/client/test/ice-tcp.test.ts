// ICE over TCP to the SFU for a client whose UDP is blocked and who has no TURN: Chromium runs in a
// network namespace (created and removed here, joined by a veth pair) where nftables drops every
// UDP packet; the server announces the veth address with COLLOQUY_RTC_TCP=on, so its answers carry
// passive TCP candidates (RFC 6544), and the browser connects to them. The test proves the selected
// pair is TCP to the server's passive candidate, for the publisher and the subscriber, and that the
// subscriber decodes. A control run with ICE-TCP off fails to connect, so it is UDP that is blocked.
// With COLLOQUY_RTC_TCP_PORT every peer connection's passive candidate is the one shared TCP port
// (media/tcp-mux.ts), and a connection that does not start with a check for one of ours is closed.

import { launchChromium, type TestBrowser } from '@colloquy/testing/browser';
import { chromiumInNamespace, createVethNamespace, type VethNamespace } from '@colloquy/testing/deploy';
import { startTestServer, type TestServer } from '@colloquy/testing/server';
import { execFileSync } from 'node:child_process';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCall, startAppServer, type AppServer } from './call.js';

let ns: VethNamespace;
let wrapper: { path: string; remove(): void };
let browser: TestBrowser;
const cleanups: (() => Promise<void>)[] = [];
let withTcp: { t: TestServer; app: AppServer };
let withoutTcp: { t: TestServer; app: AppServer };
let onePort: { t: TestServer; app: AppServer };
/** One TCP port and one UDP port: the TCP mux finds agents by the UDP mux's tag. */
let bothMuxed: { t: TestServer; app: AppServer };

beforeAll(async () => {
  ns = createVethNamespace(`ictcp${process.pid}`);
  // Inside the namespace every UDP packet, in or out, is dropped (DNS included: nothing needs it).
  ns.exec(['nft', '-f', '-'], `table inet colloquy_block_udp {
  chain out { type filter hook output priority 0; policy accept; meta l4proto udp drop; }
  chain in { type filter hook input priority 0; policy accept; meta l4proto udp drop; }
}
`);
  wrapper = chromiumInNamespace(ns);
  // A port per peer connection (the range mode), UDP and TCP alike.
  const range = { COLLOQUY_RTC_MIN_PORT: '40000', COLLOQUY_RTC_MAX_PORT: '49999' };
  withTcp = await serverOnVeth(true, range);
  withoutTcp = await serverOnVeth(false);
  onePort = await serverOnVeth(true, { ...range, COLLOQUY_RTC_TCP_PORT: '0' });
  bothMuxed = await serverOnVeth(true, { COLLOQUY_RTC_TCP_PORT: '0', COLLOQUY_RTC_PORT: '0' });
  // The pages are on a private address, not loopback: Chromium gives camera access to secure
  // contexts only, so these origins are declared secure.
  const origins = [withTcp, withoutTcp, onePort, bothMuxed].flatMap(({ t, app }) => [new URL(app.url).origin, t.url]).join(',');
  browser = await launchChromium({ executablePath: wrapper.path, args: [`--unsafely-treat-insecure-origin-as-secure=${origins}`] });
});
afterAll(async () => {
  await browser?.close();
  for (const cleanup of cleanups.reverse()) await cleanup();
  wrapper?.remove();
  ns?.remove();
});

async function serverOnVeth(tcp: boolean, env: Record<string, string> = {}): Promise<{ t: TestServer; app: AppServer }> {
  const t = await startTestServer({
    HOST: ns.hostAddress,
    COLLOQUY_ANNOUNCED_IP: ns.hostAddress,
    COLLOQUY_RTC_LISTEN_IP: ns.hostAddress,
    COLLOQUY_RTC_TCP: tcp ? 'on' : 'off',
    COLLOQUY_RESUME_GRACE_MS: '1000',
    ...env,
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
  const others = new Set([withoutTcp, onePort, bothMuxed].flatMap(({ t, app }) => [Number(new URL(t.url).port), Number(new URL(app.url).port), t.server.media.tcpMux?.port ?? 0]));
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

  it.each([
    ['a UDP port range', () => onePort],
    ['one UDP port too (COLLOQUY_RTC_PORT)', () => bothMuxed],
  ])('one TCP port (COLLOQUY_RTC_TCP_PORT), with %s: both peer connections use it, frames decode, no port per peer connection', async (_mode, server) => {
    const { t, app } = server();
    const mux = t.server.media.tcpMux!;
    const before = mux.stats();
    const listening = (): number[] => execFileSync('ss', ['-Htln', 'src', ns.hostAddress], { encoding: 'utf8' }).split('\n').map((l) => /:(\d+)\s/.exec(l)?.[1]).filter(Boolean).map(Number);
    const portsBefore = new Set(listening());
    const call = await runCall(browser, app.url, { restUrl: t.url, apiKey: t.apiKey, apiSecret: t.apiSecret, mediaMode: 'routed' });
    try {
      expect(call.width).toBeGreaterThan(0);
      const overSharedPort = { localProtocol: 'tcp', remote: 'host', remoteProtocol: 'tcp', remotePort: mux.port };
      expect(call.subscriberPair).toMatchObject(overSharedPort);
      expect(call.publisherPairs).toEqual([expect.objectContaining(overSharedPort)]);
      // No listener of its own per peer connection: the same TCP ports listen as before the call.
      expect(new Set(listening())).toEqual(portsBefore);
      expect(mux.stats().accepted).toBeGreaterThanOrEqual(before.accepted + 2);
      expect(mux.stats().agents).toBeGreaterThanOrEqual(2);
    } finally {
      await call.close();
    }
    const deadline = Date.now() + 20_000;
    while (mux.stats().agents > 0 || t.server.media.routers.some((r) => r.transportCount > 0)) {
      if (Date.now() > deadline) throw new Error(`agents left on the shared TCP port: ${JSON.stringify(mux.stats())}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }, 90_000);

  it('the shared TCP port closes a connection whose first frame is not a check for one of our agents', async () => {
    const mux = onePort.t.server.media.tcpMux!;
    const before = mux.stats().rejected;
    const closedAfter = (payload: Buffer): Promise<void> =>
      new Promise((resolve, reject) => {
        const socket = connect(mux.port, ns.hostAddress, () => socket.write(payload));
        const timer = setTimeout(() => reject(new Error('the shared TCP port kept a stranger open')), 20_000);
        socket.on('error', () => {});
        socket.on('close', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    // Not STUN at all (an HTTP request read as a 0x4745-byte frame), and a Binding request for an unknown ufrag.
    await closedAfter(Buffer.from('GET / HTTP/1.1\r\n\r\n'));
    const stun = Buffer.alloc(20 + 4 + 12);
    stun.writeUInt16BE(0x0001, 0);
    stun.writeUInt16BE(16, 2);
    stun.writeUInt32BE(0x2112a442, 4);
    stun.writeUInt16BE(0x0006, 20);
    stun.writeUInt16BE(9, 22);
    stun.write('zzzz:abcd', 24);
    const frame = Buffer.alloc(2 + stun.length);
    frame.writeUInt16BE(stun.length, 0);
    stun.copy(frame, 2);
    await closedAfter(frame);
    expect(mux.stats().rejected).toBe(before + 2);
  }, 60_000);
});
