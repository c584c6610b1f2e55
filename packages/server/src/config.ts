// Server configuration, read once from the environment and validated, so a typo in a variable
// fails at start with a clear message instead of misbehaving later.

import { availableParallelism } from 'node:os';
import { isIPv4 } from 'node:net';
import { resolve } from 'node:path';
import { DEFAULT_POCKETSPHINX_MODEL_DIR } from './captions/pocketsphinx-provider.js';
import { checkTurnUrl, type TurnSettings } from './ops/turn-credentials.js';
import { clusterSettings, databaseFile, ClusterSettingsError, type ClusterSettings } from './cluster/settings.js';

export interface Config {
  /** HTTP port (`PORT`, default 3000; 0 picks a free one). */
  port: number;
  /** Address the HTTP server binds (`HOST`, default 127.0.0.1; set 0.0.0.0 to serve other machines). */
  host: string;
  /** Folder for the SQLite database, archives and other state (`COLLOQUY_DATA_DIR`, default ./data). */
  dataDir: string;
  /** The SQLite file (`COLLOQUY_DATABASE_URL=sqlite:/path`, one machine only); null: `<dataDir>/colloquy.db`. */
  databaseFile: string | null;
  /** Cluster mode (`COLLOQUY_REDIS_URL` and the settings in cluster/settings.ts); null: a single node. */
  cluster: ClusterSettings | null;
  /** PostgreSQL instead of SQLite in the data folder (`COLLOQUY_DATABASE_URL=postgres://…`); null: SQLite. */
  databaseUrl: string | null;
  /** Absolute base URL clients and download links use (`COLLOQUY_PUBLIC_URL`); derived from the request when unset. */
  publicUrl: string | null;
  /** pino level (`LOG_LEVEL`, default info). */
  logLevel: string;
  /** Pretty, human-oriented logs instead of JSON lines (`LOG_PRETTY=1`). */
  logPretty: boolean;
  /** Ensure a project with exactly these credentials (`COLLOQUY_API_KEY` + `COLLOQUY_API_SECRET`). */
  apiKey: string | null;
  apiSecret: string | null;
  /** Ensure a Vonage-style application (`COLLOQUY_APPLICATION_ID` + `COLLOQUY_PUBLIC_KEY_FILE`). */
  applicationId: string | null;
  publicKeyFile: string | null;
  /** Allowed clock difference when checking `iat`/`exp` of REST JWTs, in seconds. */
  clockSkewSeconds: number;
  /**
   * Which proxies' X-Forwarded-* headers to believe for client IPs and URLs (`COLLOQUY_TRUST_PROXY`):
   * unset/false = none (clients could forge them), true = any, a number = that many hops, or a
   * comma-separated list of addresses/CIDRs.
   */
  trustProxy: boolean | number | string[];
  /** Sockets one address may hold open before sending a complete request head (`COLLOQUY_MAX_PENDING_CONNECTIONS_PER_IP`, default 128). */
  maxPendingConnectionsPerIp: number;
  /** Dashboard operator password (`COLLOQUY_ADMIN_PASSWORD`); when unset one is generated at first start and printed once. */
  adminPassword: string | null;
  /** Days the Inspector keeps events and quality samples (`COLLOQUY_INSPECTOR_RETENTION_DAYS`, default 14). */
  inspectorRetentionDays: number;
  /** How often the server records each routed track's quality for the Inspector (`COLLOQUY_QUALITY_SAMPLE_MS`, default 5000). */
  qualitySampleMs: number;
  /** How long a connection whose socket dropped waits for the client to resume (`COLLOQUY_RESUME_GRACE_MS`, default 20000). */
  resumeGraceMs: number;
  /** Connections one session may hold; more get OpenTok's 1027 (`COLLOQUY_MAX_CONNECTIONS_PER_SESSION`, default 15000). */
  maxConnectionsPerSession: number;
  /** Joins the signaling server admits per second; more wait their turn (`COLLOQUY_JOIN_RATE`, default 2000). */
  joinsPerSecond: number;
  /** Signaling heartbeat period (`COLLOQUY_HEARTBEAT_MS`, default 5000); three silent periods mean a dead socket. */
  heartbeatMs: number;
  /** Signals a client connection may send per second, sustained (`COLLOQUY_SIGNAL_RATE`, default 20). */
  signalRatePerSecond: number;
  /** Signals a client connection may send in a burst (`COLLOQUY_SIGNAL_BURST`, default 50). */
  signalBurst: number;
  /** IPv4 addresses put in the SFU's ICE candidates (`COLLOQUY_ANNOUNCED_IP`, comma-separated; default 127.0.0.1). */
  announcedIps: string[];
  /** Address the SFU's UDP sockets bind (`COLLOQUY_RTC_LISTEN_IP`); null: 127.0.0.1 if only loopback is announced, else all. */
  rtcListenIp: string | null;
  /**
   * ONE UDP port for every peer connection (`COLLOQUY_RTC_PORT`, default 7882; 0: the system picks),
   * or null for range mode, chosen by setting `COLLOQUY_RTC_MIN_PORT`/`COLLOQUY_RTC_MAX_PORT`: a port
   * per peer connection from rtcPortRange.
   */
  rtcPort: number | null;
  /** UDP ports for media in range mode, one per peer connection (`COLLOQUY_RTC_MIN_PORT`..`COLLOQUY_RTC_MAX_PORT`; one set, the other defaults to 40000 or 49999). */
  rtcPortRange: [number, number];
  /** Default most bits per second one publisher may send (`COLLOQUY_MAX_BITRATE`, default 2500000); told to browsers by REMB. */
  maxBitrate: number;
  /**
   * Serve the tutorial video chat at /video-chat/ with the default project (`COLLOQUY_VIDEO_CHAT`,
   * on/off). Default: on when the server listens on loopback only, since anyone who can open the
   * page can start calls on that project.
   */
  videoChat: boolean;
  /**
   * Passive ICE-TCP candidates on the SFU (`COLLOQUY_RTC_TCP=on`), for clients whose UDP is blocked
   * and no TURN is deployed: on one TCP port (rtcTcpPort) with one UDP port, else a TCP port of the RTC range per peer connection.
   */
  rtcTcp: boolean;
  /**
   * ONE TCP port for every peer connection's passive ICE-TCP candidate (`COLLOQUY_RTC_TCP_PORT`;
   * 0: the system picks), or null: a TCP port of the RTC range per peer connection. Setting it turns
   * ICE-TCP on. With one UDP port (the default), `COLLOQUY_RTC_TCP=on` means this, at 7881.
   */
  rtcTcpPort: number | null;
  /**
   * Media threads, the main one included (`COLLOQUY_WORKERS`, default the machine's cores): past
   * `mediaWorkersFrom` peer connections on the main thread, new subscribers are served by the least
   * loaded thread (media-workers/). 1: everything on the main thread.
   */
  mediaThreads: number;
  /** Peer connections the main thread carries before subscribers spread to worker threads (`COLLOQUY_WORKERS_FROM`, default 64). */
  mediaWorkersFrom: number;
  /**
   * How publishers find their uplink (`COLLOQUY_UPLINK_ESTIMATION`): `transport-cc` (the default:
   * Chromium's own estimator, fed by our transport-wide feedback; REMB carries the session cap),
   * `remb-delay` (a delay-based REMB from abs-send-time, under the cap) or `remb` (the cap, backed
   * off on loss). packages/sfu/README.md has what each measured.
   */
  uplinkEstimation: 'transport-cc' | 'remb' | 'remb-delay';
  /**
   * The video codec of routed sessions (`COLLOQUY_VIDEO_CODEC`): `VP8` (the default) or `H264`
   * (OpenTok's H.264 projects; camera simulcast works with either). Every publisher and
   * subscriber of a routed session uses it; relayed sessions negotiate their own.
   */
  videoCodec: 'VP8' | 'H264';
  /**
   * SIP interconnect (sip/): the port the SIP user agent listens on for UDP and TCP
   * (`COLLOQUY_SIP_PORT`, default 5060; its sockets open on the first dial), and how long a dial may
   * ring before it is cancelled (`COLLOQUY_SIP_RING_TIMEOUT`, seconds, default 60). SIP over TLS
   * (sips: URIs, `;transport=tls`, and so `secure` calls) needs a certificate and key
   * (`COLLOQUY_SIP_TLS_CERT`, `COLLOQUY_SIP_TLS_KEY`, PEM files) and listens on
   * `COLLOQUY_SIP_TLS_PORT` (default 5061); `COLLOQUY_SIP_TLS_CA` adds CAs trusted for far ends.
   */
  sip: { port: number; ringTimeoutSeconds: number; keepAliveSeconds: number; tls: { port: number; certFile: string; keyFile: string; caFile: string | null } | null };
  /**
   * Live captions (captions/): how many streams the server captions at once, one speech-to-text
   * process each (`COLLOQUY_CAPTIONS_MAX_STREAMS`, default 4), and where the pocketsphinx models
   * are (`COLLOQUY_CAPTIONS_MODEL_DIR`, default Debian's /usr/share/pocketsphinx/model).
   */
  captions: { maxStreams: number; modelDir: string };
  /** TURN servers handed to every client with time-limited credentials (`COLLOQUY_TURN_*`); null: none. */
  turn: TurnSettings | null;
  /** PEM certificate chain and key files (`COLLOQUY_TLS_CERT`, `COLLOQUY_TLS_KEY`): HTTPS and WSS on PORT; re-read on SIGHUP. */
  tls: { certFile: string; keyFile: string } | null;
  /** Bearer token GET /metrics requires (`COLLOQUY_METRICS_TOKEN`); null: /metrics is open. */
  metricsToken: string | null;
  overload: OverloadConfig;
  archiving: ArchivingConfig;
  broadcast: BroadcastConfig;
  render: RenderConfig;
}

/** Experience Composer (render/): each render is a headless Chromium on this machine. */
export interface RenderConfig {
  /** Renders running at once (`COLLOQUY_MAX_RENDERS`, default 2; 0 = renders off, answered 501). */
  maxRenders: number;
  /** The Chromium executable (`COLLOQUY_CHROMIUM_PATH`, default /usr/bin/chromium). */
  chromiumPath: string;
  /** How long a page may take to load, and then to publish (`COLLOQUY_RENDER_LOAD_TIMEOUT`, seconds, default 30). */
  loadTimeoutSeconds: number;
  /**
   * The URL a render's browser opens this server at (`COLLOQUY_RENDER_SERVER_URL`); null: the
   * loopback address it listens on. Set it when that address' TLS certificate would not match.
   */
  serverUrl: string | null;
}

/**
 * When the media engine counts as saturated: new publishes and subscribes are refused and /readyz
 * answers 503, so calls in progress keep their quality instead of all degrading together.
 */
export interface OverloadConfig {
  /** Event-loop lag (p99 over the last sampling window, ms) above which (`COLLOQUY_OVERLOAD_LAG_MS`, default 250; 0 = never). */
  maxEventLoopLagMs: number;
  /** Process CPU, in percent of one core, above which (`COLLOQUY_OVERLOAD_CPU`, default 95; 0 = never). */
  maxCpuPercent: number;
}

/** Archive settings (`COLLOQUY_ARCHIVE_*`); the short ones exist mostly so tests need not wait. */
export interface ArchivingConfig {
  /** Lifetime of an archive's signed download `url` (`COLLOQUY_ARCHIVE_LINK_TTL`, seconds, default 600). */
  linkTtlSeconds: number;
  /** Days before an available archive expires and its file is deleted (`COLLOQUY_ARCHIVE_RETENTION_DAYS`, default 0 = keep). */
  retentionDays: number;
  /** Compositions run at once (`COLLOQUY_ARCHIVE_COMPOSE_CONCURRENCY`, default 1). */
  composeConcurrency: number;
  /** Archives stop this long after a session's last client left (`COLLOQUY_ARCHIVE_AUTO_STOP_DELAY`, seconds, default 60). */
  autoStopDelaySeconds: number;
  /** Recorded length at which an archive stops; `always` archives roll over (`COLLOQUY_ARCHIVE_MAX_DURATION`, seconds, default 14400). */
  maxDurationSeconds: number;
  /** An archive with nobody publishing stops after this long (`COLLOQUY_ARCHIVE_NO_PUBLISHER_TIMEOUT`, seconds, default 3600). */
  noPublisherTimeoutSeconds: number;
  /** An archive does not start while the data folder's disk has less free space than this (`COLLOQUY_ARCHIVE_MIN_FREE_MB`, default 256). */
  minFreeMb: number;
  /** Archives recording one session at once, multiArchiveTag ones included (`COLLOQUY_ARCHIVE_MAX_PER_SESSION`, default 5). */
  maxPerSession: number;
  /** Archives recording at once across one project's sessions (`COLLOQUY_ARCHIVE_MAX_PER_PROJECT`, default 50). */
  maxPerProject: number;
  /** Tries of an upload to a project's archive storage before its fallback applies (`COLLOQUY_ARCHIVE_UPLOAD_ATTEMPTS`, default 5). */
  uploadAttempts: number;
  /** Wait before the first retry of an upload, doubled for each next one (`COLLOQUY_ARCHIVE_UPLOAD_RETRY_DELAY`, seconds, default 5). */
  uploadRetryDelaySeconds: number;
  /** Uploads to archive storage running at once (`COLLOQUY_ARCHIVE_UPLOAD_CONCURRENCY`, default 2). */
  uploadConcurrency: number;
}

/** Live streaming broadcast settings (`COLLOQUY_BROADCAST_*`). */
export interface BroadcastConfig {
  /** How long a stopped broadcast's HLS files stay (`COLLOQUY_BROADCAST_HLS_RETENTION`, seconds, default 600). */
  hlsRetentionSeconds: number;
  /** Broadcasts live at once on this server, each with its own encoder (`COLLOQUY_BROADCAST_MAX_LIVE`, default 10). */
  maxLive: number;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Env = Record<string, string | undefined>;

function intVar(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be an integer between ${min} and ${max}, got ${JSON.stringify(raw)}`);
  }
  return value;
}

function strVar(env: Env, name: string): string | null {
  const raw = env[name];
  return raw === undefined || raw.trim() === '' ? null : raw.trim();
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function trustProxyVar(raw: string | null): boolean | number | string[] {
  if (raw === null || raw === 'false' || raw === '0') return false;
  if (raw === 'true') return true;
  if (/^[1-9][0-9]?$/.test(raw)) return Number(raw);
  const list = raw.split(',').map((s) => s.trim()).filter(Boolean);
  if (list.some((a) => !/^[0-9a-fA-F.:]+(\/\d{1,3})?$/.test(a))) {
    throw new ConfigError(`COLLOQUY_TRUST_PROXY must be true, false, a hop count, or addresses/CIDRs; got ${JSON.stringify(raw)}`);
  }
  return list;
}

/** pino's levels: anything else makes pino throw at start. */
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

function clusterVars(env: Env): { databaseFile: string | null; cluster: ClusterSettings | null } {
  try {
    return { databaseFile: databaseFile(env), cluster: clusterSettings(env) };
  } catch (err) {
    if (err instanceof ClusterSettingsError) throw new ConfigError(err.message);
    throw err;
  }
}

export function loadConfig(env: Env = process.env): Config {
  const apiKey = strVar(env, 'COLLOQUY_API_KEY');
  const apiSecret = strVar(env, 'COLLOQUY_API_SECRET');
  if ((apiKey === null) !== (apiSecret === null)) {
    throw new ConfigError('COLLOQUY_API_KEY and COLLOQUY_API_SECRET must be set together');
  }
  if (apiKey !== null && !/^[1-9][0-9]{0,15}$/.test(apiKey)) {
    // The PHP and Java SDKs type the key as an integer (reference §0.7).
    throw new ConfigError(`COLLOQUY_API_KEY must be numeric, as OpenTok API keys are; got ${JSON.stringify(apiKey)}`);
  }
  if (apiSecret !== null && (apiSecret.length < 16 || apiSecret.length > 256)) {
    throw new ConfigError('COLLOQUY_API_SECRET must be 16 to 256 characters long');
  }
  const applicationId = strVar(env, 'COLLOQUY_APPLICATION_ID');
  const publicKeyFile = strVar(env, 'COLLOQUY_PUBLIC_KEY_FILE');
  if ((applicationId === null) !== (publicKeyFile === null)) {
    throw new ConfigError('COLLOQUY_APPLICATION_ID and COLLOQUY_PUBLIC_KEY_FILE must be set together');
  }
  if (applicationId !== null && !UUID.test(applicationId)) {
    throw new ConfigError(`COLLOQUY_APPLICATION_ID must be a UUID; got ${JSON.stringify(applicationId)}`);
  }
  // COLLOQUY_DATABASE_URL: postgres://… (databaseUrl), or sqlite:/path (databaseFile, read by clusterVars).
  const databaseUrlVar = strVar(env, 'COLLOQUY_DATABASE_URL');
  if (databaseUrlVar !== null && !/^postgres(ql)?:\/\/./i.test(databaseUrlVar) && !/^sqlite:./i.test(databaseUrlVar)) {
    throw new ConfigError('COLLOQUY_DATABASE_URL must be a postgres:// URL, or sqlite:/path/to/file.db (one machine only); leave it unset for SQLite in the data folder');
  }
  const databaseUrl = databaseUrlVar !== null && /^postgres/i.test(databaseUrlVar) ? databaseUrlVar : null;
  const publicUrl = strVar(env, 'COLLOQUY_PUBLIC_URL');
  if (publicUrl !== null) {
    let url: URL;
    try {
      url = new URL(publicUrl);
    } catch {
      throw new ConfigError(`COLLOQUY_PUBLIC_URL is not a URL: ${JSON.stringify(publicUrl)}`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError('COLLOQUY_PUBLIC_URL must be http(s)');
  }
  const host = strVar(env, 'HOST') ?? '127.0.0.1';
  const logLevel = strVar(env, 'LOG_LEVEL') ?? 'info';
  if (!LOG_LEVELS.includes(logLevel)) throw new ConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}; got ${JSON.stringify(logLevel)}`);
  const adminPassword = env['COLLOQUY_ADMIN_PASSWORD'] === undefined || env['COLLOQUY_ADMIN_PASSWORD'] === '' ? null : env['COLLOQUY_ADMIN_PASSWORD'];
  if (adminPassword !== null && (adminPassword.length < 8 || adminPassword.length > 1024)) {
    throw new ConfigError('COLLOQUY_ADMIN_PASSWORD must be 8 to 1024 characters long');
  }
  const announcedIps = (strVar(env, 'COLLOQUY_ANNOUNCED_IP') ?? '127.0.0.1').split(',').map((ip) => ip.trim()).filter(Boolean);
  for (const ip of announcedIps) {
    if (!isIPv4(ip)) throw new ConfigError(`COLLOQUY_ANNOUNCED_IP must be IPv4 addresses separated by commas; got ${JSON.stringify(ip)}`);
  }
  const rtcListenIp = strVar(env, 'COLLOQUY_RTC_LISTEN_IP');
  if (rtcListenIp !== null && !isIPv4(rtcListenIp)) throw new ConfigError(`COLLOQUY_RTC_LISTEN_IP must be an IPv4 address; got ${JSON.stringify(rtcListenIp)}`);
  const videoChat = strVar(env, 'COLLOQUY_VIDEO_CHAT');
  if (videoChat !== null && videoChat !== 'on' && videoChat !== 'off') throw new ConfigError(`COLLOQUY_VIDEO_CHAT must be on or off; got ${JSON.stringify(videoChat)}`);
  const turnUrls = (strVar(env, 'COLLOQUY_TURN_URLS') ?? '').split(',').map((u) => u.trim()).filter(Boolean);
  const turnSecret = strVar(env, 'COLLOQUY_TURN_SECRET');
  if ((turnUrls.length === 0) !== (turnSecret === null)) throw new ConfigError('COLLOQUY_TURN_URLS and COLLOQUY_TURN_SECRET must be set together');
  for (const url of turnUrls) {
    const problem = checkTurnUrl(url);
    if (problem) throw new ConfigError(`COLLOQUY_TURN_URLS: ${problem}`);
  }
  const tlsCert = strVar(env, 'COLLOQUY_TLS_CERT');
  const tlsKey = strVar(env, 'COLLOQUY_TLS_KEY');
  if ((tlsCert === null) !== (tlsKey === null)) throw new ConfigError('COLLOQUY_TLS_CERT and COLLOQUY_TLS_KEY must be set together');
  const sipTlsCert = strVar(env, 'COLLOQUY_SIP_TLS_CERT');
  const sipTlsKey = strVar(env, 'COLLOQUY_SIP_TLS_KEY');
  if ((sipTlsCert === null) !== (sipTlsKey === null)) throw new ConfigError('COLLOQUY_SIP_TLS_CERT and COLLOQUY_SIP_TLS_KEY must be set together');
  const sipTlsCa = strVar(env, 'COLLOQUY_SIP_TLS_CA');
  const metricsToken = strVar(env, 'COLLOQUY_METRICS_TOKEN');
  if (metricsToken !== null && (metricsToken.length < 16 || !/^[\x21-\x7e]+$/.test(metricsToken))) {
    throw new ConfigError('COLLOQUY_METRICS_TOKEN must be at least 16 printable characters without spaces');
  }
  const rtcTcp = strVar(env, 'COLLOQUY_RTC_TCP');
  if (rtcTcp !== null && rtcTcp !== 'on' && rtcTcp !== 'off') throw new ConfigError(`COLLOQUY_RTC_TCP must be on or off; got ${JSON.stringify(rtcTcp)}`);
  const renderServerUrl = strVar(env, 'COLLOQUY_RENDER_SERVER_URL');
  if (renderServerUrl !== null && !/^https?:\/\/[^\s/]+\/?$/.test(renderServerUrl)) throw new ConfigError(`COLLOQUY_RENDER_SERVER_URL must be http(s)://host[:port]; got ${JSON.stringify(renderServerUrl)}`);
  const rtcMinPort = intVar(env, 'COLLOQUY_RTC_MIN_PORT', 40000, 1024, 65535);
  const rtcMaxPort = intVar(env, 'COLLOQUY_RTC_MAX_PORT', 49999, 1024, 65535);
  if (rtcMinPort >= rtcMaxPort) throw new ConfigError('COLLOQUY_RTC_MIN_PORT must be below COLLOQUY_RTC_MAX_PORT');
  const rangeAsked = strVar(env, 'COLLOQUY_RTC_MIN_PORT') !== null || strVar(env, 'COLLOQUY_RTC_MAX_PORT') !== null;
  const rtcPortSet = strVar(env, 'COLLOQUY_RTC_PORT') !== null;
  if (rtcPortSet && rangeAsked) throw new ConfigError('Set either COLLOQUY_RTC_PORT (one UDP port for all) or COLLOQUY_RTC_MIN_PORT/COLLOQUY_RTC_MAX_PORT (a port per peer connection), not both');
  // One UDP port unless a range is asked for (firewalls and container platforms open one port).
  const rtcPort = rangeAsked ? null : intVar(env, 'COLLOQUY_RTC_PORT', 7882, 0, 65535);
  const rtcTcpPortSet = strVar(env, 'COLLOQUY_RTC_TCP_PORT') !== null;
  if (rtcTcpPortSet && rtcTcp === 'off') throw new ConfigError('COLLOQUY_RTC_TCP_PORT turns ICE-TCP on: unset it or COLLOQUY_RTC_TCP=off');
  // One TCP port when asked for, or when UDP is on one port too (a port per peer connection would need the range).
  const rtcTcpPort = rtcTcpPortSet || (rtcPort !== null && rtcTcp === 'on') ? intVar(env, 'COLLOQUY_RTC_TCP_PORT', 7881, 0, 65535) : null;
  return {
    port: intVar(env, 'PORT', 3000, 0, 65535),
    host,
    dataDir: resolve(strVar(env, 'COLLOQUY_DATA_DIR') ?? './data'),
    ...clusterVars(env),
    databaseUrl,
    publicUrl: publicUrl?.replace(/\/+$/, '') ?? null,
    logLevel,
    logPretty: env['LOG_PRETTY'] === '1',
    apiKey,
    apiSecret,
    applicationId: applicationId?.toLowerCase() ?? null,
    publicKeyFile: publicKeyFile === null ? null : resolve(publicKeyFile),
    clockSkewSeconds: intVar(env, 'COLLOQUY_CLOCK_SKEW', 60, 0, 3600),
    trustProxy: trustProxyVar(strVar(env, 'COLLOQUY_TRUST_PROXY')),
    maxPendingConnectionsPerIp: intVar(env, 'COLLOQUY_MAX_PENDING_CONNECTIONS_PER_IP', 128, 1, 1_000_000),
    adminPassword,
    inspectorRetentionDays: intVar(env, 'COLLOQUY_INSPECTOR_RETENTION_DAYS', 14, 1, 3650),
    qualitySampleMs: intVar(env, 'COLLOQUY_QUALITY_SAMPLE_MS', 5000, 1000, 600_000),
    resumeGraceMs: intVar(env, 'COLLOQUY_RESUME_GRACE_MS', 20_000, 0, 600_000),
    heartbeatMs: intVar(env, 'COLLOQUY_HEARTBEAT_MS', 5_000, 50, 120_000),
    maxConnectionsPerSession: intVar(env, 'COLLOQUY_MAX_CONNECTIONS_PER_SESSION', 15_000, 1, 1_000_000),
    joinsPerSecond: intVar(env, 'COLLOQUY_JOIN_RATE', 2_000, 1, 1_000_000),
    signalRatePerSecond: intVar(env, 'COLLOQUY_SIGNAL_RATE', 20, 1, 100_000),
    signalBurst: intVar(env, 'COLLOQUY_SIGNAL_BURST', 50, 1, 100_000),
    announcedIps,
    rtcListenIp,
    rtcPort,
    rtcPortRange: [rtcMinPort, rtcMaxPort],
    maxBitrate: intVar(env, 'COLLOQUY_MAX_BITRATE', 2_500_000, 100_000, 50_000_000),
    archiving: {
      linkTtlSeconds: intVar(env, 'COLLOQUY_ARCHIVE_LINK_TTL', 600, 1, 7 * 86_400),
      retentionDays: intVar(env, 'COLLOQUY_ARCHIVE_RETENTION_DAYS', 0, 0, 36_500),
      composeConcurrency: intVar(env, 'COLLOQUY_ARCHIVE_COMPOSE_CONCURRENCY', 1, 1, 16),
      autoStopDelaySeconds: intVar(env, 'COLLOQUY_ARCHIVE_AUTO_STOP_DELAY', 60, 1, 3600),
      maxDurationSeconds: intVar(env, 'COLLOQUY_ARCHIVE_MAX_DURATION', 14_400, 1, 43_200),
      noPublisherTimeoutSeconds: intVar(env, 'COLLOQUY_ARCHIVE_NO_PUBLISHER_TIMEOUT', 3600, 1, 43_200),
      minFreeMb: intVar(env, 'COLLOQUY_ARCHIVE_MIN_FREE_MB', 256, 0, 1_048_576),
      maxPerSession: intVar(env, 'COLLOQUY_ARCHIVE_MAX_PER_SESSION', 5, 1, 100),
      maxPerProject: intVar(env, 'COLLOQUY_ARCHIVE_MAX_PER_PROJECT', 50, 1, 10_000),
      uploadAttempts: intVar(env, 'COLLOQUY_ARCHIVE_UPLOAD_ATTEMPTS', 5, 1, 20),
      uploadRetryDelaySeconds: intVar(env, 'COLLOQUY_ARCHIVE_UPLOAD_RETRY_DELAY', 5, 0, 3600),
      uploadConcurrency: intVar(env, 'COLLOQUY_ARCHIVE_UPLOAD_CONCURRENCY', 2, 1, 16),
    },
    broadcast: {
      hlsRetentionSeconds: intVar(env, 'COLLOQUY_BROADCAST_HLS_RETENTION', 600, 0, 7 * 86_400),
      maxLive: intVar(env, 'COLLOQUY_BROADCAST_MAX_LIVE', 10, 1, 1000),
    },
    render: {
      maxRenders: intVar(env, 'COLLOQUY_MAX_RENDERS', 2, 0, 64),
      chromiumPath: strVar(env, 'COLLOQUY_CHROMIUM_PATH') ?? '/usr/bin/chromium',
      loadTimeoutSeconds: intVar(env, 'COLLOQUY_RENDER_LOAD_TIMEOUT', 30, 1, 600),
      serverUrl: renderServerUrl?.replace(/\/+$/, '') ?? null,
    },
    videoChat: videoChat === null ? isLoopback(host) : videoChat === 'on',
    rtcTcp: rtcTcp === 'on' || rtcTcpPort !== null,
    rtcTcpPort,
    mediaThreads: intVar(env, 'COLLOQUY_WORKERS', availableParallelism(), 1, 64),
    mediaWorkersFrom: intVar(env, 'COLLOQUY_WORKERS_FROM', 64, 0, 100_000),
    uplinkEstimation: uplinkEstimationVar(strVar(env, 'COLLOQUY_UPLINK_ESTIMATION')),
    videoCodec: videoCodecVar(strVar(env, 'COLLOQUY_VIDEO_CODEC')),
    sip: {
      port: intVar(env, 'COLLOQUY_SIP_PORT', 5060, 1, 65535),
      ringTimeoutSeconds: intVar(env, 'COLLOQUY_SIP_RING_TIMEOUT', 60, 1, 600),
      keepAliveSeconds: intVar(env, 'COLLOQUY_SIP_KEEPALIVE', 30, 1, 3600),
      tls:
        sipTlsCert === null || sipTlsKey === null
          ? null
          : { port: intVar(env, 'COLLOQUY_SIP_TLS_PORT', 5061, 1, 65535), certFile: resolve(sipTlsCert), keyFile: resolve(sipTlsKey), caFile: sipTlsCa === null ? null : resolve(sipTlsCa) },
    },
    captions: {
      maxStreams: intVar(env, 'COLLOQUY_CAPTIONS_MAX_STREAMS', 4, 1, 256),
      modelDir: resolve(env['COLLOQUY_CAPTIONS_MODEL_DIR'] || DEFAULT_POCKETSPHINX_MODEL_DIR),
    },
    turn: turnSecret === null ? null : { urls: turnUrls, secret: turnSecret, ttlSeconds: intVar(env, 'COLLOQUY_TURN_TTL', 86_400, 60, 30 * 86_400) },
    tls: tlsCert === null || tlsKey === null ? null : { certFile: resolve(tlsCert), keyFile: resolve(tlsKey) },
    metricsToken,
    overload: {
      maxEventLoopLagMs: intVar(env, 'COLLOQUY_OVERLOAD_LAG_MS', 250, 0, 60_000),
      maxCpuPercent: intVar(env, 'COLLOQUY_OVERLOAD_CPU', 95, 0, 100),
    },
  };
}

function videoCodecVar(raw: string | null): 'VP8' | 'H264' {
  if (raw === null) return 'VP8';
  const upper = raw.toUpperCase();
  if (upper === 'VP8' || upper === 'H264') return upper;
  throw new ConfigError(`COLLOQUY_VIDEO_CODEC must be VP8 or H264; got ${JSON.stringify(raw)}`);
}

function uplinkEstimationVar(raw: string | null): 'transport-cc' | 'remb' | 'remb-delay' {
  if (raw === null) return 'transport-cc';
  if (raw === 'transport-cc' || raw === 'remb' || raw === 'remb-delay') return raw;
  throw new ConfigError(`COLLOQUY_UPLINK_ESTIMATION must be remb, remb-delay or transport-cc; got ${JSON.stringify(raw)}`);
}
