// Where each stream's video goes in a composed archive: OpenTok's layout types (bestFit, pip,
// verticalPresentation, horizontalPresentation, focus, custom with a stylesheet), its screen-share
// layout (`screenshareType`) and its stream prioritization rules. Pure geometry, no ffmpeg.

import { invalid } from '../errors.js';
import { layoutWithStylesheet, parseStylesheet, StylesheetError, type BoxGeometry } from './layout-css.js';

export const LAYOUT_TYPES = ['bestFit', 'pip', 'verticalPresentation', 'horizontalPresentation', 'focus', 'custom'] as const;
export type LayoutType = (typeof LAYOUT_TYPES)[number];
export const SCREENSHARE_TYPES = ['bestFit', 'pip', 'verticalPresentation', 'horizontalPresentation'] as const;
export type ScreenshareType = (typeof SCREENSHARE_TYPES)[number];

export interface ArchiveLayout {
  type: LayoutType;
  /** Only with `custom`. */
  stylesheet?: string;
  /** Only with `bestFit`: the layout to use while a screen-sharing stream is in the archive. */
  screenshareType?: ScreenshareType;
}

export const DEFAULT_LAYOUT: ArchiveLayout = { type: 'bestFit' };

/** Composed archives show at most this many videos (OpenTok's limit). */
export const MAX_VIDEO_STREAMS = 16;

/** A stream as the layout sees it. */
export interface LayoutStream {
  streamId: string;
  connectionId: string;
  videoType: 'camera' | 'screen' | 'custom';
  layoutClassList: string[];
  /** When it joined the archive (ms): the tie-break of the prioritization rules. */
  addedAt: number;
}

export interface Box extends BoxGeometry {
  streamId: string;
}

/** Checks a layout given by REST (400 on anything OpenTok refuses or we cannot render). */
export function validateLayout(input: { type?: unknown; stylesheet?: unknown; screenshareType?: unknown }): ArchiveLayout {
  const type = input.type;
  if (typeof type !== 'string' || !(LAYOUT_TYPES as readonly string[]).includes(type)) {
    throw invalid(`Invalid layout type: must be one of ${LAYOUT_TYPES.join(', ')}`);
  }
  const layout: ArchiveLayout = { type: type as LayoutType };
  const stylesheet = input.stylesheet ?? undefined;
  const screenshareType = input.screenshareType ?? undefined;
  if (type === 'custom') {
    if (typeof stylesheet !== 'string' || stylesheet.trim() === '') throw invalid('A custom layout needs a stylesheet');
    try {
      parseStylesheet(stylesheet);
    } catch (err) {
      if (err instanceof StylesheetError) throw invalid(`Invalid stylesheet: ${err.message}`);
      throw err;
    }
    layout.stylesheet = stylesheet;
  } else if (stylesheet !== undefined && stylesheet !== '') {
    throw invalid('A stylesheet is only allowed with the custom layout type');
  }
  if (screenshareType !== undefined) {
    if (typeof screenshareType !== 'string' || !(SCREENSHARE_TYPES as readonly string[]).includes(screenshareType)) {
      throw invalid(`Invalid screenshareType: must be one of ${SCREENSHARE_TYPES.join(', ')}`);
    }
    if (type !== 'bestFit') throw invalid('screenshareType requires the layout type bestFit');
    layout.screenshareType = screenshareType as ScreenshareType;
  }
  return layout;
}

/**
 * OpenTok's prioritization: streams with layout classes first, then the others; within each tier
 * screen shares, then cameras of clients that also share their screen, (lower tier: then streams
 * of clients whose other stream has classes), then by the time they joined.
 */
export function prioritize(streams: LayoutStream[]): LayoutStream[] {
  const screenSharers = new Set(streams.filter((s) => s.videoType === 'screen').map((s) => s.connectionId));
  const upperTierConnections = new Set(streams.filter((s) => s.layoutClassList.length > 0).map((s) => s.connectionId));
  const rank = (s: LayoutStream): number => {
    const upper = s.layoutClassList.length > 0;
    let within: number;
    if (s.videoType === 'screen') within = 0;
    else if (screenSharers.has(s.connectionId)) within = 1;
    else if (!upper && upperTierConnections.has(s.connectionId)) within = 2;
    else within = 3;
    return (upper ? 0 : 10) + within;
  };
  return streams
    .map((s, i) => ({ s, i }))
    .sort((a, b) => rank(a.s) - rank(b.s) || a.s.addedAt - b.s.addedAt || a.i - b.i)
    .map(({ s }) => s);
}

/** Boxes for the visible streams (already in priority order) on a `width`×`height` canvas. */
export function computeLayout(layout: ArchiveLayout, streams: LayoutStream[], width: number, height: number): Box[] {
  const shown = streams.slice(0, MAX_VIDEO_STREAMS);
  if (shown.length === 0) return [];
  const portrait = height > width;
  if (layout.type === 'bestFit' && layout.screenshareType) {
    const screen = shown.find((s) => s.videoType === 'screen');
    if (screen) {
      if (layout.screenshareType === 'bestFit') return grid(shown.filter((s) => s.videoType === 'screen'), width, height, portrait);
      return presentation(layout.screenshareType, screen, shown, width, height, portrait);
    }
  }
  switch (layout.type) {
    case 'bestFit':
      return grid(shown, width, height, portrait);
    case 'pip':
      return presentation('pip', pickByClass(shown, 'full'), shown, width, height, portrait);
    case 'verticalPresentation':
    case 'horizontalPresentation':
      return presentation(layout.type, pickByClass(shown, 'focus'), shown, width, height, portrait);
    case 'focus': {
      const focus = pickByClass(shown, 'focus');
      return [box(focus.streamId, 0, 0, width, height, 0)];
    }
    case 'custom': {
      const rules = parseStylesheet(layout.stylesheet ?? '');
      return layoutWithStylesheet(
        rules,
        shown.map((s) => s.layoutClassList),
        width,
        height,
      ).map((b) => ({ ...box(shown[b.index]!.streamId, b.x, b.y, b.width, b.height, b.z), fit: b.fit }));
    }
  }
}

function pickByClass(streams: LayoutStream[], cls: string): LayoutStream {
  return streams.find((s) => s.layoutClassList.includes(cls)) ?? streams[0]!;
}

/** Even integers (4:2:0 video), at least 2×2. */
function box(streamId: string, x: number, y: number, w: number, h: number, z: number): Box {
  const even = (v: number) => Math.round(v / 2) * 2;
  return { streamId, x: even(x), y: even(y), width: Math.max(2, even(w)), height: Math.max(2, even(h)), z, fit: 'contain' };
}

/** bestFit: 1, 2 side by side (stacked in portrait), 2×2 up to 4, 3×3 up to 9, 4×4 up to 16. */
function grid(streams: LayoutStream[], width: number, height: number, portrait: boolean): Box[] {
  const n = streams.length;
  let cols: number;
  let rows: number;
  if (n === 1) [cols, rows] = [1, 1];
  else if (n === 2) [cols, rows] = portrait ? [1, 2] : [2, 1];
  else if (n <= 4) [cols, rows] = [2, 2];
  else if (n <= 9) [cols, rows] = [3, 3];
  else [cols, rows] = [4, 4];
  const w = width / cols;
  const h = height / rows;
  return streams.map((s, i) => box(s.streamId, (i % cols) * w, Math.floor(i / cols) * h, w, h, 0));
}

/**
 * pip: the main stream fills the frame, the next one sits in a corner (right 10 %, top 10 %, 20 %
 * of each side, as OpenTok's stylesheet for it). Presentations: the main stream takes 80 % (right
 * for vertical, top for horizontal); the others line the remaining edge, 20 % each or sharing it
 * evenly when there are more than five.
 */
function presentation(type: ScreenshareType, main: LayoutStream, streams: LayoutStream[], width: number, height: number, portrait: boolean): Box[] {
  const others = streams.filter((s) => s !== main);
  if (type === 'pip') {
    const boxes = [box(main.streamId, 0, 0, width, height, 0)];
    const corner = others[0];
    if (corner) boxes.push(box(corner.streamId, width * 0.7, height * 0.1, width * 0.2, height * 0.2, 1));
    return boxes;
  }
  const fhd = Math.max(width, height) >= 1920;
  if (type === 'verticalPresentation') {
    const max = portrait ? (fhd ? 10 : 8) : fhd ? 7 : 5;
    const shown = others.slice(0, max);
    const h = height / Math.max(shown.length, 5);
    return [box(main.streamId, width * 0.2, 0, width * 0.8, height, 0), ...shown.map((s, i) => box(s.streamId, 0, i * h, width * 0.2, h, 0))];
  }
  if (type === 'horizontalPresentation') {
    const max = portrait ? 3 : fhd ? 7 : 5;
    const shown = others.slice(0, max);
    const w = width / Math.max(shown.length, 5);
    return [box(main.streamId, 0, 0, width, height * 0.8, 0), ...shown.map((s, i) => box(s.streamId, i * w, height * 0.8, w, height * 0.2, 0))];
  }
  return grid(streams, width, height, portrait);
}

export function parseResolution(resolution: string): { width: number; height: number } {
  const m = /^(\d+)x(\d+)$/.exec(resolution);
  if (!m) throw invalid(`Invalid resolution "${resolution}"`);
  return { width: Number(m[1]), height: Number(m[2]) };
}
