// The e2ee frame transform without a browser (Node's WebCrypto is the same API): round trips,
// the codec header bytes left clear for the SFU and the packetizers, tampering and wrong keys
// detected, and the keyring's change of secret with a grace period for frames in flight.

import { describe, expect, it } from 'vitest';
import {
  clearHeaderLength,
  decryptFrame,
  deriveFrameKey,
  FRAME_OVERHEAD,
  FrameEncryptor,
  FrameKeyring,
  RETIRED_KEY_GRACE_MS,
  SecretMatchTracker,
  secretProblem,
} from '../src/e2ee/frame-crypto.js';

const SESSION = '1_MX40NzAwMDAwMX5-MTcwMDAwMDAwMDAwMH5zZXNzaW9ufn4';

/** A VP8 keyframe's first 10 bytes (frame tag, start code 9d 01 2a, 640x480) and a body. */
function vp8KeyFrame(bodyLength: number): ArrayBuffer {
  const frame = new Uint8Array(10 + bodyLength);
  frame.set([0x50, 0x42, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01]);
  for (let i = 10; i < frame.length; i++) frame[i] = i & 0xff;
  return frame.buffer;
}

const keyOf = (k: { id: number; key: CryptoKey }) => (id: number) => (id === k.id ? k.key : null);

describe('frame encryption', () => {
  it('a VP8 keyframe round-trips; its 10 header bytes stay clear and the rest is not the plaintext', async () => {
    const key = await deriveFrameKey('correct horse battery', SESSION);
    const plain = vp8KeyFrame(1000);
    const sealed = new Uint8Array(await new FrameEncryptor().encrypt(plain, 'video', true, key));
    expect(sealed.length).toBe(plain.byteLength + FRAME_OVERHEAD);
    expect([...sealed.subarray(0, 10)]).toEqual([...new Uint8Array(plain).subarray(0, 10)]);
    // Trailer: clear length, key id.
    expect(sealed[sealed.length - 2]).toBe(10);
    expect(sealed[sealed.length - 1]).toBe(key.id);
    // The body is ciphertext: no 16-byte run of the plaintext's body appears in it.
    const body = Buffer.from(new Uint8Array(plain).subarray(10, 26));
    expect(Buffer.from(sealed).indexOf(body)).toBe(-1);
    const opened = await decryptFrame(sealed.buffer, keyOf(key));
    expect(opened.ok).toBe(true);
    expect(Buffer.from((opened as { frame: ArrayBuffer }).frame).equals(Buffer.from(plain))).toBe(true);
  });

  it('delta frames keep the 3-byte VP8 frame tag clear, Opus its TOC byte; tiny and empty frames work', async () => {
    expect(clearHeaderLength('video', false, 500)).toBe(3);
    expect(clearHeaderLength('video', true, 500)).toBe(10);
    expect(clearHeaderLength('audio', false, 80)).toBe(1);
    expect(clearHeaderLength('video', true, 4)).toBe(4);
    const key = await deriveFrameKey('correct horse battery', SESSION);
    const encryptor = new FrameEncryptor();
    const delta = new Uint8Array([0x31, 0x07, 0x00, 1, 2, 3, 4, 5, 6, 7]);
    const sealedDelta = new Uint8Array(await encryptor.encrypt(delta.buffer, 'video', false, key));
    expect([...sealedDelta.subarray(0, 3)]).toEqual([0x31, 0x07, 0x00]);
    const opus = new Uint8Array([0x78, 9, 9, 9]);
    const sealedOpus = new Uint8Array(await encryptor.encrypt(opus.buffer, 'audio', false, key));
    expect(sealedOpus[0]).toBe(0x78);
    for (const [sealed, plain] of [[sealedDelta, delta], [sealedOpus, opus]] as const) {
      const opened = await decryptFrame(sealed.buffer, keyOf(key));
      expect(opened.ok && [...new Uint8Array(opened.frame)]).toEqual([...plain]);
    }
    // A frame no longer than its clear header still gets a tag (nothing to hide, but authenticated).
    const tiny = new Uint8Array([0x78]);
    const sealedTiny = await encryptor.encrypt(tiny.buffer, 'audio', false, key);
    expect(sealedTiny.byteLength).toBe(1 + FRAME_OVERHEAD);
    expect((await decryptFrame(sealedTiny, keyOf(key))).ok).toBe(true);
    const empty = new ArrayBuffer(0);
    expect(await encryptor.encrypt(empty, 'audio', false, key)).toBe(empty);
  });

  it('no two frames share an IV; the same frame encrypts differently each time', async () => {
    const key = await deriveFrameKey('correct horse battery', SESSION);
    const a = new FrameEncryptor();
    const b = new FrameEncryptor();
    const ivs = new Set<string>();
    for (const encryptor of [a, b]) {
      for (let i = 0; i < 50; i++) {
        const sealed = new Uint8Array(await encryptor.encrypt(vp8KeyFrame(32), 'video', true, key));
        ivs.add(Buffer.from(sealed.subarray(sealed.length - 14, sealed.length - 2)).toString('hex'));
      }
    }
    expect(ivs.size).toBe(100);
  });

  it('another secret, another session, a flipped bit in the header or body, a cut frame: all refused', async () => {
    const key = await deriveFrameKey('correct horse battery', SESSION);
    const sealed = new Uint8Array(await new FrameEncryptor().encrypt(vp8KeyFrame(200), 'video', true, key));
    const other = await deriveFrameKey('wrong horse battery', SESSION);
    const otherSession = await deriveFrameKey('correct horse battery', `${SESSION}x`);
    // A wrong key under the same id (ids are one byte: collisions happen) fails authentication.
    expect(await decryptFrame(sealed.buffer, () => other.key)).toEqual({ ok: false, reason: 'authentication' });
    expect(await decryptFrame(sealed.buffer, () => otherSession.key)).toEqual({ ok: false, reason: 'authentication' });
    expect(await decryptFrame(sealed.buffer, () => null)).toEqual({ ok: false, reason: 'unknown-key' });
    for (const index of [0, 5, 40]) {
      const tampered = sealed.slice();
      tampered[index]! ^= 0x01;
      expect(await decryptFrame(tampered.buffer, keyOf(key))).toEqual({ ok: false, reason: 'authentication' });
    }
    expect(await decryptFrame(sealed.slice(0, 20).buffer, keyOf(key))).toEqual({ ok: false, reason: 'malformed' });
    // An unencrypted VP8 frame (a client that does not encrypt) never passes as one.
    expect((await decryptFrame(vp8KeyFrame(200), keyOf(key))).ok).toBe(false);
  });

  it('secrets: 8 to 256 characters', async () => {
    expect(secretProblem('12345678')).toBeNull();
    expect(secretProblem('x'.repeat(256))).toBeNull();
    expect(secretProblem('1234567')).toMatch(/8 to 256/);
    expect(secretProblem('x'.repeat(257))).toMatch(/8 to 256/);
    expect(secretProblem(12345678)).toMatch(/string/);
    await expect(deriveFrameKey('short', SESSION)).rejects.toThrow(/8 to 256/);
  });
});

describe('changing the secret (keyring)', () => {
  it('frames under the previous secret decrypt for the grace period, then not; the new key encrypts at once', async () => {
    let now = 1_000_000;
    const ring = new FrameKeyring({ now: () => now });
    expect(ring.current).toBeNull();
    await ring.setSecret('first secret', SESSION);
    const first = ring.current!;
    const encryptor = new FrameEncryptor();
    const inFlight = await encryptor.encrypt(vp8KeyFrame(100), 'video', true, first);

    await ring.setSecret('second secret', SESSION);
    const second = ring.current!;
    expect(second.id === first.id && second.key === first.key).toBe(false);
    const fresh = await encryptor.encrypt(vp8KeyFrame(100), 'video', true, second);
    const keyFor = (id: number) => ring.keyFor(id);
    expect((await decryptFrame(inFlight, keyFor)).ok).toBe(true);
    expect((await decryptFrame(fresh, keyFor)).ok).toBe(true);

    now += RETIRED_KEY_GRACE_MS + 1;
    expect((await decryptFrame(inFlight, keyFor)).ok).toBe(false);
    expect((await decryptFrame(fresh, keyFor)).ok).toBe(true);
  });

  it('a slow derivation never overwrites a later secret', async () => {
    const ring = new FrameKeyring();
    const a = ring.setSecret('secret number one', SESSION);
    const b = ring.setSecret('secret number two', SESSION);
    await Promise.all([a, b]);
    const expected = await deriveFrameKey('secret number two', SESSION);
    expect(ring.current!.id).toBe(expected.id);
    const sealed = await new FrameEncryptor().encrypt(vp8KeyFrame(10), 'video', true, ring.current!);
    expect((await decryptFrame(sealed, () => expected.key)).ok).toBe(true);
  });

  it('the match tracker: one mismatch for many failures, one match when frames decrypt again', () => {
    const events: string[] = [];
    const tracker = new SecretMatchTracker((s) => events.push(s));
    tracker.decrypted();
    tracker.failed();
    tracker.failed();
    tracker.failed();
    tracker.decrypted();
    tracker.decrypted();
    tracker.failed();
    expect(events).toEqual(['mismatch', 'match', 'mismatch']);
  });
});
