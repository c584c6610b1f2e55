// SIP interconnect (OpenTok's `dial`): a phone or PBX joins a routed session as an audio
// participant. A dial checks the session and token, adds the SIP leg to the session at once as a
// Connection (the token's data) with a Stream (OpenTok does the same, so `dial` answers
// `{id, connectionId, streamId}` before the far end answers), then places the SIP call. The call
// and the connection end together: the far end's BYE or a failed call closes the connection, and a
// `forceDisconnect` (or the session ending) hangs the call up. Media is CallMedia's (call-media.ts),
// and with `video` also CallVideo's (call-video.ts): the phone's video is its stream's, and the phone
// receives a grid of the session's streams.

import type { Project, Store } from '../store/index.js';
import { conflict, invalid, notFound, ColloquyError } from '../errors.js';
import type { Logger } from '../logger.js';
import { admitServerParticipant, requireProjectSession } from '../sessions/server-participant.js';
import { clientActor, type Connection, type DisconnectReason, type SessionManager, type Stream } from '../sessions/session-manager.js';
import { TypedEmitter } from '../typed-emitter.js';
import { publishAudioStream, type SessionPublisher } from '../session-audio/index.js';
import { SipCall, transportOf, type SipCallEnd } from './sip-call.js';
import { SipUserAgent, type SipTlsSettings } from './sip-user-agent.js';
import { CallMedia, type CallMediaStats } from './call-media.js';
import { CallVideo, type CallVideoStats } from './call-video.js';
import { readRemoteVideo } from './sdp.js';

export interface DialRequest {
  sessionId: string;
  token: string;
  sip: {
    uri: string;
    from: string | null;
    headers: Record<string, string>;
    auth: { username: string; password: string } | null;
    secure: boolean;
    video: boolean;
    observeForceMute: boolean;
    /** Only these streams are mixed for the phone; null: every stream of the session. */
    streams: string[] | null;
  };
}

export interface DialResult {
  id: string;
  connectionId: string;
  streamId: string;
}

/** One SIP call as the callbacks and the REST API describe it. */
export interface SipCallInfo {
  id: string;
  sessionId: string;
  projectId: string;
  connectionId: string;
  streamId: string;
  sipUri: string;
  createdAt: number;
  state: 'dialing' | 'ringing' | 'answered' | 'ended';
}

export type SipGatewayEvents = {
  callCreated: [SipCallInfo];
  callUpdated: [SipCallInfo];
  callDestroyed: [SipCallInfo, SipCallEnd];
};

export interface SipGatewaySettings {
  port: number;
  bindAddress: string | null;
  /** Where the far end reaches us (Contact, SDP). */
  publicAddress: string;
  /** The address the SFU announces (its ICE candidates): the in-server publisher connects to it. */
  sfuAddress: string;
  ringTimeoutMs: number;
  keepAliveMs: number;
  /** SIP over TLS (a sips: URI or `;transport=tls`); null: no certificate, such dials answer 501. */
  tls: SipTlsSettings | null;
}

interface LiveCall {
  info: SipCallInfo;
  call: SipCall;
  media: CallMedia;
  /** The call's video (a `video` dial); null for an audio call. */
  video: CallVideo | null;
  publisher: SessionPublisher;
  connection: Connection;
}

export class SipGateway extends TypedEmitter<SipGatewayEvents> {
  readonly #sessions: SessionManager;
  readonly #store: Store;
  readonly #settings: SipGatewaySettings;
  readonly #log: Logger;
  readonly #calls = new Map<string, LiveCall>();
  #ua: SipUserAgent | null = null;
  #closed = false;

  constructor(params: { sessions: SessionManager; store: Store; settings: SipGatewaySettings; logger: Logger }) {
    super();
    this.#sessions = params.sessions;
    this.#store = params.store;
    this.#settings = params.settings;
    this.#log = params.logger.child({ module: 'sip' });
  }

  /** Calls in progress (for tests and the Inspector). */
  get calls(): SipCallInfo[] {
    return [...this.#calls.values()].map((c) => ({ ...c.info }));
  }

  /** RTP counters of a call in progress (packets from and to the phone, Opus frames into the session). */
  mediaStats(callId: string): (CallMediaStats & { codec: string | null; srtp: boolean; publisher: { connection: string; ice: string }; video: (CallVideoStats & { packetsToSession: number; keyframeRequestsFromSession: number }) | null }) | undefined {
    const live = this.#calls.get(callId);
    if (!live) return undefined;
    const video = live.video ? { ...live.video.stats, packetsToSession: live.publisher.videoStats.packetsSent, keyframeRequestsFromSession: live.publisher.videoStats.keyframeRequests } : null;
    return { ...live.media.stats, codec: live.media.codec, srtp: live.media.secure, publisher: live.publisher.state, video };
  }

  callByConnection(connectionId: string): SipCallInfo | undefined {
    for (const c of this.#calls.values()) if (c.info.connectionId === connectionId) return { ...c.info };
    return undefined;
  }

  async dial(project: Project, request: DialRequest): Promise<DialResult> {
    if (this.#closed) throw new ColloquyError('unavailable', 'The server is shutting down');
    const transport = transportOf(request.sip.uri);
    if (request.sip.secure && transport !== 'tls') {
      // SDES puts the SRTP keys in the SDP: over plain SIP anyone on the path could read them.
      throw invalid('A secure SIP call sends its SRTP keys in the SIP messages, so it needs TLS signalling: use a sips: URI or add ;transport=tls');
    }
    if (transport === 'tls' && this.#settings.tls === null) {
      throw new ColloquyError('unsupported', 'SIP over TLS is not configured on this server (COLLOQUY_SIP_TLS_CERT and COLLOQUY_SIP_TLS_KEY)', 501);
    }
    const { record, claims } = await admitServerParticipant({ sessions: this.#sessions, store: this.#store, project, sessionId: request.sessionId, token: request.token, what: 'SIP calls', publishes: true });
    const ua = this.#userAgent();
    const host = hostOf(request.sip.uri);
    // The `sip` package picks the transport by the URI's parameter only: a bare sips: URI gets it said.
    const uri = transport === 'tls' && !/;transport=/i.test(request.sip.uri) ? withUriParam(request.sip.uri, 'transport=tls') : request.sip.uri;
    if (transport === 'tls') {
      try {
        await ua.prepareTls(host.replace(/^\[|\]$/g, ''));
      } catch (err) {
        throw invalid(`The SIP URI's host does not resolve: ${(err as Error).message}`);
      }
    }
    const { connection } = this.#sessions.join(record, claims, { userAgent: 'Colloquy SIP gateway', ip: host, sdk: { name: 'sip', version: '1' } });
    let leg: { publisher: SessionPublisher; stream: Stream };
    try {
      // Published before the phone is dialled: the stream is live when `dial` answers, and the
      // in-server DTLS handshake runs while no audio is being transcoded.
      leg = await publishAudioStream({ sessions: this.#sessions, connection, sfuAddress: this.#settings.sfuAddress, name: '', video: request.sip.video, logger: this.#log });
    } catch (err) {
      connection.close('networkDisconnected');
      throw err;
    }
    const { publisher, stream } = leg;
    const media = await CallMedia.open({
      bindAddress: this.#settings.bindAddress,
      publisher,
      streams: request.sip.streams,
      secure: request.sip.secure,
      logger: this.#log,
    });
    let video: CallVideo | null = null;
    try {
      video = request.sip.video ? await CallVideo.open({ bindAddress: this.#settings.bindAddress, publisher, streams: request.sip.streams, secure: request.sip.secure, logger: this.#log }) : null;
    } catch (err) {
      media.close();
      await publisher.close();
      connection.close('networkDisconnected');
      throw err;
    }
    const call = new SipCall({
      ua,
      uri,
      from: request.sip.from,
      headers: request.sip.headers,
      auth: request.sip.auth,
      localSdp: () => media.localSdp(ua.publicAddress, video?.offer),
      ringTimeoutMs: this.#settings.ringTimeoutMs,
      keepAliveMs: this.#settings.keepAliveMs,
      logger: this.#log,
    });
    const info: SipCallInfo = {
      id: call.id,
      sessionId: record.id,
      projectId: project.id,
      connectionId: connection.id,
      streamId: stream.id,
      sipUri: request.sip.uri,
      createdAt: Date.now(),
      state: 'dialing',
    };
    const live: LiveCall = { info, call, media, video, publisher, connection };
    this.#calls.set(call.id, live);
    this.#wire(live, stream, request.sip.observeForceMute);
    this.emit('callCreated', { ...info });
    call.start();
    this.#log.info({ callId: call.id, sessionId: record.id, connectionId: connection.id, streamId: stream.id, uri: redactUri(request.sip.uri) }, 'SIP call dialled');
    return { id: call.id, connectionId: connection.id, streamId: stream.id };
  }

  /**
   * Plays DTMF digits (0-9 * # and p, a 500 ms pause) on every answered SIP call of the session, or
   * on the one whose connection is `connectionId`. 404 when there is no such call.
   */
  async playDtmf(project: Project, sessionId: string, connectionId: string | null, digits: string): Promise<void> {
    await requireProjectSession(this.#sessions, project, sessionId);
    const targets = [...this.#calls.values()].filter((c) => c.info.sessionId === sessionId && (connectionId === null || c.info.connectionId === connectionId));
    if (targets.length === 0) {
      throw notFound(connectionId === null ? 'Not found. There is no SIP call in this session.' : 'Not found. The connection is not a SIP call of this session.', 404);
    }
    const answered = targets.filter((c) => c.info.state === 'answered');
    if (answered.length === 0) throw conflict('The SIP call is not answered yet: DTMF can be played once it is');
    for (const c of answered) c.media.sendDtmf(digits);
  }

  #wire(live: LiveCall, stream: Stream, observeForceMute: boolean): void {
    const { call, media, video, connection, info } = live;
    call.on('ringing', () => {
      info.state = 'ringing';
      this.emit('callUpdated', { ...info });
    });
    call.on('answered', (sdp) => {
      try {
        media.start(sdp, this.#sessions, info.sessionId, info.streamId);
        if (video) this.#startVideo(live, stream, sdp);
      } catch (err) {
        this.#log.warn({ err, callId: info.id }, 'SIP call answered with unusable SDP: hanging up');
        // 488 is what a far end would have said to an offer it cannot take (RFC 3261 §21.4.26).
        call.hangUp({ sipCode: 488, reason: `Not Acceptable Here: ${(err as Error).message}` });
        return;
      }
      info.state = 'answered';
      this.emit('callUpdated', { ...info });
    });
    call.on('remoteSdp', (sdp) => {
      try {
        media.updateRemote(sdp);
        const remoteVideo = video ? readRemoteVideo(sdp) : null;
        if (remoteVideo) video!.setRemote(remoteVideo);
      } catch (err) {
        this.#log.warn({ err, callId: info.id }, 'SIP re-INVITE with unusable SDP ignored');
      }
    });
    // A digit the phone pressed (RFC 4733, or SIP INFO): the session hears it as a signal of type
    // `dtmf` from the SIP participant's connection, data the digit.
    const onDtmf = (digit: string) => {
      if (connection.closed) return;
      try {
        this.#sessions.signal(clientActor(connection), null, 'dtmf', digit);
      } catch (err) {
        this.#log.debug({ err, callId: info.id }, 'DTMF from the phone not delivered');
      }
    };
    media.on('dtmf', onDtmf);
    call.on('dtmf', onDtmf);
    call.once('ended', (end) => {
      // The far end hung up, refused, or the call failed: the SIP participant leaves the session.
      const reason: DisconnectReason = end.by === 'remote' && end.sipCode === 200 ? 'clientDisconnected' : end.by === 'local' ? connection.closeReason ?? 'clientDisconnected' : 'networkDisconnected';
      this.#finish(live, end, reason);
    });
    // forceDisconnect, or the session closing: hang up.
    connection.once('close', () => {
      if (call.state !== 'ended') call.hangUp();
    });
    // OpenTok's observeForceMute: without it, a moderator's mute does not silence the phone.
    stream.on('muteForced', () => {
      if (observeForceMute || connection.closed) return;
      try {
        this.#sessions.updateStream(connection, stream.id, { hasAudio: true });
      } catch (err) {
        this.#log.debug({ err }, 'could not lift the forced mute of a SIP stream');
      }
    });
  }

  /**
   * The far end answered a video call: with VP8 in its answer its video becomes the stream's and it
   * gets the session's grid; without (it declined video), the stream says it has no video. Throws
   * (the call is then refused with 488) when a secure call's video answer has no SRTP key.
   */
  #startVideo(live: LiveCall, stream: Stream, sdp: string): void {
    const { video, connection, info } = live;
    if (!video) return;
    const remote = readRemoteVideo(sdp);
    const setStream = (changes: { hasVideo?: boolean; videoDimensions?: { width: number; height: number } }) => {
      if (connection.closed || stream.closed) return;
      try {
        this.#sessions.updateStream(connection, stream.id, changes);
      } catch (err) {
        this.#log.debug({ err, callId: info.id }, 'could not update the SIP stream');
      }
    };
    if (!remote) {
      this.#log.info({ callId: info.id }, 'the far end declined video: an audio call');
      setStream({ hasVideo: false });
      return;
    }
    if (remote.direction === 'recvonly' || remote.direction === 'inactive') setStream({ hasVideo: false });
    video.setRemote(remote);
    video.on('dimensions', (videoDimensions) => setStream({ videoDimensions }));
    video.startGrid(this.#sessions, info.sessionId, info.streamId).catch((err: unknown) => this.#log.warn({ err, callId: info.id }, 'the SIP video grid did not start'));
  }

  #finish(live: LiveCall, end: SipCallEnd, reason: DisconnectReason): void {
    if (!this.#calls.delete(live.info.id)) return;
    live.info.state = 'ended';
    live.media.close();
    void live.video?.close();
    void live.publisher.close();
    if (!live.connection.closed) live.connection.close(reason);
    this.emit('callDestroyed', { ...live.info }, end);
  }

  #userAgent(): SipUserAgent {
    this.#ua ??= new SipUserAgent({
      port: this.#settings.port,
      ...(this.#settings.bindAddress ? { bindAddress: this.#settings.bindAddress } : {}),
      publicAddress: this.#settings.publicAddress,
      tls: this.#settings.tls,
      logger: this.#log,
    });
    return this.#ua;
  }

  /** Hangs up every call (server shutdown) and closes the SIP sockets. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const hadCalls = this.#calls.size > 0;
    for (const live of [...this.#calls.values()]) {
      live.call.hangUp();
    }
    // Let the BYEs leave before the sockets close.
    if (hadCalls) await new Promise((r) => setTimeout(r, 50));
    this.#ua?.close();
    this.#ua = null;
  }
}

/** The host of a SIP URI, for the Inspector's address column. */
function hostOf(uri: string): string {
  const m = /^sips?:(?:[^@]*@)?(\[[^\]]+\]|[^;:?>]+)/i.exec(uri);
  return m?.[1] ?? '';
}

/** A URI parameter added to a SIP URI (before its headers, if any). */
function withUriParam(uri: string, param: string): string {
  const q = uri.indexOf('?');
  return q < 0 ? `${uri};${param}` : `${uri.slice(0, q)};${param}${uri.slice(q)}`;
}

/** A SIP URI without a password in its user part, for logs. */
function redactUri(uri: string): string {
  return uri.replace(/^(sips?:[^:@;]+):[^@]*@/i, '$1:***@');
}
