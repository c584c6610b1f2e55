// Cluster mode (COLLOQUY_REDIS_URL): this node's part in a cluster of Colloquy nodes that share one
// database and one Redis. It publishes its liveness and load, places sessions on the least-loaded
// node, routes signaling sockets and REST requests to a session's home node, and tells clients the
// other nodes to reconnect through. docs/cluster.md describes the design; none of this runs on a
// single node.

import { createHmac } from 'node:crypto';
import { Gauge } from 'prom-client';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { ArchiveManager } from '../archiving/archive-manager.js';
import type { Logger } from '../logger.js';
import type { MediaEngine } from '@colloquy/sfu';
import type { LoadMonitor } from '../ops/load-monitor.js';
import type { Metrics } from '../ops/metrics.js';
import type { SessionManager } from '../sessions/session-manager.js';
import type { SignalingServer } from '../signaling/signaling-server.js';
import { NodeLiveness } from './liveness.js';
import { MediaSpan } from '../media-span/media-span.js';
import { handleMediaHttp, httpMediaLink, MEDIA_PATH } from './media-link.js';
import { NodeRegistry, type NodeInfo, type NodeLoad } from './node-registry.js';
import { registerRestForwarding } from './rest-forward.js';
import type { ClusterSettings } from './settings.js';
import { SignalingRouter } from './signaling-router.js';

export type { ClusterSettings } from './settings.js';
export { NodeRegistry, leastLoaded, loadScore, type NodeInfo, type NodeLoad } from './node-registry.js';

export interface ClusterParts {
  sessions: SessionManager;
  archives: ArchiveManager;
  load: LoadMonitor;
  metrics: Metrics;
  /** The SFU: with it, a session's subscribers on other nodes are served there (media-span/media-span.ts). */
  media?: MediaEngine | null;
  /** Cuts the sockets of a session re-placed on another node (SignalingServer.dropSession). */
  signaling?: Pick<SignalingServer, 'dropSession'>;
  /** The Inspector's sample period (ms): an edge reports the subscribers it serves to their homes as often. Default 5000. */
  qualitySampleMs?: number;
}

export class ClusterNode {
  readonly settings: ClusterSettings;
  readonly registry: NodeRegistry;
  readonly #log: Logger;
  #router: SignalingRouter | null = null;
  #parts: ClusterParts | null = null;
  #timer: NodeJS.Timeout | undefined;
  #draining = false;
  #closed = false;
  /** The public URLs of the live nodes, refreshed every heartbeat (told to clients on connect). */
  #nodeUrls: string[];
  readonly #nodeListeners = new Set<(urls: string[]) => void>();
  #lastForwarded: { packets: number; at: number } | null = null;
  #unsubscribe: (() => void)[] = [];
  #span: MediaSpan | null = null;
  #liveness: NodeLiveness | null = null;

  constructor(settings: ClusterSettings, logger: Logger) {
    this.settings = settings;
    this.#log = logger.child({ module: 'cluster', node: settings.nodeId });
    this.registry = new NodeRegistry(settings, logger);
    this.#nodeUrls = [settings.publicUrl];
  }

  /** Connects to Redis; throws (the server does not start) when it cannot be reached. */
  async connect(): Promise<void> {
    await this.registry.connect();
  }

  /** The key every node signs archive download links with: a link made on one node verifies on all. */
  get archiveLinkKey(): Buffer {
    return createHmac('sha256', this.settings.secret).update('colloquy-cluster:archive-links').digest();
  }

  get nodeUrls(): string[] {
    return this.#nodeUrls;
  }

  /**
   * The node that serves the subscriptions of a client that entered the cluster at `entry` and
   * came here over its signaling link (media-span/media-span.ts), or null (this node, or no SFU to pipe from).
   */
  #mediaNodeFor(entry: string): string | null {
    if (!this.settings.spanSessions) return null;
    return entry === this.settings.nodeId ? null : entry;
  }

  /** Sessions spanning nodes: pipes and subscribers served for other homes (null until started). */
  get mediaSpan(): MediaSpan | null {
    return this.#span;
  }

  /** Calls `listener` with the node list each time it changes (a node joined, drains, left or died). */
  onNodesChanged(listener: (urls: string[]) => void): () => void {
    this.#nodeListeners.add(listener);
    return () => this.#nodeListeners.delete(listener);
  }

  /** HTTP hooks: REST forwarding. Called while the app is built, before its routes. */
  registerHttp(app: FastifyInstance, archives: ArchiveManager, logger: Logger): void {
    registerRestForwarding(app, { nodeId: this.settings.nodeId, secret: this.settings.secret, registry: this.registry, archives, logger });
    // Pipes and subscribers for sessions that span nodes: other nodes' requests.
    app.post(MEDIA_PATH, async (request, reply) => (this.#span ? handleMediaHttp(this.#span, this.settings.secret, this.#log, request, reply) : reply.status(503).send({ code: 503, message: 'this node serves no media' })));
  }

  /** Signaling upgrades go through the router (local home, or a proxy to the home). */
  handleUpgrade(signaling: SignalingServer, request: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.#router ??= new SignalingRouter({
      nodeId: this.settings.nodeId,
      secret: this.settings.secret,
      registry: this.registry,
      signaling,
      homeRetryMs: this.settings.nodeTtlMs * 2 + 2000,
      linkHungAfterMs: this.settings.stallMs,
      mediaNodeOf: (edge) => this.#mediaNodeFor(edge),
      logger: this.#log,
    });
    this.#router.handleUpgrade(request, socket, head);
  }

  /** Joins the cluster: the node is published (and so takes sessions) from now on. */
  async start(parts: ClusterParts): Promise<void> {
    this.#parts = parts;
    if (parts.media) {
      const span = new MediaSpan({ nodeId: this.settings.nodeId, link: httpMediaLink({ nodeId: this.settings.nodeId, secret: this.settings.secret, registry: this.registry }), sessions: parts.sessions, engine: parts.media, pipeIp: this.settings.pipeIp, statsIntervalMs: parts.qualitySampleMs ?? 5000, logger: this.#log });
      this.#span = span;
      parts.sessions.remoteSubscriber = (subscription, nodeId) => span.remoteSubscriber(subscription, nodeId);
      this.#unsubscribe.push(() => (parts.sessions.remoteSubscriber = null));
      registerSpanMetrics(parts.metrics, span);
    }
    // A session that ended here is placed afresh, by load, at its next connect.
    const onEnded = (session: { id: string }): void => void this.registry.releaseSession(session.id, this.settings.nodeId).catch((err: Error) => this.#log.warn({ err: err.message }, 'cannot release a session'));
    parts.sessions.on('sessionEnded', onEnded);
    this.#unsubscribe.push(() => parts.sessions.off('sessionEnded', onEnded));
    // An archive started here records here: its stop, delete and download come here.
    this.#unsubscribe.push(
      parts.archives.store.onStatusChange((record, previous) => {
        if (previous === null) void this.registry.recordArchiveNode(record.id, this.settings.nodeId).catch((err: Error) => this.#log.warn({ err: err.message }, 'cannot record the archive node'));
      }),
    );
    // Liveness is renewed from a thread of its own, so a busy node is not taken for dead (liveness.ts).
    this.#liveness = new NodeLiveness({
      redisUrl: this.settings.redisUrl,
      heartbeatMs: this.settings.heartbeatMs,
      nodeTtlMs: this.settings.nodeTtlMs,
      stallMs: this.settings.stallMs,
      fallback: (info) => this.registry.publish(info),
      logger: this.#log,
    });
    await this.#heartbeat();
    this.#timer = setInterval(() => void this.#heartbeat(), this.settings.heartbeatMs);
    this.#timer.unref();
    this.#log.info({ publicUrl: this.settings.publicUrl }, 'joined the cluster');
  }

  /**
   * SIGTERM: no new sessions are placed here, and the sockets this node proxies to other homes
   * close (1001) so that their clients resume through another node at once.
   */
  async drain(): Promise<void> {
    if (this.#draining || this.#closed) return;
    this.#draining = true;
    await this.#heartbeat();
    this.#router?.close();
    // After the sockets moved: the homes end what this node served, and their clients subscribe again elsewhere.
    await this.#span?.drain();
  }

  async #heartbeat(): Promise<void> {
    if (this.#closed) return;
    try {
      const info = this.#info(await this.#load());
      await (this.#liveness ? this.#liveness.publish(info) : this.registry.publish(info));
      await this.#dropMovedSessions();
      const nodes = await this.registry.liveNodes();
      this.#span?.nodesAlive(new Set(nodes.map((n) => n.id)), new Set(nodes.filter((n) => !n.draining).map((n) => n.id)));
      await this.#failLostArchives(new Set(nodes.map((n) => n.id)));
      // Own URL first: a client retries where it was before trying the others.
      const others = nodes.filter((n) => n.id !== this.settings.nodeId && !n.draining).map((n) => n.publicUrl).sort();
      const urls = [this.settings.publicUrl, ...others];
      const changed = urls.join(' ') !== this.#nodeUrls.join(' ');
      this.#nodeUrls = urls;
      if (changed) for (const listener of this.#nodeListeners) listener(urls);
    } catch (err) {
      this.#log.warn({ err: (err as Error).message }, 'cluster heartbeat failed');
    }
  }

  /**
   * Fencing: a session of ours whose home key now names another node was re-placed while this node
   * looked dead (its main thread stuck past COLLOQUY_CLUSTER_STALL_MS, or cut off from Redis). Its
   * clients here are cut loose, as if this node had died, so that they join it at its new home
   * instead of the session living on in two halves.
   */
  async #dropMovedSessions(): Promise<void> {
    const parts = this.#parts;
    if (!parts?.signaling) return;
    const ids = parts.sessions.liveSessions().map((s) => s.id);
    if (ids.length === 0) return;
    for (const [sessionId, home] of await this.registry.homedElsewhere(ids, this.settings.nodeId)) {
      const sockets = parts.signaling.dropSession(sessionId);
      if (sockets > 0) this.#log.warn({ sessionId, home, sockets }, 'session re-placed on another node while this one looked dead: its sockets here are cut, the clients join it there');
    }
  }

  /**
   * Archives recording on a node that died end as OpenTok's `failed` (the recording cannot go on,
   * and its files are on that node's disk): one live node marks each, the status callback follows.
   */
  async #failLostArchives(live: Set<string>): Promise<void> {
    const archives = this.#parts?.archives;
    if (!archives) return;
    for (const record of await archives.store.withStatus('started', 'paused')) {
      const owner = await this.registry.archiveNode(record.id);
      if (owner === null || live.has(owner)) continue;
      if (!(await this.registry.claimLostArchive(record.id))) continue;
      await archives.store.update(record.id, { status: 'failed', reason: `the node recording it (${owner}) stopped` });
      this.#log.warn({ archiveId: record.id, node: owner }, 'archive failed: its recording node is gone');
    }
  }

  #info(load: NodeLoad): NodeInfo {
    return { id: this.settings.nodeId, publicUrl: this.settings.publicUrl, internalUrl: this.settings.internalUrl, draining: this.#draining, load, at: Date.now() };
  }

  async #load(): Promise<NodeLoad> {
    const parts = this.#parts;
    if (!parts) return { cpuPercent: 0, forwardedPacketsPerSecond: 0, participants: 0 };
    let participants = 0;
    for (const session of parts.sessions.liveSessions()) participants += session.connections.size;
    const metric = await parts.metrics.registry.getSingleMetric('colloquy_forwarded_packets_total')?.get();
    const packets = (metric?.values ?? []).reduce((sum, v) => sum + v.value, 0);
    const now = Date.now();
    const last = this.#lastForwarded;
    this.#lastForwarded = { packets, at: now };
    const forwardedPacketsPerSecond = last && now > last.at ? Math.max(0, Math.round(((packets - last.packets) * 1000) / (now - last.at))) : 0;
    return { cpuPercent: Math.round(parts.load.sample.cpuPercent), forwardedPacketsPerSecond, participants };
  }

  /** Leaves the cluster: sockets it proxies close (1001), its key goes at once, Redis is let go. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    for (const off of this.#unsubscribe) off();
    this.#span?.close();
    this.#router?.close();
    // The liveness thread stops first, so that it cannot renew the key after it is withdrawn.
    await this.#liveness?.close();
    await this.registry.withdraw(this.settings.nodeId).catch(() => {});
    await this.registry.close();
  }
}

/** Pipe figures on /metrics: how many pipes this node sends and receives, and their packets. */
function registerSpanMetrics(metrics: Metrics, span: MediaSpan): void {
  const registers = [metrics.registry];
  new Gauge({ name: 'colloquy_cluster_pipes', help: 'RTP pipes between nodes (one per stream and node): out = sent from this home node, in = received here for subscribers served here', labelNames: ['direction'], registers, collect() {
    const s = span.stats();
    this.set({ direction: 'out' }, s.pipesOut);
    this.set({ direction: 'in' }, s.pipesIn);
  } });
  new Gauge({ name: 'colloquy_cluster_pipe_packets', help: 'RTP packets through the open pipes (out: sent, in: received)', labelNames: ['direction'], registers, collect() {
    const s = span.stats();
    this.set({ direction: 'out' }, s.packetsSent);
    this.set({ direction: 'in' }, s.packetsReceived);
  } });
  new Gauge({ name: 'colloquy_cluster_remote_subscribers', help: 'Subscriptions served for another home node (edge), and of this node\'s sessions served by other nodes (home)', labelNames: ['role'], registers, collect() {
    const s = span.stats();
    this.set({ role: 'edge' }, s.edgeSubscribers);
    this.set({ role: 'home' }, s.remoteSubscriptions);
  } });
}
