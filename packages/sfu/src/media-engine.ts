// MediaEngine: the SFU of one server process. It holds the network settings (announced addresses,
// UDP ports) and the routers, one per routed session; closing it releases every socket and timer.
// Two port modes: a socket per peer connection from a port range (the default), or ONE UDP port for
// every peer connection (`MediaEngine.open({port})`, a UdpMux: `COLLOQUY_RTC_PORT`). Passive ICE-TCP,
// when on, is likewise a TCP port per peer connection, or ONE (`open({tcpPort})`, a TcpMux:
// `COLLOQUY_RTC_TCP_PORT`).

import { nativePacket, nativePacketStatus } from './native.js';
import { MediaError, invalid } from './errors.js';
import type { Logger } from 'pino';
import type { VideoCodecName } from './codecs.js';
import { TypedEmitter } from './typed-emitter.js';
import type { IceSettings } from './peer-config.js';
import { Router, type RouterOptions } from './router.js';
import type { SrtpImplementation } from './srtp-path.js';
import { DEFAULT_UPLINK_ESTIMATION, UPLINK_ESTIMATIONS, type UplinkEstimation } from './bitrate-controller.js';
import { TcpMux } from './tcp-mux.js';
import { MUX_RECV_BUFFER_BYTES, UdpMux } from './udp-mux.js';

export interface MediaEngineOptions {
  /** Addresses put in ICE candidates, e.g. the server's public IP. Default ['127.0.0.1']. */
  announcedIps?: string[];
  /** Address UDP sockets bind to. Default: 127.0.0.1 when only loopback is announced, else all interfaces. */
  listenIp?: string;
  /** Inclusive UDP port range, one port per peer connection. Default [40000, 49999]. */
  portRange?: [number, number];
  /** Default most bits per second a publisher may send, for routers that do not set their own. Default 2.5 Mbps. */
  maxIncomingBitrate?: number;
  /** How publishers learn their uplink: 'transport-cc' (default: Chromium's estimator on our feedback), 'remb-delay' (our delay-based REMB) or 'remb' (the cap, backed off on loss); bitrate-controller.ts. */
  uplinkEstimation?: UplinkEstimation;
  /** The video codec of routers that do not name their own: 'VP8' (default) or 'H264'. */
  videoCodec?: VideoCodecName;
  /** Also offer passive ICE-TCP candidates (RFC 6544), a TCP port of the range per peer connection. Default false. */
  tcp?: boolean;
  logger: Logger;
  /**
   * SRTP on the packet path after werift's DTLS handshake: 'colloquy' (ours, media/srtp, the
   * default) or 'werift' (its own, kept to compare and as a fallback).
   */
  srtp?: SrtpImplementation;
  /** One UDP port for every peer connection (opened by `MediaEngine.open`); the engine closes it. Overrides portRange. */
  udpMux?: UdpMux;
  /** One TCP port for every peer connection's passive ICE-TCP (opened by `MediaEngine.open`); the engine closes it. */
  tcpMux?: TcpMux;
}

/** Where the SFU's UDP sockets bind: the given address, else 127.0.0.1 if only loopback is announced, else all interfaces. */
function listenIpOf(announcedIps: string[], listenIp: string | undefined): string | undefined {
  return listenIp ?? (announcedIps.every((ip) => ip.startsWith('127.')) ? '127.0.0.1' : undefined);
}

function announcedIpsOf(options: Pick<MediaEngineOptions, 'announcedIps'>): string[] {
  return options.announcedIps?.length ? options.announcedIps : ['127.0.0.1'];
}

export type MediaEngineEvents = { close: [] };

export const DEFAULT_MAX_INCOMING_BITRATE = 2_500_000;

/** The native module's status is logged by the first engine of a thread. */
let nativeStatusLogged = false;

export class MediaEngine extends TypedEmitter<MediaEngineEvents> {
  readonly ice: IceSettings;
  readonly maxIncomingBitrate: number;
  readonly srtp: SrtpImplementation;
  readonly uplinkEstimation: UplinkEstimation;
  /** The video codec of routers that do not name their own. */
  readonly videoCodec: VideoCodecName;
  readonly #logger: Logger;
  readonly #routers = new Map<string, Router>();
  /** The shared UDP port, in one-port mode. */
  readonly udpMux: UdpMux | undefined;
  /** The shared ICE-TCP port, when there is one. */
  readonly tcpMux: TcpMux | undefined;
  #closing: Promise<void> | undefined;

  /**
   * An engine with ONE UDP port for every peer connection (`port`; 0 lets the system pick, for
   * tests; null or absent: the port range), and/or ONE TCP port for passive ICE-TCP (`tcpPort`).
   * The ports are bound before this resolves, so a port in use fails here (EADDRINUSE).
   */
  static async open(options: Omit<MediaEngineOptions, 'udpMux' | 'tcpMux'> & { port?: number | null; tcpPort?: number | null }): Promise<MediaEngine> {
    const { port = null, tcpPort = null, ...rest } = options;
    for (const [what, p] of [['UDP', port], ['TCP', tcpPort]] as const) {
      if (p !== null && (!Number.isInteger(p) || p < 0 || p > 65535)) throw invalid(`bad ${what} port ${p}`);
    }
    const listenIp = listenIpOf(announcedIpsOf(rest), rest.listenIp);
    const log = rest.logger.child({ module: 'media' });
    const tcpMux = tcpPort === null ? undefined : await TcpMux.open({ port: tcpPort, listenIp });
    if (tcpMux) log.debug({ port: tcpMux.port }, 'ICE-TCP on one TCP port');
    if (port === null) return new MediaEngine({ ...rest, ...(tcpMux ? { tcpMux } : {}) });
    let udpMux: UdpMux;
    try {
      udpMux = await UdpMux.open({ port, listenIp });
    } catch (err) {
      await tcpMux?.close();
      throw err;
    }
    tcpMux?.serveTag(udpMux.candidatePairFilter);
    const { recvBufferBytes } = udpMux.stats();
    // Linux reports twice what was granted (its bookkeeping share): below what we asked, the cap was hit.
    if (recvBufferBytes < MUX_RECV_BUFFER_BYTES) {
      log.warn({ port: udpMux.port, recvBufferBytes }, 'the one media UDP port got a small receive buffer (net.core.rmem_max): packets of every peer connection drop together while the server is busy; raise it (sysctl -w net.core.rmem_max=16777216) or use a port range');
    } else {
      // Debug: the server's banner says where media goes; a start that fails later prints only its error.
      log.debug({ port: udpMux.port, recvBufferBytes }, 'media on one UDP port');
    }
    return new MediaEngine({ ...rest, udpMux, ...(tcpMux ? { tcpMux } : {}) });
  }

  constructor(options: MediaEngineOptions) {
    super();
    const announcedIps = announcedIpsOf(options);
    const portRange = options.portRange ?? [40000, 49999];
    if (!options.udpMux && !(portRange[0] >= 1024 && portRange[1] <= 65535 && portRange[0] < portRange[1])) {
      throw invalid(`bad UDP port range ${portRange[0]}-${portRange[1]}`);
    }
    this.udpMux = options.udpMux;
    this.tcpMux = options.tcpMux;
    this.ice = {
      announcedIps,
      listenIp: listenIpOf(announcedIps, options.listenIp),
      portRange,
      ...(options.udpMux ? { udpMux: options.udpMux } : {}),
      ...(options.tcpMux ? { tcpMux: options.tcpMux } : {}),
      tcp: options.tcp === true || options.tcpMux !== undefined,
    };
    this.maxIncomingBitrate = options.maxIncomingBitrate ?? DEFAULT_MAX_INCOMING_BITRATE;
    this.srtp = options.srtp ?? 'colloquy';
    if (this.srtp !== 'colloquy' && this.srtp !== 'werift') throw invalid(`srtp must be 'colloquy' or 'werift', got ${String(this.srtp)}`);
    this.uplinkEstimation = checkUplinkEstimation(options.uplinkEstimation ?? DEFAULT_UPLINK_ESTIMATION);
    this.videoCodec = checkVideoCodec(options.videoCodec ?? 'VP8');
    this.#logger = options.logger.child({ module: 'media' });
    if (!nativeStatusLogged && this.srtp === 'colloquy') {
      nativeStatusLogged = true;
      if (nativePacket !== null) this.#logger.debug('native packet module loaded');
      else if (nativePacketStatus === 'COLLOQUY_NATIVE=0') this.#logger.info('native packet module off (COLLOQUY_NATIVE=0): SRTP and sends on the JavaScript path');
      else this.#logger.warn({ why: nativePacketStatus }, 'native packet module not built: SRTP and sends run on the JavaScript path, at more CPU per packet (npm run build builds it)');
    }
  }

  get closed(): boolean {
    return this.#closing !== undefined;
  }

  get routers(): Router[] {
    return [...this.#routers.values()];
  }

  getRouter(id: string): Router | undefined {
    return this.#routers.get(id);
  }

  /** A router for one session. Its id (the session ID) must be unique while it lives. */
  createRouter(options: RouterOptions): Router {
    if (this.closed) throw new MediaError('not-allowed', 'media engine is closed');
    if (typeof options.id !== 'string' || options.id === '') throw invalid('router id must be a non-empty string');
    if (this.#routers.has(options.id)) throw new MediaError('conflict', `router ${options.id} exists`);
    const videoCodec = checkVideoCodec(options.videoCodec ?? this.videoCodec);
    const max = options.maxIncomingBitrate ?? this.maxIncomingBitrate;
    if (!Number.isFinite(max) || max < 100_000) throw invalid('maxIncomingBitrate must be at least 100000 bits/s');
    const uplinkEstimation = checkUplinkEstimation(options.uplinkEstimation ?? this.uplinkEstimation);
    const router = new Router({ id: options.id, videoCodec, maxIncomingBitrate: Math.round(max), uplinkEstimation, ice: this.ice, srtp: this.srtp, logger: this.#logger });
    this.#routers.set(router.id, router);
    router.on('close', () => this.#routers.delete(router.id));
    return router;
  }

  dump(): Record<string, unknown> {
    const { udpMux, tcpMux, ...ice } = this.ice;
    return {
      ice,
      udpMux: udpMux ? { port: udpMux.port, ...udpMux.stats() } : null,
      tcpMux: tcpMux ? { port: tcpMux.port, ...tcpMux.stats() } : null,
      maxIncomingBitrate: this.maxIncomingBitrate,
      srtp: this.srtp,
      uplinkEstimation: this.uplinkEstimation,
      videoCodec: this.videoCodec,
      routers: this.routers.map((r) => r.dump()),
    };
  }

  /** Closes every router. Idempotent; resolves when all sockets are closed. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const closing = this.routers.map((r) => r.close());
      this.emit('close');
      this.removeAllListeners();
      await Promise.all(closing);
      await this.udpMux?.close();
      await this.tcpMux?.close();
    })();
    return this.#closing;
  }
}

function checkVideoCodec(value: unknown): VideoCodecName {
  if (value !== 'VP8' && value !== 'H264') throw invalid(`video codec must be VP8 or H264, got ${String(value)}`);
  return value;
}

function checkUplinkEstimation(value: unknown): UplinkEstimation {
  if (!UPLINK_ESTIMATIONS.includes(value as UplinkEstimation)) throw invalid(`uplinkEstimation must be one of ${UPLINK_ESTIMATIONS.join(', ')}, got ${String(value)}`);
  return value as UplinkEstimation;
}
