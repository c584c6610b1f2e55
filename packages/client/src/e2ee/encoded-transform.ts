// Puts frame encryption between the encoder and the packetizer (senders) and between the
// depacketizer and the decoder (receivers), with Chromium's encoded insertable streams: a peer
// connection made with `encodedInsertableStreams: true` hands each sender's and receiver's encoded
// frames to a TransformStream here (RTCRtpSender/RTCRtpReceiver.createEncodedStreams). The
// transform runs on the page's thread; WebCrypto's AES-GCM does the work off it.
// RTCRtpScriptTransform (the standard, in a Worker: Safari, newer Chromium) is not used yet.

import { decryptFrame, FrameEncryptor, type FrameKeyring, type MediaKind, type SecretMatchTracker } from './frame-crypto.js';

/** The Chromium-only RTCConfiguration key that turns encoded insertable streams on for a peer connection. */
export const INSERTABLE_STREAMS_CONFIGURATION = { encodedInsertableStreams: true } as RTCConfiguration;

interface EncodedFrame {
  data: ArrayBuffer;
  /** Video: 'key' | 'delta' | 'empty'; audio frames have none. */
  type?: string;
}

interface EncodedStreams {
  readable: ReadableStream<EncodedFrame>;
  writable: WritableStream<EncodedFrame>;
}

type WithEncodedStreams = { createEncodedStreams(): EncodedStreams };

/** Whether this browser can encrypt frames: encoded insertable streams and WebCrypto (a secure context). */
export function hasFrameTransformSupport(): boolean {
  return (
    typeof RTCRtpSender !== 'undefined' &&
    typeof RTCRtpReceiver !== 'undefined' &&
    'createEncodedStreams' in RTCRtpSender.prototype &&
    'createEncodedStreams' in RTCRtpReceiver.prototype &&
    typeof TransformStream !== 'undefined' &&
    typeof globalThis.crypto?.subtle?.encrypt === 'function'
  );
}

/**
 * Encrypts everything `sender` sends. A frame with no key yet (the secret still being derived) is
 * dropped, never sent in clear.
 */
export function encryptSender(sender: RTCRtpSender, kind: MediaKind, keyring: FrameKeyring, onError: (error: Error) => void): void {
  const { readable, writable } = (sender as unknown as WithEncodedStreams).createEncodedStreams();
  const encryptor = new FrameEncryptor();
  const transform = new TransformStream<EncodedFrame, EncodedFrame>({
    async transform(frame, controller) {
      const key = keyring.current;
      if (!key) return;
      frame.data = await encryptor.encrypt(frame.data, kind, frame.type === 'key', key);
      controller.enqueue(frame);
    },
  });
  readable.pipeThrough(transform).pipeTo(writable).catch(onError);
}

/**
 * Decrypts everything `receiver` gets. A frame that does not decrypt (another secret, or none) is
 * dropped: the decoder sees nothing rather than garbage, and `tracker` hears of it.
 */
export function decryptReceiver(receiver: RTCRtpReceiver, keyring: FrameKeyring, tracker: SecretMatchTracker, onError: (error: Error) => void): void {
  const { readable, writable } = (receiver as unknown as WithEncodedStreams).createEncodedStreams();
  const transform = new TransformStream<EncodedFrame, EncodedFrame>({
    async transform(frame, controller) {
      if (frame.data.byteLength === 0) {
        // Nothing was encrypted (an empty frame says nothing about the secret).
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
  readable.pipeThrough(transform).pipeTo(writable).catch(onError);
}
