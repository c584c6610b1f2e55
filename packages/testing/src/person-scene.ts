// A person-like picture for the video filter tests and benchmark: a head-and-shoulders figure
// (skin-toned face with hair, eyes, brows, nose, mouth, neck, a shirt with shading) in front of a
// background full of fine detail (a small coloured checkerboard with noise), drawn pixel by pixel
// so nothing binary is committed. As a Y4M file it is Chromium's fake camera
// (--use-file-for-fake-video-capture). The figure's and the background's areas are returned too,
// so a test can measure sharpness in each.

import { writeFileSync } from 'node:fs';

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface PersonScene {
  width: number;
  height: number;
  /** RGBA, row after row. */
  rgba: Uint8ClampedArray;
  /** Inside the figure (the face and the shirt), away from its edges. */
  figure: Box[];
  /** Background only, away from the figure. */
  background: Box[];
}

/** A small deterministic PRNG (mulberry32), so every run draws the same picture. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const inEllipse = (x: number, y: number, cx: number, cy: number, rx: number, ry: number): number => ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2;

/** Draws the scene at width x height (4:3 works best; the figure scales with the height). */
export function personScene(width = 640, height = 480): PersonScene {
  const rgba = new Uint8ClampedArray(width * height * 4);
  const rnd = random(22);
  const s = height / 480;
  const cx = width / 2;
  // Head, neck and shoulders, in 480-line units scaled by s.
  const head = { cx, cy: 175 * s, rx: 62 * s, ry: 80 * s };
  const hair = { cx, cy: 150 * s, rx: 70 * s, ry: 72 * s };
  const shoulderTop = 300 * s;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let r: number;
      let g: number;
      let b: number;
      // Background: 4-pixel checkerboard in varied colours, with noise.
      const cell = ((x >> 2) + (y >> 2)) & 1;
      const n = (rnd() - 0.5) * 60;
      const hue = ((x >> 5) * 7 + (y >> 5) * 13) % 6;
      const base = cell ? 200 : 60;
      r = base + n + (hue === 0 || hue === 3 ? 40 : -20);
      g = base + n + (hue === 1 || hue === 4 ? 40 : -20);
      b = base + n + (hue === 2 || hue === 5 ? 40 : -20);
      const dy = y - shoulderTop;
      // Shoulders round into a shirt that widens to the bottom of the picture.
      const halfWidth = dy < 0 ? 0 : Math.min(200 * s, 70 * s + Math.sqrt(dy / s) * 16 * s);
      const torso = dy >= 0 && Math.abs(x - cx) < halfWidth;
      const neck = Math.abs(x - cx) < 28 * s && y > head.cy + 50 * s && y < shoulderTop + 20 * s;
      if (torso) {
        // A blue shirt, lit from the upper left, with a fine weave (detail inside the figure).
        const shade = 1 - Math.abs(x - cx) / (260 * s) - dy / (900 * s);
        const weave = ((x + y) & 3) === 0 ? 18 : 0;
        r = 40 * shade + weave;
        g = 80 * shade + weave;
        b = 170 * shade + weave;
        // A collar opening (a V of skin).
        if (dy >= 0 && dy < 60 * s && Math.abs(x - cx) < 30 * s - dy / 2) [r, g, b] = [214, 160, 128];
      } else if (neck) {
        const shade = 1 - Math.abs(x - cx) / (80 * s);
        [r, g, b] = [200 * shade, 148 * shade, 118 * shade];
      }
      const h = inEllipse(x, y, head.cx, head.cy, head.rx, head.ry);
      const hairArea = inEllipse(x, y, hair.cx, hair.cy, hair.rx, hair.ry) <= 1 && y < head.cy - 25 * s;
      const sideHair = inEllipse(x, y, hair.cx, hair.cy + 20 * s, hair.rx, hair.ry) <= 1 && h > 0.85 && y < head.cy + 10 * s;
      if (h <= 1) {
        // Skin, shaded towards the edge of the face.
        const shade = 1 - 0.25 * h;
        r = 232 * shade;
        g = 178 * shade;
        b = 146 * shade;
        const fx = (x - cx) / s;
        const fy = (y - head.cy) / s;
        // Eyes (white, iris, pupil), brows, nose shadow, mouth.
        for (const ex of [-24, 24]) {
          const e = inEllipse(fx, fy, ex, -12, 13, 7);
          if (e <= 1) [r, g, b] = [245, 245, 240];
          if (inEllipse(fx, fy, ex, -12, 6, 6) <= 1) [r, g, b] = [70, 50, 30];
          if (inEllipse(fx, fy, ex, -12, 2.5, 2.5) <= 1) [r, g, b] = [10, 10, 10];
          if (Math.abs(fy + 28 - Math.abs(fx - ex) * 0.1) < 3 && Math.abs(fx - ex) < 16) [r, g, b] = [60, 40, 25];
        }
        if (Math.abs(fx) < 6 && fy > -5 && fy < 22) {
          r -= 25 * (fx + 6) / 12;
          g -= 25 * (fx + 6) / 12;
          b -= 25 * (fx + 6) / 12;
        }
        if (inEllipse(fx, fy, 0, 42, 22, 7) <= 1) [r, g, b] = [180, 70, 75];
        if (inEllipse(fx, fy, 0, 40, 20, 2) <= 1) [r, g, b] = [110, 30, 40];
        // Ears.
      } else if (inEllipse(x, y, cx - head.rx, head.cy, 12 * s, 22 * s) <= 1 || inEllipse(x, y, cx + head.rx, head.cy, 12 * s, 22 * s) <= 1) {
        [r, g, b] = [215, 160, 130];
      }
      if (hairArea || sideHair) {
        const strand = (x * 3 + (y >> 1)) % 7 === 0 ? 20 : 0;
        [r, g, b] = [60 + strand, 38 + strand, 22 + strand];
      }
      const o = (y * width + x) * 4;
      rgba[o] = r;
      rgba[o + 1] = g;
      rgba[o + 2] = b;
      rgba[o + 3] = 255;
    }
  }
  const box = (x: number, y: number, w: number, h: number): Box => ({ x: Math.round(x), y: Math.round(y), width: Math.round(w), height: Math.round(h) });
  return {
    width,
    height,
    rgba,
    // The shirt below the collar, and the cheeks and eyes.
    figure: [box(cx - 110 * s, 390 * s, 220 * s, 70 * s), box(cx - 45 * s, head.cy - 25 * s, 90 * s, 50 * s)],
    // The upper corners, far from the head and the shoulders.
    background: [box(16 * s, 16 * s, 150 * s, 150 * s), box(width - 166 * s, 16 * s, 150 * s, 150 * s)],
  };
}

/**
 * Writes the scene as a Y4M file of `frames` identical frames (4:2:0, 30 fps), which Chromium
 * loops as its fake camera. BT.601 full-range conversion ("C420jpeg").
 */
export function writeSceneY4m(path: string, scene: PersonScene, frames = 1): void {
  const { width, height, rgba } = scene;
  const y = Buffer.alloc(width * height);
  const cw = width >> 1;
  const ch = height >> 1;
  const u = Buffer.alloc(cw * ch);
  const v = Buffer.alloc(cw * ch);
  for (let i = 0; i < width * height; i++) {
    y[i] = Math.round(0.299 * rgba[i * 4]! + 0.587 * rgba[i * 4 + 1]! + 0.114 * rgba[i * 4 + 2]!);
  }
  for (let j = 0; j < ch; j++) {
    for (let i = 0; i < cw; i++) {
      let r = 0;
      let g = 0;
      let b = 0;
      for (const [dx, dy] of [[0, 0], [1, 0], [0, 1], [1, 1]] as const) {
        const o = ((j * 2 + dy) * width + i * 2 + dx) * 4;
        r += rgba[o]!;
        g += rgba[o + 1]!;
        b += rgba[o + 2]!;
      }
      r /= 4;
      g /= 4;
      b /= 4;
      u[j * cw + i] = Math.max(0, Math.min(255, Math.round(128 - 0.168736 * r - 0.331264 * g + 0.5 * b)));
      v[j * cw + i] = Math.max(0, Math.min(255, Math.round(128 + 0.5 * r - 0.418688 * g - 0.081312 * b)));
    }
  }
  const header = Buffer.from(`YUV4MPEG2 W${width} H${height} F30:1 Ip A1:1 C420jpeg\n`);
  const frame = Buffer.concat([Buffer.from('FRAME\n'), y, u, v]);
  writeFileSync(path, Buffer.concat([header, ...Array.from({ length: frames }, () => frame)]));
}

/**
 * Sharpness of a region of a grey picture: the mean absolute 4-neighbour Laplacian. Fine detail
 * (the checkerboard) gives a high figure; blur lowers it.
 */
export function laplacianSharpness(grey: ArrayLike<number>, width: number, box: Box): number {
  let sum = 0;
  let count = 0;
  for (let y = Math.max(1, box.y); y < box.y + box.height - 1; y++) {
    for (let x = Math.max(1, box.x); x < box.x + box.width - 1; x++) {
      const i = y * width + x;
      sum += Math.abs(4 * grey[i]! - grey[i - 1]! - grey[i + 1]! - grey[i - width]! - grey[i + width]!);
      count++;
    }
  }
  return count === 0 ? 0 : sum / count;
}

/** The grey level (BT.601 luma) of an RGBA picture. */
export function greyOf(rgba: ArrayLike<number>, width: number, height: number): Uint8Array {
  const grey = new Uint8Array(width * height);
  for (let i = 0; i < grey.length; i++) grey[i] = Math.round(0.299 * rgba[i * 4]! + 0.587 * rgba[i * 4 + 1]! + 0.114 * rgba[i * 4 + 2]!);
  return grey;
}

/** The mean colour [r, g, b] of a region of an RGBA picture. */
export function meanColour(rgba: ArrayLike<number>, width: number, box: Box): [number, number, number] {
  const sum = [0, 0, 0];
  let count = 0;
  for (let y = box.y; y < box.y + box.height; y++) {
    for (let x = box.x; x < box.x + box.width; x++) {
      for (let c = 0; c < 3; c++) sum[c]! += rgba[(y * width + x) * 4 + c]!;
      count++;
    }
  }
  return sum.map((v) => (count ? v / count : 0)) as [number, number, number];
}

/** A box of the scene (drawn at sceneWidth) in a picture `width` wide: the encoder may have scaled it. */
export function scaleBox(box: Box, sceneWidth: number, width: number): Box {
  const k = width / sceneWidth;
  return { x: Math.round(box.x * k), y: Math.round(box.y * k), width: Math.round(box.width * k), height: Math.round(box.height * k) };
}
