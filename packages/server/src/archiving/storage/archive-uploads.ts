// ArchiveUploads: every archive that becomes `available` in a project with archive storage is
// uploaded to the project's bucket, as OpenTok does, under `{apiKey}/{archiveId}/archive.mp4|zip`.
// Success: the archive becomes `uploaded` (the archive status callback fires, as for every status)
// and its local copy is removed; downloads are then redirected to a presigned link to the object.
// Failure (after bounded retries with exponential backoff for failures worth retrying): with the
// project's fallback `opentok` the archive stays `available` on this server and its `reason` says
// why the upload failed; with `none` it becomes `failed` and no copy is kept here.
// Uploads run off the request path, a few at a time; an upload a stop or crash interrupted is
// still `pending` in the database and starts again at the next start.

import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../logger.js';
import type { SqlDatabase } from '../../store/sql.js';
import type { ArchiveRecord, ArchiveStore } from '../archive-store.js';
import { archiveContentType, archiveDownloadName } from '../download-links.js';
import { describeS3Error, objectKey, presignedDownload, s3Client, uploadFile, UploadError } from './s3-target.js';
import type { ArchiveStorageSettings } from './storage-settings.js';
import { ArchiveStorageStore, type UploadRecord } from './storage-store.js';

export interface ArchiveUploadSettings {
  /** Tries per archive before the fallback applies (1 = no retry). */
  attempts: number;
  /** Wait before the first retry, ms; doubled for each next one, at most MAX_RETRY_DELAY_MS. */
  retryDelayMs: number;
  /** Uploads running at once. */
  concurrency: number;
  /** Lifetime of the presigned link a download is redirected to, seconds. */
  linkTtlSeconds: number;
}

const MAX_RETRY_DELAY_MS = 5 * 60_000;

export interface ArchiveUploadsOptions {
  db: SqlDatabase;
  archives: ArchiveStore;
  /** The folder of an archive's files. */
  dirOf: (archiveId: string) => string;
  logger: Logger;
  settings: ArchiveUploadSettings;
}

export class ArchiveUploads {
  readonly storage: ArchiveStorageStore;
  readonly settings: ArchiveUploadSettings;
  readonly #db: SqlDatabase;
  readonly #archives: ArchiveStore;
  readonly #dirOf: (archiveId: string) => string;
  readonly #log: Logger;
  readonly #queue: string[] = [];
  readonly #running = new Map<string, { abort: AbortController; done: Promise<void> }>();
  #unsubscribe: () => void = () => {};
  #closing = false;

  constructor(options: ArchiveUploadsOptions) {
    this.#db = options.db;
    this.storage = new ArchiveStorageStore(options.db);
    this.#archives = options.archives;
    this.#dirOf = options.dirOf;
    this.#log = options.logger.child({ module: 'archive-uploads' });
    this.settings = options.settings;
  }

  /** Watches for archives becoming available and resumes the uploads a previous run left pending. */
  async start(): Promise<void> {
    this.#unsubscribe = this.#archives.onStatusChange((record, previous) => {
      if (record.status === 'available' && previous !== 'available') {
        this.#onAvailable(record).catch((err: unknown) => this.#log.error({ err, archiveId: record.id }, 'cannot queue the archive upload'));
      }
    });
    for (const upload of await this.storage.pendingUploads()) {
      const record = await this.#archives.get(upload.archiveId);
      if (record?.status === 'available') {
        this.#log.info({ archiveId: upload.archiveId, attempts: upload.attempts }, 'resuming an archive upload a restart interrupted');
        this.#enqueue(upload.archiveId);
      } else {
        await this.storage.updateUpload(upload.archiveId, { state: 'failed', error: `the archive is ${record?.status ?? 'gone'}; nothing to upload` });
      }
    }
  }

  /** The upload of an archive, if it had one. */
  upload(archiveId: string): Promise<UploadRecord | null> {
    return this.storage.upload(archiveId);
  }

  /**
   * Where a download of an uploaded archive goes: a presigned GET link to its object, signed with
   * the project's current storage credentials. Null when the project no longer has storage.
   */
  async downloadUrl(record: ArchiveRecord): Promise<string | null> {
    const upload = await this.storage.upload(record.id);
    const settings = await this.storage.get(record.projectId);
    if (!upload || upload.state !== 'uploaded' || !settings || !record.fileName) return null;
    const client = s3Client({ ...settings, endpoint: upload.endpoint });
    try {
      return await presignedDownload(client, upload.bucket, upload.objectKey, this.settings.linkTtlSeconds, archiveDownloadName(record, record.fileName), archiveContentType(record.fileName));
    } finally {
      client.destroy();
    }
  }

  /** Stops an archive's upload (the archive is being deleted): it is not retried. */
  async cancel(archiveId: string): Promise<void> {
    const i = this.#queue.indexOf(archiveId);
    if (i >= 0) this.#queue.splice(i, 1);
    const running = this.#running.get(archiveId);
    running?.abort.abort();
    await running?.done;
    if ((await this.storage.upload(archiveId))?.state === 'pending') await this.storage.updateUpload(archiveId, { state: 'failed', error: 'the archive was deleted before its upload finished' });
  }

  async #onAvailable(record: ArchiveRecord): Promise<void> {
    if (this.#closing || !record.fileName) return;
    const settings = await this.storage.get(record.projectId);
    if (!settings || this.#closing) return;
    await this.storage.addUpload(record.id, { bucket: settings.bucket, endpoint: settings.endpoint, objectKey: objectKey(record.projectId, record.id, record.fileName) });
    this.#enqueue(record.id);
  }

  #enqueue(archiveId: string): void {
    if (this.#queue.includes(archiveId) || this.#running.has(archiveId)) return;
    this.#queue.push(archiveId);
    this.#pump();
  }

  #pump(): void {
    while (!this.#closing && this.#running.size < this.settings.concurrency && this.#queue.length > 0) {
      const id = this.#queue.shift()!;
      const abort = new AbortController();
      const done = this.#run(id, abort.signal)
        .catch((err: unknown) => this.#log.error({ err, archiveId: id }, 'archive upload crashed; it is retried at the next start'))
        .finally(() => {
          this.#running.delete(id);
          this.#pump();
        });
      this.#running.set(id, { abort, done });
    }
  }

  async #run(archiveId: string, signal: AbortSignal): Promise<void> {
    const log = this.#log.child({ archiveId });
    const attempts = Math.max(1, this.settings.attempts);
    let attempt = (await this.storage.upload(archiveId))?.attempts ?? 0;
    for (;;) {
      const record = await this.#archives.get(archiveId);
      if (!record || record.status !== 'available' || !record.fileName) {
        await this.storage.updateUpload(archiveId, { state: 'failed', error: `the archive is ${record?.status ?? 'gone'}; nothing to upload` });
        return;
      }
      const settings = await this.storage.get(record.projectId);
      if (!settings) {
        await this.#giveUp(record, null, new UploadError('the project\'s archive storage was removed before the upload finished', false), log);
        return;
      }
      attempt++;
      const key = objectKey(record.projectId, record.id, record.fileName);
      await this.storage.updateUpload(archiveId, { attempts: attempt, bucket: settings.bucket, endpoint: settings.endpoint });
      const started = performance.now();
      const client = s3Client(settings);
      try {
        await uploadFile(
          client,
          { bucket: settings.bucket, key, path: join(this.#dirOf(archiveId), record.fileName), size: record.size, contentType: archiveContentType(record.fileName), sse: settings.sse },
          signal,
        );
        const ms = Math.round(performance.now() - started);
        await this.#succeed(record, record.size, ms);
        log.info({ bucket: settings.bucket, key, bytes: record.size, ms, attempt, mbPerSecond: +(record.size / 1048576 / (ms / 1000)).toFixed(1) }, 'archive uploaded');
        await rm(this.#dirOf(archiveId), { recursive: true, force: true });
        return;
      } catch (err) {
        if (signal.aborted) {
          log.info('archive upload interrupted; it resumes at the next start');
          return;
        }
        const failure = describeS3Error(err);
        await this.storage.updateUpload(archiveId, { error: failure.message.slice(0, 1000) });
        if (!failure.transient || attempt >= attempts) {
          await this.#giveUp(record, settings, failure, log, attempt);
          return;
        }
        const delay = Math.min(MAX_RETRY_DELAY_MS, this.settings.retryDelayMs * 2 ** (attempt - 1));
        log.warn({ attempt, of: attempts, retryInMs: delay, reason: failure.message }, 'archive upload failed; retrying');
        if (!(await sleep(delay, signal))) return;
      } finally {
        client.destroy();
      }
    }
  }

  async #succeed(record: ArchiveRecord, bytes: number, ms: number): Promise<void> {
    await this.#db.transaction(async (tx) => {
      await this.storage.updateUpload(record.id, { state: 'uploaded', bytes, uploadMs: ms, error: null }, tx);
      await this.#archives.update(record.id, { status: 'uploaded' }, tx);
    });
  }

  /** The fallback: `opentok` keeps the archive available here, `none` fails it and removes the local copy. */
  async #giveUp(record: ArchiveRecord, settings: ArchiveStorageSettings | null, failure: UploadError, log: Logger, attempt?: number): Promise<void> {
    // Deleted or expired meanwhile: nothing left to fall back on.
    if ((await this.#archives.get(record.id))?.status !== 'available') {
      await this.storage.updateUpload(record.id, { state: 'failed', error: failure.message.slice(0, 1000) });
      return;
    }
    const where = settings ? `bucket "${settings.bucket}"` : 'the bucket';
    const tries = attempt && attempt > 1 ? ` after ${attempt} attempts` : '';
    const fallback = settings?.fallback ?? 'opentok';
    if (fallback === 'opentok') {
      const reason = `upload to ${where} failed${tries}: ${failure.message}; the archive stays available on this server (fallback "opentok")`;
      await this.#db.transaction(async (tx) => {
        await this.storage.updateUpload(record.id, { state: 'failed', error: failure.message.slice(0, 1000) }, tx);
        await this.#archives.update(record.id, { reason: reason.slice(0, 1000) }, tx);
      });
      log.warn({ reason: failure.message, fallback }, 'archive upload failed; the archive stays available here');
      return;
    }
    const reason = `upload to ${where} failed${tries}: ${failure.message}; no copy was kept (fallback "none")`;
    await this.#db.transaction(async (tx) => {
      await this.storage.updateUpload(record.id, { state: 'failed', error: failure.message.slice(0, 1000) }, tx);
      await this.#archives.update(record.id, { status: 'failed', reason: reason.slice(0, 1000), fileName: null }, tx);
    });
    log.error({ reason: failure.message, fallback }, 'archive upload failed; the archive failed and its local copy is removed');
    void rm(this.#dirOf(record.id), { recursive: true, force: true }).catch((err: unknown) => log.warn({ err }, 'cannot remove the local copy'));
  }

  /** Interrupts running uploads (they stay pending and resume at the next start). Idempotent. */
  async close(): Promise<void> {
    this.#closing = true;
    this.#unsubscribe();
    this.#queue.length = 0;
    const running = [...this.#running.values()];
    for (const r of running) r.abort.abort();
    await Promise.all(running.map((r) => r.done));
  }
}

/** Waits `ms`; false when aborted first. */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(false);
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

