// Browser-side code shared by test pages, as source text to inline in a page's <script> (the pages
// are strings served from loopback, so they cannot import modules of this package).

/**
 * `makeCanvasTrack(width = 1280, height = 720)`: a "screen", a canvas with moving text captured at
 * 15 fps, with contentHint 'detail' as screen sharing has. Returns the MediaStreamTrack.
 */
export const CANVAS_TRACK_SCRIPT = `function makeCanvasTrack(width = 1280, height = 720) {
  const canvas = document.createElement('canvas');
  canvas.width = width; canvas.height = height;
  const ctx = canvas.getContext('2d');
  let n = 0;
  setInterval(() => {
    ctx.fillStyle = '#fff'; ctx.fillRect(0, 0, width, height);
    ctx.fillStyle = '#000'; ctx.font = Math.round(height / 15) + 'px sans-serif'; ctx.fillText('slide ' + (n++), width / 12 + (n % 500), 200);
  }, 66);
  const track = canvas.captureStream(15).getVideoTracks()[0];
  track.contentHint = 'detail';
  return track;
}`;
