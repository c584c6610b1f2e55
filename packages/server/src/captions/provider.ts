// The speech-to-text provider interface live captions run on. A provider says which languages it
// has a model for and starts one recognizer per captioned stream; a recognizer takes that stream's
// audio as 16 kHz 16-bit mono PCM and reports partial results (the phrase so far, revised) and
// final ones (the phrase ended). The default provider is pocketsphinx-provider.ts; another engine
// (a different local model, a cloud service) implements the same two interfaces.

import type { TypedEmitter } from '../typed-emitter.js';

/** The sample rate recognizers are fed at. */
export const CAPTIONS_SAMPLE_RATE = 16000;

export interface RecognitionResult {
  text: string;
  isFinal: boolean;
}

export type RecognizerEvents = {
  /** The engine is loaded and listening (audio written before is kept, within the backlog bound). */
  ready: [];
  result: [RecognitionResult];
  /**
   * The recognizer stopped on its own (its process died, its model failed): `reason` says why. Not
   * emitted after close().
   */
  failed: [reason: string];
};

export interface SpeechRecognizer extends TypedEmitter<RecognizerEvents> {
  /** Audio at CAPTIONS_SAMPLE_RATE; dropped (and counted) when the engine falls behind. */
  write(pcm: Int16Array): void;
  /** Stops the engine (kills its process). Idempotent; no event follows. */
  close(): void;
  /** Audio written, dropped, and waiting for the engine now (how far behind it is). */
  readonly stats: { samplesIn: number; samplesDropped: number; samplesQueued: number };
}

export interface RecognizerOptions {
  /** A code from `languages()`, e.g. en-US. */
  languageCode: string;
  /** OpenTok's partialCaptions: also report the phrase so far while it is spoken. */
  partialResults: boolean;
}

export interface SpeechToTextProvider {
  /** Shown in the captions status (OpenTok's `provider`). */
  readonly name: string;
  /** The BCP 47 codes (OpenTok's `languageCode`, e.g. en-US) this provider has a model for here. */
  languages(): string[];
  start(options: RecognizerOptions): SpeechRecognizer;
}
