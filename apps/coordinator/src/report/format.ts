/** Small formatting helpers shared by the markdown and HTML renderers (pure). */
import type { MetricSummary } from '@gan-study/protocol';

/** `0.812`; a dash for a missing or non-finite value. */
export function num(v: number | null | undefined, digits = 3): string {
  return v === null || v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(digits);
}

/** Three significant digits (`0.00312`, `41.7`, `1234`), for FID and KID, whose scale depends on the features. */
export function sig(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  return Math.abs(v) >= 1000 ? v.toFixed(0) : String(Number(v.toPrecision(3)));
}

/** `0.812` (one repeat) or `0.812 ± 0.010`. */
export function meanStd(s: MetricSummary | null | undefined): string {
  if (!s) return '—';
  return s.std === null ? num(s.mean) : `${num(s.mean)} ± ${num(s.std)}`;
}

/** `[0.800, 0.824]`, or '' without an interval. */
export function interval(s: MetricSummary | null | undefined): string {
  return s?.ci ? `[${num(s.ci.lower)}, ${num(s.ci.upper)}]` : '';
}

/** `1m12s`, `4h03m`, `9s`, `350 ms`. */
export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms) || ms < 0) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]);
}

/** A markdown table cell: pipes escaped, newlines to <br>. */
export function mdCell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, '<br>');
}

export function mdTable(header: string[], rows: string[][]): string {
  const lines = [`| ${header.map(mdCell).join(' | ')} |`, `|${header.map(() => '---').join('|')}|`];
  for (const r of rows) lines.push(`| ${r.map(mdCell).join(' | ')} |`);
  return lines.join('\n');
}

export const GAN_LABELS: Record<string, string> = { dcgan: 'DCGAN', pggan: 'PGGAN', cyclegan: 'CycleGAN' };

export function ganLabel(gan: string): string {
  return GAN_LABELS[gan] ?? gan;
}
