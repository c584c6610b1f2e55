// The ZIP of an individual archive (its per-stream files and manifest.json), written by yazl:
// streamed from disk, stored without compression (recorded media does not compress), ZIP64
// records where a size or offset needs them. The file is created exclusively and fsynced before
// its size is returned, because the archive is marked available right after.

import { createWriteStream } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ZipFile } from 'yazl';

export interface ZipEntry {
  /** Name inside the ZIP (UTF-8, relative: yazl refuses a leading slash or `..`). */
  name: string;
  /** A file to copy in, or the bytes themselves. */
  path?: string;
  data?: Buffer;
}

/** Writes `entries` to a new ZIP at `path`; returns its size. `forceZip64` is for tests. */
export async function writeZip(path: string, entries: ZipEntry[], options: { forceZip64?: boolean; now?: Date } = {}): Promise<number> {
  const zip = new ZipFile();
  // yazl reports a file it cannot read on the ZipFile, not on its output stream.
  const failed = new Promise<never>((_resolve, reject) => zip.on('error', reject));
  const forceZip64Format = options.forceZip64 ?? false;
  const entryOptions = { mtime: options.now ?? new Date(), mode: 0o100644, compress: false, forceZip64Format };
  for (const entry of entries) {
    if (entry.data) zip.addBuffer(entry.data, entry.name, entryOptions);
    else if (entry.path) zip.addFile(entry.path, entry.name, entryOptions);
    else throw new Error(`ZIP entry ${entry.name} has neither data nor a path`);
  }
  zip.end({ forceZip64Format, comment: '' });
  const output = zip.outputStream as Readable;
  const out = createWriteStream(path, { flags: 'wx' });
  let created = false;
  out.once('open', () => (created = true));
  const written = pipeline(output, out);
  try {
    await Promise.race([written, failed]);
  } catch (err) {
    // Nothing is left behind: the pipeline ended, the file closed, and a partial ZIP (never one
    // that was there before: 'wx') removed, all before the caller hears of the failure.
    output.destroy();
    await written.catch(() => {});
    if (!out.closed) await new Promise<void>((resolve) => out.once('close', () => resolve()));
    if (created) await rm(path, { force: true });
    throw err;
  }
  const file = await open(path, 'r+');
  try {
    await file.sync();
    return (await file.stat()).size;
  } finally {
    await file.close();
  }
}
