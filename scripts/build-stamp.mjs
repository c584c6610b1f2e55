// Lets a bundling step skip itself when nothing it reads changed since it last ran, so that `npm
// start` (which builds first) does not rebuild the dashboard and the browser SDK bundles every time.
// A step is up to date when its stamp file (written into its output folder after a successful build)
// is newer than every file of its inputs; deleting the output folder forces a rebuild.

import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Newest modification time (ms) of the files at these paths (folders walked; node_modules and dist skipped). */
function newestInput(paths) {
  let newest = 0;
  const visit = (path) => {
    let stat;
    try {
      stat = statSync(path);
    } catch {
      return; // an optional input that does not exist
    }
    if (stat.isDirectory()) {
      for (const entry of readdirSync(path)) {
        if (entry !== 'node_modules' && entry !== 'dist') visit(join(path, entry));
      }
    } else {
      newest = Math.max(newest, stat.mtimeMs);
    }
  };
  for (const path of paths) visit(path);
  return newest;
}

/** True when `stamp` exists and is newer than every input. */
export function isUpToDate(inputs, stamp) {
  let built;
  try {
    built = statSync(stamp).mtimeMs;
  } catch {
    return false;
  }
  return built >= newestInput(inputs);
}

/** Records a successful build (call it after the outputs are written). */
export function markBuilt(stamp) {
  writeFileSync(stamp, `built ${new Date().toISOString()}\n`);
}
