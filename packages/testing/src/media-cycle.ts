// One full media join/leave cycle with Node clients, for leak checks: a publisher connects and
// sends, a subscriber connects and receives, then everything closes. Used by a test (a few dozen
// cycles) and a benchmark (a thousand).

import type { Router } from '@colloquy/sfu';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { NodePublisher, NodeSubscriber, waitUntil } from './media-clients.js';
import type { TestMedia } from './media-sources.js';

/** What is open in this process, by kind (process.getActiveResourcesInfo): UDP sockets, timers… */
export function activeResources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const name of process.getActiveResourcesInfo()) counts[name] = (counts[name] ?? 0) + 1;
  return counts;
}

/**
 * A process's open descriptors (/proc/<pid>/fd) and how many of them are bound UDP sockets (matched
 * by inode against /proc/net/udp{,6}): what a leak of media ports shows as, in this process or a
 * server's. werift unrefs its sockets, so activeResources() does not see them all.
 */
export function descriptors(pid: number | 'self' = 'self'): { fds: number; udp: number } {
  const inodes = new Set<string>();
  for (const file of ['/proc/net/udp', '/proc/net/udp6']) {
    let text = '';
    try {
      text = readFileSync(file, 'latin1');
    } catch {
      continue; // no IPv6 on this machine
    }
    for (const line of text.split('\n').slice(1)) {
      const inode = line.trim().split(/\s+/)[9];
      if (inode) inodes.add(inode);
    }
  }
  let fds = 0;
  let udp = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    fds++;
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m && inodes.has(m[1]!)) udp++;
    } catch {
      // closed between readdir and readlink
    }
  }
  return { fds, udp };
}

export async function joinLeaveCycle(router: Router, media: TestMedia, options: { closeBy?: 'transport' | 'router' } = {}): Promise<void> {
  const publisher = new NodePublisher({ media });
  const subscriber = new NodeSubscriber({ maxPackets: 100 });
  const pubTransport = router.createPublisherTransport();
  const subTransport = router.createSubscriberTransport();
  try {
    let producers: Awaited<ReturnType<typeof pubTransport.acceptOffer>>['producers'] = [];
    await publisher.connect(async (offer) => {
      const r = await pubTransport.acceptOffer(offer);
      producers = r.producers;
      return r.answer;
    });
    subTransport.consume(producers);
    await subTransport.acceptAnswer(await subscriber.answer(await subTransport.createOffer()));
    await subscriber.connected();
    // Media must flow, or the cycle proved nothing about the packet path's resources.
    for (let i = 0; i < 200 && subscriber.of('audio').length === 0; i++) {
      publisher.sendAudioPacket();
      publisher.sendVideoFrame();
      await new Promise((r) => setTimeout(r, 10));
    }
    await waitUntil(() => subscriber.of('audio').length > 0, 5000, 'audio at the subscriber');
  } finally {
    if (options.closeBy === 'router') await router.close();
    else await Promise.all([subTransport.close(), pubTransport.close()]);
    await Promise.all([publisher.close(), subscriber.close()]);
  }
}
