// Builds the script-tag bundles: dist/opentok.js (readable) and dist/opentok.min.js, an IIFE that
// defines the global `OT`. The ES module build and its .d.ts come from tsc (dist/esm).
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';

const { version } = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8'));
const banner = { js: `/* Colloquy browser SDK ${version} (OpenTok.js-compatible API), MIT licence */` };
const common = {
  entryPoints: ['src/global.ts'],
  bundle: true,
  format: 'iife',
  platform: 'browser',
  target: ['chrome100', 'firefox100', 'safari15', 'edge100'],
  sourcemap: true,
  banner,
  logLevel: 'warning',
};
await build({ ...common, outfile: 'dist/opentok.js' });
await build({ ...common, outfile: 'dist/opentok.min.js', minify: true });
