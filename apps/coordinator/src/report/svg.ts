/**
 * Hand-written SVG charts for the report and the live page (pure string builders, no chart
 * library): a metric against budget with one line per method and the reference as a horizontal
 * line, ROC curves, and small loss-over-time plots. Every chart carries a <title> and a legend, and
 * uses system fonts only (the report opens offline).
 */
import { escapeHtml } from './format';

export const METHOD_COLORS: Record<string, string> = {
  baseline: '#6b6b6b',
  dcgan: '#1f77b4',
  pggan: '#d62728',
  cyclegan: '#2ca02c',
  reference: '#111111',
};
const ROC_COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#17becf'];
const LOSS_COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd'];
const EXTRA_COLORS = ['#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22', '#ff7f0e'];

export function colorFor(key: string, i: number): string {
  return METHOD_COLORS[key] ?? EXTRA_COLORS[i % EXTRA_COLORS.length];
}

export interface LineSeries {
  key: string;
  label: string;
  /** One value per x position; null where there is no result. */
  values: Array<number | null>;
  /** Error bar half-widths (standard deviation over repeats), or null. */
  errors?: Array<number | null>;
}

export interface LineChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  /** Category labels along x (budgets), evenly spaced. */
  x: Array<string | number>;
  series: LineSeries[];
  reference?: { label: string; value: number } | null;
  width?: number;
  height?: number;
}

const f = (v: number): string => (Math.round(v * 10) / 10).toString();

function niceRange(values: number[]): [number, number] {
  if (values.length === 0) return [0, 1];
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  lo = Math.floor((lo - 0.02) * 20) / 20;
  hi = Math.ceil((hi + 0.02) * 20) / 20;
  lo = Math.max(0, lo);
  hi = Math.min(1, hi);
  if (hi - lo < 0.1) {
    lo = Math.max(0, hi - 0.1);
    hi = Math.min(1, lo + 0.1);
  }
  return [lo, hi];
}

/** A metric against budget: one polyline per method (gaps where a value is missing), the reference dashed. */
export function lineChart(o: LineChartOptions): string {
  const W = o.width ?? 560;
  const H = o.height ?? 340;
  const m = { l: 56, r: 150, t: 34, b: 48 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const all: number[] = [];
  o.series.forEach((s) =>
    s.values.forEach((v, i) => {
      if (v === null || !Number.isFinite(v)) return;
      const e = s.errors?.[i] ?? 0;
      all.push(v - e, v + e);
    }),
  );
  if (o.reference && Number.isFinite(o.reference.value)) all.push(o.reference.value);
  const [lo, hi] = niceRange(all);
  const n = Math.max(1, o.x.length);
  const xAt = (i: number): number => m.l + (n === 1 ? pw / 2 : (i * pw) / (n - 1));
  const yAt = (v: number): number => m.t + ph - ((v - lo) / (hi - lo)) * ph;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, sans-serif" font-size="12">`);
  parts.push(`<title>${escapeHtml(o.title)}</title>`);
  parts.push(`<text x="${m.l}" y="20" font-size="14" font-weight="600">${escapeHtml(o.title)}</text>`);
  // Grid and y ticks.
  const step = hi - lo > 0.4 ? 0.1 : 0.05;
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + 1e-9; v += step) {
    const y = yAt(v);
    parts.push(`<line x1="${m.l}" x2="${m.l + pw}" y1="${f(y)}" y2="${f(y)}" stroke="#e3e3e3"/>`);
    parts.push(`<text x="${m.l - 6}" y="${f(y + 4)}" text-anchor="end">${v.toFixed(2)}</text>`);
  }
  parts.push(`<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`);
  o.x.forEach((label, i) => {
    parts.push(`<line x1="${f(xAt(i))}" x2="${f(xAt(i))}" y1="${m.t + ph}" y2="${m.t + ph + 5}" stroke="#999"/>`);
    parts.push(`<text x="${f(xAt(i))}" y="${m.t + ph + 18}" text-anchor="middle">${escapeHtml(String(label))}</text>`);
  });
  parts.push(`<text x="${m.l + pw / 2}" y="${H - 8}" text-anchor="middle">${escapeHtml(o.xLabel)}</text>`);
  parts.push(`<text transform="translate(14 ${m.t + ph / 2}) rotate(-90)" text-anchor="middle">${escapeHtml(o.yLabel)}</text>`);
  const legend: Array<{ label: string; color: string; dashed: boolean }> = [];
  if (o.reference && Number.isFinite(o.reference.value)) {
    const y = yAt(o.reference.value);
    parts.push(`<line class="reference" x1="${m.l}" x2="${m.l + pw}" y1="${f(y)}" y2="${f(y)}" stroke="${METHOD_COLORS.reference}" stroke-width="1.5" stroke-dasharray="6 4"/>`);
    legend.push({ label: o.reference.label, color: METHOD_COLORS.reference, dashed: true });
  }
  o.series.forEach((s, si) => {
    const color = colorFor(s.key, si);
    legend.push({ label: s.label, color, dashed: false });
    // Polyline segments between consecutive present values.
    let seg: string[] = [];
    const flush = (): void => {
      if (seg.length > 1) parts.push(`<polyline class="series" data-series="${escapeHtml(s.key)}" points="${seg.join(' ')}" fill="none" stroke="${color}" stroke-width="2"/>`);
      seg = [];
    };
    s.values.forEach((v, i) => {
      if (v === null || !Number.isFinite(v)) {
        flush();
        return;
      }
      seg.push(`${f(xAt(i))},${f(yAt(v))}`);
    });
    flush();
    s.values.forEach((v, i) => {
      if (v === null || !Number.isFinite(v)) return;
      const e = s.errors?.[i];
      if (e !== null && e !== undefined && e > 0) {
        parts.push(`<line x1="${f(xAt(i))}" x2="${f(xAt(i))}" y1="${f(yAt(Math.min(hi, v + e)))}" y2="${f(yAt(Math.max(lo, v - e)))}" stroke="${color}" stroke-width="1"/>`);
      }
      parts.push(`<circle cx="${f(xAt(i))}" cy="${f(yAt(v))}" r="3.5" fill="${color}"><title>${escapeHtml(`${s.label} @ ${o.x[i]}: ${v.toFixed(3)}${e ? ` ± ${e.toFixed(3)}` : ''}`)}</title></circle>`);
    });
  });
  legend.forEach((l, i) => {
    const y = m.t + 8 + i * 18;
    const x = m.l + pw + 14;
    parts.push(`<line x1="${x}" x2="${x + 22}" y1="${y}" y2="${y}" stroke="${l.color}" stroke-width="2"${l.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
    parts.push(`<text x="${x + 28}" y="${y + 4}">${escapeHtml(l.label)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

export interface RocChartSeries {
  key: string;
  label: string;
  fpr: number[];
  tpr: number[];
}

/** ROC curves on the unit square, with the chance diagonal. */
export function rocChart(title: string, series: RocChartSeries[], size = 380): string {
  const W = size + 270;
  const H = size;
  const m = { l: 50, r: 10, t: 30, b: 42 };
  const pw = size - m.l - m.r;
  const ph = H - m.t - m.b;
  const xAt = (v: number): number => m.l + v * pw;
  const yAt = (v: number): number => m.t + ph - v * ph;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" class="chart roc" role="img" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, sans-serif" font-size="12">`);
  parts.push(`<title>${escapeHtml(title)}</title>`);
  parts.push(`<text x="${m.l}" y="20" font-size="14" font-weight="600">${escapeHtml(title)}</text>`);
  for (let v = 0; v <= 1.0001; v += 0.2) {
    parts.push(`<line x1="${f(xAt(v))}" x2="${f(xAt(v))}" y1="${m.t}" y2="${m.t + ph}" stroke="#eee"/><line x1="${m.l}" x2="${m.l + pw}" y1="${f(yAt(v))}" y2="${f(yAt(v))}" stroke="#eee"/>`);
    parts.push(`<text x="${f(xAt(v))}" y="${m.t + ph + 16}" text-anchor="middle">${v.toFixed(1)}</text><text x="${m.l - 6}" y="${f(yAt(v) + 4)}" text-anchor="end">${v.toFixed(1)}</text>`);
  }
  parts.push(`<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`);
  parts.push(`<line x1="${xAt(0)}" y1="${yAt(0)}" x2="${xAt(1)}" y2="${yAt(1)}" stroke="#bbb" stroke-dasharray="4 4"/>`);
  parts.push(`<text x="${m.l + pw / 2}" y="${H - 6}" text-anchor="middle">false positive rate</text>`);
  parts.push(`<text transform="translate(14 ${m.t + ph / 2}) rotate(-90)" text-anchor="middle">true positive rate</text>`);
  series.forEach((s, i) => {
    // One colour per curve (several may be the same method at different budgets).
    const color = s.key === 'reference' ? METHOD_COLORS.reference : ROC_COLORS[i % ROC_COLORS.length];
    const pts = s.fpr.map((x, k) => `${f(xAt(x))},${f(yAt(s.tpr[k]))}`).join(' ');
    parts.push(`<polyline class="series" data-series="${escapeHtml(s.key)}" points="${pts}" fill="none" stroke="${color}" stroke-width="2"${s.key === 'reference' ? ' stroke-dasharray="6 4"' : ''}/>`);
    const y = m.t + 8 + i * 18;
    const x = m.l + pw + 14;
    parts.push(`<line x1="${x}" x2="${x + 22}" y1="${y}" y2="${y}" stroke="${color}" stroke-width="2"${s.key === 'reference' ? ' stroke-dasharray="6 4"' : ''}/>`);
    parts.push(`<text x="${x + 28}" y="${y + 4}">${escapeHtml(s.label)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

export interface LossPlotSeries {
  name: string;
  points: Array<[number, number]>;
}

/** A small loss-over-steps plot (live page): one line per loss, log-free, auto-scaled. */
export function lossChart(title: string, series: LossPlotSeries[], width = 360, height = 150): string {
  const m = { l: 44, r: 70, t: 20, b: 22 };
  const pw = width - m.l - m.r;
  const ph = height - m.t - m.b;
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => s.points.map((p) => p[1]).filter(Number.isFinite));
  const x0 = xs.length ? Math.min(...xs) : 0;
  const x1 = xs.length ? Math.max(...xs) : 1;
  let y0 = ys.length ? Math.min(...ys) : 0;
  let y1 = ys.length ? Math.max(...ys) : 1;
  if (y1 - y0 < 1e-9) {
    y0 -= 0.5;
    y1 += 0.5;
  }
  const xAt = (v: number): number => m.l + (x1 === x0 ? pw / 2 : ((v - x0) / (x1 - x0)) * pw);
  const yAt = (v: number): number => m.t + ph - ((v - y0) / (y1 - y0)) * ph;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" class="chart loss" role="img" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="10">`,
    `<title>${escapeHtml(title)}</title>`,
    `<text x="${m.l}" y="13" font-size="11" font-weight="600">${escapeHtml(title)}</text>`,
    `<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="none" stroke="#bbb"/>`,
    `<text x="${m.l - 4}" y="${m.t + 8}" text-anchor="end">${y1.toPrecision(3)}</text>`,
    `<text x="${m.l - 4}" y="${m.t + ph}" text-anchor="end">${y0.toPrecision(3)}</text>`,
    `<text x="${m.l}" y="${height - 6}">step ${x0}</text>`,
    `<text x="${m.l + pw}" y="${height - 6}" text-anchor="end">${x1}</text>`,
  ];
  series.forEach((s, i) => {
    const color = LOSS_COLORS[i % LOSS_COLORS.length];
    const pts = s.points.filter((p) => Number.isFinite(p[1])).map((p) => `${f(xAt(p[0]))},${f(yAt(p[1]))}`);
    if (pts.length === 1) pts.push(pts[0]);
    parts.push(`<polyline class="series" data-series="${escapeHtml(s.name)}" points="${pts.join(' ')}" fill="none" stroke="${color}" stroke-width="1.5"/>`);
    parts.push(`<text x="${m.l + pw + 6}" y="${m.t + 10 + i * 13}" fill="${color}">${escapeHtml(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}
