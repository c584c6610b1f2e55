// A SIP video call's video, both ways (the call's audio is CallMedia's):
// - phone -> session: the phone's VP8 RTP is forwarded, still packetized, onto the video track of the
//   SIP connection's in-server publisher (media/audio's SessionPublisher), so subscribers get the
//   phone's own frames with no transcoding. The SFU's keyframe requests (a subscriber joining, a
//   loss) come back from that publisher and go to the phone as RTCP PLI.
// - session -> phone: OpenTok sends the phone one grid of the session's streams (up to 9). The
//   broadcast's LiveComposer does exactly that composition (each stream decoded by its own ffmpeg
//   into its box, painted on a canvas at 30 fps, bestFit layout); here its encoder makes VP8 as RTP
//   to a loopback port of ours, and those packets go on to the phone with the payload type it
//   answered and our SSRC. The grid follows streams coming and going without restarting the encoder.
// RTP and RTCP use a pair of ports (P, P + 1, as RFC 3550 has it); we offer rtcp-mux too and take RTCP
// on either, from the phone's address only. The phone's NACKs for grid packets are answered from a
// history of the last GRID_HISTORY packets (the SFU's retransmission history with a payload ring of its own, reused). A `secure` call's video is SRTP and SRTCP with its own SDES key (the video m-line's
// `a=crypto`), refused like the audio when the far end gives no key. Keyframe requests from the phone cannot reach the running VP8 encoder (ffmpeg has no
// control for that): they are counted, and the grid has a keyframe every second instead.

import { createSocket, type Socket } from 'node:dgram';
import { RtpPacket } from 'werift';
import { DEFAULT_LAYOUT, prioritize } from '../archiving/layout.js';
import type { ArchiveMediaSource, ArchiveStream } from '../archiving/interfaces.js';
import { LiveComposer, type ComposedStream } from '../broadcast/live-composer.js';
import type { Logger } from '../logger.js';
import type { SessionPublisher } from '../session-audio/index.js';
import { isRtcp, isVp8KeyFrameStart, MAX_HEADER_LENGTH, PayloadRing, RetransmissionHistory, rtpHeaderLength, vp8Dimensions } from '@colloquy/sfu';
import type { Session, SessionManager, Stream } from '../sessions/session-manager.js';
import { archiveMediaSource } from '../sessions/archive-source.js';
import { TypedEmitter } from '../typed-emitter.js';
import type { NegotiatedVideo } from './sdp.js';
import { newSdesKey, SdesSrtp } from './srtp.js';

/** OpenTok composes at most 9 streams for a SIP endpoint. */
export const MAX_GRID_STREAMS = 9;
/** The grid the phone receives: 640×480 (4:3, as desk video phones have it), VP8 at 600 kbit/s. */
const GRID = { width: 640, height: 480, bitrate: 600_000, gopSeconds: 1 };
/** Packets small enough for any path to a phone (no IP fragmentation). */
const MAX_RTP_PACKET = 1200;
/** At most one PLI to the phone per this many ms (a burst of subscribers joining asks once). */
const PLI_INTERVAL_MS = 250;
/** How often the grid checks the session's streams for a video track added or removed. */
const RESYNC_MS = 1000;

/** Grid packets kept for the phone's NACKs: about 2 s at 600 kbit/s in 1200-byte packets. */
const GRID_HISTORY = 256;

const RTCP_RR = 201;
const RTCP_RTPFB = 205;
const RTPFB_NACK = 1;
const RTCP_PSFB = 206;
const PSFB_PLI = 1;
const PSFB_FIR = 4;

export interface CallVideoStats {
  /** VP8 packets from the phone forwarded into the session. */
  packetsFromPhone: number;
  /** Grid packets sent to the phone. */
  packetsToPhone: number;
  /** PLIs sent to the phone (asked by the session's subscribers through the SFU). */
  keyframeRequestsToPhone: number;
  /** PLI/FIR the phone sent us (answered by the grid's next periodic keyframe). */
  keyframeRequestsFromPhone: number;
  /** Grid packets the phone asked for again (generic NACK), and those resent (the others were too old). */
  packetsNackedByPhone: number;
  packetsResentToPhone: number;
  /** Streams in the phone's grid now. */
  gridStreams: number;
  /** Why the grid's encoder stopped, when it did (the phone then gets no more video). */
  gridFailure: string | null;
  /** Secure calls: the phone's video packets that failed SRTP authentication, and those refused as replays. */
  srtpRejected: number;
  srtpReplayed: number;
}

export type CallVideoEvents = {
  /** The phone's picture size, from its first keyframe and whenever it changes. */
  dimensions: [{ width: number; height: number }];
};

/** Binds an even port P and P + 1 (RTP and RTCP) on `address`. */
async function bindPair(address: string | null): Promise<{ rtp: Socket; rtcp: Socket }> {
  const bind = (port: number): Promise<Socket | null> =>
    new Promise((resolve) => {
      const s = createSocket('udp4');
      s.once('error', () => {
        s.close();
        resolve(null);
      });
      s.bind({ port, ...(address ? { address } : {}) }, () => {
        s.removeAllListeners('error');
        resolve(s);
      });
    });
  for (let attempt = 0; attempt < 20; attempt++) {
    const rtp = await bind(0);
    if (!rtp) continue;
    const port = rtp.address().port;
    if (port % 2 === 0 && port < 65535) {
      const rtcp = await bind(port + 1);
      if (rtcp) return { rtp, rtcp };
    }
    rtp.close();
  }
  throw new Error('no free RTP/RTCP port pair for the SIP call video');
}

export class CallVideo extends TypedEmitter<CallVideoEvents> {
  readonly #rtp: Socket;
  readonly #rtcp: Socket;
  readonly #publisher: SessionPublisher;
  readonly #streams: string[] | null;
  readonly #log: Logger;
  readonly #ssrc = (Math.random() * 0xffffffff) >>> 0;
  #remote: NegotiatedVideo | null = null;
  /** Our SDES key for the video m-line when the call is secure; the SRTP context once the far end answered with its own. */
  readonly #localKey: string | null;
  #srtp: SdesSrtp | null = null;
  /** Where the phone's video RTP comes from (symmetric RTP, as for audio). */
  #latched: { address: string; port: number } | null = null;
  #phoneSsrc: number | null = null;
  #lastPli = 0;
  #dimensions: { width: number; height: number } | null = null;
  /** The composer's output: a loopback socket ffmpeg's RTP muxer sends to. */
  #gridIn: Socket | null = null;
  #grid: SessionGrid | null = null;
  readonly #gridHistory = new RetransmissionHistory(GRID_HISTORY, new PayloadRing(GRID_HISTORY * 1500));
  #closed = false;
  readonly stats: CallVideoStats = { packetsFromPhone: 0, packetsToPhone: 0, keyframeRequestsToPhone: 0, keyframeRequestsFromPhone: 0, packetsNackedByPhone: 0, packetsResentToPhone: 0, gridStreams: 0, gridFailure: null, srtpRejected: 0, srtpReplayed: 0 };

  private constructor(sockets: { rtp: Socket; rtcp: Socket }, publisher: SessionPublisher, streams: string[] | null, secure: boolean, logger: Logger) {
    super();
    this.#localKey = secure ? newSdesKey() : null;
    this.#rtp = sockets.rtp;
    this.#rtcp = sockets.rtcp;
    this.#publisher = publisher;
    this.#streams = streams;
    this.#log = logger;
    this.#rtp.on('message', (msg, rinfo) => this.#onRtpPort(msg, rinfo.address, rinfo.port));
    this.#rtcp.on('message', (msg, rinfo) => this.#onRtcp(msg, rinfo.address));
    for (const s of [this.#rtp, this.#rtcp]) s.on('error', (err) => this.#log.warn({ err }, 'SIP video socket error'));
    publisher.onKeyframeRequest = () => this.requestKeyframeFromPhone();
  }

  static async open(params: { bindAddress: string | null; publisher: SessionPublisher; streams: string[] | null; secure: boolean; logger: Logger }): Promise<CallVideo> {
    return new CallVideo(await bindPair(params.bindAddress), params.publisher, params.streams, params.secure, params.logger);
  }

  /** The video m-line of our offer: RTP port (RTCP is the next one) and, when secure, its SDES key. */
  get offer(): { port: number; srtpKey?: string } {
    return { port: this.#rtp.address().port, ...(this.#localKey ? { srtpKey: this.#localKey } : {}) };
  }

  /** The far end's video answer (or a re-INVITE's offer); throws when the call is secure and it has no key we can use. */
  setRemote(remote: NegotiatedVideo): void {
    if (this.#localKey !== null) {
      if (remote.srtpKey === null) throw new Error('the call is secure and the far end answered video without an SRTP key (AES_CM_128_HMAC_SHA1_80)');
      // A new key from the far end starts a new SRTP context for what it sends (RFC 4568 §7.1.4).
      if (this.#srtp === null || remote.srtpKey !== this.#remote?.srtpKey) this.#srtp = new SdesSrtp(this.#localKey, remote.srtpKey);
    }
    if (this.#remote !== null) this.#latched = null;
    this.#remote = remote;
  }

  /** Starts the phone's grid of the session (after `setRemote`). */
  async startGrid(sessions: SessionManager, sessionId: string, ownStreamId: string): Promise<void> {
    const remote = this.#remote;
    if (!remote || remote.direction === 'sendonly' || remote.direction === 'inactive') return; // it takes no video from us
    const gridIn = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      gridIn.once('error', reject);
      gridIn.bind(0, '127.0.0.1', () => {
        gridIn.off('error', reject);
        resolve();
      });
    });
    if (this.#closed) {
      gridIn.close();
      return;
    }
    this.#gridIn = gridIn;
    gridIn.on('message', (msg) => this.#fromGrid(msg));
    this.#grid = new SessionGrid({
      sessions,
      sessionId,
      streams: this.#streams,
      exclude: ownStreamId,
      url: `rtp://127.0.0.1:${gridIn.address().port}`,
      ssrc: this.#ssrc,
      logger: this.#log,
      onStreams: (n) => (this.stats.gridStreams = n),
      onFailure: (message) => (this.stats.gridFailure = message),
    });
    this.#grid.start();
  }

  /** Sends the phone a PLI (RFC 4585 §6.3.1): a subscriber needs a keyframe. Throttled. */
  requestKeyframeFromPhone(): void {
    const remote = this.#remote;
    const now = performance.now();
    if (this.#closed || !remote || this.#phoneSsrc === null || now - this.#lastPli < PLI_INTERVAL_MS) return;
    this.#lastPli = now;
    // A compound packet starts with a report (RFC 3550 §6.1): an empty receiver report, then the PLI.
    const rtcp = Buffer.alloc(8 + 12);
    rtcp[0] = 0x80;
    rtcp[1] = RTCP_RR;
    rtcp.writeUInt16BE(1, 2);
    rtcp.writeUInt32BE(this.#ssrc, 4);
    rtcp[8] = 0x80 | PSFB_PLI;
    rtcp[9] = RTCP_PSFB;
    rtcp.writeUInt16BE(2, 10);
    rtcp.writeUInt32BE(this.#ssrc, 12);
    rtcp.writeUInt32BE(this.#phoneSsrc, 16);
    const address = this.#latched?.address ?? remote.address;
    const packet = this.#srtp ? this.#srtp.protectRtcp(rtcp) : rtcp;
    // With rtcp-mux RTCP shares the RTP path (our RTP socket, its RTP port); otherwise the RTCP pair.
    if (remote.rtcpMux) this.#rtp.send(packet, this.#latched?.port ?? remote.port, address);
    else this.#rtcp.send(packet, remote.rtcpPort, address);
    this.stats.keyframeRequestsToPhone++;
  }

  #onRtpPort(datagram: Buffer, address: string, port: number): void {
    if (this.#closed || datagram.length < 12 || datagram[0]! >> 6 !== 2) return;
    if (isRtcp(datagram)) {
      this.#onRtcp(datagram, address); // rtcp-mux
      return;
    }
    const remote = this.#remote;
    if (!remote) return;
    // Secure: only packets that authenticate count, and only they can move the latch (as for audio).
    let msg = datagram;
    if (this.#localKey !== null) {
      const plain = this.#srtp?.unprotect(datagram) ?? null;
      if (plain === null) {
        this.stats.srtpRejected++;
        this.stats.srtpReplayed = this.#srtp?.replayed ?? 0;
        return;
      }
      msg = plain;
    }
    if (this.#latched === null) this.#latched = { address, port };
    else if (address !== this.#latched.address || port !== this.#latched.port) return;
    let packet: RtpPacket;
    try {
      packet = RtpPacket.deSerialize(msg);
    } catch {
      return;
    }
    const h = packet.header;
    if (h.payloadType !== remote.payloadType) return;
    this.stats.packetsFromPhone++;
    this.#phoneSsrc = h.ssrc;
    this.#noteDimensions(packet.payload);
    this.#publisher.sendVideoRtp({ ssrc: h.ssrc, sequenceNumber: h.sequenceNumber, timestamp: h.timestamp, marker: h.marker, payload: packet.payload });
  }

  /** A keyframe's first packet carries the picture size (RFC 6386 §9.1): the stream's videoDimensions. */
  #noteDimensions(payload: Buffer): void {
    if (!isVp8KeyFrameStart(payload)) return;
    const size = vp8Dimensions(payload);
    if (!size || (this.#dimensions && size.width === this.#dimensions.width && size.height === this.#dimensions.height)) return;
    this.#dimensions = size;
    this.emit('dimensions', size);
  }

  /**
   * RTCP from the phone (from its latched address only, so a stranger cannot make us resend): NACKs
   * are answered from the grid's history; keyframe requests are counted (see the top of the file);
   * the rest is not used.
   */
  #onRtcp(datagram: Buffer, address: string): void {
    if (this.#closed || (this.#localKey !== null && this.#srtp === null)) return;
    if (this.#latched !== null && address !== this.#latched.address) return;
    const msg = this.#srtp ? this.#srtp.unprotectRtcp(datagram) : datagram;
    if (msg === null) return;
    for (let i = 0; i + 4 <= msg.length; ) {
      const type = msg[i + 1]!;
      const fmt = msg[i]! & 0x1f;
      const end = Math.min(msg.length, i + (msg.readUInt16BE(i + 2) + 1) * 4);
      if (type === RTCP_PSFB && (fmt === PSFB_PLI || fmt === PSFB_FIR)) this.stats.keyframeRequestsFromPhone++;
      else if (type === RTCP_RTPFB && fmt === RTPFB_NACK && end - i >= 12 && msg.readUInt32BE(i + 8) === this.#ssrc) this.#resend(nackedSequenceNumbers(msg.subarray(i + 12, end)));
      i = end;
    }
  }

  /** Sends the phone the grid packets it asked for again, those still in the history. */
  #resend(seqs: number[]): void {
    const remote = this.#remote;
    if (!remote) return;
    const to = this.#latched ?? remote;
    for (const seq of seqs) {
      this.stats.packetsNackedByPhone++;
      const header = this.#gridHistory.header(seq);
      const payload = header && this.#gridHistory.payload(seq);
      if (!header || !payload) continue;
      const packet = Buffer.concat([header, payload]);
      this.#rtp.send(this.#srtp ? this.#srtp.protect(packet) : packet, to.port, to.address);
      this.stats.packetsResentToPhone++;
    }
  }

  /** A packet of the grid's encoder: to the phone, in its payload type (ffmpeg's RTCP reports are not passed on). */
  #fromGrid(msg: Buffer): void {
    const remote = this.#remote;
    if (this.#closed || !remote || msg.length < 12) return;
    if (isRtcp(msg)) return;
    msg[1] = (msg[1]! & 0x80) | (remote.payloadType & 0x7f);
    const headerLength = rtpHeaderLength(msg, msg.length);
    if (headerLength > 0 && headerLength <= MAX_HEADER_LENGTH) {
      const seq = msg.readUInt16BE(2);
      msg.copy(this.#gridHistory.headers, this.#gridHistory.slotOffset(seq), 0, headerLength);
      this.#gridHistory.store(seq, headerLength, msg.subarray(headerLength), performance.now());
    }
    const to = this.#latched ?? remote;
    this.#rtp.send(this.#srtp ? this.#srtp.protect(msg) : msg, to.port, to.address);
    this.stats.packetsToPhone++;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#publisher.onKeyframeRequest = null;
    this.#gridHistory.clear();
    this.#rtp.close();
    this.#rtcp.close();
    await this.#grid?.close();
    this.#gridIn?.close();
    this.removeAllListeners();
  }
}

/** The sequence numbers a generic NACK's FCI entries ask for (RFC 4585 §6.2.1: a PID and a bitmask of the 16 after it). */
export function nackedSequenceNumbers(fci: Buffer): number[] {
  const seqs: number[] = [];
  for (let i = 0; i + 4 <= fci.length; i += 4) {
    const pid = fci.readUInt16BE(i);
    const blp = fci.readUInt16BE(i + 2);
    seqs.push(pid);
    for (let bit = 0; bit < 16; bit++) if (blp & (1 << bit)) seqs.push((pid + bit + 1) & 0xffff);
  }
  return seqs;
}

/**
 * The session's video streams (all, or only `streams`; never the phone's own) composed by a
 * LiveComposer into one VP8 RTP stream: at most 9 in bestFit order, screen shares first
 * (archiving's prioritization). It follows streams published and ended, and video tracks added or
 * removed (checked every second, since a track change is not a session event).
 */
interface SessionGridOptions {
  sessions: SessionManager;
  sessionId: string;
  streams: string[] | null;
  /** The phone's own stream, never in its grid. */
  exclude: string;
  /** Where the encoder sends its RTP (rtp://127.0.0.1:port). */
  url: string;
  ssrc: number;
  logger: Logger;
  onStreams: (n: number) => void;
  onFailure: (message: string) => void;
}

class SessionGrid {
  readonly #o: SessionGridOptions;
  readonly #media: ArchiveMediaSource;
  readonly #composer: LiveComposer;
  readonly #addedAt = new Map<string, number>();
  #key = '';
  #stopWatch: (() => void) | null = null;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: SessionGridOptions) {
    this.#o = options;
    this.#media = archiveMediaSource(options.sessions);
    this.#composer = new LiveComposer(
      {
        width: GRID.width,
        height: GRID.height,
        hasAudio: false,
        hasVideo: true,
        videoBitrate: GRID.bitrate,
        gopSeconds: GRID.gopSeconds,
        x264Preset: 'veryfast',
        media: this.#media,
        logger: options.logger,
        encoding: { kind: 'vp8-rtp', url: options.url, payloadType: 96, ssrc: options.ssrc, maxPacketSize: MAX_RTP_PACKET },
        onData: () => {},
        onFailure: (message) => {
          options.logger.warn({ message }, 'the SIP video grid encoder stopped');
          options.onFailure(message);
        },
      },
      DEFAULT_LAYOUT,
    );
  }

  start(): void {
    this.#composer.start();
    this.#sync();
    const mine = (s: Session) => s.id === this.#o.sessionId;
    this.#stopWatch = this.#o.sessions.observeSessions({
      streamCreated: (s: Session, _stream: Stream) => mine(s) && this.#sync(),
      streamDestroyed: (s: Session, _stream: Stream) => mine(s) && this.#sync(),
    });
    this.#timer = setInterval(() => this.#sync(), RESYNC_MS);
  }

  /** Recomputes the grid's streams; the composer is told only when the set (or a track) changed. */
  #sync(): void {
    const { streams, exclude } = this.#o;
    const wanted = this.#media
      .listStreams(this.#o.sessionId)
      .filter((s): s is ArchiveStream & { video: NonNullable<ArchiveStream['video']> } => s.streamId !== exclude && s.video !== null && (streams === null || streams.includes(s.streamId)));
    for (const s of wanted) if (!this.#addedAt.has(s.streamId)) this.#addedAt.set(s.streamId, Date.now());
    const ordered = prioritize(wanted.map((s) => ({ streamId: s.streamId, connectionId: s.connectionId, videoType: s.videoType, layoutClassList: s.layoutClassList, addedAt: this.#addedAt.get(s.streamId)! })));
    const chosen = new Set(ordered.slice(0, MAX_GRID_STREAMS).map((s) => s.streamId));
    const members: ComposedStream[] = wanted.filter((s) => chosen.has(s.streamId)).map((s) => ({ stream: s, hasAudio: false, hasVideo: true, addedAt: this.#addedAt.get(s.streamId)! }));
    const key = members.map((m) => `${m.stream.streamId}:${m.stream.video?.producerId}`).sort().join(',');
    if (key === this.#key) return;
    this.#key = key;
    for (const id of [...this.#addedAt.keys()]) if (!wanted.some((s) => s.streamId === id)) this.#addedAt.delete(id);
    this.#composer.setStreams(members);
    this.#o.onStreams(members.length);
    this.#o.logger.debug({ streams: members.length }, 'SIP video grid');
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    this.#stopWatch?.();
    await this.#composer.stop();
  }
}
