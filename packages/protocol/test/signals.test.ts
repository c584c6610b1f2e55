import { describe, expect, it } from 'vitest';
import { checkSignal, SIGNAL_DATA_MAX_BYTES } from '../src/index.js';

describe('checkSignal', () => {
  it('accepts OpenTok’s character set and sizes at the limit', () => {
    expect(checkSignal('chat-msg_1~x', 'hello')).toBeNull();
    expect(checkSignal(undefined, '')).toBeNull();
    expect(checkSignal('t'.repeat(128), 'x'.repeat(SIGNAL_DATA_MAX_BYTES))).toBeNull();
  });

  it('names what is wrong', () => {
    expect(checkSignal('a b', 'x')?.problem).toBe('type-invalid');
    expect(checkSignal('é', 'x')?.problem).toBe('type-invalid');
    expect(checkSignal(5, 'x')?.problem).toBe('type-invalid');
    expect(checkSignal('t'.repeat(129), 'x')?.problem).toBe('type-too-long');
    expect(checkSignal('t', { a: 1 })?.problem).toBe('data-invalid');
    // 8 kB counted in UTF-8 bytes, not characters.
    expect(checkSignal('t', 'é'.repeat(SIGNAL_DATA_MAX_BYTES / 2 + 1))?.problem).toBe('data-too-long');
  });
});
