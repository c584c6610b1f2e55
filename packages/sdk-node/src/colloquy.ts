// Colloquy: the server SDK's entry point, in the shape of opentok-node (createSession,
// generateToken, then archives, signals, moderation and streams) but promise-based and typed.

import {
  buildApplicationToken,
  buildJwtToken,
  buildT1Token,
  parseSessionId,
  type ClientTokenOptions,
  type Role,
} from '@colloquy/tokens';
import type { KeyObject } from 'node:crypto';
import { Archives } from './archives.js';
import { Broadcasts } from './broadcasts.js';
import { Renders } from './renders.js';
import { RestClient, type Credentials } from './rest-client.js';

export type MediaMode = 'routed' | 'relayed';
export type ArchiveMode = 'manual' | 'always';
export type ArchiveResolution = '640x480' | '480x640' | '1280x720' | '720x1280' | '1920x1080' | '1080x1920';

export interface SessionOptions {
  /** `routed` (default): media goes through the Colloquy SFU; `relayed`: peer to peer. */
  mediaMode?: MediaMode;
  /** `manual` (default) or `always` (record from the first connection; routed only). */
  archiveMode?: ArchiveMode;
  /** IPv4 hint for where the session's clients are. */
  location?: string;
  /** Name of automatic archives (archiveMode `always`), ≤ 80 characters. */
  archiveName?: string;
  /** Resolution of automatic archives (default 640x480). */
  archiveResolution?: ArchiveResolution;
  /** End-to-end encryption (routed only; not with archiveMode `always`). */
  e2ee?: boolean;
}

export interface Session {
  sessionId: string;
  mediaMode: MediaMode;
  archiveMode: ArchiveMode;
  location: string | null;
  e2ee: boolean;
}

export interface TokenOptions {
  /** `publisher` (default), `subscriber`, `publisheronly` or `moderator`. */
  role?: Role;
  /** Expiry, epoch seconds (default 24 hours from now; at most 30 days). */
  expireTime?: number;
  /** Connection data other clients see, ≤ 1000 characters. */
  data?: string;
  /** Layout classes for this connection's streams in composed archives. */
  initialLayoutClassList?: string[];
  /** `jwt` (default) or the legacy `t1` format (projects only). */
  tokenKind?: 'jwt' | 't1';
}

export interface SignalPayload {
  /** ≤ 128 characters of A-Z a-z 0-9 - _ ~; omitted for an untyped signal. */
  type?: string;
  /** ≤ 8 kB. */
  data: string;
}

/** Options of a SIP call (`dial`), OpenTok's `sip` object without the URI. */
export interface DialOptions {
  /** Caller id the far end shows: `user@host` (a number as user shows on PSTN phones). */
  from?: string;
  /** Custom headers sent on the INVITE (X-… headers; not the dialog's own). */
  headers?: Record<string, string>;
  /** Digest credentials for a far end or proxy that challenges. */
  auth?: { username: string; password: string };
  /** SRTP media (SDES keys); needs TLS signalling: a `sips:` URI or `;transport=tls`. */
  secure?: boolean;
  /** Video too: the phone's VP8 becomes its stream's video, and it receives the session's streams as one grid (up to 9). */
  video?: boolean;
  /** Whether a moderator's force-mute silences the phone (OpenTok's default: it does not). */
  observeForceMute?: boolean;
  /** Only these streams are mixed for the phone (default: every stream). */
  streams?: string[];
}

/** Options of live captions (`startCaptions`), OpenTok's names and defaults. */
export interface CaptionsOptions {
  /** A language the server has a speech-to-text model for (default en-US). */
  languageCode?: string;
  /** Seconds captions may run, 300 to 14400 (default 14400). */
  maxDuration?: number;
  /** Also send the phrase so far while it is spoken (default true). */
  partialCaptions?: boolean;
  /** Where the server POSTs each status (started, stopped, failed) of these captions. */
  statusCallbackUrl?: string;
}

/** A captions run as `getCaptions` returns it. */
export interface CaptionsStatus {
  captionId: string;
  applicationId: string;
  sessionId: string;
  status: 'started' | 'stopped' | 'failed';
  createdAt: number;
  updatedAt: number;
  /** Seconds. */
  duration: number;
  languageCode: string;
  provider: string;
  reason?: string;
}

/** A dialled SIP call: hang up with `forceDisconnect(sessionId, connectionId)`. */
export interface SipCall {
  id: string;
  connectionId: string;
  streamId: string;
}

/** Options of an Audio Connector WebSocket (`websocketConnect`), OpenTok's `websocket` object without the URI. */
export interface WebsocketConnectOptions {
  /** Only these streams are sent, mixed into one feed (default: every stream of the session). */
  streams?: string[];
  /** Sent on the WebSocket upgrade and as fields of the first (JSON) message; ≤ 512 bytes. */
  headers?: Record<string, string>;
  /** The PCM rate of the audio both ways (default 16000). */
  audioRate?: 8000 | 16000 | 24000;
  /** Audio the WebSocket server sends back is played into the session as a stream. */
  bidirectional?: boolean;
}

/** A running Audio Connector: stop it with `stopWebsocket(id)` or `forceDisconnect(sessionId, connectionId)`. */
export interface AudioConnection {
  id: string;
  connectionId: string;
}

/** A client connected to a session, as `listConnections` returns it. */
export interface ConnectionSummary {
  connectionId: string;
  connectionState: 'Connected' | 'Connecting';
  /** Epoch milliseconds. */
  createdAt: number;
}

export interface ConnectionList {
  count: number;
  projectId: string;
  sessionId: string;
  items: ConnectionSummary[];
}

/** A published stream, as `listStreams` and `getStream` return it. */
export interface StreamSummary {
  id: string;
  videoType: 'camera' | 'screen' | 'custom';
  /** The publisher's name for it ('' when none). */
  name: string;
  /** Layout classes for composed archives (the token's initial list, or set by setStreamClassLists). */
  layoutClassList: string[];
}

export interface StreamList {
  count: number;
  items: StreamSummary[];
}

export interface ForceMuteAllOptions {
  /** Streams to leave unmuted. */
  excludedStreamIds?: string[];
}

export interface ColloquyOptions {
  /** Base URL of your Colloquy server (default http://127.0.0.1:3000). */
  apiUrl?: string;
  /** Per-request timeout in milliseconds (default 20000). */
  timeout?: number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export class Colloquy {
  /** API key, or application ID in application mode. */
  readonly apiKey: string;
  readonly client: RestClient;
  /** Archives (recordings): start, stop, get, list, delete, layout, streams, download. */
  readonly archives: Archives;
  /** Live streaming broadcasts (HLS, RTMP). */
  readonly broadcasts: Broadcasts;
  /** Experience Composer renders: start, get, list, stop. */
  readonly renders: Renders;
  readonly #credentials: Credentials;

  /**
   * `new Colloquy(apiKey, apiSecret, apiUrl)` for a project, or
   * `new Colloquy(applicationId, privateKeyPem, apiUrl)` for a Vonage-style application (chosen, as
   * opentok-node does, when the first argument is a UUID and the second a private key).
   */
  constructor(apiKey: string, secretOrPrivateKey: string | KeyObject, options: string | ColloquyOptions = {}) {
    const opts = typeof options === 'string' ? { apiUrl: options } : options;
    if (typeof apiKey !== 'string' || apiKey === '') throw new TypeError('apiKey is required');
    const isKeyObject = typeof secretOrPrivateKey !== 'string';
    const applicationMode = UUID.test(apiKey) && (isKeyObject || /-----BEGIN (RSA )?PRIVATE KEY/.test(secretOrPrivateKey));
    if (applicationMode) {
      this.#credentials = { kind: 'application', applicationId: apiKey.toLowerCase(), privateKey: secretOrPrivateKey };
    } else {
      if (typeof secretOrPrivateKey !== 'string' || secretOrPrivateKey === '') throw new TypeError('apiSecret is required');
      this.#credentials = { kind: 'project', apiKey, apiSecret: secretOrPrivateKey };
    }
    this.apiKey = applicationMode ? apiKey.toLowerCase() : apiKey;
    this.client = new RestClient(this.#credentials, { apiUrl: opts.apiUrl ?? 'http://127.0.0.1:3000', timeout: opts.timeout });
    this.archives = new Archives(this.client);
    this.broadcasts = new Broadcasts(this.client);
    this.renders = new Renders(this.client);
  }

  /** Creates a session on the server. */
  async createSession(options: SessionOptions = {}): Promise<Session> {
    const mediaMode = options.mediaMode ?? 'routed';
    const archiveMode = options.archiveMode ?? 'manual';
    const form: Record<string, string> = {
      'p2p.preference': mediaMode === 'relayed' ? 'enabled' : 'disabled',
      archiveMode,
      e2ee: String(options.e2ee ?? false),
    };
    if (options.location) form['location'] = options.location;
    if (options.archiveName) form['archiveName'] = options.archiveName;
    if (options.archiveResolution) form['archiveResolution'] = options.archiveResolution;
    const { data } = await this.client.request<Array<{ session_id: string }>>('POST', '/session/create', undefined, { form });
    const sessionId = data?.[0]?.session_id;
    if (typeof sessionId !== 'string') throw new TypeError('server answered session creation without a session_id');
    return { sessionId, mediaMode, archiveMode, location: options.location ?? null, e2ee: options.e2ee ?? false };
  }

  /** Generates a client token for a session of this project (locally; no server call). */
  generateToken(sessionId: string, options: TokenOptions = {}): string {
    const fields = parseSessionId(sessionId);
    if (!fields) throw new TypeError('sessionId is not a valid session ID');
    if (fields.apiKey.toLowerCase() !== this.apiKey.toLowerCase()) {
      throw new TypeError('Token cannot be generated unless the session belongs to the API key');
    }
    const tokenOptions: ClientTokenOptions = {
      sessionId,
      role: options.role,
      expireTime: options.expireTime,
      data: options.data,
      initialLayoutClassList: options.initialLayoutClassList,
    };
    const c = this.#credentials;
    if (c.kind === 'application') {
      if (options.tokenKind === 't1') throw new TypeError('T1 tokens need an API secret; applications sign JWTs');
      return buildApplicationToken(c.applicationId, c.privateKey, tokenOptions);
    }
    return options.tokenKind === 't1' ? buildT1Token(c.apiKey, c.apiSecret, tokenOptions) : buildJwtToken(c.apiKey, c.apiSecret, tokenOptions);
  }

  /**
   * Sends a signal to every client in the session (`connectionId` null) or to one connection.
   * Rejects with NotFoundError when nobody (or not that connection) is connected, RequestError 400
   * for a bad type, 413 when type or data is too long.
   */
  async signal(sessionId: string, connectionId: string | null, payload: SignalPayload): Promise<void> {
    const path = connectionId === null ? `session/${enc(sessionId)}/signal` : `session/${enc(sessionId)}/connection/${enc(connectionId)}/signal`;
    const body: Record<string, string> = { data: payload.data };
    if (payload.type !== undefined) body['type'] = payload.type;
    await this.client.request('POST', path, body);
  }

  /** Disconnects a client (its session sees connectionDestroyed with reason forceDisconnected). */
  async forceDisconnect(sessionId: string, connectionId: string): Promise<void> {
    await this.client.request('DELETE', `session/${enc(sessionId)}/connection/${enc(connectionId)}`);
  }

  /** The clients connected to a session now, oldest first. */
  async listConnections(sessionId: string): Promise<ConnectionList> {
    const { data } = await this.client.request<ConnectionList>('GET', `session/${enc(sessionId)}/connection`);
    return data;
  }

  /** The streams published in a session now, oldest first. */
  async listStreams(sessionId: string): Promise<StreamList> {
    const { data } = await this.client.request<StreamList>('GET', `session/${enc(sessionId)}/stream`);
    return data;
  }

  /** One published stream; NotFoundError when it is not (or no longer) published. */
  async getStream(sessionId: string, streamId: string): Promise<StreamSummary> {
    const { data } = await this.client.request<StreamSummary>('GET', `session/${enc(sessionId)}/stream/${enc(streamId)}`);
    return data;
  }

  /**
   * Sets the layout classes of streams (composed archives place streams by them); an empty list
   * clears them. All or nothing: NotFoundError when any stream is not published.
   */
  async setStreamClassLists(sessionId: string, items: Array<{ id: string; layoutClassList: string[] }>): Promise<void> {
    if (!Array.isArray(items)) throw new TypeError('items must be an array of {id, layoutClassList}');
    await this.client.request('PUT', `session/${enc(sessionId)}/stream`, { items });
  }

  /** Mutes one stream's audio; its publisher is told (muteForced) and others see hasAudio false. */
  async forceMuteStream(sessionId: string, streamId: string): Promise<void> {
    await this.client.request('POST', `session/${enc(sessionId)}/stream/${enc(streamId)}/mute`, {});
  }

  /**
   * Mutes every stream in the session but the excluded ones; streams published while this is active
   * start muted. Clients get muteForced.
   */
  async forceMuteAll(sessionId: string, options: ForceMuteAllOptions = {}): Promise<void> {
    await this.client.request('POST', `session/${enc(sessionId)}/mute`, { active: true, excludedStreamIds: options.excludedStreamIds ?? [] });
  }

  /**
   * Dials a SIP URI (`sip:user@host`, `;transport=tcp` for TCP): the phone joins the routed session
   * as a connection (the token's data) with an audio stream; the session's audio is mixed for it.
   */
  async dial(sessionId: string, token: string, sipUri: string, options: DialOptions = {}): Promise<SipCall> {
    if (typeof token !== 'string' || token === '') throw new TypeError('dial needs a token for the SIP participant');
    if (typeof sipUri !== 'string' || !/^sips?:/i.test(sipUri)) throw new TypeError('dial needs a sip: URI');
    const { data } = await this.client.request<SipCall>('POST', 'dial', { sessionId, token, sip: { uri: sipUri, ...options } });
    return data;
  }

  /**
   * Starts an Audio Connector: the server opens a WebSocket to `websocketUri` (ws:// or wss://),
   * sends a JSON message (`content-type: audio/l16;rate=…` and the headers), then the session's
   * audio as 20 ms binary frames of 16-bit little-endian PCM; with `bidirectional`, audio sent back
   * on the socket plays into the session. The connector is a connection of the token's data.
   */
  async websocketConnect(sessionId: string, token: string, websocketUri: string, options: WebsocketConnectOptions = {}): Promise<AudioConnection> {
    if (typeof token !== 'string' || token === '') throw new TypeError('websocketConnect needs a token for the connector');
    if (typeof websocketUri !== 'string' || !/^wss?:\/\//i.test(websocketUri)) throw new TypeError('websocketConnect needs a ws:// or wss:// URI');
    const { data } = await this.client.request<AudioConnection>('POST', 'connect', { sessionId, token, websocket: { uri: websocketUri, ...options } });
    return data;
  }

  /** Stops an Audio Connector: its WebSocket is closed and its connection leaves the session. */
  async stopWebsocket(id: string): Promise<void> {
    await this.client.request('POST', `connect/${enc(id)}/stop`);
  }

  /** Plays DTMF digits (0-9, *, #, p for a 500 ms pause) on the session's SIP calls, or on one connection's. */
  async playDTMF(sessionId: string, connectionId: string | null, digits: string): Promise<void> {
    const path = connectionId === null ? `session/${enc(sessionId)}/play-dtmf` : `session/${enc(sessionId)}/connection/${enc(connectionId)}/play-dtmf`;
    await this.client.request('POST', path, { digits });
  }

  /**
   * Starts live captions for a routed session; `token` is a moderator token of the session. Streams
   * whose publishers publish captions are captioned; answers the captions ID. 409 when captions
   * already run for the session.
   */
  async startCaptions(sessionId: string, token: string, options: CaptionsOptions = {}): Promise<string> {
    if (typeof token !== 'string' || token === '') throw new TypeError('startCaptions needs a moderator token of the session');
    const { data } = await this.client.request<{ captionsId: string }>('POST', 'captions', { sessionId, token, ...options });
    return data.captionsId;
  }

  /** Stops live captions. */
  async stopCaptions(captionsId: string): Promise<void> {
    await this.client.request('POST', `captions/${enc(captionsId)}/stop`);
  }

  /** The status of live captions (started, stopped or failed, with the reason they ended). */
  async getCaptions(captionsId: string): Promise<CaptionsStatus> {
    const { data } = await this.client.request<CaptionsStatus>('GET', `captions/${enc(captionsId)}`);
    return data;
  }

  /** Ends forceMuteAll for streams published from now on (streams already muted stay muted). */
  async disableForceMute(sessionId: string): Promise<void> {
    await this.client.request('POST', `session/${enc(sessionId)}/mute`, { active: false });
  }
}

function enc(value: string): string {
  if (typeof value !== 'string' || value === '') throw new TypeError('session and connection IDs must be non-empty strings');
  return encodeURIComponent(value);
}
