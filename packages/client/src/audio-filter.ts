// The built-in audio filter (OpenTok.js publisher.applyAudioFilter({type: 'advancedNoiseSuppression'})):
// RNNoise, a recurrent neural network noise suppressor, as the AudioWorklet of the npm package
// @sapphi-red/web-noise-suppressor (its worklet script and RNNoise compiled to wasm), served by the
// Colloquy server at /v2/js/noise-suppressor/ and loaded the first time the filter is applied. The
// microphone goes through a 48 kHz AudioContext (RNNoise's rate) — source, worklet, destination —
// and the destination's track is sent instead (replaceTrack), as a media processor connector.

import { publishError } from './errors.js';
import type { MediaProcessorConnector } from './media-processor.js';

/** The name the package's worklet registers its processor under. */
const RNNOISE_PROCESSOR = '@sapphi-red/web-noise-suppressor/rnnoise';

/** A minimal wasm module that uses SIMD (wasm-feature-detect's probe): valid only where SIMD is. */
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11]);

/** The wasm binary, fetched once per page (and again after a failure). */
let wasmLoading: Promise<ArrayBuffer> | null = null;

function loadWasm(assetBase: string): Promise<ArrayBuffer> {
  wasmLoading ??= (async () => {
    const file = WebAssembly.validate(SIMD_PROBE) ? 'rnnoise_simd.wasm' : 'rnnoise.wasm';
    const response = await fetch(`${assetBase}${file}`);
    if (!response.ok) throw new Error(`${assetBase}${file}: HTTP ${response.status}`);
    return response.arrayBuffer();
  })();
  wasmLoading.catch(() => {
    wasmLoading = null;
  });
  return wasmLoading;
}

/** Whether this browser can run the suppressor (AudioWorklet and wasm). */
export function audioWorkletSupport(): boolean {
  const g = globalThis as { AudioContext?: { prototype: object }; AudioWorkletNode?: unknown; WebAssembly?: unknown };
  const context = g.AudioContext;
  return context !== undefined && typeof g.AudioWorkletNode === 'function' && 'audioWorklet' in context.prototype && typeof g.WebAssembly === 'object';
}

/** advancedNoiseSuppression as a media processor connector on the microphone track. */
export class NoiseSuppressionConnector implements MediaProcessorConnector {
  readonly #assetBase: string;
  #context: AudioContext | null = null;
  #node: AudioWorkletNode | null = null;
  #source: MediaStreamAudioSourceNode | null = null;
  #destination: MediaStreamAudioDestinationNode | null = null;
  #stopped = false;

  constructor(assetBase: string) {
    this.#assetBase = assetBase;
  }

  async setTrack(track: MediaStreamTrack): Promise<MediaStreamTrack> {
    try {
      if (!this.#context) {
        const context = new AudioContext({ sampleRate: 48_000 });
        this.#context = context;
        const [wasmBinary] = await Promise.all([loadWasm(this.#assetBase), context.audioWorklet.addModule(`${this.#assetBase}rnnoiseWorklet.js`)]);
        // The package's processor takes its wasm as a processor option (a worklet cannot fetch).
        this.#node = new AudioWorkletNode(context, RNNOISE_PROCESSOR, { processorOptions: { maxChannels: 2, wasmBinary } });
        this.#destination = context.createMediaStreamDestination();
        this.#node.connect(this.#destination);
        // A context made without a user gesture may start suspended; the page already captures media, so resume is allowed.
        await context.resume();
      }
      if (this.#stopped) throw new Error('the filter was cleared');
      this.#source?.disconnect();
      this.#source = this.#context.createMediaStreamSource(new MediaStream([track]));
      this.#source.connect(this.#node!);
      return this.#destination!.stream.getAudioTracks()[0]!;
    } catch (err) {
      this.destroy();
      throw publishError('OT_NOT_SUPPORTED', `advancedNoiseSuppression could not start: ${(err as Error).message ?? String(err)}`);
    }
  }

  destroy(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#source?.disconnect();
    this.#node?.port.postMessage('destroy');
    this.#node?.disconnect();
    for (const track of this.#destination?.stream.getTracks() ?? []) track.stop();
    void this.#context?.close().catch(() => {});
  }
}
