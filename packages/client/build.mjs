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
const target = ['chrome100', 'firefox100', 'safari15', 'edge100'];
// The end-to-end encryption worker (RTCRtpScriptTransform) travels inside the bundle as a string,
// started from a Blob: a script-tag SDK has no URL of its own to load a second file from.
const worker = await build({ entryPoints: ['src/e2ee/frame-worker.ts'], bundle: true, format: 'iife', platform: 'browser', target, minify: true, write: false, logLevel: 'warning' });
const common = {
  entryPoints: ['src/global.ts'],
  bundle: true,
  format: 'iife',
  platform: 'browser',
  target,
  sourcemap: true,
  banner,
  logLevel: 'warning',
  // import.meta.url only serves the ES module build's worker path, never taken here.
  define: { __COLLOQUY_FRAME_WORKER__: JSON.stringify(worker.outputFiles[0].text), 'import.meta.url': '""' },
};
await build({ ...common, outfile: 'dist/opentok.js' });
await build({ ...common, outfile: 'dist/opentok.min.js', minify: true });
markBuilt(stamp);
