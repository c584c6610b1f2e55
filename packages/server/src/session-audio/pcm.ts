// 16-bit mono PCM helpers shared by the server's audio legs (SIP calls, the Audio Connector, live
// captions): everything inside is 48 kHz (Opus's rate), and these bring it to and from the narrower
// rates the far ends speak (8 kHz G.711, 16 kHz L16). Linear interpolation up and a boxcar mean
// down: cheap, good enough for speech, no filter state carried between frames.

/** Samples in one 20 ms frame at 48 kHz: the mixer's clock tick and one Opus packet. */
export const FRAME_48K = 960;

/** Rates the helpers convert to and from 48 kHz (each divides 48000 exactly). */
export type PcmRate = 8000 | 16000 | 24000 | 48000;

function factorOf(rate: PcmRate): number {
  const factor = 48000 / rate;
  if (!Number.isInteger(factor) || factor < 1) throw new RangeError(`unsupported PCM rate ${rate}`);
  return factor;
}

/** A 16-bit PCM view over a decoder's output Buffer (copied: the decoder reuses its memory). */
export function pcmFromBuffer(buf: Buffer): Int16Array {
  return new Int16Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
}

/** `rate` to 48 kHz by linear interpolation (the last sample is held). */
export function upsampleTo48k(pcm: Int16Array, rate: PcmRate): Int16Array {
  const factor = factorOf(rate);
  if (factor === 1) return pcm;
  const out = new Int16Array(pcm.length * factor);
  for (let i = 0; i < pcm.length; i++) {
    const a = pcm[i]!;
    const b = i + 1 < pcm.length ? pcm[i + 1]! : a;
    for (let k = 0; k < factor; k++) out[i * factor + k] = a + ((b - a) * k) / factor;
  }
  return out;
}

/** 48 kHz to `rate`: the mean of each group of samples (a boxcar low-pass before decimation). */
export function downsampleFrom48k(pcm48: Int16Array, rate: PcmRate): Int16Array {
  const factor = factorOf(rate);
  if (factor === 1) return pcm48;
  const out = new Int16Array(Math.floor(pcm48.length / factor));
  for (let i = 0; i < out.length; i++) {
    let sum = 0;
    for (let k = 0; k < factor; k++) sum += pcm48[i * factor + k]!;
    out[i] = sum / factor;
  }
  return out;
}
