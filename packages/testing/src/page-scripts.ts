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

/**
 * `makePanTrack(width, height, fps)`: a canvas track panning across a fine random texture (2x2
 * pixel blocks, drawn once, twice the picture's size) a few pixels per frame, with a bright
 * square crossing it: like a detailed camera picture in motion. Unlike makeNoiseTrack's frames,
 * each frame is largely predicted from the one before, so the encoder's rate control can meet
 * its target (noise that no frame predicts made VP8 overshoot at its coarsest quantizer and
 * Chromium's encoder target sink to half its estimate, measured); and it still wants more than a
 * weak uplink carries (about 1.5 Mbps at 640x360, 30 fps unlimited).
 */
export const PAN_TRACK_SCRIPT = `function makePanTrack(width = 640, height = 360, fps = 30) {
  const canvas = document.createElement('canvas');
  canvas.width = width; canvas.height = height;
  const ctx = canvas.getContext('2d');
  const texture = document.createElement('canvas');
  texture.width = width * 2; texture.height = height * 2;
  const tctx = texture.getContext('2d');
  const image = tctx.createImageData(texture.width, texture.height);
  let seed = 12345;
  const rnd = () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed / 0x7fffffff; };
  for (let y = 0; y < texture.height; y += 2) {
    for (let x = 0; x < texture.width; x += 2) {
      const v = (rnd() * 256) | 0;
      const r = v, g = (v * 7) & 255, b = (v * 13) & 255;
      for (let dy = 0; dy < 2; dy++) for (let dx = 0; dx < 2; dx++) {
        const i = ((y + dy) * texture.width + x + dx) * 4;
        image.data[i] = r; image.data[i + 1] = g; image.data[i + 2] = b; image.data[i + 3] = 255;
      }
    }
  }
  tctx.putImageData(image, 0, 0);
  let n = 0;
  setInterval(() => {
    n++;
    const x = (n * 3) % width, y = (n * 2) % height;
    ctx.drawImage(texture, x, y, width, height, 0, 0, width, height);
    ctx.fillStyle = '#ff0';
    ctx.fillRect((n * 7) % width, height / 3, width / 8, height / 4);
  }, 1000 / fps);
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
