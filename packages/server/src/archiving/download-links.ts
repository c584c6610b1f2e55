// Signed, expiring download links for archives (OpenTok's `url`, valid 10 minutes by default): an
// HMAC-SHA256 over the archive id, file and expiry, keyed by a secret kept in the data folder
// (created on first use, readable by the server's user only). Links survive restarts; deleting the
// key file invalidates every link handed out.

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const DOWNLOAD_PATH_PREFIX = '/archive-downloads';

/** The media type of an archive's file (`archive.mp4` or `archive.zip`). */
export function archiveContentType(fileName: string): string {
  return fileName.endsWith('.mp4') ? 'video/mp4' : 'application/zip';
}

/** The file name a download offers: the archive's name (made safe for a header) or its id, with the file's extension. */
export function archiveDownloadName(record: { id: string; name: string | null }, fileName: string): string {
  const base = (record.name ?? '').replace(/[^A-Za-z0-9 ._-]/g, '_').trim() || record.id;
  return `${base}.${fileName.endsWith('.mp4') ? 'mp4' : 'zip'}`;
}

export class DownloadLinks {
  readonly #key: Buffer;
  readonly ttlSeconds: number;

  constructor(key: Buffer, ttlSeconds: number) {
    this.#key = key;
    this.ttlSeconds = ttlSeconds;
  }

  /** Loads `<dataDir>/archive-links.key`, creating it when missing. */
  static open(dataDir: string, ttlSeconds: number): DownloadLinks {
    const path = join(dataDir, 'archive-links.key');
    let key: Buffer;
    try {
      key = Buffer.from(readFileSync(path, 'utf8').trim(), 'hex');
      if (key.length < 32) throw new Error('short key');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' && (err as Error).message !== 'short key') throw err;
      key = randomBytes(32);
      writeFileSync(path, key.toString('hex') + '\n', { mode: 0o600 });
    }
    return new DownloadLinks(key, ttlSeconds);
  }

  #signature(archiveId: string, fileName: string, expires: number): string {
    return createHmac('sha256', this.#key).update(`${archiveId}/${fileName}/${expires}`).digest('base64url');
  }

  /** An absolute link under `baseUrl` (no trailing slash) valid for the configured time. */
  url(baseUrl: string, archiveId: string, fileName: string, nowMs = Date.now()): string {
    const expires = Math.floor(nowMs / 1000) + this.ttlSeconds;
    const signature = this.#signature(archiveId, fileName, expires);
    return `${baseUrl}${DOWNLOAD_PATH_PREFIX}/${archiveId}/${encodeURIComponent(fileName)}?expires=${expires}&signature=${signature}`;
  }

  /** 'ok', or why the link is refused. */
  verify(archiveId: string, fileName: string, expires: string | undefined, signature: string | undefined, nowMs = Date.now()): 'ok' | 'invalid' | 'expired' {
    if (!expires || !signature || !/^\d{1,12}$/.test(expires)) return 'invalid';
    const expected = Buffer.from(this.#signature(archiveId, fileName, Number(expires)));
    const given = Buffer.from(signature);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) return 'invalid';
    return Number(expires) * 1000 < nowMs ? 'expired' : 'ok';
  }
}
