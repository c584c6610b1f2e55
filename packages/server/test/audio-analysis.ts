// Measuring audio in tests: a tone's power (Goertzel), a tone's frequency (zero crossings), and the
// PCM of a 16-bit WAV file. Used by the SIP and Audio Connector media tests.

import { readFileSync } from 'node:fs';

/** Power of one frequency in 16-bit mono PCM (Goertzel), as amplitude²/4 of a full-scale-1 sine. */
export function toneEnergy(samples: Int16Array, rate: number, hz: number): number {
  const k = 2 * Math.cos((2 * Math.PI * hz) / rate);
  let s1 = 0;
  let s2 = 0;
  for (let i = 0; i < samples.length; i++) {
    const s0 = samples[i]! / 32768 + k * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  return (s1 * s1 + s2 * s2 - k * s1 * s2) / (samples.length * samples.length);
}

/**
 * The frequency of a pure tone from its rising zero crossings, interpolated between samples: the
 * periods counted inside each chunk (e.g. each 20 ms frame that carries the tone) over the time
 * they span, so silent chunks or a discontinuity between chunks do not bias it. Null with no period.
 */
export function zeroCrossingHz(chunks: Int16Array[], rate: number): number | null {
  let periods = 0;
  let span = 0;
  for (const samples of chunks) {
    let first = -1;
    let last = -1;
    let count = 0;
    for (let i = 1; i < samples.length; i++) {
      const a = samples[i - 1]!;
      const b = samples[i]!;
      if (a < 0 && b >= 0) {
        const at = i - 1 + -a / (b - a);
        if (first < 0) first = at;
        last = at;
        count++;
      }
    }
    if (count >= 2) {
      periods += count - 1;
      span += last - first;
    }
  }
  return periods === 0 ? null : (periods * rate) / span;
}

/** The PCM of a 16-bit WAV file (finds the data chunk). */
export function readWav(path: string): { rate: number; samples: Int16Array } {
  const buf = readFileSync(path);
  const rate = buf.readUInt32LE(24);
  let offset = 12;
  while (offset + 8 <= buf.length) {
    const id = buf.toString('ascii', offset, offset + 4);
    const size = buf.readUInt32LE(offset + 4);
    if (id === 'data') {
      const end = Math.min(buf.length, offset + 8 + (size || buf.length));
      const data = buf.subarray(offset + 8, end - ((end - offset - 8) % 2));
      return { rate, samples: new Int16Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)) };
    }
    offset += 8 + size + (size % 2);
  }
  throw new Error(`no data chunk in ${path}`);
}
