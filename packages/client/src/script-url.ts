// Where this SDK was loaded from. The script-tag bundle reads document.currentScript while it runs
// (it is only set then): sessions connect to that server by default, and the video filters load
// their models from folders beside the script (/v2/js/mediapipe/, /v2/js/noise-suppressor/).

/** The URL of the running script (dist/opentok.js), or null (an ES module build, an unusual embedding). */
export const sdkScriptUrl: URL | null = (() => {
  try {
    const script = typeof document !== 'undefined' ? document.currentScript : null;
    if (script && 'src' in script && typeof script.src === 'string' && script.src) return new URL(script.src);
  } catch {
    // Fall back to the page's origin.
  }
  return null;
})();

/**
 * The folder of a filter's model files, ending in '/' — 'mediapipe' (the segmentation model of the
 * video filters) or 'noise-suppressor' (RNNoise): beside the script tag's bundle (/v2/js/<folder>/
 * of the server that served it); for the ES module build, /v2/js/<folder>/ of the page's origin
 * (an app that bundles the SDK proxies that path to its Colloquy server).
 */
export function sdkAssetBase(folder: 'mediapipe' | 'noise-suppressor'): string {
  if (sdkScriptUrl) return new URL(`${folder}/`, sdkScriptUrl).href;
  const origin = typeof location !== 'undefined' && /^https?:$/.test(location.protocol) ? location.origin : 'http://127.0.0.1:3000';
  return `${origin}/v2/js/${folder}/`;
}
