import { profileDefaults } from './config';
import { classifierResultHead, ganResultHead, type ClassifierJobResult, type ClassifierJobSpec, type GanJobResult, type GanJobSpec, type JobResult } from './jobs';
import { buildPlan } from './plan';
import { buildResults, resultCsvColumns, resultsCsv, summarizeMetric } from './results';

const counts = { classes: ['benign', 'malignant'], train: { benign: 1440, malignant: 1197 }, test: { benign: 360, malignant: 300 } };
const durations = { loadMs: 1, trainMs: 10, evalMs: 2, totalMs: 13 };

function clfResult(spec: ClassifierJobSpec, accuracy: number, auc: number): ClassifierJobResult {
  const real = spec.budget ?? 1197;
  const generated = spec.generated.reduce((a, g) => a + g.count, 0);
  return {
    ...classifierResultHead(spec),
    counts: { benign: { real: 1440, generated: 0 }, malignant: { real, generated } },
    testCounts: { benign: 360, malignant: 300 },
    epochs: 2,
    steps: 20,
    finalLoss: 0.5,
    metrics: {
      classNames: ['benign', 'malignant'],
      n: 660,
      positiveClass: 'malignant',
      aucMethod: 'binary',
      accuracy,
      auc,
      balancedAccuracy: accuracy - 0.01,
      macroF1: accuracy - 0.02,
      confusionMatrix: [
        [300, 60],
        [100, 200],
      ],
      perClass: {
        benign: { precision: 0.75, recall: 300 / 360, f1: 0.79, support: 360 },
        malignant: { precision: 200 / 260, recall: 200 / 300, f1: 0.71, support: 300 },
      },
      aucPerClass: null,
      rocCurves: { malignant: { fpr: [0, 0.5, 1], tpr: [0, 0.8, 1], thresholds: [Infinity, 0.5, 0] } },
    },
    cis: null,
    durations,
    backend: 'cpu',
    replicas: 1,
    resumed: false,
  };
}

function ganResult(spec: GanJobSpec): GanJobResult {
  return {
    ...ganResultHead(spec),
    steps: 100,
    finalLosses: { d: 0.6, g: 1.1 },
    generated: spec.generate,
    artifacts: ['generated.bin', 'grid.png'],
    budgetFiles: [],
    quality: { featureNetwork: 'classifier clf-reference-r0 penultimate (16-d)', fid: 12, kid: 0.01, precision: 0.5, recall: 0.4, realCount: spec.budget, generatedCount: spec.generate },
    durations,
    backend: 'cpu',
    resumed: false,
  };
}

describe('buildResults', () => {
  const plan = buildPlan({ ...profileDefaults('paper'), repeats: 3 }, counts);
  const all: JobResult[] = plan.jobs.map((spec, i) => (spec.kind === 'gan' ? ganResult(spec) : clfResult(spec, 0.6 + (i % 7) * 0.01, 0.62 + (i % 5) * 0.01)));

  it('has one row per classifier job in plan order, with the scenario fields and counts', () => {
    const res = buildResults(plan, all);
    expect(res.rows).toHaveLength(51);
    expect(res.missing).toEqual([]);
    const row = res.rows.find((r) => r.id === 'clf-gan-dcgan-b50-r1')!;
    expect(row).toMatchObject({ scenario: 'gan', gan: 'dcgan', budget: 50, repeat: 1 });
    expect(row.counts.malignant).toEqual({ real: 50, generated: 1147 });
    expect(row.rocCurve).toEqual({ fpr: [0, 0.5, 1], tpr: [0, 0.8, 1], thresholds: [Infinity, 0.5, 0] });
    const ref = res.rows.find((r) => r.id === 'clf-reference-r0')!;
    expect(ref).toMatchObject({ scenario: 'reference', gan: null, budget: null, repeat: 0 });
    expect(res.gans).toHaveLength(12);
    expect(res.gans[0].quality?.featureNetwork).toMatch(/clf-reference-r0/);
  });

  it('aggregates each scenario over its repeats', () => {
    const res = buildResults(plan, all);
    expect(res.aggregates).toHaveLength(17);
    const base = res.aggregates.find((a) => a.key === 'baseline/b100')!;
    const vals = res.rows.filter((r) => r.scenario === 'baseline' && r.budget === 100).map((r) => r.accuracy);
    const mean = vals.reduce((a, b) => a + b, 0) / 3;
    const std = Math.sqrt(vals.reduce((a, v) => a + (v - mean) ** 2, 0) / 2);
    expect(base.n).toBe(3);
    expect(base.metrics.accuracy.mean).toBeCloseTo(mean, 12);
    expect(base.metrics.accuracy.std).toBeCloseTo(std, 12);
    const ci = base.metrics.accuracy.ci!;
    expect(ci.lower).toBeGreaterThanOrEqual(Math.min(...vals));
    expect(ci.upper).toBeLessThanOrEqual(Math.max(...vals));
    expect(ci.lower).toBeLessThanOrEqual(mean);
    expect(ci.upper).toBeGreaterThanOrEqual(mean);
  });

  it('lists missing jobs and aggregates the repeats that finished', () => {
    const partial = all.filter((r) => r.id !== 'clf-baseline-b50-r2' && r.id !== 'gan-pggan-b100-malignant');
    const res = buildResults(plan, partial);
    expect(res.missing).toEqual(['clf-baseline-b50-r2', 'gan-pggan-b100-malignant']);
    const a = res.aggregates.find((x) => x.key === 'baseline/b50')!;
    expect(a.n).toBe(2);
    expect(a.planned).toBe(3);
  });

  it('rejects a result that is not in the plan or of the wrong kind', () => {
    const stray = { ...(all[0] as ClassifierJobResult), id: 'clf-nope' };
    expect(() => buildResults(plan, [stray])).toThrow(/clf-nope, which is not in the plan/);
    const ganSpec = plan.jobs.find((j) => j.kind === 'gan')!;
    const wrong = { ...(all[0] as ClassifierJobResult), id: ganSpec.id };
    expect(() => buildResults(plan, [wrong])).toThrow(/is a classifier result, but the job is a gan job/);
  });
});

describe('summarizeMetric', () => {
  it('has no std or interval for one repeat', () => {
    expect(summarizeMetric([0.7])).toEqual({ mean: 0.7, std: null, ci: null });
  });
  it('gives a zero-width interval for identical repeats', () => {
    const s = summarizeMetric([0.5, 0.5, 0.5]);
    expect(s).toEqual({ mean: 0.5, std: 0, ci: { lower: 0.5, upper: 0.5, confidence: 0.95 } });
  });
});

describe('resultsCsv', () => {
  it('writes a header and one flat line per row', () => {
    const plan = buildPlan({ ...profileDefaults('paper'), budgets: [50], gans: ['dcgan'] }, counts);
    const res = buildResults(
      plan,
      plan.jobs.map((s) => (s.kind === 'gan' ? ganResult(s) : clfResult(s, 0.75, 0.8))),
    );
    const lines = resultsCsv(res).trimEnd().split('\n');
    expect(lines).toHaveLength(1 + 3);
    const header = lines[0].split(',');
    expect(header).toEqual(resultCsvColumns(['benign', 'malignant']));
    const row = Object.fromEntries(lines.map((l) => l.split(','))[2].map((v, i) => [header[i], v]));
    expect(row).toMatchObject({ id: 'clf-baseline-b50-r0', scenario: 'baseline', gan: '', budget: '50', repeat: '0', accuracy: '0.75', auc: '0.8' });
    expect(row.real_malignant).toBe('50');
    expect(row.generated_malignant).toBe('0');
    expect(row.cm_malignant_benign).toBe('100');
    const gan = Object.fromEntries(lines[3].split(',').map((v, i) => [header[i], v]));
    expect(gan).toMatchObject({ scenario: 'gan', gan: 'dcgan', generated_malignant: '1147' });
    const ref = Object.fromEntries(lines[1].split(',').map((v, i) => [header[i], v]));
    expect(ref).toMatchObject({ scenario: 'reference', budget: '', real_malignant: '1197' });
  });
});
