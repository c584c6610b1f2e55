// A Matroska/WebM file written incrementally so that a crash loses at most the cluster being filled:
// the header goes to disk first with an unknown-size Segment, every cluster is written whole (with
// its size) as soon as it closes, and finalizing adds the Cues, the Duration and a SeekHead in
// space reserved for them. `scanMatroska` reads back a file a crash left unfinished (truncating a
// torn cluster) so that `finalizeMatroska` can complete it exactly as a normal stop would.

import { randomInt } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import {
  ID,
  UNKNOWN_SIZE_8,
  element,
  encodeId,
  encodeSizeFixed,
  float64,
  readId,
  readSize,
  readUInt,
  string,
  uint,
  uint64Fixed,
  voidElement,
} from './ebml.js';

export type MatroskaCodec = 'VP8' | 'H264' | 'opus';

export interface MatroskaTrack {
  /** 1-based track number. */
  number: number;
  kind: 'audio' | 'video';
  codec: MatroskaCodec;
  /** Video: picture size from the first keyframe. */
  width?: number;
  height?: number;
  /** H.264: the AVCDecoderConfigurationRecord; Opus: OpusHead (built here when absent). */
  codecPrivate?: Buffer;
  /** Audio: channels (default 2) and sample rate (default 48000). */
  channels?: number;
  sampleRate?: number;
}

export interface CuePoint {
  timeMs: number;
  track: number;
  /** Cluster position relative to the start of the Segment's data. */
  clusterPosition: number;
}

/** Where the writer left room to fill in at the end, and what the finalizer needs. */
export interface MatroskaLayout {
  /** File offset of the Segment's 8-byte size field. */
  segmentSizeOffset: number;
  /** File offset of the first byte of the Segment's data (positions in SeekHead/Cues are relative to it). */
  segmentDataStart: number;
  /** File offset and length of the Void reserved for the SeekHead. */
  seekSlot: { offset: number; length: number };
  /** File offset of the 11-byte Void reserved for Info/Duration. */
  durationSlotOffset: number;
  infoOffset: number;
  tracksOffset: number;
  /** File offset and length of each TrackEntry, by track number (a track left empty is voided). */
  trackEntries: Map<number, { offset: number; length: number }>;
}

const SEEK_SLOT_BYTES = 96;
const DURATION_SLOT_BYTES = 11; // Duration: 2-byte ID + 1-byte size + 8-byte float
/** A cluster closes once it spans this long (and at every video keyframe). */
export const MAX_CLUSTER_MS = 500;
const MAX_RELATIVE_MS = 32_000; // SimpleBlock timestamps are signed 16-bit, relative to the cluster

const CODEC_IDS: Record<MatroskaCodec, string> = { VP8: 'V_VP8', H264: 'V_MPEG4/ISO/AVC', opus: 'A_OPUS' };

/** OpusHead (RFC 7845 §5.1) as Matroska's A_OPUS CodecPrivate. Pre-skip 0: RTP Opus has no encoder delay to drop. */
export function opusHead(channels: number, sampleRate: number): Buffer {
  const head = Buffer.alloc(19);
  head.write('OpusHead', 0, 'ascii');
  head[8] = 1;
  head[9] = channels;
  head.writeUInt16LE(0, 10);
  head.writeUInt32LE(sampleRate, 12);
  head.writeInt16LE(0, 16);
  head[18] = 0;
  return head;
}

function trackEntry(track: MatroskaTrack): Buffer {
  const children: Buffer[] = [
    uint(ID.TrackNumber, track.number),
    uint(ID.TrackUID, randomInt(1, 2 ** 47)),
    uint(ID.TrackType, track.kind === 'video' ? 1 : 2),
    uint(ID.FlagLacing, 0),
    string(ID.CodecID, CODEC_IDS[track.codec]),
  ];
  if (track.kind === 'video') {
    if (track.codecPrivate) children.push(element(ID.CodecPrivate, track.codecPrivate));
    children.push(element(ID.Video, [uint(ID.PixelWidth, track.width || 640), uint(ID.PixelHeight, track.height || 480)]));
  } else {
    const channels = track.channels ?? 2;
    const sampleRate = track.sampleRate ?? 48_000;
    children.push(element(ID.CodecPrivate, track.codecPrivate ?? opusHead(channels, sampleRate)));
    children.push(uint(ID.SeekPreRoll, 80_000_000));
    children.push(element(ID.Audio, [float64(ID.SamplingFrequency, sampleRate), uint(ID.Channels, channels)]));
  }
  return element(ID.TrackEntry, children);
}

/** Builds the file head; returns it with the offsets of the parts finalizing rewrites. */
export function buildHeader(docType: 'webm' | 'matroska', tracks: MatroskaTrack[]): { bytes: Buffer; layout: MatroskaLayout } {
  const ebml = element(ID.EBML, [
    uint(ID.EBMLVersion, 1),
    uint(ID.EBMLReadVersion, 1),
    uint(ID.EBMLMaxIDLength, 4),
    uint(ID.EBMLMaxSizeLength, 8),
    string(ID.DocType, docType),
    uint(ID.DocTypeVersion, 4),
    uint(ID.DocTypeReadVersion, 2),
  ]);
  const segmentHead = Buffer.concat([encodeId(ID.Segment), UNKNOWN_SIZE_8]);
  const seekSlot = voidElement(SEEK_SLOT_BYTES);
  const infoChildren = [uint(ID.TimestampScale, 1_000_000), string(ID.MuxingApp, 'Colloquy'), string(ID.WritingApp, 'Colloquy')];
  const infoBodyBeforeDuration = Buffer.concat(infoChildren);
  const info = element(ID.Info, [infoBodyBeforeDuration, voidElement(DURATION_SLOT_BYTES)]);
  const entries = tracks.map(trackEntry);
  const tracksEl = element(ID.Tracks, entries);

  const segmentSizeOffset = ebml.length + 4;
  const segmentDataStart = ebml.length + segmentHead.length;
  const infoOffset = segmentDataStart + seekSlot.length;
  // The Info element's own header: 4-byte ID + its size field.
  const infoHeaderLength = info.length - infoBodyBeforeDuration.length - DURATION_SLOT_BYTES;
  const tracksOffset = infoOffset + info.length;
  const trackEntries = new Map<number, { offset: number; length: number }>();
  let entryOffset = tracksOffset + tracksEl.length - entries.reduce((n, e) => n + e.length, 0);
  tracks.forEach((track, i) => {
    trackEntries.set(track.number, { offset: entryOffset, length: entries[i]!.length });
    entryOffset += entries[i]!.length;
  });
  const layout: MatroskaLayout = {
    segmentSizeOffset,
    segmentDataStart,
    seekSlot: { offset: segmentDataStart, length: SEEK_SLOT_BYTES },
    durationSlotOffset: infoOffset + infoHeaderLength + infoBodyBeforeDuration.length,
    infoOffset,
    tracksOffset,
    trackEntries,
  };
  return { bytes: Buffer.concat([ebml, segmentHead, seekSlot, info, tracksEl]), layout };
}

interface OpenCluster {
  timestampMs: number;
  blocks: Buffer[];
  bytes: number;
  startsWithVideoKey: boolean;
}

/**
 * Writes one Matroska/WebM file. Frames must come in non-decreasing timestamp order overall (the
 * recorder interleaves its tracks); each cluster is written with one write(2) when it closes, so a
 * killed process leaves whole clusters behind.
 */
export class MatroskaWriter {
  readonly path: string;
  readonly tracks: readonly MatroskaTrack[];
  readonly #file: FileHandle;
  readonly #layout: MatroskaLayout;
  #position: number;
  #cluster: OpenCluster | null = null;
  readonly #cues: CuePoint[] = [];
  readonly #cueTrack: number;
  /** Per track: last timestamp written and the gap before it (to estimate the last frame's length). */
  readonly #last = new Map<number, { ts: number; step: number }>();
  #writes: Promise<void> = Promise.resolve();
  #writeError: Error | null = null;
  #finalized = false;

  private constructor(path: string, file: FileHandle, tracks: MatroskaTrack[], layout: MatroskaLayout, headerLength: number) {
    this.path = path;
    this.#file = file;
    this.tracks = tracks;
    this.#layout = layout;
    this.#position = headerLength;
    this.#cueTrack = (tracks.find((t) => t.kind === 'video') ?? tracks[0]!).number;
  }

  /** Creates the file (it must not exist) and writes its head. */
  static async create(path: string, docType: 'webm' | 'matroska', tracks: MatroskaTrack[]): Promise<MatroskaWriter> {
    if (tracks.length === 0) throw new Error('a Matroska file needs at least one track');
    const { bytes, layout } = buildHeader(docType, tracks);
    const file = await open(path, 'wx');
    try {
      await file.write(bytes, 0, bytes.length, 0);
    } catch (err) {
      await file.close().catch(() => {});
      throw err;
    }
    const writer = new MatroskaWriter(path, file, tracks, layout, bytes.length);
    return writer;
  }

  /** Bytes on disk (or queued for it). */
  get size(): number {
    return this.#position;
  }

  /** Track numbers that received at least one frame. */
  get tracksWithFrames(): Set<number> {
    return new Set(this.#last.keys());
  }

  /** Timestamp of the last frame written, or -1. */
  get lastTimestampMs(): number {
    let last = -1;
    for (const { ts } of this.#last.values()) last = Math.max(last, ts);
    return last;
  }

  /** Adds one frame. `timestampMs` is relative to the file start; `keyframe` matters for video. */
  addFrame(trackNumber: number, timestampMs: number, data: Buffer, keyframe: boolean): void {
    if (this.#finalized) throw new Error('writer is finalized');
    const track = this.tracks.find((t) => t.number === trackNumber);
    if (!track) throw new Error(`no track ${trackNumber}`);
    const ts = Math.max(0, Math.round(timestampMs));
    const isVideoKey = track.kind === 'video' && keyframe;
    let cluster = this.#cluster;
    if (cluster) {
      const span = ts - cluster.timestampMs;
      if ((isVideoKey && cluster.blocks.length > 0 && span > 0) || span >= MAX_CLUSTER_MS || span < -MAX_RELATIVE_MS) {
        this.closeCluster();
        cluster = null;
      }
    }
    if (!cluster) {
      cluster = { timestampMs: ts, blocks: [], bytes: 0, startsWithVideoKey: isVideoKey || this.#cueTrack === trackNumber };
      this.#cluster = cluster;
    }
    const relative = Math.max(-32768, Math.min(32767, ts - cluster.timestampMs));
    const head = Buffer.alloc(4);
    head[0] = 0x80 | trackNumber; // track number as a 1-byte vint (tracks 1..127)
    head.writeInt16BE(relative, 1);
    head[3] = keyframe || track.kind === 'audio' ? 0x80 : 0x00;
    const block = element(ID.SimpleBlock, [head, data]);
    cluster.blocks.push(block);
    cluster.bytes += block.length;
    const prev = this.#last.get(trackNumber);
    this.#last.set(trackNumber, { ts, step: prev ? Math.min(100, Math.max(0, ts - prev.ts)) : 20 });
  }

  /** Closes the cluster being filled once it spans MAX_CLUSTER_MS up to `nowMs` (the recorder's tick). */
  closeClusterIfOlderThan(nowMs: number, maxAgeMs = MAX_CLUSTER_MS): void {
    if (this.#cluster && nowMs - this.#cluster.timestampMs >= maxAgeMs) this.closeCluster();
  }

  /** Writes the cluster being filled to disk now. */
  closeCluster(): void {
    const cluster = this.#cluster;
    if (!cluster || cluster.blocks.length === 0) return;
    this.#cluster = null;
    const body = Buffer.concat([uint(ID.Timestamp, cluster.timestampMs), ...cluster.blocks]);
    // 8-byte size field: the same shape whatever the size, as a reader of torn files expects.
    const bytes = Buffer.concat([encodeId(ID.Cluster), encodeSizeFixed(body.length, 8), body]);
    const position = this.#position;
    this.#position += bytes.length;
    if (cluster.startsWithVideoKey) {
      this.#cues.push({ timeMs: cluster.timestampMs, track: this.#cueTrack, clusterPosition: position - this.#layout.segmentDataStart });
    }
    this.#enqueue(bytes, position);
  }

  /** Resolves once everything queued so far is handed to the OS (survives a killed process). */
  async flush(): Promise<void> {
    await this.#writes;
    if (this.#writeError) throw this.#writeError;
  }

  /** Completes the file: last cluster, Cues, Duration, SeekHead, Segment size; then syncs and closes it. */
  async finalize(): Promise<{ size: number; durationMs: number }> {
    if (this.#finalized) throw new Error('writer is finalized');
    this.closeCluster();
    this.#finalized = true;
    try {
      await this.flush();
      const durationMs = this.#durationMs();
      const size = await finalizeMatroska(this.#file, this.#layout, this.#cues, this.#position, durationMs, new Set(this.#last.keys()));
      await this.#file.sync();
      return { size, durationMs };
    } finally {
      await this.#file.close().catch(() => {});
    }
  }

  /** Closes the file as it is (no finalizing): what a crash would leave, used on fatal errors. */
  async abandon(): Promise<void> {
    if (this.#finalized) return;
    this.#finalized = true;
    this.closeCluster();
    await this.#writes;
    await this.#file.close().catch(() => {});
  }

  #durationMs(): number {
    let end = 0;
    for (const { ts, step } of this.#last.values()) end = Math.max(end, ts + step);
    return end;
  }

  #enqueue(bytes: Buffer, position: number): void {
    this.#writes = this.#writes.then(async () => {
      if (this.#writeError) return;
      try {
        await this.#file.write(bytes, 0, bytes.length, position);
      } catch (err) {
        this.#writeError = err as Error;
      }
    });
  }
}

/**
 * Writes Cues at `endPosition`, fills the Duration and SeekHead slots and the Segment size, and
 * turns the TrackEntry of any track without a frame into a Void (ffmpeg refuses a file with an
 * empty video track). Returns the file size.
 */
export async function finalizeMatroska(
  file: FileHandle,
  layout: MatroskaLayout,
  cues: CuePoint[],
  endPosition: number,
  durationMs: number,
  tracksWithFrames: Set<number>,
): Promise<number> {
  const rel = (offset: number) => offset - layout.segmentDataStart;
  if (tracksWithFrames.size > 0) {
    for (const [number, entry] of layout.trackEntries) {
      if (tracksWithFrames.has(number)) continue;
      const filler = voidElement(entry.length);
      await file.write(filler, 0, filler.length, entry.offset);
    }
  }
  let end = endPosition;
  const seeks: Array<[number, number]> = [
    [ID.Info, rel(layout.infoOffset)],
    [ID.Tracks, rel(layout.tracksOffset)],
  ];
  if (cues.length > 0) {
    const cuesEl = element(
      ID.Cues,
      cues.map((cue) =>
        element(ID.CuePoint, [
          uint(ID.CueTime, cue.timeMs),
          element(ID.CueTrackPositions, [uint(ID.CueTrack, cue.track), uint(ID.CueClusterPosition, cue.clusterPosition)]),
        ]),
      ),
    );
    await file.write(cuesEl, 0, cuesEl.length, end);
    seeks.push([ID.Cues, rel(end)]);
    end += cuesEl.length;
  }
  await file.truncate(end);

  const seekHead = element(
    ID.SeekHead,
    seeks.map(([id, position]) => element(ID.Seek, [element(ID.SeekID, encodeId(id)), uint64Fixed(ID.SeekPosition, position)])),
  );
  const seekBytes = Buffer.concat([seekHead, voidElement(layout.seekSlot.length - seekHead.length)]);
  await file.write(seekBytes, 0, seekBytes.length, layout.seekSlot.offset);
  const duration = float64(ID.Duration, durationMs);
  await file.write(duration, 0, duration.length, layout.durationSlotOffset);
  const segmentSize = encodeSizeFixed(end - layout.segmentDataStart, 8);
  await file.write(segmentSize, 0, segmentSize.length, layout.segmentSizeOffset);
  return end;
}

export interface ScannedMatroska {
  layout: MatroskaLayout;
  tracks: Array<{ number: number; kind: 'audio' | 'video'; codecId: string }>;
  cues: CuePoint[];
  /** Offset after the last complete cluster: where the file should end before Cues. */
  endPosition: number;
  /** Last frame's timestamp plus an estimate of its length, in ms (0 without frames). */
  durationMs: number;
  clusters: number;
  frames: number;
  tracksWithFrames: Set<number>;
  /** True when the file was already finalized (sized Segment). */
  finalized: boolean;
  /** Bytes after the last complete cluster that were cut (a torn write). */
  tornBytes: number;
}

/**
 * Reads a file this module wrote, finalized or not. Returns null when even its head is incomplete
 * (nothing recoverable). Never trusts sizes past the end of the file.
 */
export async function scanMatroska(path: string): Promise<ScannedMatroska | null> {
  const file = await open(path, 'r');
  try {
    const { size: fileSize } = await file.stat();
    const headBuf = Buffer.alloc(Math.min(fileSize, 64 * 1024));
    await file.read(headBuf, 0, headBuf.length, 0);
    const ebmlId = readId(headBuf, 0);
    if (!ebmlId || ebmlId.id !== ID.EBML) return null;
    const ebmlSize = readSize(headBuf, ebmlId.length);
    if (!ebmlSize || ebmlSize.value < 0) return null;
    const segmentOffset = ebmlId.length + ebmlSize.length + ebmlSize.value;
    const segId = readId(headBuf, segmentOffset);
    if (!segId || segId.id !== ID.Segment) return null;
    const segSize = readSize(headBuf, segmentOffset + segId.length);
    if (!segSize || segSize.length !== 8) return null;
    const segmentSizeOffset = segmentOffset + segId.length;
    const segmentDataStart = segmentSizeOffset + 8;
    const finalized = segSize.value >= 0;

    let seekSlot: { offset: number; length: number } | null = null;
    let infoOffset = -1;
    let tracksOffset = -1;
    let durationSlotOffset = -1;
    const tracks: ScannedMatroska['tracks'] = [];
    const trackEntries = new Map<number, { offset: number; length: number }>();
    const cues: CuePoint[] = [];
    const last = new Map<number, { ts: number; step: number }>();
    let clusters = 0;
    let frames = 0;
    let cueTrack = -1;
    let pos = segmentDataStart;
    let endPosition = segmentDataStart;
    const headerBytes = Buffer.alloc(16);

    while (pos < fileSize) {
      const { bytesRead } = await file.read(headerBytes, 0, Math.min(16, fileSize - pos), pos);
      const hdr = headerBytes.subarray(0, bytesRead);
      const id = readId(hdr, 0);
      const size = id ? readSize(hdr, id.length) : null;
      if (!id || !size || size.value < 0) break;
      const dataStart = pos + id.length + size.length;
      const elementEnd = dataStart + size.value;
      if (elementEnd > fileSize) break; // torn
      if (id.id === ID.Void && seekSlot === null && infoOffset < 0) seekSlot = { offset: pos, length: elementEnd - pos };
      else if (id.id === ID.SeekHead && seekSlot === null) seekSlot = { offset: pos, length: elementEnd - pos };
      else if (id.id === ID.Void && seekSlot !== null && infoOffset < 0) seekSlot = { offset: seekSlot.offset, length: elementEnd - seekSlot.offset };
      else if (id.id === ID.Info) {
        infoOffset = pos;
        const body = Buffer.alloc(size.value);
        await file.read(body, 0, body.length, dataStart);
        for (let p = 0; p < body.length; ) {
          const cid = readId(body, p);
          const csize = cid ? readSize(body, p + cid.length) : null;
          if (!cid || !csize || csize.value < 0) break;
          const total = cid.length + csize.length + csize.value;
          if ((cid.id === ID.Void || cid.id === ID.Duration) && total === DURATION_SLOT_BYTES) durationSlotOffset = dataStart + p;
          p += cid.length + csize.length + csize.value;
        }
      } else if (id.id === ID.Tracks) {
        tracksOffset = pos;
        const body = Buffer.alloc(size.value);
        await file.read(body, 0, body.length, dataStart);
        for (const entry of children(body, 0, body.length)) {
          if (entry.id !== ID.TrackEntry) continue;
          let number = 0;
          let type = 0;
          let codecId = '';
          for (const c of children(body, entry.dataStart, entry.end)) {
            if (c.id === ID.TrackNumber) number = readUInt(body, c.dataStart, c.end - c.dataStart);
            else if (c.id === ID.TrackType) type = readUInt(body, c.dataStart, c.end - c.dataStart);
            else if (c.id === ID.CodecID) codecId = body.toString('utf8', c.dataStart, c.end);
          }
          tracks.push({ number, kind: type === 1 ? 'video' : 'audio', codecId });
          trackEntries.set(number, { offset: dataStart + entry.start, length: entry.end - entry.start });
        }
        cueTrack = (tracks.find((t) => t.kind === 'video') ?? tracks[0])?.number ?? -1;
      } else if (id.id === ID.Cluster) {
        const body = Buffer.alloc(size.value);
        await file.read(body, 0, body.length, dataStart);
        let clusterTs = 0;
        let first = true;
        let startsWithCue = false;
        for (const c of children(body, 0, body.length)) {
          if (c.id === ID.Timestamp) clusterTs = readUInt(body, c.dataStart, c.end - c.dataStart);
          else if (c.id === ID.SimpleBlock && c.end - c.dataStart >= 4) {
            const track = body[c.dataStart]! & 0x7f;
            const ts = clusterTs + body.readInt16BE(c.dataStart + 1);
            const key = (body[c.dataStart + 3]! & 0x80) !== 0;
            if (first) {
              startsWithCue = track === cueTrack && key;
              first = false;
            }
            const prev = last.get(track);
            last.set(track, { ts, step: prev ? Math.min(100, Math.max(0, ts - prev.ts)) : 20 });
            frames++;
          }
        }
        clusters++;
        if (startsWithCue) cues.push({ timeMs: clusterTs, track: cueTrack, clusterPosition: pos - segmentDataStart });
      } else if (id.id === ID.Cues) {
        // A finalized file: the Cues close it. Rebuild them from the clusters rather than trust them.
        break;
      }
      pos = elementEnd;
      if (id.id === ID.Cluster || id.id === ID.Tracks) endPosition = pos;
    }
    if (!seekSlot || infoOffset < 0 || tracksOffset < 0 || durationSlotOffset < 0 || tracks.length === 0) return null;
    let durationMs = 0;
    for (const { ts, step } of last.values()) durationMs = Math.max(durationMs, ts + step);
    return {
      layout: { segmentSizeOffset, segmentDataStart, seekSlot, durationSlotOffset, infoOffset, tracksOffset, trackEntries },
      tracksWithFrames: new Set(last.keys()),
      tracks,
      cues,
      endPosition,
      durationMs,
      clusters,
      frames,
      finalized,
      tornBytes: finalized ? 0 : fileSize - endPosition,
    };
  } finally {
    await file.close();
  }
}

function* children(buf: Buffer, start: number, end: number): Generator<{ id: number; start: number; dataStart: number; end: number }> {
  let p = start;
  while (p < end) {
    const id = readId(buf, p);
    const size = id ? readSize(buf, p + id.length) : null;
    if (!id || !size || size.value < 0) return;
    const dataStart = p + id.length + size.length;
    const elementEnd = dataStart + size.value;
    if (elementEnd > end) return;
    yield { id: id.id, start: p, dataStart, end: elementEnd };
    p = elementEnd;
  }
}

/**
 * Completes a file a crash left unfinished: cuts a torn tail, rebuilds Cues and Duration from the
 * clusters. Returns null when nothing is recoverable (no head, or no frame).
 */
export async function repairMatroska(
  path: string,
): Promise<{ size: number; durationMs: number; frames: number; tornBytes: number; hasAudio: boolean; hasVideo: boolean } | null> {
  const scanned = await scanMatroska(path);
  if (!scanned || scanned.frames === 0) return null;
  const file = await open(path, 'r+');
  try {
    const size = await finalizeMatroska(file, scanned.layout, scanned.cues, scanned.endPosition, scanned.durationMs, scanned.tracksWithFrames);
    await file.sync();
    const kinds = new Set(scanned.tracks.filter((t) => scanned.tracksWithFrames.has(t.number)).map((t) => t.kind));
    return { size, durationMs: scanned.durationMs, frames: scanned.frames, tornBytes: scanned.tornBytes, hasAudio: kinds.has('audio'), hasVideo: kinds.has('video') };
  } finally {
    await file.close();
  }
}
