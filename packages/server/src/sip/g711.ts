// G.711 (ITU-T): PCMU (µ-law) and PCMA (A-law), the codecs every phone and PBX speaks. 8 kHz,
// one byte per sample; encode takes 16-bit linear PCM, decode gives it back.

const MULAW_BIAS = 0x84;
const MULAW_CLIP = 32635;

/** One linear sample to µ-law. */
export function linearToMulaw(sample: number): number {
  let s = Math.max(-32768, Math.min(32767, Math.round(sample)));
  const sign = s < 0 ? 0x80 : 0;
  if (s < 0) s = -s;
  if (s > MULAW_CLIP) s = MULAW_CLIP;
  s += MULAW_BIAS;
  let exponent = 7;
  for (let mask = 0x4000; (s & mask) === 0 && exponent > 0; mask >>= 1) exponent--;
  const mantissa = (s >> (exponent + 3)) & 0x0f;
  return ~(sign | (exponent << 4) | mantissa) & 0xff;
}

export function mulawToLinear(byte: number): number {
  const u = ~byte & 0xff;
  const exponent = (u >> 4) & 0x07;
  const mantissa = u & 0x0f;
  const magnitude = (((mantissa << 3) + MULAW_BIAS) << exponent) - MULAW_BIAS;
  return u & 0x80 ? -magnitude : magnitude;
}

/** One linear sample to A-law. */
export function linearToAlaw(sample: number): number {
  let s = Math.max(-32768, Math.min(32767, Math.round(sample)));
  const sign = s >= 0 ? 0x80 : 0;
  if (s < 0) s = -s - 1;
  let byte: number;
  if (s < 256) {
    byte = s >> 4;
  } else {
    let exponent = 1;
    for (let v = s >> 8; v > 1 && exponent < 7; v >>= 1) exponent++;
    byte = (exponent << 4) | ((s >> (exponent + 3)) & 0x0f);
  }
  return (byte | sign) ^ 0x55;
}

export function alawToLinear(byte: number): number {
  const a = byte ^ 0x55;
  const exponent = (a >> 4) & 0x07;
  const mantissa = a & 0x0f;
  let magnitude = exponent === 0 ? (mantissa << 4) + 8 : ((mantissa << 4) + 0x108) << (exponent - 1);
  if (magnitude > 32767) magnitude = 32767;
  return a & 0x80 ? magnitude : -magnitude;
}

export type G711Codec = 'PCMU' | 'PCMA';

export function encodeG711(codec: G711Codec, pcm: Int16Array): Buffer {
  const out = Buffer.allocUnsafe(pcm.length);
  const f = codec === 'PCMU' ? linearToMulaw : linearToAlaw;
  for (let i = 0; i < pcm.length; i++) out[i] = f(pcm[i]!);
  return out;
}

export function decodeG711(codec: G711Codec, payload: Uint8Array): Int16Array {
  const out = new Int16Array(payload.length);
  const f = codec === 'PCMU' ? mulawToLinear : alawToLinear;
  for (let i = 0; i < payload.length; i++) out[i] = f(payload[i]!);
  return out;
}
