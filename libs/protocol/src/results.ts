/**
 * results.json and results.csv from the plan and the finished jobs' results (pure; the coordinator
 * writes the files atomically).
 *
 * results.json:
 * - `rows`: one per classifier job, in plan order: scenario ("baseline" | "gan" | "reference"),
 *   gan (null or its name), budget (null for the reference), repeat, seed, real and generated
 *   training counts per class, the test metrics of @gan-study/metrics (accuracy, auc,
 *   balancedAccuracy, macroF1, confusionMatrix, perClass, rocCurve/rocCurves, aucPerClass), the
 *   job's own bootstrap 95% intervals over test examples, and how it ran.
 * - `aggregates`: one per scenario (reference; baseline x budget; GAN x budget) over its repeats:
 *   mean, sample standard deviation, and (with more than one repeat) a bootstrap 95% interval of the
 *   mean over repeats, for accuracy, auc, balancedAccuracy and macroF1.
 * - `gans`: one per GAN job: image quality of the generated images (FID, KID, precision, recall,
 *   with the feature network named), training length, durations.
 * - `missing`: planned jobs without a result (a partial study), so a reader never mistakes a gap for
 *   a row.
 *
 * results.csv: one line per row, flat columns (see RESULT_CSV_COLUMNS), per-class columns named
 * after the classes.
 */
import { bootstrapCi, summarizeRepeats } from '@gan-study/metrics';
import type { ClassifierJobResult, ClassifierJobSpec, ClassifierMetrics, GanJobResult, GanQuality, JobDurations, JobGanKind, JobResult, Scenario } from './jobs';
import type { Plan } from './plan';

/** One classifier job: what it was (as its result says) and its test metrics, flattened. */
export interface ResultRow extends Pick<ClassifierJobResult, 'id' | 'scenario' | 'gan' | 'budget' | 'repeat' | 'seed' | 'counts' | 'testCounts'> {
  accuracy: number;
  auc: number;
  balancedAccuracy: number;
  macroF1: number;
  confusionMatrix: number[][];
  perClass: ClassifierMetrics['perClass'];
  aucPerClass: Record<string, number> | null;
  /** Binary: the positive class's ROC curve; null with more classes (see rocCurves). */
  rocCurve: ClassifierMetrics['rocCurves'][string] | null;
  rocCurves: ClassifierMetrics['rocCurves'];
  positiveClass: string | null;
  /** Bootstrap 95% intervals over the test examples of this one run, when the job computed them. */
  cis: ClassifierJobResult['cis'];
  epochs: number;
  steps: number;
  finalLoss: number;
  durations: JobDurations;
  backend: string;
  replicas: number;
}

export interface MetricSummary {
  mean: number;
  /** Sample standard deviation over repeats; null with one repeat. */
  std: number | null;
  /** Bootstrap 95% interval of the mean over repeats; null with one repeat. */
  ci: { lower: number; upper: number; confidence: number } | null;
}

export const AGGREGATED_METRICS = ['accuracy', 'auc', 'balancedAccuracy', 'macroF1'] as const;
export type AggregatedMetric = (typeof AGGREGATED_METRICS)[number];

export interface ScenarioAggregate {
  /** 'reference', 'baseline/b50', 'gan/dcgan/b50'. */
  key: string;
  scenario: Scenario;
  gan: JobGanKind | null;
  budget: number | null;
  /** Repeats with a result (of `planned`). */
  n: number;
  planned: number;
  metrics: Record<AggregatedMetric, MetricSummary>;
}

export interface GanRow {
  id: string;
  gan: JobGanKind;
  className: string;
  budget: number;
  resolution: number;
  steps: number;
  generated: number;
  finalLosses: Record<string, number>;
  quality: GanQuality | null;
  durations: JobDurations;
  backend: string;
}

export interface StudyResults {
  version: 1;
  classes: string[];
  majorityClass: string;
  minorityClasses: string[];
  rows: ResultRow[];
  aggregates: ScenarioAggregate[];
  gans: GanRow[];
  /** Planned job ids without a result. */
  missing: string[];
}

export function scenarioKey(scenario: Scenario, gan: JobGanKind | null, budget: number | null): string {
  if (scenario === 'reference') return 'reference';
  if (scenario === 'baseline') return `baseline/b${budget}`;
  return `gan/${gan}/b${budget}`;
}

/** Resamples for the interval over repeats; fixed seed so the same results give the same file. */
const REPEAT_BOOTSTRAP = { resamples: 2000, confidence: 0.95, seed: 0 };

export function summarizeMetric(values: number[]): MetricSummary {
  const s = summarizeRepeats(values);
  if (values.length < 2) return { mean: s.mean, std: s.std, ci: null };
  const ci = bootstrapCi(
    values.length,
    (idx) => {
      let sum = 0;
      for (const i of idx) sum += values[i];
      return sum / idx.length;
    },
    REPEAT_BOOTSTRAP,
  );
  return { mean: s.mean, std: s.std, ci: { lower: ci.lower, upper: ci.upper, confidence: ci.confidence } };
}

function toRow(spec: ClassifierJobSpec, r: ClassifierJobResult): ResultRow {
  const m = r.metrics;
  return {
    id: spec.id,
    scenario: spec.scenario,
    gan: spec.gan,
    budget: spec.budget,
    repeat: spec.repeat,
    seed: spec.seed,
    counts: r.counts,
    testCounts: r.testCounts,
    accuracy: m.accuracy,
    auc: m.auc,
    balancedAccuracy: m.balancedAccuracy,
    macroF1: m.macroF1,
    confusionMatrix: m.confusionMatrix,
    perClass: m.perClass,
    aucPerClass: m.aucPerClass,
    rocCurve: m.positiveClass !== null ? (m.rocCurves[m.positiveClass] ?? null) : null,
    rocCurves: m.rocCurves,
    positiveClass: m.positiveClass,
    cis: r.cis,
    epochs: r.epochs,
    steps: r.steps,
    finalLoss: r.finalLoss,
    durations: r.durations,
    backend: r.backend,
    replicas: r.replicas,
  };
}

/** results.json's content. Results whose kind does not match their planned job are an error naming the id. */
export function buildResults(plan: Plan, results: Iterable<JobResult>): StudyResults {
  const byId = new Map<string, JobResult>();
  for (const r of results) byId.set(r.id, r);
  const planned = new Set(plan.jobs.map((j) => j.id));
  for (const id of byId.keys()) if (!planned.has(id)) throw new Error(`result for job ${id}, which is not in the plan`);

  const rows: ResultRow[] = [];
  const gans: GanRow[] = [];
  const missing: string[] = [];
  const groups = new Map<string, { spec: ClassifierJobSpec; planned: number; rows: ResultRow[] }>();
  for (const spec of plan.jobs) {
    const r = byId.get(spec.id);
    if (r !== undefined && r.kind !== spec.kind) throw new Error(`result for job ${spec.id} is a ${r.kind} result, but the job is a ${spec.kind} job`);
    if (spec.kind === 'classifier') {
      const key = scenarioKey(spec.scenario, spec.gan, spec.budget);
      const group = groups.get(key) ?? { spec, planned: 0, rows: [] };
      group.planned++;
      groups.set(key, group);
      if (r === undefined) {
        missing.push(spec.id);
        continue;
      }
      const row = toRow(spec, r as ClassifierJobResult);
      rows.push(row);
      group.rows.push(row);
    } else {
      if (r === undefined) {
        missing.push(spec.id);
        continue;
      }
      const g = r as GanJobResult;
      gans.push({
        id: spec.id,
        gan: spec.gan,
        className: spec.className,
        budget: spec.budget,
        resolution: g.resolution,
        steps: g.steps,
        generated: g.generated,
        finalLosses: g.finalLosses,
        quality: g.quality,
        durations: g.durations,
        backend: g.backend,
      });
    }
  }

  const aggregates: ScenarioAggregate[] = [];
  for (const [key, g] of groups) {
    if (g.rows.length === 0) continue;
    const metrics = {} as Record<AggregatedMetric, MetricSummary>;
    for (const m of AGGREGATED_METRICS) metrics[m] = summarizeMetric(g.rows.map((row) => row[m]));
    aggregates.push({ key, scenario: g.spec.scenario, gan: g.spec.gan, budget: g.spec.budget, n: g.rows.length, planned: g.planned, metrics });
  }

  return {
    version: 1,
    classes: [...plan.classes],
    majorityClass: plan.majorityClass,
    minorityClasses: [...plan.minorityClasses],
    rows,
    aggregates,
    gans,
    missing,
  };
}

function csvCell(v: string | number | null): string {
  if (v === null) return '';
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : '';
  return /[",\n\r]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

/** The CSV header for a class list: fixed columns, then per-class columns. */
export function resultCsvColumns(classes: readonly string[]): string[] {
  const cols = ['id', 'scenario', 'gan', 'budget', 'repeat', 'seed', 'accuracy', 'auc', 'balanced_accuracy', 'macro_f1', 'accuracy_ci_lower', 'accuracy_ci_upper', 'auc_ci_lower', 'auc_ci_upper'];
  for (const c of classes) cols.push(`real_${c}`, `generated_${c}`, `test_${c}`, `precision_${c}`, `recall_${c}`, `f1_${c}`);
  for (const t of classes) for (const p of classes) cols.push(`cm_${t}_${p}`);
  cols.push('epochs', 'steps', 'final_loss', 'train_ms', 'total_ms', 'backend', 'replicas');
  return cols;
}

/** results.csv's content: a header and one line per row. */
export function resultsCsv(results: StudyResults): string {
  const classes = results.classes;
  const lines = [resultCsvColumns(classes).join(',')];
  for (const r of results.rows) {
    const cells: (string | number | null)[] = [r.id, r.scenario, r.gan, r.budget, r.repeat, r.seed, r.accuracy, r.auc, r.balancedAccuracy, r.macroF1];
    cells.push(r.cis?.accuracy.lower ?? null, r.cis?.accuracy.upper ?? null, r.cis?.auc.lower ?? null, r.cis?.auc.upper ?? null);
    for (const c of classes) {
      const pc = r.perClass[c];
      cells.push(r.counts[c]?.real ?? 0, r.counts[c]?.generated ?? 0, r.testCounts[c] ?? 0, pc?.precision ?? null, pc?.recall ?? null, pc?.f1 ?? null);
    }
    for (let t = 0; t < classes.length; t++) for (let p = 0; p < classes.length; p++) cells.push(r.confusionMatrix[t]?.[p] ?? null);
    cells.push(r.epochs, r.steps, r.finalLoss, r.durations.trainMs, r.durations.totalMs, r.backend, r.replicas);
    lines.push(cells.map(csvCell).join(','));
  }
  return lines.join('\n') + '\n';
}
