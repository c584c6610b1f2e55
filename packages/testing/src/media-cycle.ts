// One full media join/leave cycle with Node clients, for leak checks: a publisher connects and
// sends, a subscriber connects and receives, then everything closes. Used by a test (a few dozen
// cycles) and a benchmark (a thousand).

import type { Router } from '@colloquy/server';
import { NodePublisher, NodeSubscriber, waitUntil } from './media-clients.js';
import type { TestMedia } from './media-sources.js';

/** What is open in this process, by kind (process.getActiveResourcesInfo): UDP sockets, timers… */
export function activeResources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const name of process.getActiveResourcesInfo()) counts[name] = (counts[name] ?? 0) + 1;
  return counts;
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
