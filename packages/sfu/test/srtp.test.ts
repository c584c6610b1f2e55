// Our SRTP/SRTCP with the native module (AES-GCM and HMAC-SHA1 in C): every case of srtp.cases.ts.
import { describe, expect, it } from 'vitest';
import { nativePacket, nativePacketStatus } from '../src/native.js';
import './srtp.cases.js';

describe('the native module', () => {
  it('is built and loaded (scripts/build-native.mjs; COLLOQUY_NATIVE=0 turns it off)', () => {
    expect(nativePacketStatus).toBe(process.env.COLLOQUY_NATIVE === '0' ? 'COLLOQUY_NATIVE=0' : 'loaded');
    if (process.env.COLLOQUY_NATIVE !== '0') expect(nativePacket).not.toBeNull();
  });
});
