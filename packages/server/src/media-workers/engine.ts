// One media thread's SFU: the main thread's and each worker's MediaEngine are made the same way,
// from the same network settings with that thread's share of the ports (media-workers.ts splits
// them), and what its routers carry.

import { MediaEngine, type ConsumerStats, type ProducerStats, type Router, type UplinkEstimation, type VideoCodecName } from '@colloquy/sfu';
import type { Logger } from '../logger.js';

/** A media thread's network settings (plain data: a worker thread gets them as workerData). */
export interface MediaThreadNetwork {
  announcedIps: string[];
  listenIp?: string;
  /** Range mode: the UDP ports (this thread's share). */
  portRange: [number, number];
  /** One-port mode: the UDP port (0: the system picks), else null. */
  port: number | null;
  /** ICE-TCP on one TCP port, else null. */
  tcpPort: number | null;
  tcp: boolean;
  maxIncomingBitrate: number;
  uplinkEstimation: UplinkEstimation;
  /** The video codec of routed sessions' routers (pipes to this thread name their own). */
  videoCodec: VideoCodecName;
}

/** The thread's engine; with one UDP or TCP port, opened (bound) before this resolves. */
export async function openMediaEngine(network: MediaThreadNetwork, logger: Logger): Promise<MediaEngine> {
  const { port, tcpPort, ...options } = network;
  return port === null && tcpPort === null ? new MediaEngine({ ...options, logger }) : MediaEngine.open({ ...options, port, tcpPort, logger });
}

/** What a thread's routers carry: every producer's and consumer's figures (the metrics; a worker's load report). */
export function routerMediaStats(routers: readonly Router[]): { producers: ProducerStats[]; consumers: ConsumerStats[] } {
  const producers: ProducerStats[] = [];
  const consumers: ConsumerStats[] = [];
  for (const router of routers) {
    const stats = router.getStats() as { publishers: { producers: ProducerStats[] }[]; subscribers: { consumers: ConsumerStats[] }[] };
    for (const t of stats.publishers) producers.push(...t.producers);
    for (const t of stats.subscribers) consumers.push(...t.consumers);
  }
  return { producers, consumers };
}
