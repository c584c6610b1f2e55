// Bundles the dashboard with vite into dist/, unless dist/ is newer than everything the bundle is
// made of (see scripts/build-stamp.mjs); `npm start` then costs nothing here.
import { build } from 'vite';
import { isUpToDate, markBuilt } from '../../scripts/build-stamp.mjs';

const here = (path) => new URL(path, import.meta.url).pathname;
const stamp = here('./dist/.build-stamp');
const inputs = ['./src', './public', './index.html', './test-page.html', './vite.config.ts', './build.mjs', './package.json', '../../package-lock.json'].map(here);

if (isUpToDate(inputs, stamp)) {
  console.log('dashboard: dist/ is up to date');
} else {
  await build({ configFile: here('./vite.config.ts'), root: here('.') });
  markBuilt(stamp);
}
