// The two TransformStreams of encoded frames, shared by both ways the SDK plugs into the browser
// (encoded insertable streams on the page, RTCRtpScriptTransform in a worker): one encrypts what a
// sender sends, one decrypts what a receiver gets.

import { decryptFrame, FrameEncryptor, type FrameKeyring, type MediaKind, type SecretMatchTracker } from './frame-crypto.js';

/** The part of RTCEncodedVideoFrame / RTCEncodedAudioFrame the transforms touch. */
export interface EncodedFrame {
  data: ArrayBuffer;
  /** Video: 'key' | 'delta' | 'empty'; audio frames have none. */
  type?: string;
}

/** Encrypts each frame with the keyring's current key; a frame with no key yet is dropped, never sent in clear. */
export function encryptingTransform(kind: MediaKind, keyring: FrameKeyring): TransformStream<EncodedFrame, EncodedFrame> {
  const encryptor = new FrameEncryptor();
  return new TransformStream({
    async transform(frame, controller) {
      const key = keyring.current;
      if (!key) return;
      frame.data = await encryptor.encrypt(frame.data, kind, frame.type === 'key', key);
      controller.enqueue(frame);
    },
  });
}

/**
 * Decrypts each frame with the key its trailer names. A frame that does not decrypt (another
 * secret, or none) is dropped — the decoder sees nothing rather than garbage — and `tracker` hears
 * of it; an empty frame passes (it says nothing about the secret).
 */
export function decryptingTransform(keyring: FrameKeyring, tracker: SecretMatchTracker): TransformStream<EncodedFrame, EncodedFrame> {
  return new TransformStream({
    async transform(frame, controller) {
      if (frame.data.byteLength === 0) {
        controller.enqueue(frame);
        return;
      }
      const result = await decryptFrame(frame.data, (id) => keyring.keyFor(id));
      if (!result.ok) {
        tracker.failed();
        return;
      }
      tracker.decrypted();
      frame.data = result.frame;
      controller.enqueue(frame);
    },
  });
}
