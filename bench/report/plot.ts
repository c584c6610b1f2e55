// A line chart as SVG (no dependencies): cost per forwarded packet against subscribers, one line
// per server and bitrate, log-log axes. Rasterised to PNG by Chromium (png.ts).

export interface Series {
  label: string;
  color: string;
  dashed?: boolean;
  points: { x: number; y: number }[];
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  width?: number;
  height?: number;
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function niceLogTicks(min: number, max: number): number[] {
  const ticks: number[] = [];
  for (let e = Math.floor(Math.log10(min)); e <= Math.ceil(Math.log10(max)); e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (v >= min * 0.999 && v <= max * 1.001) ticks.push(v);
    }
  }
  return ticks;
}

export function lineChartSvg(o: ChartOptions): string {
  const width = o.width ?? 800;
  const height = o.height ?? 480;
  const m = { left: 70, right: 190, top: 46, bottom: 56 };
  const all = o.series.flatMap((s) => s.points).filter((p) => p.x > 0 && p.y > 0 && Number.isFinite(p.y));
  if (all.length === 0) return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><text x="20" y="40">no data</text></svg>`;
  const xs = all.map((p) => p.x);
  const ys = all.map((p) => p.y);
  const xMin = Math.min(...xs);
  const xMax = Math.max(...xs);
  const yMin = 10 ** Math.floor(Math.log10(Math.min(...ys)));
  const yMax = 10 ** Math.ceil(Math.log10(Math.max(...ys)));
  const lx = (x: number): number => m.left + ((Math.log10(x) - Math.log10(xMin)) / (Math.log10(xMax) - Math.log10(xMin) || 1)) * (width - m.left - m.right);
  const ly = (y: number): number => height - m.bottom - ((Math.log10(y) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin) || 1)) * (height - m.top - m.bottom);
  const parts: string[] = [];
  parts.push(`<rect width="${width}" height="${height}" fill="#fff"/>`);
  parts.push(`<text x="${m.left}" y="26" font-size="17" font-weight="600">${esc(o.title)}</text>`);
  for (const t of niceLogTicks(yMin, yMax)) {
    parts.push(`<line x1="${m.left}" x2="${width - m.right}" y1="${ly(t)}" y2="${ly(t)}" stroke="#e3e3e3"/>`);
    parts.push(`<text x="${m.left - 8}" y="${ly(t) + 4}" font-size="12" text-anchor="end">${t}</text>`);
  }
  for (const x of [...new Set(xs)].sort((a, b) => a - b)) {
    parts.push(`<line x1="${lx(x)}" x2="${lx(x)}" y1="${m.top}" y2="${height - m.bottom}" stroke="#f0f0f0"/>`);
    parts.push(`<text x="${lx(x)}" y="${height - m.bottom + 18}" font-size="12" text-anchor="middle">${x}</text>`);
  }
  parts.push(`<rect x="${m.left}" y="${m.top}" width="${width - m.left - m.right}" height="${height - m.top - m.bottom}" fill="none" stroke="#999"/>`);
  parts.push(`<text x="${(m.left + width - m.right) / 2}" y="${height - 14}" font-size="13" text-anchor="middle">${esc(o.xLabel)}</text>`);
  parts.push(`<text transform="translate(18 ${(m.top + height - m.bottom) / 2}) rotate(-90)" font-size="13" text-anchor="middle">${esc(o.yLabel)}</text>`);
  o.series.forEach((s, i) => {
    const pts = s.points.filter((p) => p.x > 0 && p.y > 0 && Number.isFinite(p.y)).sort((a, b) => a.x - b.x);
    if (pts.length === 0) return;
    const d = pts.map((p, j) => `${j ? 'L' : 'M'}${lx(p.x).toFixed(1)},${ly(p.y).toFixed(1)}`).join(' ');
    parts.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2.5"${s.dashed ? ' stroke-dasharray="7 5"' : ''}/>`);
    for (const p of pts) {
      parts.push(`<circle cx="${lx(p.x).toFixed(1)}" cy="${ly(p.y).toFixed(1)}" r="4" fill="${s.color}"/>`);
      // Alternate labels above and below the line, so that close values of two series stay readable.
      const dy = [-7, 16, -19, 28][i % 4]!;
      parts.push(`<text x="${(lx(p.x) + 6).toFixed(1)}" y="${(ly(p.y) + dy).toFixed(1)}" font-size="11" fill="${s.color}">${p.y < 10 ? p.y.toFixed(1) : Math.round(p.y)}</text>`);
    }
    const y = m.top + 14 + i * 22;
    const x = width - m.right + 16;
    parts.push(`<line x1="${x}" x2="${x + 28}" y1="${y}" y2="${y}" stroke="${s.color}" stroke-width="2.5"${s.dashed ? ' stroke-dasharray="7 5"' : ''}/>`);
    parts.push(`<text x="${x + 34}" y="${y + 4}" font-size="12">${esc(s.label)}</text>`);
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="DejaVu Sans, Arial, sans-serif">${parts.join('')}</svg>\n`;
}
