// Browser-side code shared by test pages, as source text to inline in a page's <script> (the pages
// are strings served from loopback, so they cannot import modules of this package).

/**
 * `makeCanvasTrack(width = 1280, height = 720)`: a "screen", a canvas with moving text captured at
 * 15 fps, with contentHint 'detail' as screen sharing has. Returns the MediaStreamTrack.
 */
/**
 * `makeNoiseTrack(width, height, fps)`: a canvas track showing one of eight precomputed frames of
 * random 4x4-pixel blocks at random each frame, so that no frame predicts the next: a source that
 * fills whatever bitrate the encoder is given (the way a detailed, moving camera picture wants
 * more than a weak uplink carries), at the cost of a drawImage per frame.
 */
export const NOISE_TRACK_SCRIPT = `function makeNoiseTrack(width = 640, height = 360, fps = 30) {
  const canvas = document.createElement('canvas');
  canvas.width = width; canvas.height = height;
  const ctx = canvas.getContext('2d');
  const frames = [];
  for (let f = 0; f < 8; f++) {
    const frame = document.createElement('canvas');
    frame.width = width; frame.height = height;
    const fctx = frame.getContext('2d');
    for (let y = 0; y < height; y += 4) {
      for (let x = 0; x < width; x += 4) {
        const v = (Math.random() * 256) | 0;
        fctx.fillStyle = 'rgb(' + v + ',' + ((v * 7) & 255) + ',' + ((v * 13) & 255) + ')';
        fctx.fillRect(x, y, 4, 4);
      }
    }
    frames.push(frame);
  }
  setInterval(() => ctx.drawImage(frames[(Math.random() * frames.length) | 0], 0, 0), 1000 / fps);
  return canvas.captureStream(fps).getVideoTracks()[0];
}`;

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
