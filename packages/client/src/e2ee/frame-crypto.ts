// End-to-end encryption of encoded media frames (WebCrypto only, so the same code runs in a page,
// a worker and Node's tests). A frame leaves the encoder, is encrypted here with AES-256-GCM under a
// key derived from the session's shared secret, and only then is packetized; the SFU forwards
// ciphertext it cannot read, and the receiving browser decrypts before its decoder.
//
// Frame layout (Colloquy E2EE v1), the same idea as LiveKit's and the SFrame-like trailers:
//
//   | clear codec header (n bytes) | ciphertext | GCM tag (16) | IV (12) | n (1) | key id (1) |
//
// The clear header is what RTP packetizers, depacketizers and the SFU read: for VP8 the frame tag
// (3 bytes: keyframe bit, version, partition size) and, on keyframes, the start code and picture
// size (10 bytes in all); for Opus the TOC byte. The VP8 payload descriptor (picture id, temporal
// layer) is added by the packetizer after this transform, so simulcast and temporal-layer switching
// in the SFU keep working. The clear header is the GCM additional data: changing it breaks the tag.
// The key id lets receivers pick the right key while a secret changes (frames in flight under the
// previous secret still decrypt, see FrameKeyring). The IV is a random 8-byte prefix per encryptor
// and a 32-bit frame counter, so it never repeats under one key.

/** What OpenTok accepts as an encryption secret: a string of 8 to 256 characters. */
export const SECRET_MIN_LENGTH = 8;
export const SECRET_MAX_LENGTH = 256;

const IV_LENGTH = 12;
const TAG_LENGTH = 16;
/** IV, clear-header length and key id after the ciphertext and tag. */
const TRAILER_LENGTH = IV_LENGTH + 2;
/** Bytes a frame grows by. */
export const FRAME_OVERHEAD = TAG_LENGTH + TRAILER_LENGTH;

/** VP8 (RFC 6386 §9.1): 3-byte frame tag on every frame; keyframes add start code and size (7). */
const VP8_KEYFRAME_CLEAR = 10;
const VP8_DELTA_CLEAR = 3;
/** Opus (RFC 6716 §3.1): the TOC byte. */
const OPUS_CLEAR = 1;

/** PBKDF2 rounds: slows guessing a weak secret from captured media; ~50-100 ms once per secret. */
const PBKDF2_ITERATIONS = 100_000;
const SALT_PREFIX = 'colloquy-e2ee-v1\u0000';

export type MediaKind = 'audio' | 'video';

/** The secret's problem, or null when it is valid. */
export function secretProblem(secret: unknown): string | null {
  if (typeof secret !== 'string') return 'the encryption secret must be a string';
  if (secret.length < SECRET_MIN_LENGTH || secret.length > SECRET_MAX_LENGTH) {
    return `the encryption secret must be ${SECRET_MIN_LENGTH} to ${SECRET_MAX_LENGTH} characters long`;
  }
  return null;
}

export interface FrameKey {
  /** One byte derived with the key: receivers find the key a frame was sent with. */
  readonly id: number;
  readonly key: CryptoKey;
}

/**
 * Derives the media key of a secret in a session: PBKDF2-SHA-256 over the secret, salted with the
 * session id (the same secret in two sessions gives two keys), 33 bytes: an AES-256 key and its id.
 */
export async function deriveFrameKey(secret: string, sessionId: string, subtle: SubtleCrypto = globalThis.crypto.subtle): Promise<FrameKey> {
  const problem = secretProblem(secret);
  if (problem) throw new TypeError(problem);
  const encoder = new TextEncoder();
  const material = await subtle.importKey('raw', encoder.encode(secret), 'PBKDF2', false, ['deriveBits']);
  const bits = new Uint8Array(
    await subtle.deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt: encoder.encode(SALT_PREFIX + sessionId), iterations: PBKDF2_ITERATIONS }, material, 33 * 8),
  );
  const key = await subtle.importKey('raw', bits.subarray(0, 32), { name: 'AES-GCM' }, false, ['encrypt', 'decrypt']);
  return { id: bits[32]!, key };
}

/** How many leading bytes of a frame stay clear. */
export function clearHeaderLength(kind: MediaKind, keyFrame: boolean, frameLength: number): number {
  const wanted = kind === 'audio' ? OPUS_CLEAR : keyFrame ? VP8_KEYFRAME_CLEAR : VP8_DELTA_CLEAR;
  return Math.min(wanted, frameLength);
}

/** Encrypts the frames of one sender (one per RTCRtpSender: its own IV prefix and counter). */
export class FrameEncryptor {
  readonly #ivPrefix = new Uint8Array(8);
  #counter = 0;
  readonly #subtle: SubtleCrypto;

  constructor(subtle: SubtleCrypto = globalThis.crypto.subtle) {
    this.#subtle = subtle;
    globalThis.crypto.getRandomValues(this.#ivPrefix);
  }

  /** The encrypted frame; an empty frame stays empty (nothing to hide, and DTX sends some). */
  async encrypt(frame: ArrayBuffer, kind: MediaKind, keyFrame: boolean, key: FrameKey): Promise<ArrayBuffer> {
    if (frame.byteLength === 0) return frame;
    const data = new Uint8Array(frame);
    const clear = clearHeaderLength(kind, keyFrame, data.length);
    const iv = new Uint8Array(IV_LENGTH);
    iv.set(this.#ivPrefix);
    new DataView(iv.buffer).setUint32(8, this.#counter);
    this.#counter = (this.#counter + 1) >>> 0;
    const sealed = new Uint8Array(
      await this.#subtle.encrypt({ name: 'AES-GCM', iv, additionalData: data.subarray(0, clear), tagLength: TAG_LENGTH * 8 }, key.key, data.subarray(clear)),
    );
    const out = new Uint8Array(clear + sealed.length + TRAILER_LENGTH);
    out.set(data.subarray(0, clear), 0);
    out.set(sealed, clear);
    out.set(iv, clear + sealed.length);
    out[out.length - 2] = clear;
    out[out.length - 1] = key.id;
    return out.buffer;
  }
}

/** Why a frame could not be decrypted. */
export type DecryptFailure = 'malformed' | 'unknown-key' | 'authentication';

export type DecryptResult = { ok: true; frame: ArrayBuffer } | { ok: false; reason: DecryptFailure };

/** Decrypts a frame with the key its trailer names (`keyFor` answers null for a key it does not hold). */
export async function decryptFrame(frame: ArrayBuffer, keyFor: (id: number) => CryptoKey | null, subtle: SubtleCrypto = globalThis.crypto.subtle): Promise<DecryptResult> {
  if (frame.byteLength === 0) return { ok: true, frame };
  const data = new Uint8Array(frame);
  if (data.length < FRAME_OVERHEAD) return { ok: false, reason: 'malformed' };
  const clear = data[data.length - 2]!;
  const cipherEnd = data.length - TRAILER_LENGTH;
  if (clear > cipherEnd - TAG_LENGTH) return { ok: false, reason: 'malformed' };
  const key = keyFor(data[data.length - 1]!);
  if (!key) return { ok: false, reason: 'unknown-key' };
  let plain: ArrayBuffer;
  try {
    plain = await subtle.decrypt(
      { name: 'AES-GCM', iv: data.subarray(cipherEnd, cipherEnd + IV_LENGTH), additionalData: data.subarray(0, clear), tagLength: TAG_LENGTH * 8 },
      key,
      data.subarray(clear, cipherEnd),
    );
  } catch {
    return { ok: false, reason: 'authentication' };
  }
  const out = new Uint8Array(clear + plain.byteLength);
  out.set(data.subarray(0, clear), 0);
  out.set(new Uint8Array(plain), clear);
  return { ok: true, frame: out.buffer };
}

/** How long a replaced key still decrypts: frames in flight, and peers a moment late to change. */
export const RETIRED_KEY_GRACE_MS = 5_000;

/**
 * A session's keys: the current one (encrypts and decrypts) and the ones it replaced, which still
 * decrypt for RETIRED_KEY_GRACE_MS, so a secret change (setEncryptionSecret) loses no frame sent
 * just before it. A frame under an older secret then fails: encryptionSecretMismatch.
 */
/** A keyring's keys, as posted to a frame worker (CryptoKey objects are structured-cloneable). */
export interface KeyringSnapshot {
  current: FrameKey | null;
  retired: Array<{ key: FrameKey; until: number }>;
}

export class FrameKeyring {
  #current: FrameKey | null = null;
  #retired: Array<{ key: FrameKey; until: number }> = [];
  #listeners: Array<() => void> = [];
  /** Bumped by each setSecret: a slow derivation never overwrites a later secret. */
  #generation = 0;
  readonly #now: () => number;
  readonly #subtle: SubtleCrypto | undefined;

  constructor(options: { now?: () => number; subtle?: SubtleCrypto } = {}) {
    this.#now = options.now ?? (() => Date.now());
    this.#subtle = options.subtle;
  }

  get current(): FrameKey | null {
    return this.#current;
  }

  /** Derives and switches to the secret's key; the previous key retires. */
  async setSecret(secret: string, sessionId: string): Promise<void> {
    const generation = ++this.#generation;
    const next = await deriveFrameKey(secret, sessionId, this.#subtle);
    if (generation !== this.#generation) return;
    const now = this.#now();
    this.#retired = this.#retired.filter((r) => r.until > now && r.key.id !== next.id);
    if (this.#current && this.#current.id !== next.id) this.#retired.push({ key: this.#current, until: now + RETIRED_KEY_GRACE_MS });
    this.#current = next;
    for (const listener of this.#listeners) listener();
  }

  /** Calls `listener` after each change of key (a frame worker mirrors the keyring). */
  onChange(listener: () => void): void {
    this.#listeners.push(listener);
  }

  snapshot(): KeyringSnapshot {
    return { current: this.#current, retired: [...this.#retired] };
  }

  /** Takes another keyring's keys (in a frame worker). */
  load(snapshot: KeyringSnapshot): void {
    this.#current = snapshot.current;
    this.#retired = [...snapshot.retired];
  }

  /** The key with this id: the current one, or a retired one still in its grace period. */
  keyFor(id: number): CryptoKey | null {
    if (this.#current?.id === id) return this.#current.key;
    const now = this.#now();
    return this.#retired.find((r) => r.key.id === id && r.until > now)?.key.key ?? null;
  }
}

/**
 * Turns per-frame outcomes into OpenTok's events: `mismatch` on the first failure (and the first
 * after a match), `match` on the first success after failures. Never one event per frame.
 */
export class SecretMatchTracker {
  #state: 'unknown' | 'match' | 'mismatch' = 'unknown';
  readonly #onChange: (state: 'match' | 'mismatch') => void;

  constructor(onChange: (state: 'match' | 'mismatch') => void) {
    this.#onChange = onChange;
  }

  get state(): 'unknown' | 'match' | 'mismatch' {
    return this.#state;
  }

  decrypted(): void {
    const was = this.#state;
    this.#state = 'match';
    if (was === 'mismatch') this.#onChange('match');
  }

  failed(): void {
    if (this.#state === 'mismatch') return;
    this.#state = 'mismatch';
    this.#onChange('mismatch');
  }
}
