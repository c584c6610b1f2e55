// A browser's network interface disappears mid-call (Wi-Fi off, a VPN or a virtual interface gone):
// Chromium moves the call to another ICE pair it has checked and nominates it; the SFU (ICE-lite)
// must follow (media/ice-renomination.ts). Before it did, the server kept sending to the vanished
// address: subscribers lost everything, and a publisher never heard our RTCP again, so its video
// froze for good once its browser dropped the top simulcast layer (seen in loaded test runs, when
// another suite's network namespace came and went under a call).
//
// The vanishing interface is the host end of a veth pair (packages/testing netem): Chromium on this
// machine gathers a host candidate on it and prefers it to loopback.

import { createVethNamespace, type VethNamespace } from '@colloquy/testing/netem';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { expectDecoding, MediaApp, publish } from './media-app.js';

let m: MediaApp;
let ns: VethNamespace | undefined;

beforeAll(async () => {
  m = await MediaApp.start();
});
afterAll(async () => {
  ns?.remove();
  await m?.close();
});

interface TransportDump {
  kind: string;
  ice: { remoteAddress: string | null; renominations: number };
}

it('an interface used by the call disappears: the SFU follows the browser to its other pair and video keeps decoding both ways', { timeout: 120_000 }, async () => {
  ns = createVethNamespace('ifgone', { loopbackReachable: true });
  const sessionId = await m.createSession('routed');
  const [a, b] = [await m.openPage(), await m.openPage()];
  await m.join(a, sessionId, 'publisher', 'name=Ada');
  await m.join(b, sessionId, 'publisher', 'name=Bob');
  await a.page.evaluate(() => ((window as any).autoSubscribe = true));
  await b.page.evaluate(() => ((window as any).autoSubscribe = true));
  const [pa, pb] = await Promise.all([publish(a, { name: 'Ada' }), publish(b, { name: 'Bob' })]);
  await expectDecoding(a, [pb.streamId!]);
  await expectDecoding(b, [pa.streamId!]);

  const transports = (): TransportDump[] => (m.t.server.sessions.live(sessionId)!.router!.dump()['transports'] as TransportDump[]);
  const host = `${ns.hostAddress}:`;
  // Precondition: Chromium chose the veth address for some transport (it ranks loopback last), else
  // this test would prove nothing.
  await expect.poll(() => transports().filter((t) => t.ice.remoteAddress?.startsWith(host)).length, { timeout: 20_000 }).toBeGreaterThan(0);
  const onVeth = transports().filter((t) => t.ice.remoteAddress?.startsWith(host)).length;

  ns.remove();
  ns = undefined;
  // Every transport that was on the vanished address is followed to the browser's new pair.
  await expect.poll(() => transports().filter((t) => t.ice.remoteAddress?.startsWith(host)).length, { timeout: 30_000 }).toBe(0);
  const moved = transports().filter((t) => t.ice.renominations > 0);
  expect(moved.length).toBeGreaterThanOrEqual(onVeth);
  // Where to: another address of this machine Chromium had checked (loopback, or another interface).
  for (const t of moved) expect(t.ice.remoteAddress).toMatch(/^\d+\.\d+\.\d+\.\d+:\d+$/);

  // Media both ways after the move: frames decoded rising (10 more), width > 0, audio packets rising.
  const after = { a: await expectDecoding(a, [pb.streamId!], { timeoutMs: 30_000 }), b: await expectDecoding(b, [pa.streamId!], { timeoutMs: 30_000 }) };
  console.log(`network change: ${onVeth} of 4 transports were on the veth address, ${moved.length} moved; frames A←B ${after.a[pb.streamId!]!.framesDecoded}, B←A ${after.b[pa.streamId!]!.framesDecoded}`);
  await m.closePages();
});
