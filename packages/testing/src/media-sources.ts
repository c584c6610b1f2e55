// Real encoded media for Node-side media tests and benchmarks, made by Debian's ffmpeg at setup:
// VP8 frames (from an IVF file) and Opus packets (from an Ogg file), plus the RTP packetizing a
// browser would do. Nothing binary is committed; files go to a temp folder.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface EncodedFrame {
  data: Buffer;
  keyFrame: boolean;
}

export interface TestMedia {
  /** 640x480 VP8 at 30 fps, a keyframe every `gop` frames. */
  vp8: EncodedFrame[];
  /** Opus, 20 ms per packet, 48 kHz. */
  opus: Buffer[];
}

let cached: Map<string, TestMedia> | undefined;

/** Encodes (once per process and settings) a few seconds of test pattern and tone with ffmpeg. */
export function makeTestMedia(options: { seconds?: number; gop?: number; bitrate?: string } = {}): TestMedia {
  const seconds = options.seconds ?? 3;
  const gop = options.gop ?? 30;
  const bitrate = options.bitrate ?? '1M';
  const key = `${seconds}/${gop}/${bitrate}`;
  cached ??= new Map();
  const hit = cached.get(key);
  if (hit) return hit;
  const dir = mkdtempSync(join(tmpdir(), 'colloquy-media-'));
  const ivf = join(dir, 'video.ivf');
  const ogg = join(dir, 'audio.ogg');
  const quiet = ['-hide_banner', '-loglevel', 'error', '-y'];
  execFileSync('ffmpeg', [
    ...quiet,
    '-f', 'lavfi', '-i', `testsrc=size=640x480:rate=30:duration=${seconds}`,
    '-c:v', 'libvpx', '-b:v', bitrate, '-g', String(gop), '-keyint_min', String(gop), '-deadline', 'realtime', '-cpu-used', '8',
    '-f', 'ivf', ivf,
  ]);
  execFileSync('ffmpeg', [
    ...quiet,
    '-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=48000:duration=${seconds}`,
    '-c:a', 'libopus', '-b:a', '32k', '-frame_duration', '20', '-f', 'ogg', ogg,
  ]);
  if (!existsSync(ivf) || !existsSync(ogg)) throw new Error('ffmpeg made no output');
  const media = { vp8: readIvf(readFileSync(ivf)), opus: readOggOpus(readFileSync(ogg)) };
  cached.set(key, media);
  return media;
}

/** Frames of an IVF file (32-byte file header, then 12-byte frame headers). */
export function readIvf(file: Buffer): EncodedFrame[] {
  if (file.toString('latin1', 0, 4) !== 'DKIF') throw new Error('not an IVF file');
  const frames: EncodedFrame[] = [];
  let o = file.readUInt16LE(6);
  while (o + 12 <= file.length) {
    const size = file.readUInt32LE(o);
    const data = file.subarray(o + 12, o + 12 + size);
    frames.push({ data, keyFrame: (data[0]! & 0x01) === 0 });
    o += 12 + size;
  }
  return frames;
}

/** Opus packets of an Ogg file, without the two header packets (OpusHead, OpusTags). */
export function readOggOpus(file: Buffer): Buffer[] {
  const packets: Buffer[] = [];
  let partial: Buffer[] = [];
  let o = 0;
  while (o + 27 <= file.length && file.toString('latin1', o, o + 4) === 'OggS') {
    const segments = file[o + 26]!;
    const table = file.subarray(o + 27, o + 27 + segments);
    let p = o + 27 + segments;
    for (const len of table) {
      partial.push(file.subarray(p, p + len));
      p += len;
      if (len < 255) {
        packets.push(Buffer.concat(partial));
        partial = [];
      }
    }
    o = p;
  }
  return packets.filter((p) => !p.subarray(0, 8).toString('latin1').startsWith('Opus'));
}

/** RTP payloads of one VP8 frame (RFC 7741 descriptor: S bit on the first, PID 0), at most `mtu` bytes each. */
export function packetizeVp8(frame: Buffer, mtu = 1100): Buffer[] {
  const out: Buffer[] = [];
  for (let o = 0; o < frame.length; o += mtu) {
    const chunk = frame.subarray(o, Math.min(frame.length, o + mtu));
    out.push(Buffer.concat([Buffer.from([o === 0 ? 0x10 : 0x00]), chunk]));
  }
  return out;
}
