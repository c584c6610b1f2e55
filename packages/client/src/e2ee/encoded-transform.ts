// Puts frame encryption between the encoder and the packetizer (senders) and between the
// depacketizer and the decoder (receivers), in one of the two ways browsers offer:
//
// - RTCRtpScriptTransform (the standard; Chromium, Safari): `sender.transform` /
//   `receiver.transform` hand the frames to a Worker (frame-worker.ts), off the page's thread. The
//   page posts the keys to it whenever they change.
// - Encoded insertable streams (Chromium before RTCRtpScriptTransform): a peer connection made
//   with `encodedInsertableStreams: true` gives each sender and receiver `createEncodedStreams()`,
//   piped through the same TransformStreams on the page's thread.
//
// The worker's script: the script-tag bundle (build.mjs) carries it as a string and starts it from
// a Blob; the ES module build starts dist/esm/e2ee/frame-worker.js beside this file.

import type { FrameKeyring, MediaKind, SecretMatchTracker } from './frame-crypto.js';
import { decryptingTransform, encryptingTransform, type EncodedFrame } from './frame-transforms.js';
import type { FrameTransformOptions, FrameWorkerMessage, FrameWorkerReport } from './frame-worker.js';

/** The bundled frame worker's source (defined by build.mjs in the script-tag bundle; absent in the ES module build). */
declare const __COLLOQUY_FRAME_WORKER__: string | undefined;

interface EncodedStreams {
  readable: ReadableStream<EncodedFrame>;
  writable: WritableStream<EncodedFrame>;
}

type WithEncodedStreams = { createEncodedStreams(): EncodedStreams };
type WithTransform = { transform: unknown };
type ScriptTransformConstructor = new (worker: Worker, options: FrameTransformOptions) => unknown;

/** How the session's senders and receivers get their frames encrypted and decrypted. */
export interface FramePipeline {
  readonly keyring: FrameKeyring;
  /** 'script-transform' (a worker) or 'insertable-streams' (the page's thread). */
  readonly kind: 'script-transform' | 'insertable-streams';
  /** What new peer connections need in their RTCConfiguration. */
  readonly configuration: RTCConfiguration;
  encryptSender(sender: RTCRtpSender, kind: MediaKind, onError: (message: string) => void): void;
  decryptReceiver(receiver: RTCRtpReceiver, kind: MediaKind, tracker: SecretMatchTracker, onError: (message: string) => void): void;
  close(): void;
}

function scriptTransform(): ScriptTransformConstructor | null {
  const g = globalThis as { RTCRtpScriptTransform?: ScriptTransformConstructor };
  return typeof g.RTCRtpScriptTransform === 'function' && typeof Worker === 'function' && typeof RTCRtpSender !== 'undefined' && 'transform' in RTCRtpSender.prototype ? g.RTCRtpScriptTransform : null;
}

function insertableStreams(): boolean {
  return (
    typeof RTCRtpSender !== 'undefined' &&
    typeof RTCRtpReceiver !== 'undefined' &&
    'createEncodedStreams' in RTCRtpSender.prototype &&
    'createEncodedStreams' in RTCRtpReceiver.prototype &&
    typeof TransformStream !== 'undefined'
  );
}

/** Whether this browser can encrypt frames: one of the two APIs, and WebCrypto (a secure context). */
export function hasFrameTransformSupport(): boolean {
  return typeof globalThis.crypto?.subtle?.encrypt === 'function' && (scriptTransform() !== null || insertableStreams());
}

/** The pipeline for a session's keys: a frame worker where RTCRtpScriptTransform exists, else insertable streams. */
export function createFramePipeline(keyring: FrameKeyring): FramePipeline {
  const ScriptTransform = scriptTransform();
  if (ScriptTransform) {
    const worker = startFrameWorker();
    if (worker) return new ScriptTransformPipeline(keyring, worker, ScriptTransform);
  }
  return new InsertableStreamsPipeline(keyring);
}

function startFrameWorker(): Worker | null {
  try {
    if (typeof __COLLOQUY_FRAME_WORKER__ === 'string') {
      const url = URL.createObjectURL(new Blob([__COLLOQUY_FRAME_WORKER__], { type: 'text/javascript' }));
      const worker = new Worker(url, { name: 'colloquy-e2ee' });
      URL.revokeObjectURL(url);
      return worker;
    }
    return new Worker(new URL('./frame-worker.js', import.meta.url), { type: 'module', name: 'colloquy-e2ee' });
  } catch {
    return null; // e.g. a Content Security Policy without worker-src blob:
  }
}

class ScriptTransformPipeline implements FramePipeline {
  readonly kind = 'script-transform';
  readonly configuration: RTCConfiguration = {};
  readonly keyring: FrameKeyring;
  readonly #worker: Worker;
  readonly #ScriptTransform: ScriptTransformConstructor;
  readonly #trackers = new Map<number, SecretMatchTracker>();
  #errorHandlers: Array<(message: string) => void> = [];
  #nextId = 1;

  constructor(keyring: FrameKeyring, worker: Worker, ScriptTransform: ScriptTransformConstructor) {
    this.keyring = keyring;
    this.#worker = worker;
    this.#ScriptTransform = ScriptTransform;
    const postKeys = () => worker.postMessage({ type: 'keys', keys: keyring.snapshot() } satisfies FrameWorkerMessage);
    keyring.onChange(postKeys);
    postKeys();
    worker.onmessage = (event: MessageEvent<FrameWorkerReport>) => {
      const report = event.data;
      if (report.type === 'match') {
        const tracker = this.#trackers.get(report.id);
        if (report.state === 'match') tracker?.decrypted();
        else tracker?.failed();
      } else {
        for (const handler of this.#errorHandlers) handler(report.message);
      }
    };
  }

  encryptSender(sender: RTCRtpSender, kind: MediaKind, onError: (message: string) => void): void {
    this.#errorHandlers.push(onError);
    (sender as unknown as WithTransform).transform = new this.#ScriptTransform(this.#worker, { role: 'encrypt', kind });
  }

  decryptReceiver(receiver: RTCRtpReceiver, kind: MediaKind, tracker: SecretMatchTracker, onError: (message: string) => void): void {
    const id = this.#nextId++;
    this.#trackers.set(id, tracker);
    this.#errorHandlers.push(onError);
    (receiver as unknown as WithTransform).transform = new this.#ScriptTransform(this.#worker, { role: 'decrypt', kind, id });
  }

  close(): void {
    this.#worker.terminate();
    this.#trackers.clear();
    this.#errorHandlers = [];
  }
}

class InsertableStreamsPipeline implements FramePipeline {
  readonly kind = 'insertable-streams';
  /** The Chromium-only RTCConfiguration key that turns encoded insertable streams on. */
  readonly configuration = { encodedInsertableStreams: true } as RTCConfiguration;
  readonly keyring: FrameKeyring;

  constructor(keyring: FrameKeyring) {
    this.keyring = keyring;
  }

  encryptSender(sender: RTCRtpSender, kind: MediaKind, onError: (message: string) => void): void {
    const { readable, writable } = (sender as unknown as WithEncodedStreams).createEncodedStreams();
    readable.pipeThrough(encryptingTransform(kind, this.keyring)).pipeTo(writable).catch((err: Error) => onError(err.message));
  }

  decryptReceiver(receiver: RTCRtpReceiver, _kind: MediaKind, tracker: SecretMatchTracker, onError: (message: string) => void): void {
    const { readable, writable } = (receiver as unknown as WithEncodedStreams).createEncodedStreams();
    readable.pipeThrough(decryptingTransform(this.keyring, tracker)).pipeTo(writable).catch((err: Error) => onError(err.message));
  }

  close(): void {}
}
