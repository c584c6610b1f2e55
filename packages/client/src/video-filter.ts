// Built-in video filters (OpenTok.js publisher.applyVideoFilter): background blur and background
// replacement. A person segmentation model (MediaPipe Selfie Segmentation, from the npm package
// @mediapipe/selfie_segmentation: its wasm, graph and .tflite model) is served by the Colloquy
// server next to this script (/v2/js/mediapipe/…) and loaded only when a filter is first applied;
// nothing comes from a CDN. Frames flow through insertable streams: MediaStreamTrackProcessor
// gives the camera's VideoFrames, each is composited on a canvas (the blurred frame or the
// background image, then the person cut out with the latest mask) and written to a
// MediaStreamTrackGenerator, whose track the publisher sends instead of the camera's
// (replaceTrack). Segmentation runs beside the frame loop, on a small copy of a frame whenever the
// previous one is done: a slow model lowers how often the mask follows the person, not the frame rate.

import { invalidParameter, publishError } from './errors.js';
import { log } from './logger.js';
import type { MediaProcessorConnector } from './media-processor.js';

export type VideoFilter = { type: 'backgroundBlur'; blurStrength?: 'low' | 'high' } | { type: 'backgroundReplacement'; backgroundImgUrl: string };

/** The filters OpenTok.js names for applyAudioFilter. */
export type AudioFilter = { type: 'advancedNoiseSuppression' };

/** OpenTok's filter objects, checked field by field; a copy with only the known fields. */
export function parseVideoFilter(filter: unknown): VideoFilter {
  if (!filter || typeof filter !== 'object') throw invalidParameter('applyVideoFilter: a filter object, {type: "backgroundBlur" | "backgroundReplacement", …}');
  const f = filter as Record<string, unknown>;
  if (f['type'] === 'backgroundBlur') {
    const strength = f['blurStrength'];
    if (strength !== undefined && strength !== 'low' && strength !== 'high') throw invalidParameter('applyVideoFilter: blurStrength is "low" or "high"');
    return { type: 'backgroundBlur', blurStrength: strength ?? 'high' };
  }
  if (f['type'] === 'backgroundReplacement') {
    const url = f['backgroundImgUrl'];
    if (typeof url !== 'string' || url.trim() === '') throw invalidParameter('applyVideoFilter: backgroundReplacement needs backgroundImgUrl, the URL of an image');
    let parsed: URL;
    try {
      parsed = new URL(url, typeof location !== 'undefined' ? location.href : undefined);
    } catch {
      throw invalidParameter(`applyVideoFilter: backgroundImgUrl is not a URL: ${url}`);
    }
    if (!/^(https?|data|blob):$/.test(parsed.protocol)) throw invalidParameter('applyVideoFilter: backgroundImgUrl is an http(s), data: or blob: URL');
    return { type: 'backgroundReplacement', backgroundImgUrl: url };
  }
  throw invalidParameter(`applyVideoFilter: unknown filter type ${JSON.stringify(f['type'])} (backgroundBlur or backgroundReplacement)`);
}

export function parseAudioFilter(filter: unknown): AudioFilter {
  if (!filter || typeof filter !== 'object' || (filter as { type?: unknown }).type !== 'advancedNoiseSuppression') {
    throw invalidParameter('applyAudioFilter: the filter is {type: "advancedNoiseSuppression"}');
  }
  return { type: 'advancedNoiseSuppression' };
}

interface InsertableStreams {
  MediaStreamTrackProcessor: new (init: { track: MediaStreamTrack }) => { readable: ReadableStream<VideoFrame> };
  MediaStreamTrackGenerator: new (init: { kind: 'video' }) => MediaStreamTrack & { writable: WritableStream<VideoFrame> };
}

/** Insertable streams for raw video (Chromium), or null. OT.hasMediaProcessorSupport() is this. */
export function insertableStreams(): InsertableStreams | null {
  const g = globalThis as Partial<InsertableStreams> & { OffscreenCanvas?: unknown; VideoFrame?: unknown };
  if (typeof g.MediaStreamTrackProcessor !== 'function' || typeof g.MediaStreamTrackGenerator !== 'function') return null;
  if (typeof g.OffscreenCanvas !== 'function' || typeof g.VideoFrame !== 'function') return null;
  return { MediaStreamTrackProcessor: g.MediaStreamTrackProcessor, MediaStreamTrackGenerator: g.MediaStreamTrackGenerator };
}

/** The blur radius in pixels for a picture this tall: about 1 % (low) or 3 % (high) of its height. */
export function blurRadius(strength: 'low' | 'high', height: number): number {
  return Math.max(2, Math.round(height * (strength === 'low' ? 0.01 : 0.03)));
}

// --- The segmentation model -------------------------------------------------------------------

/** What @mediapipe/selfie_segmentation's script defines on the page (its index.d.ts). */
interface SelfieSegmentation {
  setOptions(options: { modelSelection?: number; selfieMode?: boolean }): void;
  onResults(listener: (results: { segmentationMask: CanvasImageSource }) => void): void;
  initialize(): Promise<void>;
  send(inputs: { image: HTMLCanvasElement }): Promise<void>;
  close(): Promise<void>;
}
type SelfieSegmentationClass = new (config: { locateFile: (file: string) => string }) => SelfieSegmentation;

/** The MediaPipe script, loaded once per page (a script element: it defines a global). */
let scriptLoading: Promise<SelfieSegmentationClass> | null = null;

function loadSegmentationScript(assetBase: string): Promise<SelfieSegmentationClass> {
  scriptLoading ??= new Promise<SelfieSegmentationClass>((resolve, reject) => {
    const existing = (globalThis as { SelfieSegmentation?: SelfieSegmentationClass }).SelfieSegmentation;
    if (existing) return resolve(existing);
    const script = document.createElement('script');
    script.src = `${assetBase}selfie_segmentation.js`;
    script.crossOrigin = 'anonymous';
    script.onload = () => {
      const loaded = (globalThis as { SelfieSegmentation?: SelfieSegmentationClass }).SelfieSegmentation;
      if (loaded) resolve(loaded);
      else reject(new Error('the segmentation script defined no SelfieSegmentation'));
    };
    script.onerror = () => reject(new Error(`could not load ${script.src} (is the Colloquy server's /v2/js/mediapipe/ reachable?)`));
    document.head.appendChild(script);
  });
  // A failed load may be retried later (e.g. the server was down).
  scriptLoading.catch(() => {
    scriptLoading = null;
  });
  return scriptLoading;
}

/** The model's input: the landscape variant takes 256x144, so frames are scaled to 256 wide. */
const SEGMENT_WIDTH = 256;

/** How much smaller the background is blurred than it is shown. */
const BLUR_SCALE = 4;

/**
 * MediaPipe runs on the page's main thread, like the frame loop: after a segmentation that took T
 * ms the next waits IDLE_FACTOR x T, so segmentation takes at most a quarter of the thread and frames
 * keep flowing on a slow machine (the mask then follows the person less often). Never more often
 * than every MIN_INTERVAL_MS.
 */
const IDLE_FACTOR = 3;
const MIN_INTERVAL_MS = 66;

/**
 * One segmenter per filter: MediaPipe's graph gives a mask (alpha = person) for a small copy of a
 * frame. `latest` is our own copy of the last mask, drawn in onResults (the library's buffer is only
 * valid during the callback).
 */
class Segmenter {
  readonly input = document.createElement('canvas');
  readonly mask = document.createElement('canvas');
  #model: SelfieSegmentation | null = null;
  #busy = false;
  #closed = false;
  /** When the next segmentation may start (performance.now()). */
  #nextAt = 0;
  /** Time spent segmenting after the warm-up, in ms (for stats). */
  busyMs = 0;
  #runs = 0;
  /** Segmentations done (the first one resolves `ready`). */
  count = 0;
  #firstMask!: () => void;
  #failed!: (err: Error) => void;
  /** Resolves with the first mask; rejects if segmentation fails (or the filter stops) before it. */
  readonly ready = new Promise<void>((resolve, reject) => {
    this.#firstMask = resolve;
    this.#failed = reject;
  });

  constructor() {
    this.ready.catch(() => {}); // seen through setTrack; never an unhandled rejection
  }

  async start(assetBase: string): Promise<void> {
    const SelfieSegmentationImpl = await loadSegmentationScript(assetBase);
    const model = new SelfieSegmentationImpl({ locateFile: (file) => `${assetBase}${file}` });
    model.setOptions({ modelSelection: 1, selfieMode: false });
    model.onResults((results) => {
      const ctx = this.mask.getContext('2d')!;
      ctx.globalCompositeOperation = 'copy';
      ctx.drawImage(results.segmentationMask, 0, 0, this.mask.width, this.mask.height);
      this.count++;
      if (this.count === 1) this.#firstMask();
    });
    await model.initialize();
    this.#model = model;
    if (this.#closed) void model.close();
  }

  /** Starts segmenting this frame unless the previous segmentation is still running. */
  offer(frame: VideoFrame): void {
    if (this.#busy || !this.#model || this.#closed || performance.now() < this.#nextAt) return;
    const width = SEGMENT_WIDTH;
    const height = Math.max(1, Math.round((SEGMENT_WIDTH * frame.displayHeight) / frame.displayWidth));
    for (const canvas of [this.input, this.mask]) {
      if (canvas.width !== width || canvas.height !== height) {
        canvas.width = width;
        canvas.height = height;
      }
    }
    this.input.getContext('2d')!.drawImage(frame, 0, 0, width, height);
    this.#busy = true;
    const started = performance.now();
    this.#model
      .send({ image: this.input })
      .catch((err: unknown) => {
        log.warn('video filter: segmentation failed:', err);
        if (this.count === 0) this.#failed(err instanceof Error ? err : new Error(String(err)));
      })
      .finally(() => {
        this.#busy = false;
        const took = performance.now() - started;
        // The first run compiles and warms the model up: it says nothing of the next ones' cost.
        const warmUp = this.#runs++ === 0;
        this.#nextAt = started + Math.max(MIN_INTERVAL_MS, warmUp ? 0 : took * (1 + IDLE_FACTOR));
        if (!warmUp) this.busyMs += took;
      });
  }

  close(): void {
    this.#closed = true;
    if (this.count === 0) this.#failed(new Error('the filter was cleared before it started'));
    void this.#model?.close().catch(() => {});
    this.#model = null;
  }
}

// --- The filter as a media processor connector ---------------------------------------------------

/**
 * Runs one filter: setTrack(camera) resolves with the filtered track once the model gave its first
 * mask (so the camera's own picture is never sent); setTrack again (a new camera) keeps the same
 * output track; destroy() stops everything.
 */
export class VideoFilterConnector implements MediaProcessorConnector {
  #filter: VideoFilter;
  readonly #assetBase: string;
  readonly #streams: InsertableStreams;
  readonly #segmenter = new Segmenter();
  #generator: (MediaStreamTrack & { writable: WritableStream<VideoFrame> }) | null = null;
  /** Aborts the pipe from the current camera into the output track. */
  #pipe: AbortController | null = null;
  #background: ImageBitmap | null = null;
  #canvas: OffscreenCanvas | null = null;
  #person: OffscreenCanvas | null = null;
  #small: OffscreenCanvas | null = null;
  #stopped = false;
  /** Camera frames read and filtered frames written. */
  framesIn = 0;
  framesOut = 0;

  constructor(filter: VideoFilter, assetBase: string, streams: InsertableStreams) {
    this.#filter = filter;
    this.#assetBase = assetBase;
    this.#streams = streams;
  }

  /** The filter it runs (a copy). */
  get filter(): VideoFilter {
    return { ...this.#filter };
  }

  /**
   * Switches to another filter on the same pipeline: the model and the output track stay (no new
   * model load, no replaceTrack); a replacement image is loaded before the switch.
   */
  async setFilter(filter: VideoFilter): Promise<void> {
    const background = filter.type === 'backgroundReplacement' ? await loadImage(filter.backgroundImgUrl) : null;
    if (this.#stopped) {
      background?.close();
      throw publishError('OT_NOT_SUPPORTED', 'The video filter was cleared');
    }
    this.#background?.close();
    this.#background = background;
    this.#filter = filter;
  }

  async setTrack(track: MediaStreamTrack): Promise<MediaStreamTrack> {
    if (track.kind !== 'video') throw invalidParameter('a video filter takes a video track');
    if (!this.#generator) {
      try {
        if (this.#filter.type === 'backgroundReplacement') this.#background = await loadImage(this.#filter.backgroundImgUrl);
        await this.#segmenter.start(this.#assetBase);
      } catch (err) {
        this.destroy();
        if ((err as { name?: string }).name === 'OT_INVALID_PARAMETER') throw err;
        throw publishError('OT_NOT_SUPPORTED', `The video filter could not start: ${(err as Error).message ?? String(err)}`);
      }
      this.#generator = new this.#streams.MediaStreamTrackGenerator({ kind: 'video' });
    }
    // One pipe at a time into the output track: a new camera's replaces the old one's.
    this.#pipe?.abort();
    const pipe = new AbortController();
    this.#pipe = pipe;
    new this.#streams.MediaStreamTrackProcessor({ track }).readable
      .pipeThrough(new TransformStream<VideoFrame, VideoFrame>({ transform: (frame, controller) => this.#filterFrame(frame, controller) }))
      .pipeTo(this.#generator.writable, { signal: pipe.signal, preventClose: true, preventAbort: true })
      .catch(() => {}); // aborted (a new camera, destroy) or the camera ended
    try {
      await this.#segmenter.ready;
    } catch (err) {
      this.destroy();
      throw publishError('OT_NOT_SUPPORTED', `The video filter could not start: ${(err as Error).message}`);
    }
    return this.#generator;
  }

  /**
   * One camera frame: offered to the segmenter, composited with the latest mask and passed on
   * (streams carry the backpressure); nothing leaves before the first mask, so the unfiltered
   * picture never does. The camera's frame is always closed.
   */
  #filterFrame(frame: VideoFrame, controller: TransformStreamDefaultController<VideoFrame>): void {
    this.framesIn++;
    try {
      this.#segmenter.offer(frame);
      if (this.#segmenter.count > 0 && !this.#stopped) {
        controller.enqueue(new VideoFrame(this.#composite(frame), { timestamp: frame.timestamp }));
        this.framesOut++;
      }
    } catch (err) {
      log.warn('video filter: a frame failed:', err);
    } finally {
      frame.close();
    }
  }

  #composite(frame: VideoFrame): OffscreenCanvas {
    const width = frame.displayWidth;
    const height = frame.displayHeight;
    if (!this.#canvas || this.#canvas.width !== width || this.#canvas.height !== height) {
      this.#canvas = new OffscreenCanvas(width, height);
      this.#person = new OffscreenCanvas(width, height);
      this.#small = new OffscreenCanvas(Math.max(1, Math.round(width / BLUR_SCALE)), Math.max(1, Math.round(height / BLUR_SCALE)));
    }
    const ctx = this.#canvas.getContext('2d')!;
    const person = this.#person!.getContext('2d')!;
    // The person: the small mask scaled up (bilinear, which softens its edge), then the frame kept where the mask is.
    person.globalCompositeOperation = 'copy';
    person.imageSmoothingQuality = 'low';
    person.drawImage(this.#segmenter.mask, 0, 0, width, height);
    person.globalCompositeOperation = 'source-in';
    person.drawImage(frame, 0, 0, width, height);
    // The background: the frame blurred (at a quarter of its size, then scaled up: the same look for
    // a fraction of the cost), or the image covering the picture, centred.
    ctx.globalCompositeOperation = 'copy';
    if (this.#filter.type === 'backgroundBlur') {
      const small = this.#small!;
      const sctx = small.getContext('2d')!;
      sctx.globalCompositeOperation = 'copy';
      sctx.filter = `blur(${Math.max(1, blurRadius(this.#filter.blurStrength ?? 'high', height) / BLUR_SCALE)}px)`;
      sctx.drawImage(frame, 0, 0, small.width, small.height);
      ctx.drawImage(small, 0, 0, width, height);
    } else if (this.#background) {
      const image = this.#background;
      const scale = Math.max(width / image.width, height / image.height);
      const w = image.width * scale;
      const h = image.height * scale;
      ctx.drawImage(image, (width - w) / 2, (height - h) / 2, w, h);
    }
    ctx.globalCompositeOperation = 'source-over';
    ctx.drawImage(this.#person!, 0, 0);
    return this.#canvas;
  }

  /** What the filter did so far: frames in and out, segmentations and the time they took. */
  stats(): { framesIn: number; framesOut: number; segmentations: number; segmentationMs: number } {
    return { framesIn: this.framesIn, framesOut: this.framesOut, segmentations: this.#segmenter.count, segmentationMs: Math.round(this.#segmenter.busyMs) };
  }

  destroy(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#pipe?.abort();
    this.#generator?.stop();
    this.#segmenter.close();
    this.#background?.close();
  }
}

/** The replacement background, decoded; CORS-enabled so the canvas stays readable. */
async function loadImage(url: string): Promise<ImageBitmap> {
  const image = new Image();
  image.crossOrigin = 'anonymous';
  image.src = url;
  try {
    await image.decode();
  } catch {
    throw invalidParameter(`applyVideoFilter: could not load the image at backgroundImgUrl (${url}); a cross-origin image needs CORS`);
  }
  return createImageBitmap(image);
}
