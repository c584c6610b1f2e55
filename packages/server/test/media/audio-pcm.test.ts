// media/audio's PCM helpers: the rates the server's audio legs speak (8 kHz G.711, 16 kHz L16) to
// and from 48 kHz keep a tone's frequency and level, and bad rates are refused.

import { describe, expect, it } from 'vitest';
import { downsampleFrom48k, FRAME_48K, pcmFromBuffer, upsampleTo48k } from '../../src/session-audio/index.js';

function tone(rate: number, hz: number, samples: number): Int16Array {
  return new Int16Array(samples).map((_, i) => Math.round(10000 * Math.sin((2 * Math.PI * hz * i) / rate)));
}

describe('media/audio PCM', () => {
  it('16 kHz <-> 48 kHz keeps a 440 Hz tone (20 ms frames)', () => {
    const pcm16 = tone(16000, 440, 320);
    const up = upsampleTo48k(pcm16, 16000);
    expect(up.length).toBe(FRAME_48K);
    const down = downsampleFrom48k(up, 16000);
    expect(down.length).toBe(320);
    let err = 0;
    for (let i = 2; i < 310; i++) err = Math.max(err, Math.abs(down[i]! - pcm16[i]!));
    expect(err).toBeLessThan(1000); // 10 % of the amplitude: the boxcar shifts the tone by 1/3 sample
  });
  it('48 kHz is passed through, rates that do not divide 48 kHz are refused', () => {
    const pcm = tone(48000, 1000, FRAME_48K);
    expect(downsampleFrom48k(pcm, 48000)).toBe(pcm);
    expect(() => downsampleFrom48k(pcm, 44100 as never)).toThrow(RangeError);
  });
  it('copies a decoder buffer into its own memory', () => {
    const buf = Buffer.alloc(8);
    buf.writeInt16LE(-5, 2);
    const pcm = pcmFromBuffer(buf.subarray(2, 6));
    buf.writeInt16LE(7, 2);
    expect([...pcm]).toEqual([-5, 0]);
  });
});
