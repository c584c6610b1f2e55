// A store-only ZIP writer (APPNOTE 6.3.x) for individual archives: recorded media does not
// compress, so entries are stored as they are, streamed from disk with their CRC-32 patched into
// the local header afterwards. ZIP64 records are used when a size or offset needs them.

import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { crc32 } from 'node:zlib';

export interface ZipEntry {
  /** Name inside the ZIP (ASCII/UTF-8, no leading slash). */
  name: string;
  /** A file to copy in, or the bytes themselves. */
  path?: string;
  data?: Buffer;
}

const MAX32 = 0xffffffff;

interface Written {
  name: Buffer;
  crc: number;
  size: number;
  offset: number;
}

/** DOS date and time of `date` (local time, as unzip shows it). */
function dosDateTime(date: Date): { time: number; date: number } {
  return {
    time: (date.getHours() << 11) | (date.getMinutes() << 5) | Math.floor(date.getSeconds() / 2),
    date: (Math.max(0, date.getFullYear() - 1980) << 9) | ((date.getMonth() + 1) << 5) | date.getDate(),
  };
}

/** Writes `entries` to a new ZIP at `path`; returns its size. `forceZip64` is for tests. */
export async function writeZip(path: string, entries: ZipEntry[], options: { forceZip64?: boolean; now?: Date } = {}): Promise<number> {
  const file = await open(path, 'wx');
  const { time, date } = dosDateTime(options.now ?? new Date());
  const written: Written[] = [];
  let offset = 0;
  try {
    for (const entry of entries) {
      if (entry.name === '' || entry.name.startsWith('/') || entry.name.includes('..')) throw new Error(`bad ZIP entry name ${entry.name}`);
      const name = Buffer.from(entry.name, 'utf8');
      const size = entry.data ? entry.data.length : (await stat(entry.path!)).size;
      const zip64 = options.forceZip64 || size >= MAX32 || offset >= MAX32;
      // Local header; sizes are known up front, the CRC is patched once the data has passed.
      const extra = zip64 ? zip64Extra([size, size]) : Buffer.alloc(0);
      const header = Buffer.alloc(30);
      header.writeUInt32LE(0x04034b50, 0);
      header.writeUInt16LE(zip64 ? 45 : 20, 4);
      header.writeUInt16LE(0x0800, 6); // UTF-8 names
      header.writeUInt16LE(0, 8); // stored
      header.writeUInt16LE(time, 10);
      header.writeUInt16LE(date, 12);
      header.writeUInt32LE(0, 14); // CRC, patched below
      header.writeUInt32LE(zip64 ? MAX32 : size, 18);
      header.writeUInt32LE(zip64 ? MAX32 : size, 22);
      header.writeUInt16LE(name.length, 26);
      header.writeUInt16LE(extra.length, 28);
      const headerOffset = offset;
      const head = Buffer.concat([header, name, extra]);
      await file.write(head, 0, head.length, offset);
      offset += head.length;
      let crc = 0;
      if (entry.data) {
        crc = crc32(entry.data);
        await file.write(entry.data, 0, entry.data.length, offset);
        offset += entry.data.length;
      } else {
        for await (const chunk of createReadStream(entry.path!, { highWaterMark: 1024 * 1024 })) {
          const buf = chunk as Buffer;
          crc = crc32(buf, crc);
          await file.write(buf, 0, buf.length, offset);
          offset += buf.length;
        }
      }
      const crcBuf = Buffer.alloc(4);
      crcBuf.writeUInt32LE(crc >>> 0);
      await file.write(crcBuf, 0, 4, headerOffset + 14);
      written.push({ name, crc: crc >>> 0, size, offset: headerOffset });
    }

    const centralStart = offset;
    for (const w of written) {
      const zip64 = options.forceZip64 || w.size >= MAX32 || w.offset >= MAX32;
      const extra = zip64 ? zip64Extra([w.size, w.size, w.offset]) : Buffer.alloc(0);
      const cd = Buffer.alloc(46);
      cd.writeUInt32LE(0x02014b50, 0);
      cd.writeUInt16LE((3 << 8) | 45, 4); // made by: Unix, 4.5
      cd.writeUInt16LE(zip64 ? 45 : 20, 6);
      cd.writeUInt16LE(0x0800, 8);
      cd.writeUInt16LE(0, 10);
      cd.writeUInt16LE(time, 12);
      cd.writeUInt16LE(date, 14);
      cd.writeUInt32LE(w.crc, 16);
      cd.writeUInt32LE(zip64 ? MAX32 : w.size, 20);
      cd.writeUInt32LE(zip64 ? MAX32 : w.size, 24);
      cd.writeUInt16LE(w.name.length, 28);
      cd.writeUInt16LE(extra.length, 30);
      cd.writeUInt16LE(0, 32);
      cd.writeUInt16LE(0, 34);
      cd.writeUInt16LE(0, 36);
      cd.writeUInt32LE((0o100644 << 16) >>> 0, 38); // -rw-r--r--
      cd.writeUInt32LE(zip64 ? MAX32 : w.offset, 42);
      const record = Buffer.concat([cd, w.name, extra]);
      await file.write(record, 0, record.length, offset);
      offset += record.length;
    }
    const centralSize = offset - centralStart;
    const needZip64End = options.forceZip64 || centralStart >= MAX32 || written.length >= 0xffff || written.some((w) => w.size >= MAX32 || w.offset >= MAX32);
    const tail: Buffer[] = [];
    if (needZip64End) {
      const end64 = Buffer.alloc(56);
      end64.writeUInt32LE(0x06064b50, 0);
      end64.writeBigUInt64LE(44n, 4);
      end64.writeUInt16LE((3 << 8) | 45, 12);
      end64.writeUInt16LE(45, 14);
      end64.writeUInt32LE(0, 16);
      end64.writeUInt32LE(0, 20);
      end64.writeBigUInt64LE(BigInt(written.length), 24);
      end64.writeBigUInt64LE(BigInt(written.length), 32);
      end64.writeBigUInt64LE(BigInt(centralSize), 40);
      end64.writeBigUInt64LE(BigInt(centralStart), 48);
      const locator = Buffer.alloc(20);
      locator.writeUInt32LE(0x07064b50, 0);
      locator.writeUInt32LE(0, 4);
      locator.writeBigUInt64LE(BigInt(offset), 8);
      locator.writeUInt32LE(1, 16);
      tail.push(end64, locator);
    }
    const end = Buffer.alloc(22);
    end.writeUInt32LE(0x06054b50, 0);
    end.writeUInt16LE(needZip64End ? 0xffff : written.length, 8);
    end.writeUInt16LE(needZip64End ? 0xffff : written.length, 10);
    end.writeUInt32LE(needZip64End ? MAX32 : centralSize, 12);
    end.writeUInt32LE(needZip64End ? MAX32 : centralStart, 16);
    end.writeUInt16LE(0, 20);
    tail.push(end);
    const tailBuf = Buffer.concat(tail);
    await file.write(tailBuf, 0, tailBuf.length, offset);
    offset += tailBuf.length;
    await file.sync();
    return offset;
  } finally {
    await file.close();
  }
}

function zip64Extra(values: number[]): Buffer {
  const buf = Buffer.alloc(4 + values.length * 8);
  buf.writeUInt16LE(0x0001, 0);
  buf.writeUInt16LE(values.length * 8, 2);
  values.forEach((v, i) => buf.writeBigUInt64LE(BigInt(v), 4 + i * 8));
  return buf;
}
