// Our SRTP/SRTCP on the JavaScript path (no native module: Node's crypto per packet), the fallback
// of a machine that could not build it: every case of srtp.cases.ts. vitest gives each test file
// its own module graph, so the switch below is read by this file's copy of native.ts only.
import { describe, expect, it } from 'vitest';

const before = process.env.COLLOQUY_NATIVE;
process.env.COLLOQUY_NATIVE = '0';
const { nativePacket } = await import('../src/native.js');
await import('./srtp.cases.js');
if (before === undefined) delete process.env.COLLOQUY_NATIVE;
else process.env.COLLOQUY_NATIVE = before;

describe('the JavaScript path', () => {
  it('runs without the native module', () => {
    expect(nativePacket).toBeNull();
  });
});
