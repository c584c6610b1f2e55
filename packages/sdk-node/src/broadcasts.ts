// Live streaming broadcasts through the REST API: start (HLS and/or up to five RTMP targets), stop,
// get, list, layout, manual streams. Reached as `colloquy.broadcasts`.

import type { ArchiveLayout } from './archives.js';
import type { RestClient } from './rest-client.js';

export type RtmpStatus = 'connecting' | 'live' | 'offline' | 'error';

export interface RtmpTarget {
  /** Your name for the target (echoed back with its status). */
  id?: string;
  /** `rtmp://` or `rtmps://` URL of the ingest server (without the stream name). */
  serverUrl: string;
  streamName: string;
}

export interface StartBroadcastOptions {
  outputs: {
    /** HLS served by the Colloquy server; `dvr` keeps up to 2 hours, `lowLatency` cuts 1 s segments (not both). */
    hls?: { dvr?: boolean; lowLatency?: boolean };
    /** Up to five RTMP destinations. */
    rtmp?: RtmpTarget[];
  };
  /** Seconds, 60 to 36000 (default 14400). */
  maxDuration?: number;
  /** Video bits per second, 100000 to 6000000. */
  maxBitrate?: number;
  /** 640x480 (default), 480x640, 1280x720, 720x1280, 1920x1080 or 1080x1920. */
  resolution?: string;
  layout?: ArchiveLayout;
  /** `auto` (default): every stream; `manual`: only streams added with `addStream`. */
  streamMode?: 'auto' | 'manual';
  /** Lets a session have several broadcasts at once (one per tag). */
  multiBroadcastTag?: string;
  hasAudio?: boolean;
  hasVideo?: boolean;
}

/** A broadcast as the server describes it (OpenTok's fields). */
export interface Broadcast {
  id: string;
  sessionId: string;
  projectId: number | string;
  createdAt: number;
  updatedAt: number;
  resolution: string;
  status: 'started' | 'stopped';
  streamMode: 'auto' | 'manual';
  hasAudio: boolean;
  hasVideo: boolean;
  maxDuration: number;
  maxBitrate?: number;
  multiBroadcastTag?: string;
  settings: { hls: { lowLatency?: boolean; dvr?: boolean } };
  broadcastUrls: { hls?: string; hlsStatus?: string; rtmp: Array<Required<RtmpTarget> & { status: RtmpStatus }> };
  streams: Array<{ streamId: string; hasAudio: boolean; hasVideo: boolean }>;
}

function requireId(value: unknown, what: string): string {
  if (typeof value !== 'string' || value === '') throw new TypeError(`${what} is required`);
  return value;
}

export class Broadcasts {
  readonly #client: RestClient;

  constructor(client: RestClient) {
    this.#client = client;
  }

  /** Starts broadcasting a routed session with connected clients. */
  async start(sessionId: string, options: StartBroadcastOptions): Promise<Broadcast> {
    if (!options?.outputs || (!options.outputs.hls && !options.outputs.rtmp?.length)) throw new TypeError('outputs needs hls, rtmp, or both');
    const { data } = await this.#client.request<Broadcast>('POST', 'broadcast', { sessionId: requireId(sessionId, 'sessionId'), ...options });
    return data;
  }

  /** Stops a broadcast: RTMP targets go `offline`, the HLS playlist ends. */
  async stop(broadcastId: string): Promise<Broadcast> {
    const { data } = await this.#client.request<Broadcast>('POST', `broadcast/${encodeURIComponent(requireId(broadcastId, 'broadcastId'))}/stop`, {});
    return data;
  }

  async get(broadcastId: string): Promise<Broadcast> {
    const { data } = await this.#client.request<Broadcast>('GET', `broadcast/${encodeURIComponent(requireId(broadcastId, 'broadcastId'))}`);
    return data;
  }

  /** Newest first; `count` is how many broadcasts match in all. */
  async list(options: { offset?: number; count?: number; sessionId?: string } = {}): Promise<{ count: number; items: Broadcast[] }> {
    const params = new URLSearchParams();
    if (options.offset !== undefined) params.set('offset', String(options.offset));
    if (options.count !== undefined) params.set('count', String(options.count));
    if (options.sessionId !== undefined) params.set('sessionId', options.sessionId);
    const qs = params.toString();
    const { data } = await this.#client.request<{ count: number; items: Broadcast[] }>('GET', `broadcast${qs ? `?${qs}` : ''}`);
    return data;
  }

  /** Changes the layout while the broadcast runs. */
  async setLayout(broadcastId: string, layout: ArchiveLayout): Promise<Broadcast> {
    if (layout.screenshareType && layout.type !== 'bestFit') throw new TypeError('screenshareType requires the layout type bestFit');
    const { data } = await this.#client.request<Broadcast>('PUT', `broadcast/${encodeURIComponent(requireId(broadcastId, 'broadcastId'))}/layout`, layout);
    return data;
  }

  /** Manual stream mode: adds a stream, or changes whether its audio and video are included. */
  async addStream(broadcastId: string, streamId: string, options: { hasAudio?: boolean; hasVideo?: boolean } = {}): Promise<void> {
    await this.#client.request('PATCH', `broadcast/${encodeURIComponent(requireId(broadcastId, 'broadcastId'))}/streams`, {
      addStream: requireId(streamId, 'streamId'),
      hasAudio: options.hasAudio ?? true,
      hasVideo: options.hasVideo ?? true,
    });
  }

  /** Manual stream mode: removes a stream from the broadcast. */
  async removeStream(broadcastId: string, streamId: string): Promise<void> {
    await this.#client.request('PATCH', `broadcast/${encodeURIComponent(requireId(broadcastId, 'broadcastId'))}/streams`, { removeStream: requireId(streamId, 'streamId') });
  }
}
