// Cluster mode (COLLOQUY_REDIS_URL): this node's part in a cluster of Colloquy nodes that share one
// database and one Redis. It publishes its liveness and load, places sessions on the least-loaded
// node, routes signaling sockets and REST requests to a session's home node, and tells clients the
// other nodes to reconnect through. docs/cluster.md describes the design; none of this runs on a
// single node.

import { createHmac } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { ArchiveManager } from '../archiving/archive-manager.js';
import type { Logger } from '../logger.js';
import type { LoadMonitor } from '../ops/load-monitor.js';
import type { Metrics } from '../ops/metrics.js';
import type { SessionManager } from '../sessions/session-manager.js';
import type { SignalingServer } from '../signaling/signaling-server.js';
import { nodeForwardedClient, type NodeAuthPurpose } from './node-auth.js';
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

  /** The client a request sent on by another node of the cluster acts for (null: not from a node). */
  forwardedClient(purpose: NodeAuthPurpose, request: IncomingMessage): { clientAddress: string } | null {
    return nodeForwardedClient(this.settings.secret, purpose, request);
  }

  /** Calls `listener` with the node list each time it changes (a node joined, drains, left or died). */
  onNodesChanged(listener: (urls: string[]) => void): () => void {
    this.#nodeListeners.add(listener);
    return () => this.#nodeListeners.delete(listener);
  }

  /** HTTP hooks: REST forwarding. Called while the app is built, before its routes. */
  registerHttp(app: FastifyInstance, archives: ArchiveManager, logger: Logger): void {
    registerRestForwarding(app, { nodeId: this.settings.nodeId, secret: this.settings.secret, registry: this.registry, archives, logger });
  }

  /** Signaling upgrades go through the router (local home, or a proxy to the home). */
  handleUpgrade(signaling: SignalingServer, request: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.#router ??= new SignalingRouter({
      nodeId: this.settings.nodeId,
      secret: this.settings.secret,
      registry: this.registry,
      signaling,
      homeRetryMs: this.settings.nodeTtlMs * 2 + 2000,
      logger: this.#log,
    });
    this.#router.handleUpgrade(request, socket, head);
  }

  /** Joins the cluster: the node is published (and so takes sessions) from now on. */
  async start(parts: ClusterParts): Promise<void> {
    this.#parts = parts;
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
  }

  async #heartbeat(): Promise<void> {
    if (this.#closed) return;
    try {
      await this.registry.publish(this.#info(await this.#load()));
      const nodes = await this.registry.liveNodes();
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
    this.#router?.close();
    await this.registry.withdraw(this.settings.nodeId).catch(() => {});
    await this.registry.close();
  }
}
