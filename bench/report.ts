/** Formatting and small statistics for the bench's output. */

/** A Markdown table; `align` has one letter per column, l or r (default: first left, others right). */
export function table(headers: string[], rows: string[][], align = 'l' + 'r'.repeat(headers.length - 1)): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const right = (i: number) => align[i] === 'r';
  const line = (cells: string[]) => '| ' + widths.map((w, i) => (right(i) ? (cells[i] ?? '').padStart(w) : (cells[i] ?? '').padEnd(w))).join(' | ') + ' |';
  const rule = '|' + widths.map((w, i) => '-'.repeat(w + 1) + (right(i) ? ':' : '-')).join('|') + '|';
  return [line(headers), rule, ...rows.map(line)].join('\n');
}

export function median(values: readonly number[]): number {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export const ms = (v: number, digits = 2) => (Number.isNaN(v) ? 'n/a' : `${v.toFixed(digits)} ms`);
export const signedMs = (v: number) => (Number.isNaN(v) ? 'n/a' : Math.abs(v) < 0.005 ? '±0.00 ms' : `${v > 0 ? '+' : '−'}${Math.abs(v).toFixed(2)} ms`);
export const pct = (v: number) => (Number.isNaN(v) || !Number.isFinite(v) ? 'n/a' : `${v.toFixed(0)} %`);
export const times = (v: number) => (Number.isNaN(v) || !Number.isFinite(v) ? 'n/a' : `${v.toFixed(2)}×`);
/** KiB (ru_maxrss, VmHWM) as decimal MB, the unit of issue 8's target. */
export const mb = (kib: number) => (Number.isNaN(kib) ? 'n/a' : `${((kib * 1024) / 1e6).toFixed(0)} MB`);

/** "3.04 ms (2.95–3.12)": the median of the rounds and their range, when there is more than one. */
export function withRange(values: readonly number[], format: (v: number) => string): string {
  const m = median(values);
  if (values.length < 2) return format(m);
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  return `${format(m)} (${format(lo).replace(/ .*$/, '')}–${format(hi).replace(/ .*$/, '')})`;
}
