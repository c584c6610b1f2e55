import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The adaptive-quality acceptance test (Chromium behind tbf in a network namespace) runs with the
    // rest since 6 December 2026 (COLLOQUY_TEST_ADAPTIVE=0 leaves it out; `npm run test:adaptive -w
    // @colloquy/client` runs it alone). Before, it was left out as unreliable on a loaded 2-core
    // machine: at load 10-20 it passed in 5 of 8 runs (the publisher's top layer stalling, probes
    // read short through a starved receiver); with transport-cc publishers 7 of 10 at load 1-3, the
    // others with the weak subscriber's video back on while still limited at 100 kbps, through the
    // token bucket (the capacity made stale by the bucket's burst; a short probe's reading believed).
    // With both mended, 10 of 10. It prints its downlink every 250 ms if the video comes back on.
    // The publisher audio fallback's test stays out, run alone (`npm run test:audio-fallback`): the
    // publisher's Chromium behind a tbf uplink, judged by its own bandwidth estimate.
    exclude: [
      ...(process.env['COLLOQUY_TEST_ADAPTIVE'] === '0' ? ['test/adaptive-quality.test.ts'] : []),
      ...(process.env['COLLOQUY_TEST_AUDIO_FALLBACK'] === '1' ? [] : ['test/publisher-audio-fallback.test.ts']),
      '**/node_modules/**',
    ],
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
