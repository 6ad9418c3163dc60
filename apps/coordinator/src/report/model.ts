/**
 * The report's content as plain data, built from what a run directory holds (pure: the files are
 * read by load.ts). Both renderers (markdown.ts, html.ts) and the live status page draw from it, so
 * the numbers in report.md, report.html and the page are the same numbers.
 *
 * Tables follow the paper's layout: Table 1 is the imbalanced baseline per budget, Table 2 each GAN
 * per budget, each cell accuracy / AUC, with the all-real reference. With repeats a cell carries the
 * mean ± sample standard deviation and the bootstrap 95% interval of the mean (from results.json's
 * aggregates). The paper's numbers stand beside ours only when the study has the public set's
 * counts and the paper's budgets; otherwise they are shown apart, as published.
 */
import type { ConfigSource, GanRow, JobGanKind, MetricSummary, Plan, ResultRow, ScenarioAggregate, StudyConfig, StudyResults } from '@gan-study/protocol';
import type { JournalEntry } from '../coordinator/journal';
import { PAPER, paperCell, type PaperCell } from './paper';

/** A trainer as the coordinator's log saw it join. */
export interface TrainerFact {
  id: string;
  host: string;
  device: string;
  backend: string;
  gpu: string | null;
  pid: number | null;
}

export interface SoftwareFacts {
  /** What the numbers were produced with, when the run recorded it; else what wrote the report. */
  node: string;
  platform: string;
  study: string;
  tfjs: string | null;
  /** 'this report' or 'the run'. */
  source: string;
}

/** Everything the report is built from; load.ts fills it from a run directory. */
export interface ReportInputs {
  runDir: string;
  /** When the report was written (ISO). */
  generatedAt: string;
  config: StudyConfig | null;
  overrides: Record<string, ConfigSource>;
  plan: Plan | null;
  results: StudyResults;
  /** Where `results` came from: the finished run's results.json, or the journal of a run in progress. */
  resultsSource: 'results.json' | 'journal';
  journal: JournalEntry[];
  trainers: TrainerFact[];
  /** Relative paths (from the run directory) of the GAN jobs' sample grids that exist. */
  grids: Record<string, string>;
  software: SoftwareFacts;
}

export interface Cell {
  key: string;
  n: number;
  planned: number;
  accuracy: MetricSummary;
  auc: MetricSummary;
}

export interface TableRow {
  /** 'Baseline', 'DCGAN', ... */
  label: string;
  scenario: 'baseline' | 'gan';
  gan: JobGanKind | null;
  cells: Array<{ budget: number; ours: Cell | null; paper: PaperCell | null }>;
}

export interface RocSeries {
  label: string;
  auc: number;
  fpr: number[];
  tpr: number[];
}

export interface GridEntry {
  job: string;
  gan: JobGanKind;
  budget: number;
  className: string;
  /** Relative path under the run directory, or null when the job put no grid (yet). */
  file: string | null;
}

export interface JobFact {
  id: string;
  kind: 'gan' | 'classifier';
  /** The job's own seed (derived from the master seed and the id), or null when unknown. */
  seed: number | null;
  trainer: string | null;
  backend: string;
  attempts: number;
  trainMs: number;
  totalMs: number;
}

export interface ReportModel {
  title: string;
  runDir: string;
  generatedAt: string;
  /** True when the data set is the synthetic stand-in (its numbers are not medical results). */
  synthetic: boolean;
  dataset: { path: string | null; syntheticSeed: number | null; classes: string[]; train: Record<string, number>; test: Record<string, number> };
  majorityClass: string;
  minorityClasses: string[];
  fillTo: Record<string, number>;
  budgets: number[];
  gans: JobGanKind[];
  repeats: number;
  seed: number | null;
  profile: string | null;
  imageSize: number | null;
  ganResolution: Record<string, number> | null;
  overrides: Array<{ key: string; source: string }>;
  /** The paper's numbers stand beside ours (same counts and budgets). */
  paperComparable: boolean;
  reference: { ours: Cell | null; paper: PaperCell };
  table1: TableRow[];
  table2: TableRow[];
  roc: RocSeries[];
  gansQuality: GanRow[];
  featureNetworks: string[];
  grids: GridEntry[];
  partial: {
    planned: number;
    done: number;
    missing: string[];
    failed: Array<{ job: string; error: string }>;
    /** Missing jobs that cannot run because a job they need failed: id -> the failed job. */
    blockedBy: Record<string, string>;
    inProgress: boolean;
  };
  resultsSource: 'results.json' | 'journal';
  trainers: TrainerFact[];
  jobs: JobFact[];
  wall: { startedAt: string | null; finishedAt: string | null; ms: number | null; sessions: number };
  software: SoftwareFacts;
}

function cellOf(a: ScenarioAggregate | undefined): Cell | null {
  if (!a) return null;
  return { key: a.key, n: a.n, planned: a.planned, accuracy: a.metrics.accuracy, auc: a.metrics.auc };
}

function uniqueSorted(values: Iterable<number>): number[] {
  return [...new Set(values)].sort((a, b) => a - b);
}

/** The row of a scenario whose ROC curve stands for it: the first repeat with a curve. */
function rocRowOf(rows: ResultRow[], key: (r: ResultRow) => boolean, minority: string | null): { fpr: number[]; tpr: number[] } | null {
  const candidates = rows.filter(key).sort((a, b) => a.repeat - b.repeat);
  for (const r of candidates) {
    const curve = r.rocCurve ?? (minority ? r.rocCurves[minority] : undefined);
    if (curve && curve.fpr.length > 0) return { fpr: curve.fpr, tpr: curve.tpr };
  }
  return null;
}

/** Whether our study asks the paper's question at the paper's sizes. */
export function comparableToPaper(classes: string[], train: Record<string, number>, test: Record<string, number>, fillTo: Record<string, number>, budgets: number[]): boolean {
  const sameClasses = classes.length === 2 && PAPER.classes.every((c) => classes.includes(c));
  if (!sameClasses) return false;
  const sameCounts = PAPER.classes.every((c) => train[c] === PAPER.train[c] && test[c] === PAPER.test[c]);
  const fill = fillTo.malignant === undefined || fillTo.malignant === PAPER.train.malignant;
  return sameCounts && fill && budgets.every((b) => PAPER.budgets.includes(b));
}

export function buildReportModel(inp: ReportInputs): ReportModel {
  const res = inp.results;
  const plan = inp.plan;
  const cfg = inp.config;
  const aggregates = new Map(res.aggregates.map((a) => [a.key, a]));

  const budgets = plan ? [...plan.budgets].sort((a, b) => a - b) : uniqueSorted(res.aggregates.flatMap((a) => (a.budget === null ? [] : [a.budget])));
  const gans: JobGanKind[] = plan ? [...plan.gans] : [...new Set(res.aggregates.flatMap((a) => (a.gan ? [a.gan] : [])))];
  const train = plan?.counts.train ?? {};
  const test = plan?.counts.test ?? {};
  const fillTo = plan?.fillTo ?? {};
  const paperComparable = comparableToPaper(res.classes, train, test, fillTo, budgets);
  const paperFor = (scenario: 'baseline' | 'gan', gan: JobGanKind | null, budget: number): PaperCell | null => (paperComparable ? paperCell(scenario, gan, budget) : null);

  const table1: TableRow[] = [
    { label: 'Baseline', scenario: 'baseline', gan: null, cells: budgets.map((b) => ({ budget: b, ours: cellOf(aggregates.get(`baseline/b${b}`)), paper: paperFor('baseline', null, b) })) },
  ];
  const table2: TableRow[] = gans.map((g) => ({
    label: g,
    scenario: 'gan',
    gan: g,
    cells: budgets.map((b) => ({ budget: b, ours: cellOf(aggregates.get(`gan/${g}/b${b}`)), paper: paperFor('gan', g, b) })),
  }));

  // ROC: the reference, then per budget the method with the highest mean AUC there.
  const minority = res.minorityClasses[0] ?? null;
  const roc: RocSeries[] = [];
  const ref = aggregates.get('reference');
  const refCurve = rocRowOf(res.rows, (r) => r.scenario === 'reference', minority);
  if (ref && refCurve) roc.push({ label: 'reference (all real)', auc: ref.metrics.auc.mean, ...refCurve });
  for (const b of budgets) {
    const best = bestAt(res.aggregates, b);
    if (!best) continue;
    const curve = rocRowOf(res.rows, (r) => r.scenario === best.scenario && r.gan === best.gan && r.budget === b, minority);
    if (curve) roc.push({ label: `${best.gan ?? 'baseline'} @ ${b}`, auc: best.metrics.auc.mean, ...curve });
  }

  const ganJobs = plan ? plan.jobs.flatMap((j) => (j.kind === 'gan' ? [j] : [])) : res.gans.map((g) => ({ id: g.id, gan: g.gan, budget: g.budget, className: g.className }));
  const grids: GridEntry[] = ganJobs.map((j) => ({ job: j.id, gan: j.gan, budget: j.budget, className: j.className, file: inp.grids[j.id] ?? null }));
  grids.sort((a, b) => gans.indexOf(a.gan) - gans.indexOf(b.gan) || a.budget - b.budget || a.className.localeCompare(b.className));

  // Journal facts: who ran each job, attempts, failures, wall time over sessions.
  const doneBy = new Map<string, string>();
  const attempts = new Map<string, number>();
  const failedLast = new Map<string, { error: string; permanent: boolean }>();
  let sessions = 0;
  let startedAt: string | null = null;
  let finishedAt: string | null = null;
  let lastEvent: string | null = null;
  let wallMs = 0;
  let sessionStart: number | null = null;
  let sessionLast: number | null = null;
  const closeSession = (): void => {
    if (sessionStart !== null && sessionLast !== null) wallMs += sessionLast - sessionStart;
  };
  for (const e of inp.journal) {
    const t = Date.parse(e.t);
    if (e.event === 'start') {
      closeSession();
      sessions++;
      sessionStart = t;
      startedAt ??= e.t;
    } else if (e.event === 'done') {
      doneBy.set(e.job, e.trainer);
      attempts.set(e.job, Math.max(attempts.get(e.job) ?? 0, e.attempt));
      failedLast.delete(e.job);
    } else if (e.event === 'failed') {
      attempts.set(e.job, Math.max(attempts.get(e.job) ?? 0, e.attempt));
      failedLast.set(e.job, { error: e.error, permanent: e.permanent });
    } else if (e.event === 'finished') {
      finishedAt = e.t;
    }
    sessionLast = t;
    lastEvent = e.event;
  }
  closeSession();

  const seedOf = new Map((plan?.jobs ?? []).map((j) => [j.id, j.seed]));
  const jobs: JobFact[] = [
    ...res.gans.map((g) => ({ id: g.id, kind: 'gan' as const, seed: seedOf.get(g.id) ?? null, trainer: doneBy.get(g.id) ?? null, backend: g.backend, attempts: attempts.get(g.id) ?? 1, trainMs: g.durations.trainMs, totalMs: g.durations.totalMs })),
    ...res.rows.map((r) => ({ id: r.id, kind: 'classifier' as const, seed: r.seed, trainer: doneBy.get(r.id) ?? null, backend: r.backend, attempts: attempts.get(r.id) ?? 1, trainMs: r.durations.trainMs, totalMs: r.durations.totalMs })),
  ];
  const planned = plan ? plan.jobs.length : res.rows.length + res.gans.length + res.missing.length;
  // A failed attempt is final when it was permanent, used the last attempt, or the study ended;
  // otherwise the job is being retried.
  const maxAttempts = cfg?.maxAttempts ?? Infinity;
  const failed = res.missing.flatMap((job) => {
    const f = failedLast.get(job);
    return f && (f.permanent || (attempts.get(job) ?? 0) >= maxAttempts || lastEvent === 'finished') ? [{ job, error: f.error }] : [];
  });

  // Missing jobs that wait on a failed job (directly or through another missing one) never run.
  const failedIds = new Set(failed.map((f) => f.job));
  const blockedBy: Record<string, string> = {};
  const deps = new Map((plan?.jobs ?? []).map((j) => [j.id, j.dependsOn]));
  const rootFailure = (id: string, seen = new Set<string>()): string | null => {
    for (const d of deps.get(id) ?? []) {
      if (failedIds.has(d)) return d;
      if (!seen.has(d) && res.missing.includes(d)) {
        seen.add(d);
        const r = rootFailure(d, seen);
        if (r) return r;
      }
    }
    return null;
  };
  for (const id of res.missing) {
    if (failedIds.has(id)) continue;
    const r = rootFailure(id);
    if (r) blockedBy[id] = r;
  }

  const featureNetworks = [...new Set(res.gans.flatMap((g) => (g.quality ? [g.quality.featureNetwork] : [])))];
  const synthetic = cfg ? cfg.dataset.path === null : true;

  return {
    title: `GAN augmentation study: ${pathBase(inp.runDir)}`,
    runDir: inp.runDir,
    generatedAt: inp.generatedAt,
    synthetic,
    dataset: { path: cfg?.dataset.path ?? null, syntheticSeed: synthetic ? (cfg?.dataset.syntheticSeed ?? null) : null, classes: res.classes, train, test },
    majorityClass: res.majorityClass,
    minorityClasses: res.minorityClasses,
    fillTo,
    budgets,
    gans,
    repeats: plan?.repeats ?? cfg?.repeats ?? 1,
    seed: cfg?.seed ?? null,
    profile: cfg?.profile ?? null,
    imageSize: cfg?.imageSize ?? null,
    ganResolution: cfg ? { ...cfg.ganResolution } : null,
    overrides: Object.entries(inp.overrides)
      .filter(([, s]) => s !== 'default')
      .map(([key, source]) => ({ key, source })),
    paperComparable,
    reference: { ours: cellOf(ref), paper: PAPER.reference },
    table1,
    table2,
    roc,
    gansQuality: res.gans,
    featureNetworks,
    grids,
    partial: { planned, done: planned - res.missing.length, missing: res.missing, failed, blockedBy, inProgress: inp.resultsSource === 'journal' && lastEvent !== 'finished' },
    resultsSource: inp.resultsSource,
    trainers: inp.trainers,
    jobs,
    wall: { startedAt, finishedAt, ms: sessions > 0 ? wallMs : null, sessions },
    software: inp.software,
  };
}

/** The scenario with the highest mean AUC at a budget (baseline or a GAN), or null. */
export function bestAt(aggregates: ScenarioAggregate[], budget: number): ScenarioAggregate | null {
  let best: ScenarioAggregate | null = null;
  for (const a of aggregates) {
    if (a.budget !== budget || a.scenario === 'reference') continue;
    if (!best || a.metrics.auc.mean > best.metrics.auc.mean) best = a;
  }
  return best;
}

function pathBase(p: string): string {
  const parts = p.split(/[\\/]/).filter(Boolean);
  return parts[parts.length - 1] ?? p;
}
