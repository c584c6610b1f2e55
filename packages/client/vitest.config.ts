import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The adaptive-quality acceptance test (Chromium behind tbf in a network namespace) is run on its
    // own (`npm run test:adaptive -w @colloquy/client`): it is not reliable yet on a loaded 2-core
    // machine (issue 15 is open; at load 10-20 it passed in 5 of the last 8 runs, 4 of 4 on the final
    // code: the publisher's top layer stalling, and probes read short through a starved receiver,
    // fail the rest; with transport-cc publishers, the default since 6 December 2026, 7 of 10 at
    // load 1-3, the others with the weak subscriber's video back on while still limited at 100 kbps:
    // the test now prints its downlink every 250 ms when that happens), and a flaky test in
    // `npm test` would block every landing.
    // The same for the publisher audio fallback's (`npm run test:audio-fallback`): the publisher's
    // Chromium behind a tbf uplink, judged by its own bandwidth estimate.
    exclude: [
      ...(process.env['COLLOQUY_TEST_ADAPTIVE'] === '1' ? [] : ['test/adaptive-quality.test.ts']),
      ...(process.env['COLLOQUY_TEST_AUDIO_FALLBACK'] === '1' ? [] : ['test/publisher-audio-fallback.test.ts']),
      '**/node_modules/**',
    ],
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
