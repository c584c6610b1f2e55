// The cluster's shared view in Redis: which nodes are alive (a key per node with a TTL, refreshed
// every heartbeat: a node that stops refreshing is dead once its key expires), how loaded each is,
// and which node is the home of each live session (the one that holds its connections and media).
//
// Keys (prefix `colloquy:`):
//   node:<id>            JSON NodeInfo, PX = node TTL          liveness + load
//   nodes                set of node ids ever seen             where to look for node:<id> keys
//   session:<sid>:home   node id                               placement; deleted when the session ends there
//   archive:<aid>:node   node id (30 days)                     who recorded an archive (its file is there)
//   archive:<aid>:lost   1 (1 day)                             one node marks a dead node's recording failed
//   <kind>:<id>:node     node id (2 days)                      where a broadcast, render, captions or
//                                                              Audio Connector runs (its stop, update go there)

import { Redis } from 'ioredis';
import type { Logger } from '../logger.js';
import type { ClusterSettings } from './settings.js';

export interface NodeLoad {
  /** Process CPU over the last second, percent of one core. */
  cpuPercent: number;
  /** RTP packets per second the SFU forwarded to subscribers. */
  forwardedPacketsPerSecond: number;
  /** Client connections in sessions this node is home of. */
  participants: number;
}

export interface NodeInfo {
  id: string;
  publicUrl: string;
  internalUrl: string;
  /** SIGTERM received: the node finishes what it has and takes no new sessions. */
  draining: boolean;
  load: NodeLoad;
  /** When this was published (ms since the epoch). */
  at: number;
}

const PREFIX = 'colloquy:';
/** The liveness key of a node (its NodeInfo JSON, PX = node TTL). */
export const nodeKey = (nodeId: string): string => `${PREFIX}node:${nodeId}`;
/** The set of node ids ever seen (where to look for node keys). */
export const NODES_KEY = `${PREFIX}nodes`;
const ARCHIVE_NODE_TTL_S = 30 * 86_400;
/** Longer than any broadcast, render, captions or Audio Connector may last (OpenTok's longest: 10 h). */
const RUNNING_NODE_TTL_S = 2 * 86_400;

/** What runs on a session's home node and is then addressed by its own id alone. */
export type RunningKind = 'broadcast' | 'render' | 'captions' | 'connect';

/**
 * Compare-and-set of a session's home: replaces `dead` (or nothing) by `candidate`, and answers the
 * home in place afterwards. Atomic, so two nodes re-placing one session at once agree on one home.
 */
const CLAIM_HOME = `
local current = redis.call('GET', KEYS[1])
if (not current) or current == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  return ARGV[2]
end
return current`;

/** Deletes a session's home only if it is still this node (a re-placed session is left alone). */
const RELEASE_HOME = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

/** A lower score is a better home: participants weigh most, then CPU, then forwarded packets. */
export function loadScore(load: NodeLoad): number {
  return load.participants + load.cpuPercent / 10 + load.forwardedPacketsPerSecond / 1000;
}

/** The node a new session goes to: the least-loaded live node that is not draining (ties: by id). */
export function leastLoaded(nodes: readonly NodeInfo[]): NodeInfo | null {
  const open = nodes.filter((n) => !n.draining);
  open.sort((a, b) => loadScore(a.load) - loadScore(b.load) || a.id.localeCompare(b.id));
  return open[0] ?? null;
}

export class NodeRegistry {
  readonly redis: Redis;
  readonly #settings: ClusterSettings;
  readonly #log: Logger;

  constructor(settings: ClusterSettings, logger: Logger) {
    this.#settings = settings;
    this.#log = logger.child({ module: 'cluster' });
    // Commands fail fast while Redis is unreachable instead of queueing without bound: a request that
    // needs placement gets an error (the client retries) rather than hanging.
    this.redis = new Redis(settings.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 2, enableOfflineQueue: true, connectTimeout: 5000 });
    this.redis.on('error', (err: Error) => this.#log.warn({ err: err.message }, 'redis error'));
  }

  async connect(): Promise<void> {
    await this.redis.connect();
  }

  /** Publishes a node's liveness and load (its key lives nodeTtlMs). A running node renews it from its liveness thread (liveness.ts). */
  async publish(info: NodeInfo): Promise<void> {
    await this.redis.multi().set(nodeKey(info.id), JSON.stringify(info), 'PX', this.#settings.nodeTtlMs).sadd(NODES_KEY, info.id).exec();
  }

  /**
   * Of these sessions, those whose home is now another node (re-placed while this node looked
   * dead), with that node's id. Sessions with no home key are left out.
   */
  async homedElsewhere(sessionIds: readonly string[], nodeId: string): Promise<Map<string, string>> {
    const moved = new Map<string, string>();
    for (let i = 0; i < sessionIds.length; i += 1000) {
      const ids = sessionIds.slice(i, i + 1000);
      const homes = await this.redis.mget(ids.map((id) => `${PREFIX}session:${id}:home`));
      homes.forEach((home, k) => {
        if (home !== null && home !== nodeId) moved.set(ids[k]!, home);
      });
    }
    return moved;
  }

  /** This node leaves at once (clean shutdown): others need not wait for its key to expire. */
  async withdraw(nodeId: string): Promise<void> {
    await this.redis.multi().del(nodeKey(nodeId)).srem(NODES_KEY, nodeId).exec();
  }

  /** Every live node (its key has not expired). Dead ids are dropped from the set on the way. */
  async liveNodes(): Promise<NodeInfo[]> {
    const ids = await this.redis.smembers(NODES_KEY);
    if (ids.length === 0) return [];
    const values = await this.redis.mget(ids.map((id) => nodeKey(id)));
    const nodes: NodeInfo[] = [];
    const dead: string[] = [];
    values.forEach((value, i) => {
      if (value === null) dead.push(ids[i]!);
      else nodes.push(JSON.parse(value) as NodeInfo);
    });
    if (dead.length > 0) await this.redis.srem(NODES_KEY, ...dead);
    return nodes;
  }

  async node(nodeId: string): Promise<NodeInfo | null> {
    const value = await this.redis.get(nodeKey(nodeId));
    return value === null ? null : (JSON.parse(value) as NodeInfo);
  }

  /** The node id a session's home key names (that node may be dead), or null. */
  homeIdOf(sessionId: string): Promise<string | null> {
    return this.redis.get(`${PREFIX}session:${sessionId}:home`);
  }

  /** The live home of a session, or null when it has none (never placed, ended, or its node died). */
  async homeOf(sessionId: string): Promise<NodeInfo | null> {
    const id = await this.homeIdOf(sessionId);
    return id === null ? null : this.node(id);
  }

  /**
   * The home of a session, placing it on the least-loaded live node when it has none or its home
   * died. Null only when no node can take it (all draining or gone).
   */
  async placeSession(sessionId: string): Promise<NodeInfo | null> {
    const key = `${PREFIX}session:${sessionId}:home`;
    for (let attempt = 0; attempt < 3; attempt++) {
      const currentId = await this.redis.get(key);
      const current = currentId === null ? null : await this.node(currentId);
      if (current) return current;
      const candidate = leastLoaded(await this.liveNodes());
      if (!candidate) return null;
      const winner = (await this.redis.eval(CLAIM_HOME, 1, key, currentId ?? '', candidate.id)) as string;
      if (winner === candidate.id) {
        if (currentId) this.#log.warn({ sessionId, from: currentId, to: candidate.id }, 'session re-placed: its home node is gone');
        else this.#log.info({ sessionId, node: candidate.id }, 'session placed');
        return candidate;
      }
      // Another node placed it meanwhile: take its choice if that node lives.
      const other = await this.node(winner);
      if (other) return other;
    }
    return null;
  }

  /** The session ended on this node: the next connect places it afresh, by load. */
  async releaseSession(sessionId: string, nodeId: string): Promise<void> {
    await this.redis.eval(RELEASE_HOME, 1, `${PREFIX}session:${sessionId}:home`, nodeId);
  }

  async recordArchiveNode(archiveId: string, nodeId: string): Promise<void> {
    await this.redis.set(`${PREFIX}archive:${archiveId}:node`, nodeId, 'EX', ARCHIVE_NODE_TTL_S);
  }

  async archiveNode(archiveId: string): Promise<string | null> {
    return this.redis.get(`${PREFIX}archive:${archiveId}:node`);
  }

  async recordRunningNode(kind: RunningKind, id: string, nodeId: string): Promise<void> {
    await this.redis.set(`${PREFIX}${kind}:${id}:node`, nodeId, 'EX', RUNNING_NODE_TTL_S);
  }

  async runningNode(kind: RunningKind, id: string): Promise<string | null> {
    return this.redis.get(`${PREFIX}${kind}:${id}:node`);
  }

  /** True for the one node that is to mark this archive failed (its recording node died). */
  async claimLostArchive(archiveId: string): Promise<boolean> {
    return (await this.redis.set(`${PREFIX}archive:${archiveId}:lost`, '1', 'EX', 86_400, 'NX')) === 'OK';
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
