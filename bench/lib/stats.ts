// Small helpers for benchmark output: medians and fixed-width tables.

export function median(values: number[]): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

export function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  const n = raw === undefined ? NaN : Number(raw);
  return Number.isInteger(n) && n > 0 ? n : fallback;
}

export function kbps(bps: number | null | undefined): string {
  return bps === null || bps === undefined || !Number.isFinite(bps) ? '-' : `${Math.round(bps / 1000)}`;
}

export function table(rows: (string | number)[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => String(r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => String(c).padStart(widths[i]!)).join('  ')).join('\n');
}

/** The p-th percentile (0-100) of the finite values, nearest-rank; NaN when there are none. */
export function percentile(values: number[], p: number): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const rank = Math.min(v.length - 1, Math.max(0, Math.ceil((p / 100) * v.length) - 1));
  return v[rank]!;
}

/** A number rounded for a table: '-' for NaN/null, `digits` decimals. */
export function fmt(value: number | null | undefined, digits = 0): string {
  return value === null || value === undefined || !Number.isFinite(value) ? '-' : value.toFixed(digits);
}

/** Median µs per call of `fn` over `rounds` rounds of `ops` calls (awaited one at a time). */
export async function medianMicros(rounds: number, ops: number, fn: () => unknown): Promise<number> {
  const perRound: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < ops; i++) await fn();
    perRound.push(Number(process.hrtime.bigint() - start) / 1000 / ops);
  }
  return median(perRound);
}
