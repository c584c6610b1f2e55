// Prometheus metrics (prom-client) for GET /metrics. Almost everything is read when scraped from
// what the server already keeps: the live sessions, the SFU's per-producer and per-consumer stats
// (Router.getStats()), the signaling server's counters, the archives table, the callback sender,
// the load monitor. The packet path gains nothing. Counters of packets and bytes are kept monotonic
// by adding each live producer's/consumer's growth since the last read; what a transport did between
// its last read and its close is not counted (reads happen at every scrape and every 5 s).
// Names and meanings: docs/deploy.md#metrics.

import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { WebhookStats } from '../callbacks/webhook-sender.js';
import type { ConsumerStats, MediaEngine, ProducerStats } from '@colloquy/sfu';
import { routerMediaStats } from '../media-workers/engine.js';
import type { MediaWorkers } from '../media-workers/media-workers.js';
import type { SessionManager } from '../sessions/session-manager.js';
import type { SqlDatabase } from '../store/database.js';
import type { LoadMonitor } from './load-monitor.js';
import { every, type ClockTask } from './thread-clock.js';

export interface MetricsSources {
  sessions: SessionManager;
  media: MediaEngine;
  /** Media worker threads: their peer connections and consumers (as last reported) count with the main thread's. */
  workers?: Pick<MediaWorkers, 'workerConsumers' | 'workerTransports'>;
  db: SqlDatabase;
  load: LoadMonitor;
  callbacks: () => WebhookStats;
  /** The signaling server, once the HTTP app exists. */
  signaling?: () => { sockets: number; messagesReceived: ReadonlyMap<string, number> } | null;
}

/** How often the bitrate and loss histograms take a sample of every track. */
const SAMPLE_INTERVAL_MS = 5000;
/** prom-client's own event-loop lag histogram (nodejs_eventloop_lag_*): one sample a second. */
const PROCESS_LAG_RESOLUTION_MS = 1000;

const BITRATE_BUCKETS = [16e3, 32e3, 64e3, 128e3, 256e3, 512e3, 1e6, 1.5e6, 2e6, 3e6, 5e6];
const LOSS_BUCKETS = [0, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5];

/** Growth of a per-object total (packets sent by one consumer …) turned into one monotonic counter. */
class TotalsTracker {
  readonly #last = new Map<string, number>();
  constructor(readonly counter: Counter<string>, readonly labels: Record<string, string> = {}) {}
  /** `totals`: id → current total of every live object; objects gone since last time are forgotten. */
  update(totals: Map<string, number>): void {
    let growth = 0;
    for (const [id, total] of totals) {
      growth += Math.max(0, total - (this.#last.get(id) ?? 0));
      this.#last.set(id, total);
    }
    for (const id of this.#last.keys()) if (!totals.has(id)) this.#last.delete(id);
    if (growth > 0) this.counter.inc(this.labels, growth);
  }
}

export class Metrics {
  readonly registry = new Registry();
  readonly #sources: MetricsSources;
  readonly #timer: ClockTask;
  readonly #trackers: { pick: (p: ProducerStats[], c: ConsumerStats[]) => Map<string, number>; tracker: TotalsTracker }[] = [];
  readonly #signalingReceived: Counter<'type'>;
  readonly #signalingSeen = new Map<string, number>();
  readonly #publisherBitrate: Histogram<'kind'>;
  readonly #subscriberBitrate: Histogram<'kind'>;
  readonly #publisherLoss: Histogram<'kind'>;
  readonly #subscriberLoss: Histogram<'kind'>;
  readonly #lag: Histogram;

  constructor(sources: MetricsSources) {
    this.#sources = sources;
    const registers = [this.registry];
    // prom-client's nodejs_eventloop_lag_* sample once a second: its 10 ms default woke an idle
    // server 100 times a second (see LAG_RESOLUTION_MS). colloquy_event_loop_lag_seconds is the fine one.
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: PROCESS_LAG_RESOLUTION_MS });

    // prom-client awaits a collect that returns a promise (the archive counts are a query).
    const gauge = (name: string, help: string, labelNames: string[], collect: (g: Gauge<string>) => void | Promise<void>): void => {
      new Gauge({ name, help, labelNames, registers, collect() { return collect(this); } });
    };
    gauge('colloquy_sessions', 'Live sessions (someone connected), by media mode', ['media_mode'], (g) => {
      const counts = { routed: 0, relayed: 0 };
      for (const s of sources.sessions.liveSessions()) counts[s.mediaMode]++;
      g.set({ media_mode: 'routed' }, counts.routed);
      g.set({ media_mode: 'relayed' }, counts.relayed);
    });
    gauge('colloquy_connections', 'Client connections in live sessions (including those waiting to resume)', [], (g) => {
      g.set(sources.sessions.liveSessions().reduce((n, s) => n + s.connections.size, 0));
    });
    gauge('colloquy_streams', 'Published streams that are live', [], (g) => {
      g.set(sources.sessions.liveSessions().reduce((n, s) => n + s.liveStreams().length, 0));
    });
    gauge('colloquy_subscribers', 'Subscriptions (one per Subscriber), routed and relayed', [], (g) => {
      g.set(sources.sessions.liveSessions().reduce((n, s) => n + s.subscriptions.size, 0));
    });
    gauge('colloquy_signaling_sockets', 'Open signaling WebSockets', [], (g) => {
      g.set(sources.signaling?.()?.sockets ?? 0);
    });
    gauge('colloquy_media_routers', 'SFU routers (one per routed session with media)', [], (g) => g.set(sources.media.routers.length));
    gauge('colloquy_media_transports', 'SFU peer connections (publisher and subscriber transports)', [], (g) => {
      g.set(sources.media.routers.reduce((n, r) => n + r.transportCount, 0) + (sources.workers?.workerTransports() ?? 0));
    });
    gauge('colloquy_archives', 'Archives by status (as stored)', ['status'], async (g) => {
      const rows = await sources.db.all<{ status: string; n: number }>('SELECT status, COUNT(*) AS n FROM archives GROUP BY status');
      g.reset();
      for (const status of ['started', 'paused', 'stopped', 'available', 'uploaded', 'failed', 'deleted', 'expired']) g.set({ status }, 0);
      for (const row of rows) g.set({ status: row.status }, row.n);
    });
    gauge('colloquy_callbacks_queued', 'Callbacks (archive status, session monitoring) waiting to be delivered', [], (g) => g.set(sources.callbacks().queued));
    const callbackCounter = (name: string, help: string, key: 'delivered' | 'failed' | 'dropped'): void => {
      let seen = 0;
      new Counter({
        name,
        help,
        registers,
        collect() {
          const now = sources.callbacks()[key];
          if (now > seen) this.inc(now - seen);
          seen = now;
        },
      });
    };
    callbackCounter('colloquy_callbacks_delivered_total', 'Callbacks delivered (2xx answer)', 'delivered');
    callbackCounter('colloquy_callbacks_failed_total', 'Callbacks given up after their retries', 'failed');
    callbackCounter('colloquy_callbacks_dropped_total', 'Callbacks dropped because their queue was full', 'dropped');

    const counter = (name: string, help: string, labelNames: string[] = []): Counter<string> => new Counter({ name, help, labelNames, registers });
    const track = (c: Counter<string>, labels: Record<string, string>, pick: (p: ProducerStats[], c: ConsumerStats[]) => Map<string, number>): void => {
      this.#trackers.push({ pick, tracker: new TotalsTracker(c, labels) });
    };
    const byId = <T extends { id: string }>(items: T[], value: (item: T) => number): Map<string, number> => new Map(items.map((i) => [i.id, value(i)]));
    const received = counter('colloquy_received_packets_total', 'RTP packets the SFU received from publishers', ['kind']);
    const receivedBytes = counter('colloquy_received_bytes_total', 'RTP payload and header bytes the SFU received from publishers', ['kind']);
    const forwarded = counter('colloquy_forwarded_packets_total', 'RTP packets the SFU sent to subscribers (forwarded media)', ['kind']);
    const forwardedBytes = counter('colloquy_forwarded_bytes_total', 'Bytes of RTP the SFU sent to subscribers', ['kind']);
    for (const kind of ['audio', 'video'] as const) {
      track(received, { kind }, (p) => byId(p.filter((x) => x.kind === kind), (x) => x.packetsReceived));
      track(receivedBytes, { kind }, (p) => byId(p.filter((x) => x.kind === kind), (x) => x.bytesReceived));
      track(forwarded, { kind }, (_p, c) => byId(c.filter((x) => x.kind === kind), (x) => x.packetsSent));
      track(forwardedBytes, { kind }, (_p, c) => byId(c.filter((x) => x.kind === kind), (x) => x.bytesSent));
    }
    track(counter('colloquy_nacks_received_total', 'NACKs subscribers sent the SFU (packets they asked for again)'), {}, (_p, c) => byId(c, (x) => x.nackCount));
    track(counter('colloquy_retransmitted_packets_total', 'Packets the SFU resent to subscribers answering NACKs'), {}, (_p, c) => byId(c, (x) => x.retransmittedPackets));
    track(counter('colloquy_resends_skipped_total', 'NACKed packets the SFU did not resend: resent within the last round trip (once in all while a saturated downlink holds retransmissions), or sent over 1 s ago'), {}, (_p, c) => byId(c, (x) => x.resendsSkipped));
    track(counter('colloquy_repair_keyframes_total', 'Keyframes the SFU asked publishers for because packets of a forwarded layer could not be repaired (their NACKs held through a saturated downlink, or too old)'), {}, (_p, c) => byId(c, (x) => x.repairKeyFrames));
    track(counter('colloquy_nacks_sent_total', 'NACKs the SFU sent publishers'), {}, (p) => byId(p, (x) => x.nackCount));
    track(counter('colloquy_plis_received_total', 'Keyframe requests (PLI and FIR) subscribers sent the SFU'), {}, (_p, c) => byId(c, (x) => x.pliCount + x.firCount));
    track(counter('colloquy_plis_sent_total', 'Keyframe requests (PLI) the SFU sent publishers'), {}, (p) => byId(p, (x) => x.pliCount));
    const lost = counter('colloquy_packets_lost_total', 'RTP packets lost: from publishers to the SFU (direction publisher), from the SFU to subscribers as they report (subscriber)', ['direction']);
    track(lost, { direction: 'publisher' }, (p) => byId(p, (x) => x.packetsLost));
    track(lost, { direction: 'subscriber' }, (_p, c) => byId(c, (x) => x.packetsLost));

    this.#signalingReceived = new Counter({ name: 'colloquy_signaling_messages_received_total', help: 'Valid signaling messages received from clients, by type', labelNames: ['type'], registers });

    const histogram = (name: string, help: string, buckets: number[]): Histogram<'kind'> => new Histogram({ name, help, labelNames: ['kind'], buckets, registers });
    this.#publisherBitrate = histogram('colloquy_publisher_bitrate_bps', 'Bitrate of each published track as the SFU receives it, bits/s, sampled every 5 s per track', BITRATE_BUCKETS);
    this.#subscriberBitrate = histogram('colloquy_subscriber_bitrate_bps', 'Bitrate the SFU sends each subscribed track, bits/s, sampled every 5 s per track', BITRATE_BUCKETS);
    this.#publisherLoss = histogram('colloquy_publisher_loss_ratio', 'Fraction of packets lost from a publisher to the SFU, sampled every 5 s per track', LOSS_BUCKETS);
    this.#subscriberLoss = histogram('colloquy_subscriber_loss_ratio', 'Fraction of packets lost from the SFU to a subscriber (its receiver reports), sampled every 5 s per track', LOSS_BUCKETS);

    this.#lag = new Histogram({ name: 'colloquy_event_loop_lag_seconds', help: 'p99 event-loop delay of each 1 s window (the media engine runs on this loop)', buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1], registers });
    gauge('colloquy_process_cpu_ratio', 'CPU of this process over the last second, as a fraction of one core', [], (g) => g.set(sources.load.sample.cpuPercent / 100));
    gauge('colloquy_overloaded', '1 while new publishes and subscribes are refused because the server is saturated (see /readyz)', [], (g) => g.set(sources.load.overloaded() ? 1 : 0));
    sources.load.onSample = (sample) => this.#lag.observe(sample.eventLoopLagMs / 1000);

    this.#timer = every(SAMPLE_INTERVAL_MS, () => this.#sampleTracks());
  }

  #mediaStats(): { producers: ProducerStats[]; consumers: ConsumerStats[] } {
    const { producers, consumers } = routerMediaStats(this.#sources.media.routers);
    if (this.#sources.workers) consumers.push(...this.#sources.workers.workerConsumers());
    return { producers, consumers };
  }

  #updateCounters(producers: ProducerStats[], consumers: ConsumerStats[]): void {
    for (const { pick, tracker } of this.#trackers) tracker.update(pick(producers, consumers));
    const received = this.#sources.signaling?.()?.messagesReceived;
    if (received) {
      for (const [type, total] of received) {
        const growth = total - (this.#signalingSeen.get(type) ?? 0);
        if (growth > 0) this.#signalingReceived.inc({ type }, growth);
        this.#signalingSeen.set(type, total);
      }
    }
  }

  #sampleTracks(): void {
    const { producers, consumers } = this.#mediaStats();
    for (const p of producers) {
      this.#publisherBitrate.observe({ kind: p.kind }, p.bitrate);
      this.#publisherLoss.observe({ kind: p.kind }, p.fractionLost);
    }
    for (const c of consumers) {
      if (c.paused || c.producerPaused) continue;
      this.#subscriberBitrate.observe({ kind: c.kind }, c.bitrate);
      this.#subscriberLoss.observe({ kind: c.kind }, c.fractionLost);
    }
    this.#updateCounters(producers, consumers);
  }

  /** The exposition text (and its content type) for one scrape. */
  async scrape(): Promise<{ contentType: string; body: string }> {
    const { producers, consumers } = this.#mediaStats();
    this.#updateCounters(producers, consumers);
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  close(): void {
    this.#timer.cancel();
    this.#sources.load.onSample = null;
    this.registry.clear();
  }
}
