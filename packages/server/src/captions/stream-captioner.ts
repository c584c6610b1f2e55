// Captions one stream: its audio tapped from the SFU as 16 kHz PCM (media/audio StreamAudioTap) into
// one recognizer of the provider (one engine process). An engine that dies is started again, at
// most `maxRestarts` times within `restartWindowMs` (a model that crashes on start must not loop);
// past that the captioner fails and says why. close() stops the tap and kills the engine.

import type { Logger } from '../logger.js';
import { StreamAudioTap } from '../media/audio/index.js';
import type { Stream } from '../sessions/session-manager.js';
import { CAPTIONS_SAMPLE_RATE, type RecognitionResult, type RecognizerOptions, type SpeechRecognizer, type SpeechToTextProvider } from './provider.js';

export interface RestartPolicy {
  maxRestarts: number;
  restartWindowMs: number;
}

export const DEFAULT_RESTART_POLICY: RestartPolicy = { maxRestarts: 3, restartWindowMs: 60_000 };

export interface StreamCaptionerParams {
  stream: Stream;
  provider: SpeechToTextProvider;
  options: RecognizerOptions;
  restart?: RestartPolicy;
  onResult: (result: RecognitionResult) => void;
  /** The engine kept dying: no more captions for this stream. */
  onFailed: (reason: string) => void;
  logger: Logger;
}

export class StreamCaptioner {
  readonly streamId: string;
  readonly #params: StreamCaptionerParams;
  readonly #restart: RestartPolicy;
  readonly #log: Logger;
  #tap: StreamAudioTap | null = null;
  #recognizer: SpeechRecognizer | null = null;
  readonly #restarts: number[] = [];
  #closed = false;

  private constructor(params: StreamCaptionerParams) {
    this.streamId = params.stream.id;
    this.#params = params;
    this.#restart = params.restart ?? DEFAULT_RESTART_POLICY;
    this.#log = params.logger.child({ streamId: params.stream.id });
  }

  /** Starts captioning; null when the stream has no Opus audio on the SFU (nothing to hear). */
  static start(params: StreamCaptionerParams): StreamCaptioner | null {
    const captioner = new StreamCaptioner(params);
    captioner.#startEngine();
    const tap = StreamAudioTap.open(params.stream, (pcm) => captioner.#recognizer?.write(pcm), { sampleRate: CAPTIONS_SAMPLE_RATE });
    if (!tap) {
      captioner.close();
      return null;
    }
    captioner.#tap = tap;
    return captioner;
  }

  /** Engine restarts so far (for tests and the logs). */
  get restarts(): number {
    return this.#restarts.length;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Audio in, and dropped because the engine fell behind, since the current engine started. */
  get stats(): { samplesIn: number; samplesDropped: number; packets: number } {
    return { ...(this.#recognizer?.stats ?? { samplesIn: 0, samplesDropped: 0 }), packets: this.#tap?.stats.packets ?? 0 };
  }

  #startEngine(): void {
    let recognizer: SpeechRecognizer;
    try {
      recognizer = this.#params.provider.start(this.#params.options);
    } catch (err) {
      this.#engineDied(`the engine could not start: ${(err as Error).message}`);
      return;
    }
    recognizer.on('result', (result) => {
      if (!this.#closed) this.#params.onResult(result);
    });
    recognizer.on('failed', (reason) => this.#engineDied(reason));
    this.#recognizer = recognizer;
  }

  #engineDied(reason: string): void {
    if (this.#closed) return;
    this.#recognizer = null;
    const now = Date.now();
    while (this.#restarts.length > 0 && now - this.#restarts[0]! > this.#restart.restartWindowMs) this.#restarts.shift();
    if (this.#restarts.length >= this.#restart.maxRestarts) {
      this.#log.warn({ reason, restarts: this.#restarts.length }, 'captions engine keeps failing: captions of this stream stop');
      this.close();
      this.#params.onFailed(`the speech-to-text engine failed ${this.#restart.maxRestarts + 1} times within ${Math.round(this.#restart.restartWindowMs / 1000)} s; last: ${reason}`);
      return;
    }
    this.#restarts.push(now);
    this.#log.warn({ reason, restart: this.#restarts.length }, 'captions engine died: starting it again');
    this.#startEngine();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#tap?.close();
    this.#recognizer?.close();
    this.#recognizer = null;
  }
}
