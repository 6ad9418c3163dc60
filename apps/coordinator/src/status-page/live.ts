/**
 * What the live status page shows, as one JSON document (GET /live): the status snapshot, loss
 * curves of the running and latest finished jobs (from DIR/jobs/<id>/metrics.jsonl, as SVG), and
 * the report's result tables filling in as classifier jobs finish (the same renderer as
 * report.html, from the journal; rebuilt only when the journal changes).
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import { RunDir } from '../coordinator/rundir';
import type { StatusSnapshot } from '../coordinator/status';
import { bannersHtml, buildReportModel, loadRun, resultTablesHtml, summarize } from '../report';
import { escapeHtml } from '../report/format';
import { lossChart, type LossPlotSeries } from '../report/svg';
import { readRunStatus } from './run-status';

export interface LiveData {
  status: StatusSnapshot;
  /** About the snapshot's source or age (a stopped coordinator), or null. */
  note: string | null;
  bannersHtml: string;
  tablesHtml: string;
  summary: string[];
  lossCharts: Array<{ job: string; state: string; svg: string }>;
}

/** At most `max` points, evenly spaced over the series, always keeping the last. */
export function decimate<T>(points: T[], max: number): T[] {
  if (points.length <= max) return points;
  const out: T[] = [];
  const step = (points.length - 1) / (max - 1);
  for (let i = 0; i < max; i++) out.push(points[Math.round(i * step)]);
  return out;
}

/**
 * Progress fields that travel in `losses` but are not losses (PGGAN's current resolution and
 * fade-in alpha, a learning rate): plotted on the same axis they would flatten the real curves.
 */
export const NOT_LOSSES = new Set(['resolution', 'alpha', 'lr', 'epoch', 'phase']);

/** Loss series from metrics.jsonl text: one per loss name, [step, value] points; bad lines skipped. */
export function parseLossSeries(text: string, maxPoints = 200): LossPlotSeries[] {
  const byName = new Map<string, Array<[number, number]>>();
  let lastAttempt: number | null = null;
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    let rec: { step?: unknown; losses?: unknown };
    try {
      rec = JSON.parse(line) as typeof rec;
    } catch {
      continue;
    }
    if (!rec || typeof rec !== 'object' || typeof rec.step !== 'number' || !rec.losses || typeof rec.losses !== 'object') continue;
    // A new attempt (a retry from scratch or from a checkpoint) replaces the points it re-runs.
    const attempt = (rec as { attempt?: unknown }).attempt;
    if (typeof attempt === 'number' && attempt !== lastAttempt) {
      if (lastAttempt !== null) for (const pts of byName.values()) while (pts.length && pts[pts.length - 1][0] >= rec.step) pts.pop();
      lastAttempt = attempt;
    }
    for (const [name, v] of Object.entries(rec.losses as Record<string, unknown>)) {
      if (typeof v !== 'number' || !Number.isFinite(v) || NOT_LOSSES.has(name)) continue;
      const pts = byName.get(name) ?? [];
      pts.push([rec.step, v]);
      byName.set(name, pts);
    }
  }
  return [...byName].map(([name, points]) => ({ name, points: decimate(points, maxPoints) }));
}

/** Jobs whose losses the page plots: running ones, then the latest finished, up to `max`. */
export function jobsToPlot(s: StatusSnapshot, max = 8): StatusSnapshot['jobs'] {
  const running = s.jobs.filter((j) => j.state === 'running');
  const done = s.jobs.filter((j) => j.state === 'done' || j.state === 'failed').sort((a, b) => (b.finishedAt ?? '').localeCompare(a.finishedAt ?? ''));
  return [...running, ...done].slice(0, max);
}

export interface LiveSourceOptions {
  runDir: string;
  /** The coordinator's live snapshot; default: the run directory's status.json. */
  snapshot?: () => StatusSnapshot | Promise<StatusSnapshot>;
}

export class LiveSource {
  private readonly dir: RunDir;
  private tables: { key: string; tablesHtml: string; bannersHtml: string; summary: string[] } | null = null;
  private readonly losses = new Map<string, { size: number; series: LossPlotSeries[] }>();

  constructor(private readonly opts: LiveSourceOptions) {
    this.dir = new RunDir(path.resolve(opts.runDir));
  }

  async snapshot(): Promise<{ status: StatusSnapshot; note: string | null }> {
    if (this.opts.snapshot) return { status: await this.opts.snapshot(), note: null };
    const s = await readRunStatus(this.dir.root);
    return { status: s.snapshot, note: s.note };
  }

  private async fileKey(file: string): Promise<string> {
    try {
      const st = await fs.stat(file);
      return `${st.size}:${st.mtimeMs}`;
    } catch {
      return '-';
    }
  }

  private async tablesNow(): Promise<NonNullable<LiveSource['tables']>> {
    const key = `${await this.fileKey(this.dir.journal)}|${await this.fileKey(this.dir.resultsJson)}|${await this.fileKey(this.dir.plan)}`;
    if (this.tables?.key === key) return this.tables;
    try {
      const { inputs } = await loadRun(this.dir.root, { images: false });
      const model = buildReportModel(inputs);
      this.tables = { key, tablesHtml: resultTablesHtml(model), bannersHtml: bannersHtml(model), summary: summarize(model) };
    } catch (err) {
      this.tables = { key, tablesHtml: `<p class="note">No results yet: ${escapeHtml((err as Error).message)}</p>`, bannersHtml: '', summary: [] };
    }
    return this.tables;
  }

  private async lossesOf(job: string): Promise<LossPlotSeries[]> {
    const file = this.dir.jobMetrics(job);
    let st;
    try {
      st = await fs.stat(file);
    } catch {
      return [];
    }
    const cached = this.losses.get(file);
    if (cached && cached.size === st.size) return cached.series;
    const series = parseLossSeries(await fs.readFile(file, 'utf8'));
    this.losses.set(file, { size: st.size, series });
    return series;
  }

  async get(): Promise<LiveData> {
    const { status, note } = await this.snapshot();
    const tables = await this.tablesNow();
    const lossCharts: LiveData['lossCharts'] = [];
    for (const j of jobsToPlot(status)) {
      const series = await this.lossesOf(j.id);
      if (series.length === 0) continue;
      lossCharts.push({ job: j.id, state: j.state, svg: lossChart(`${j.id} (${j.state})`, series) });
    }
    return { status, note, bannersHtml: tables.bannersHtml, tablesHtml: tables.tablesHtml, summary: tables.summary, lossCharts };
  }
}
