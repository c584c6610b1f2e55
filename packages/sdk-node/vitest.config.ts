import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // These tests publish real media through a server in the same process; give a loaded CI room.
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
