// Builds the dashboard (index.html) and the token test page (test-page.html) into dist/, which the
// server serves at `/`. `npm run dev` serves it with the API proxied to a server on :3000.
import { resolve } from 'node:path';
import { defineConfig } from 'vite';

export default defineConfig({
  base: '/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
    // hls.js (the broadcast player's chunk, loaded only on that page) is about 580 kB minified.
    chunkSizeWarningLimit: 700,
    rollupOptions: {
      input: {
        main: resolve(import.meta.dirname, 'index.html'),
        'test-page': resolve(import.meta.dirname, 'test-page.html'),
      },
    },
  },
  server: {
    proxy: { '/dashboard/api': 'http://127.0.0.1:3000', '/v2': { target: 'http://127.0.0.1:3000', ws: true } },
  },
});
