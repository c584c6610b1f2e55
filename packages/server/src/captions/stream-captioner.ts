// Captions one stream: its audio tapped from the SFU as 16 kHz PCM (media/audio StreamAudioTap) into
// a SupervisedRecognizer: one recognizer of the provider (one engine process) that is started again
// when it dies, at most `maxRestarts` times within `restartWindowMs` (a model that crashes on start
// must not loop); past that it fails and says why. close() stops the tap and kills the engine.

import type { Logger } from '../logger.js';
import { StreamAudioTap } from '../session-audio/index.js';
import type { Stream } from '../sessions/session-manager.js';
import { CAPTIONS_SAMPLE_RATE, type RecognitionResult, type RecognizerOptions, type SpeechRecognizer, type SpeechToTextProvider } from './provider.js';

export interface RestartPolicy {
  maxRestarts: number;
  restartWindowMs: number;
}

export const DEFAULT_RESTART_POLICY: RestartPolicy = { maxRestarts: 3, restartWindowMs: 60_000 };

export interface SupervisedRecognizerParams {
  provider: SpeechToTextProvider;
  options: RecognizerOptions;
  restart?: RestartPolicy;
  onResult: (result: RecognitionResult) => void;
  /** The engine kept dying: no more results. */
  onFailed: (reason: string) => void;
  logger: Logger;
}

/** One engine, restarted when it dies (bounded). */
export class SupervisedRecognizer {
  readonly #params: SupervisedRecognizerParams;
  readonly #restart: RestartPolicy;
  #recognizer: SpeechRecognizer | null = null;
  readonly #restarts: number[] = [];
  #closed = false;

  constructor(params: SupervisedRecognizerParams) {
    this.#params = params;
    this.#restart = params.restart ?? DEFAULT_RESTART_POLICY;
    this.#start();
  }

  /** Restarts within the current window. */
  get restarts(): number {
    return this.#restarts.length;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Audio in, and dropped because the engine fell behind, since the current engine started. */
  get stats(): { samplesIn: number; samplesDropped: number; samplesQueued: number } {
    return { ...(this.#recognizer?.stats ?? { samplesIn: 0, samplesDropped: 0, samplesQueued: 0 }) };
  }

  write(pcm: Int16Array): void {
    this.#recognizer?.write(pcm);
  }

  #start(): void {
    let recognizer: SpeechRecognizer;
    try {
      recognizer = this.#params.provider.start(this.#params.options);
    } catch (err) {
      this.#died(`the engine could not start: ${(err as Error).message}`);
      return;
    }
    recognizer.on('result', (result) => {
      if (!this.#closed) this.#params.onResult(result);
    });
    recognizer.on('failed', (reason) => this.#died(reason));
    this.#recognizer = recognizer;
  }

  #died(reason: string): void {
    if (this.#closed) return;
    this.#recognizer = null;
    const now = Date.now();
    while (this.#restarts.length > 0 && now - this.#restarts[0]! > this.#restart.restartWindowMs) this.#restarts.shift();
    if (this.#restarts.length >= this.#restart.maxRestarts) {
      this.#params.logger.warn({ reason, restarts: this.#restarts.length }, 'captions engine keeps failing: giving up');
      this.close();
      this.#params.onFailed(`the speech-to-text engine failed ${this.#restart.maxRestarts + 1} times within ${Math.round(this.#restart.restartWindowMs / 1000)} s; last: ${reason}`);
      return;
    }
    this.#restarts.push(now);
    this.#params.logger.warn({ reason, restart: this.#restarts.length }, 'captions engine died: starting it again');
    this.#start();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#recognizer?.close();
    this.#recognizer = null;
  }
}

export class StreamCaptioner {
  readonly streamId: string;
  readonly #recognizer: SupervisedRecognizer;
  readonly #tap: StreamAudioTap;

  private constructor(streamId: string, recognizer: SupervisedRecognizer, tap: StreamAudioTap) {
    this.streamId = streamId;
    this.#recognizer = recognizer;
    this.#tap = tap;
  }

  /** Starts captioning; null when the stream has no Opus audio on the SFU (nothing to hear). */
  static start(stream: Stream, params: SupervisedRecognizerParams): StreamCaptioner | null {
    if (!stream.producer('audio')) return null;
    const recognizer = new SupervisedRecognizer({ ...params, logger: params.logger.child({ streamId: stream.id }) });
    const tap = StreamAudioTap.open(stream, (pcm) => recognizer.write(pcm), { sampleRate: CAPTIONS_SAMPLE_RATE });
    if (!tap) {
      recognizer.close();
      return null;
    }
    return new StreamCaptioner(stream.id, recognizer, tap);
  }

  get stats(): { samplesIn: number; samplesDropped: number; samplesQueued: number; packets: number; restarts: number } {
    return { ...this.#recognizer.stats, packets: this.#tap.stats.packets, restarts: this.#recognizer.restarts };
  }

  close(): void {
    this.#tap.close();
    this.#recognizer.close();
  }
}
