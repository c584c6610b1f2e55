// The frame worker of RTCRtpScriptTransform: the browser hands it each sender's and receiver's
// encoded frames (`rtctransform` events, one per transform, with the options the page gave), and it
// encrypts or decrypts them off the page's thread. The page posts the session's keys on every
// change; the worker posts back only a receiver's change between "frames decrypt" and "frames do
// not" (encryptionSecretMatch / Mismatch).

import { FrameKeyring, SecretMatchTracker, type KeyringSnapshot, type MediaKind } from './frame-crypto.js';
import { decryptingTransform, encryptingTransform, type EncodedFrame } from './frame-transforms.js';

/** What the page tells the worker. */
export type FrameWorkerMessage = { type: 'keys'; keys: KeyringSnapshot };
/** What the worker tells the page: receiver `id`'s frames started or stopped decrypting, or a transform stopped. */
export type FrameWorkerReport = { type: 'match'; id: number; state: 'match' | 'mismatch' } | { type: 'error'; message: string };
/** The options of each RTCRtpScriptTransform. */
export type FrameTransformOptions = { role: 'encrypt'; kind: MediaKind } | { role: 'decrypt'; kind: MediaKind; id: number };

interface ScriptTransformer {
  readonly readable: ReadableStream<EncodedFrame>;
  readonly writable: WritableStream<EncodedFrame>;
  readonly options: FrameTransformOptions;
}

interface WorkerScope {
  onmessage: ((event: MessageEvent<FrameWorkerMessage>) => void) | null;
  onrtctransform: ((event: { transformer: ScriptTransformer }) => void) | null;
  postMessage(message: FrameWorkerReport): void;
}

const scope = globalThis as unknown as WorkerScope;
const keyring = new FrameKeyring();

scope.onmessage = (event) => {
  if (event.data?.type === 'keys') keyring.load(event.data.keys);
};

scope.onrtctransform = ({ transformer }) => {
  const options = transformer.options;
  const transform =
    options.role === 'encrypt'
      ? encryptingTransform(options.kind, keyring)
      : decryptingTransform(keyring, new SecretMatchTracker((state) => scope.postMessage({ type: 'match', id: options.id, state })));
  transformer.readable
    .pipeThrough(transform)
    .pipeTo(transformer.writable)
    .catch((err: Error) => scope.postMessage({ type: 'error', message: `${options.role} ${options.kind}: ${err.message}` }));
};
