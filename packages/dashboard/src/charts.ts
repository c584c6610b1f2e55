// Time-series line charts drawn as SVG: a few hundred points per line, no dependency. A chart is a
// title, the plot (y ticks, time ticks, one polyline per series, gaps where there is no data), a
// legend, and a hover readout of every series at the nearest time.

import { formatTime, h } from './dom';

export interface Series {
  label: string;
  points: Array<[t: number, value: number | null]>;
  color?: string;
  /** Drawn dashed (the Inspector uses it for what browsers reported, beside the server's view). */
  dashed?: boolean;
}

export interface ChartOptions {
  title: string;
  format: (value: number) => string;
  /** Time range shown; by default the data's. */
  from?: number;
  to?: number;
  /** Lowest y shown (default 0). */
  yMin?: number;
  /** Smallest top of the y axis, so a flat zero line does not fill the chart. */
  yMinTop?: number;
}

export const PALETTE = ['#2f5bea', '#e8590c', '#2b8a3e', '#ae3ec9', '#c92a2a', '#1098ad', '#5c940d', '#d6336c', '#495057'];

/**
 * One colour family per direction, so a chart reads at a glance: what flows into the server (from
 * publishers; what browsers send) in blues, what flows out (to subscribers; what browsers receive)
 * in oranges. Shades of a family tell the lines of one direction apart.
 */
export const DIRECTION_SHADES = {
  in: ['#1d4ed8', '#0e7490', '#60a5fa', '#1e3a8a'],
  out: ['#ea580c', '#a16207', '#f59e0b', '#9a3412', '#fdba74', '#713f12'],
} as const;
export type Direction = keyof typeof DIRECTION_SHADES;

export function directionColor(direction: Direction, index: number): string {
  const shades = DIRECTION_SHADES[direction];
  return shades[index % shades.length]!;
}

const W = 560;
const H = 180;
const M = { left: 64, right: 12, top: 10, bottom: 24 };
const SVG = 'http://www.w3.org/2000/svg';

function s<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>, text?: string): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

/** Round numbers for axis ticks: 1, 2 or 5 times a power of ten. */
function niceStep(range: number, count: number): number {
  const raw = range / Math.max(1, count);
  const pow = 10 ** Math.floor(Math.log10(raw));
  const n = raw / pow;
  return (n <= 1 ? 1 : n <= 2 ? 2 : n <= 5 ? 5 : 10) * pow;
}

export function lineChart(series: Series[], options: ChartOptions): HTMLElement {
  const all = series.flatMap((x) => x.points);
  const values = all.map((p) => p[1]).filter((v): v is number => v !== null && Number.isFinite(v));
  const times = all.map((p) => p[0]);
  const from = options.from ?? (times.length ? Math.min(...times) : Date.now() - 60_000);
  let to = options.to ?? (times.length ? Math.max(...times) : Date.now());
  if (to <= from) to = from + 1000;
  const yMin = options.yMin ?? 0;
  let yMax = Math.max(options.yMinTop ?? 0, values.length ? Math.max(...values) : 1);
  if (yMax <= yMin) yMax = yMin + 1;
  const step = niceStep(yMax - yMin, 4);
  yMax = Math.ceil(yMax / step) * step;
  const x = (t: number) => M.left + ((t - from) / (to - from)) * (W - M.left - M.right);
  const y = (v: number) => H - M.bottom - ((v - yMin) / (yMax - yMin)) * (H - M.top - M.bottom);

  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart-svg', role: 'img', 'aria-label': options.title });
  for (let v = yMin; v <= yMax + step / 2; v += step) {
    svg.append(s('line', { x1: M.left, x2: W - M.right, y1: y(v), y2: y(v), class: 'grid' }));
    svg.append(s('text', { x: M.left - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'tick' }, options.format(v)));
  }
  for (const t of [from, from + (to - from) / 2, to]) {
    svg.append(s('text', { x: x(t), y: H - 6, 'text-anchor': t === from ? 'start' : t === to ? 'end' : 'middle', class: 'tick' }, formatTime(t)));
  }
  series.forEach((ser, i) => {
    const color = ser.color ?? PALETTE[i % PALETTE.length]!;
    // One polyline per run of known values: a gap in the data is a gap in the line.
    let run: string[] = [];
    const flush = () => {
      if (run.length === 1) {
        const [px, py] = run[0]!.split(',');
        svg.append(s('circle', { cx: px!, cy: py!, r: 2.5, fill: color, class: 'series' }));
      } else if (run.length > 1) {
        svg.append(s('polyline', { points: run.join(' '), fill: 'none', stroke: color, 'stroke-width': ser.dashed ? 1.5 : 2, ...(ser.dashed ? { 'stroke-dasharray': '5 3' } : {}), class: 'series' }));
      }
      run = [];
    };
    for (const [t, v] of ser.points) {
      if (v === null || !Number.isFinite(v)) flush();
      else run.push(`${x(t).toFixed(1)},${y(Math.min(yMax, Math.max(yMin, v))).toFixed(1)}`);
    }
    flush();
  });
  const cursor = s('line', { x1: 0, x2: 0, y1: M.top, y2: H - M.bottom, class: 'cursor', visibility: 'hidden' });
  svg.append(cursor);

  const readout = h('div', { class: 'chart-readout' });
  const box = h(
    'div',
    { class: 'chart' },
    h('div', { class: 'chart-title' }, options.title),
    svg,
    h(
      'div',
      { class: 'legend' },
      series.map((ser, i) => {
        const color = ser.color ?? PALETTE[i % PALETTE.length];
        return h('span', { class: 'legend-item', 'data-color': color }, h('i', { class: ser.dashed ? 'dashed' : '', style: ser.dashed ? `border-color:${color}` : `background:${color}` }), ser.label);
      }),
    ),
    readout,
  );
  if (series.length === 0 || values.length === 0) box.append(h('div', { class: 'chart-empty' }, 'no data'));
  svg.addEventListener('mousemove', (ev) => {
    const rect = svg.getBoundingClientRect();
    const px = ((ev.clientX - rect.left) / rect.width) * W;
    const t = from + ((px - M.left) / (W - M.left - M.right)) * (to - from);
    cursor.setAttribute('x1', String(px));
    cursor.setAttribute('x2', String(px));
    cursor.setAttribute('visibility', 'visible');
    const parts = series.map((ser) => {
      let best: [number, number | null] | undefined;
      for (const p of ser.points) if (!best || Math.abs(p[0] - t) < Math.abs(best[0] - t)) best = p;
      return `${ser.label}: ${best && best[1] !== null ? options.format(best[1]) : '—'}`;
    });
    readout.textContent = `${formatTime(t)} · ${parts.join(' · ')}`;
  });
  svg.addEventListener('mouseleave', () => {
    cursor.setAttribute('visibility', 'hidden');
    readout.textContent = '';
  });
  return box;
}
