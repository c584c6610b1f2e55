// Archives (recordings) through the REST API: start, stop, get, list, delete, layout, manual
// streams, plus waiting for the file and downloading it. Reached as `colloquy.archives`.

import { createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { NotFoundError, RequestError } from './errors.js';
import { requireId, type RestClient } from './rest-client.js';

export type ArchiveStatus = 'started' | 'paused' | 'stopped' | 'available' | 'failed' | 'deleted' | 'expired' | 'uploaded';
export type ArchiveOutputMode = 'composed' | 'individual';
export type ArchiveStreamMode = 'auto' | 'manual';
export type ArchiveLayoutType = 'bestFit' | 'pip' | 'verticalPresentation' | 'horizontalPresentation' | 'focus' | 'custom';
export type ScreenshareLayoutType = 'bestFit' | 'pip' | 'verticalPresentation' | 'horizontalPresentation';

export interface ArchiveLayout {
  /** bestFit (default), pip, verticalPresentation, horizontalPresentation, focus, or custom. */
  type: ArchiveLayoutType;
  /** CSS for `custom` (selectors on `stream.<class>`). */
  stylesheet?: string;
  /** With `bestFit` only: the layout used while a screen is shared. */
  screenshareType?: ScreenshareLayoutType;
}

export interface StartArchiveOptions {
  /** Shown in lists and used as the download's file name (≤ 80 characters). */
  name?: string;
  /** Record audio (default true). */
  hasAudio?: boolean;
  /** Record video (default true). */
  hasVideo?: boolean;
  /** `composed` (default): one MP4; `individual`: a ZIP of one file per stream with a manifest. */
  outputMode?: ArchiveOutputMode;
  /** `auto` (default): every stream; `manual`: only streams added with `addStream`. */
  streamMode?: ArchiveStreamMode;
  /** Composed only: 640x480 (default), 480x640, 1280x720, 720x1280, 1920x1080 or 1080x1920. */
  resolution?: string;
  /** Composed only (default bestFit). */
  layout?: ArchiveLayout;
  /** Lets a session record several archives at once (one per tag). */
  multiArchiveTag?: string;
  /** Video bitrate cap, bits/s (100000–6000000); not with quantizationParameter. */
  maxBitrate?: number;
  /** Fixed quantizer (15–40); not with maxBitrate. */
  quantizationParameter?: number;
}

/** Where a project's archives are uploaded once available (OpenTok's archive storage). */
export interface ArchiveStorageOptions {
  /** Only `s3` (Amazon S3 or any S3-compatible service). */
  type: 's3';
  config: {
    bucket: string;
    accessKey: string;
    secretKey: string;
    /** Base URL of an S3-compatible service, e.g. `https://minio.example.com:9000`; absent: Amazon S3. */
    endpoint?: string;
    /** `s3`: S3-managed server-side encryption. */
    sse?: 's3' | 'none';
  };
  /** When an upload fails: `opentok` (default) keeps the archive available on the server; `none` fails it and keeps no copy. */
  fallback?: 'none' | 'opentok';
}

/** The storage settings as the server shows them: never the secret key, only its last characters. */
export interface ArchiveStorage {
  type: 's3';
  config: { bucket: string; accessKey: string; endpoint: string | null; sse: 's3' | 'none' | null; secretKeySet: true; secretKeyHint: string };
  fallback: 'none' | 'opentok';
  updatedAt: number;
}

export interface ArchiveStream {
  streamId: string;
  hasAudio: boolean;
  hasVideo: boolean;
}

/** An archive as the server describes it (OpenTok's fields). */
export interface Archive {
  id: string;
  sessionId: string;
  name: string | null;
  status: ArchiveStatus;
  /** Why it stopped or failed ('' while recording). */
  reason: string;
  /** Epoch ms. */
  createdAt: number;
  updatedAt: number;
  /** Seconds (0 while recording). */
  duration: number;
  /** Bytes of the file (0 until available). */
  size: number;
  /** The numeric API key (projects) … */
  partnerId?: number;
  projectId: number | string;
  /** … or the application ID. */
  applicationId?: string;
  hasAudio: boolean;
  hasVideo: boolean;
  outputMode: ArchiveOutputMode;
  streamMode: ArchiveStreamMode;
  /** Composed archives only. */
  resolution?: string;
  multiArchiveTag?: string;
  maxBitrate?: number;
  quantizationParameter?: number;
  /** Signed, expiring download link while `available`; null otherwise. Get the archive again for a fresh one. */
  url: string | null;
  sha256sum?: string;
  /** Streams being recorded (while started). */
  streams: ArchiveStream[];
}

export interface ListArchivesOptions {
  /** Skip this many of the newest (default 0). */
  offset?: number;
  /** At most this many (default 50, max 1000). */
  count?: number;
  /** Only this session's archives. */
  sessionId?: string;
}

export class Archives {
  readonly #client: RestClient;

  constructor(client: RestClient) {
    this.#client = client;
  }

  /** Starts recording a session (clients must be connected; routed sessions only). */
  async start(sessionId: string, options: StartArchiveOptions = {}): Promise<Archive> {
    const { data } = await this.#client.request<Archive>('POST', 'archive', { sessionId: requireId(sessionId, 'sessionId'), ...options });
    return data;
  }

  /** Stops a recording; the archive turns `available` (or `failed`) once its file is made. */
  async stop(archiveId: string): Promise<Archive> {
    const { data } = await this.#client.request<Archive>('POST', `archive/${encodeURIComponent(requireId(archiveId, 'archiveId'))}/stop`, {});
    return data;
  }

  async get(archiveId: string): Promise<Archive> {
    const { data } = await this.#client.request<Archive>('GET', `archive/${encodeURIComponent(requireId(archiveId, 'archiveId'))}`);
    return data;
  }

  /** Newest first; `count` is how many archives match in all. */
  async list(options: ListArchivesOptions = {}): Promise<{ count: number; items: Archive[] }> {
    const query = new URLSearchParams();
    if (options.offset !== undefined) query.set('offset', String(options.offset));
    if (options.count !== undefined) query.set('count', String(options.count));
    if (options.sessionId !== undefined) query.set('sessionId', options.sessionId);
    const qs = query.toString();
    const { data } = await this.#client.request<{ count: number; items: Archive[] }>('GET', `archive${qs ? `?${qs}` : ''}`);
    return data;
  }

  /** Deletes an available (or failed/expired) archive's file. */
  async delete(archiveId: string): Promise<void> {
    await this.#client.request('DELETE', `archive/${encodeURIComponent(requireId(archiveId, 'archiveId'))}`);
  }

  /** Changes a composed archive's layout while it records. */
  async setLayout(archiveId: string, layout: ArchiveLayout): Promise<void> {
    if (layout.screenshareType && layout.type !== 'bestFit') throw new TypeError('screenshareType requires the layout type bestFit');
    await this.#client.request('PUT', `archive/${encodeURIComponent(requireId(archiveId, 'archiveId'))}/layout`, layout);
  }

  /** Manual stream mode: adds a stream, or changes whether its audio and video are recorded. */
  async addStream(archiveId: string, streamId: string, options: { hasAudio?: boolean; hasVideo?: boolean } = {}): Promise<void> {
    await this.#client.request('PATCH', `archive/${encodeURIComponent(requireId(archiveId, 'archiveId'))}/streams`, {
      addStream: requireId(streamId, 'streamId'),
      hasAudio: options.hasAudio ?? true,
      hasVideo: options.hasVideo ?? true,
    });
  }

  /** Manual stream mode: stops recording a stream. */
  async removeStream(archiveId: string, streamId: string): Promise<void> {
    await this.#client.request('PATCH', `archive/${encodeURIComponent(requireId(archiveId, 'archiveId'))}/streams`, { removeStream: requireId(streamId, 'streamId') });
  }

  /** Sets the project's archive storage: archives available from then on are uploaded to the bucket and become `uploaded`. */
  async setStorage(options: ArchiveStorageOptions): Promise<ArchiveStorage> {
    const { data } = await this.#client.request<ArchiveStorage>('PUT', 'archive/storage', options);
    return data;
  }

  /** The project's archive storage, or null when archives stay on the server. */
  async getStorage(): Promise<ArchiveStorage | null> {
    try {
      const { data } = await this.#client.request<ArchiveStorage>('GET', 'archive/storage');
      return data;
    } catch (err) {
      if (err instanceof NotFoundError) return null;
      throw err;
    }
  }

  /** Removes the project's archive storage: archives stay on the server again. */
  async deleteStorage(): Promise<void> {
    await this.#client.request('DELETE', 'archive/storage');
  }

  /** Polls until the archive is available (or failed, deleted, expired), or the timeout passes. */
  async waitUntilReady(archiveId: string, options: { timeoutMs?: number; intervalMs?: number } = {}): Promise<Archive> {
    const deadline = Date.now() + (options.timeoutMs ?? 10 * 60_000);
    for (;;) {
      const archive = await this.get(archiveId);
      if (['available', 'failed', 'deleted', 'expired', 'uploaded'].includes(archive.status)) return archive;
      if (Date.now() > deadline) throw new RequestError(0, `archive ${archiveId} is still ${archive.status}`);
      await new Promise((r) => setTimeout(r, options.intervalMs ?? 1000));
    }
  }

  /** Downloads an available (or uploaded: from its bucket) archive's file to `path` (fetching a fresh link). Returns the bytes written. */
  async download(archiveId: string, path: string): Promise<number> {
    const archive = await this.get(archiveId);
    if ((archive.status !== 'available' && archive.status !== 'uploaded') || !archive.url) throw new RequestError(409, `archive ${archiveId} is ${archive.status}, not available`);
    const response = await fetch(archive.url);
    if (!response.ok || !response.body) throw new RequestError(response.status, `download failed with HTTP ${response.status}`);
    let bytes = 0;
    const body = Readable.fromWeb(response.body as import('node:stream/web').ReadableStream<Uint8Array>);
    body.on('data', (chunk: Buffer) => (bytes += chunk.length));
    await pipeline(body, createWriteStream(path));
    return bytes;
  }
}
