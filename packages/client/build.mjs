// Builds the script-tag bundles: dist/opentok.js (readable) and dist/opentok.min.js, an IIFE that
// defines the global `OT`. The ES module build and its .d.ts come from tsc (dist/esm). Skipped when
// the bundles are newer than their sources (scripts/build-stamp.mjs), so `npm start` costs nothing here.
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';
import { isUpToDate, markBuilt } from '../../scripts/build-stamp.mjs';

const here = (path) => new URL(path, import.meta.url).pathname;
const stamp = here('./dist/.bundle-stamp');
const inputs = ['./src', '../protocol/src', './package.json', './build.mjs', '../../package-lock.json'].map(here);
if (isUpToDate(inputs, stamp)) {
  console.log('client: dist/opentok.js is up to date');
  process.exit(0);
}

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
markBuilt(stamp);
