// Cluster settings, read from the environment with the rest of the configuration (config.ts). With
// no COLLOQUY_REDIS_URL the server is a single node and none of the cluster code runs.

import { isIP } from 'node:net';
import { isAbsolute, resolve } from 'node:path';

export interface ClusterSettings {
  /** Redis that carries node liveness, load and session placement (`COLLOQUY_REDIS_URL`). */
  redisUrl: string;
  /** This node's name, unique in the cluster (`COLLOQUY_NODE_ID`). */
  nodeId: string;
  /** The URL clients reach this node at (`COLLOQUY_PUBLIC_URL`, required in cluster mode). */
  publicUrl: string;
  /** The URL other nodes reach this node at (`COLLOQUY_INTERNAL_URL`; default the public URL). */
  internalUrl: string;
  /** Shared by every node: signs node-to-node requests (`COLLOQUY_CLUSTER_SECRET`, ≥ 16 characters). */
  secret: string;
  /** How often this node publishes its load and liveness, ms (`COLLOQUY_CLUSTER_HEARTBEAT_MS`, default 1000). */
  heartbeatMs: number;
  /** A node silent this long is dead (its Redis key expires), ms (`COLLOQUY_CLUSTER_NODE_TTL_MS`, default 3000). */
  nodeTtlMs: number;
  /**
   * How long this node's main thread may go without completing a heartbeat before it stops
   * renewing its liveness (`COLLOQUY_CLUSTER_STALL_MS`, default 20000). The key is renewed from a
   * thread of its own (liveness.ts), so a node that is busy (a join storm, a long GC) stays alive
   * and keeps its sessions, while a process that died is dead after nodeTtlMs; a main thread stuck
   * this long is given up on (its sessions are re-placed, and it drops their sockets when it runs again).
   */
  stallMs: number;
  /**
   * The address this node's RTP pipes to other nodes bind and are reached at (`COLLOQUY_CLUSTER_PIPE_IP`;
   * default the internal URL's host when it is an IP address, else 127.0.0.1): loopback or a private network.
   */
  pipeIp: string;
  /**
   * Sessions span nodes (`COLLOQUY_CLUSTER_SPAN_SESSIONS`, default on): a subscriber is served by the
   * node its socket reached, the stream piped there; off, every subscriber is served by the home.
   */
  spanSessions: boolean;
}

type Env = Record<string, string | undefined>;

export class ClusterSettingsError extends Error {
  override name = 'ConfigError';
}

function str(env: Env, name: string): string | null {
  const raw = env[name];
  return raw === undefined || raw.trim() === '' ? null : raw.trim();
}

function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = str(env, name);
  if (raw === null) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) throw new ClusterSettingsError(`${name} must be an integer between ${min} and ${max}, got ${JSON.stringify(raw)}`);
  return value;
}

function httpUrl(name: string, raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ClusterSettingsError(`${name} is not a URL: ${JSON.stringify(raw)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ClusterSettingsError(`${name} must be http(s)`);
  return raw.replace(/\/+$/, '');
}

/** null: single node (no COLLOQUY_REDIS_URL). Throws on an incomplete or malformed cluster setup. */
export function clusterSettings(env: Env): ClusterSettings | null {
  const redisUrl = str(env, 'COLLOQUY_REDIS_URL');
  if (redisUrl === null) {
    for (const name of ['COLLOQUY_NODE_ID', 'COLLOQUY_CLUSTER_SECRET', 'COLLOQUY_INTERNAL_URL', 'COLLOQUY_CLUSTER_PIPE_IP', 'COLLOQUY_CLUSTER_SPAN_SESSIONS', 'COLLOQUY_CLUSTER_STALL_MS']) {
      if (str(env, name) !== null) throw new ClusterSettingsError(`${name} is a cluster setting: it needs COLLOQUY_REDIS_URL`);
    }
    return null;
  }
  if (!/^rediss?:\/\/[^\s]+$/.test(redisUrl)) throw new ClusterSettingsError(`COLLOQUY_REDIS_URL must be redis://host:port[/db] or rediss://…; got ${JSON.stringify(redisUrl)}`);
  const nodeId = str(env, 'COLLOQUY_NODE_ID');
  if (nodeId === null || !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(nodeId)) throw new ClusterSettingsError('COLLOQUY_NODE_ID must be set in cluster mode: 1-64 letters, digits, _ . -');
  const publicUrl = str(env, 'COLLOQUY_PUBLIC_URL');
  if (publicUrl === null) throw new ClusterSettingsError('COLLOQUY_PUBLIC_URL must be set in cluster mode: clients reconnect to other nodes by their public URL');
  const internal = str(env, 'COLLOQUY_INTERNAL_URL');
  const secret = str(env, 'COLLOQUY_CLUSTER_SECRET');
  if (secret === null || secret.length < 16) throw new ClusterSettingsError('COLLOQUY_CLUSTER_SECRET must be set in cluster mode, the same on every node, at least 16 characters');
  const heartbeatMs = int(env, 'COLLOQUY_CLUSTER_HEARTBEAT_MS', 1000, 100, 60_000);
  const nodeTtlMs = int(env, 'COLLOQUY_CLUSTER_NODE_TTL_MS', 3000, 300, 600_000);
  if (nodeTtlMs < heartbeatMs * 2) throw new ClusterSettingsError('COLLOQUY_CLUSTER_NODE_TTL_MS must be at least twice COLLOQUY_CLUSTER_HEARTBEAT_MS');
  const stallMs = int(env, 'COLLOQUY_CLUSTER_STALL_MS', 20_000, 300, 3_600_000);
  if (stallMs < nodeTtlMs) throw new ClusterSettingsError('COLLOQUY_CLUSTER_STALL_MS must be at least COLLOQUY_CLUSTER_NODE_TTL_MS');
  const pipeIp = str(env, 'COLLOQUY_CLUSTER_PIPE_IP') ?? defaultPipeIp(internal ?? publicUrl);
  if (isIP(pipeIp) === 0) throw new ClusterSettingsError(`COLLOQUY_CLUSTER_PIPE_IP must be an IP address; got ${JSON.stringify(pipeIp)}`);
  const span = (str(env, 'COLLOQUY_CLUSTER_SPAN_SESSIONS') ?? 'on').toLowerCase();
  if (!['on', 'off', 'true', 'false', '1', '0'].includes(span)) throw new ClusterSettingsError(`COLLOQUY_CLUSTER_SPAN_SESSIONS must be on or off; got ${JSON.stringify(span)}`);
  return {
    pipeIp,
    spanSessions: span === 'on' || span === 'true' || span === '1',
    redisUrl,
    nodeId,
    publicUrl: httpUrl('COLLOQUY_PUBLIC_URL', publicUrl),
    internalUrl: httpUrl('COLLOQUY_INTERNAL_URL', internal ?? publicUrl),
    secret,
    heartbeatMs,
    nodeTtlMs,
    stallMs,
  };
}

/**
 * `COLLOQUY_DATABASE_URL=sqlite:/path/colloquy.db`: one SQLite file several nodes of ONE machine open
 * (WAL lets several processes share it); null: `<dataDir>/colloquy.db`. A shared database across
 * machines needs PostgreSQL (a network file system breaks SQLite's locking).
 */
export function databaseFile(env: Env): string | null {
  const raw = str(env, 'COLLOQUY_DATABASE_URL');
  if (raw === null || /^postgres(ql)?:\/\//i.test(raw)) return null; // PostgreSQL: config.databaseUrl
  const m = /^sqlite:(.+)$/.exec(raw);
  if (!m) throw new ClusterSettingsError(`COLLOQUY_DATABASE_URL must be sqlite:/path/to/file.db here; got ${JSON.stringify(raw.replace(/\/\/[^@/]*@/, '//…@'))}`);
  const path = m[1]!.replace(/^\/\/(?=\/)/, '');
  if (!isAbsolute(path)) return resolve(path);
  return path;
}

/** The internal URL's host when it is an IP address (the nodes reach each other there), else loopback. */
function defaultPipeIp(url: string): string {
  try {
    const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
    return isIP(host) !== 0 ? host : '127.0.0.1';
  } catch {
    return '127.0.0.1';
  }
}
