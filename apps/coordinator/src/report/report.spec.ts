import { promises as fs } from 'fs';
import * as os from 'os';
import * as path from 'path';
import { buildPlan, buildResults, profileDefaults, type MetricSummary } from '@gan-study/protocol';
import { writeFixtureRun } from './fixture';
import { buildReportModel, compareToBaseline, comparableToPaper, loadRun, renderMarkdown, summarize, trainersFromLog, softwareVersions, versionsFromLog, writeReport, type Cell, type ReportInputs } from './index';
import { findChromium } from './chromium';
import { lineChart } from './svg';

jest.setTimeout(30_000);

let tmp: string;
beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'report-spec-'));
});
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

function summary(mean: number, std: number | null, ci: [number, number] | null = null): MetricSummary {
  return { mean, std, ci: ci ? { lower: ci[0], upper: ci[1], confidence: 0.95 } : null };
}
function cell(auc: MetricSummary, n: number): Cell {
  return { key: 'k', n, planned: n, accuracy: summary(0.7, null), auc };
}

describe('writeReport on a finished run with repeats', () => {
  it('writes report.md and a self-contained report.html with both tables, intervals, charts and inlined grids', async () => {
    const fx = await writeFixtureRun(path.join(tmp, 'full'), { repeats: 3 });
    const out = await writeReport(fx.dir);
    expect(out.partial).toBe(false);
    const md = await fs.readFile(path.join(fx.dir, 'report.md'), 'utf8');
    const html = await fs.readFile(path.join(fx.dir, 'report.html'), 'utf8');

    expect(md).toContain('Table 1: imbalanced baseline');
    expect(md).toContain('Table 2:');
    expect(md).toMatch(/Baseline \(ours\) \| 0\.\d{3} ± 0\.\d{3} \/ 0\.\d{3} ± 0\.\d{3}/);
    expect(md).toMatch(/Baseline \(ours\) 95% CI \| \[0\.\d{3}, 0\.\d{3}\]/);
    expect(md).toContain('Synthetic data.');
    // The smoke study is not at the paper's sizes: the paper's tables stand apart, labelled.
    expect(md).toContain("The paper's Tables 1 and 2 as published");
    expect(md).toContain('measured on the real public set');
    expect(md).not.toContain('PARTIAL');
    for (const id of ['chart-accuracy', 'chart-auc', 'chart-roc']) {
      expect(md).toContain(`report-charts/${id}.svg`);
      expect((await fs.readFile(path.join(fx.dir, 'report-charts', `${id}.svg`), 'utf8')).startsWith('<svg')).toBe(true);
    }
    expect(md).toContain('jobs/gan-dcgan-b5-malignant/grid.png');

    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(html).toContain('<table id="table1">');
    expect(html).toContain('<table id="table2">');
    expect(html.match(/<svg /g)).toHaveLength(3);
    // Every GAN job's grid, inlined; nothing fetched from anywhere.
    expect(html.match(/src="data:image\/png;base64,/g)).toHaveLength(fx.jobs.filter((j) => j.kind === 'gan').length);
    expect(html).not.toMatch(/<script|<link |@import|url\(/);
    expect(html.replace(/xmlns="http:\/\/www\.w3\.org\/2000\/svg"/g, '')).not.toMatch(/https?:\/\//);
    // Run facts: trainers with backend and device, software versions, job durations.
    expect(html).toContain('GPU 0: Fake');
    expect(html).toContain('tensorflow-gpu');
    expect(html).toContain(`node ${process.version}`);
    expect(html).toContain('<table id="jobs">');
    expect(md).toContain(`| ${fx.jobs[0].id} | ${fx.jobs[0].kind} | ${fx.jobs[0].seed} | `);
    expect(html).toContain('Feature network: classifier clf-reference-r0');
  });
});

describe('the summary', () => {
  it('names the GAN scenario with the highest mean AUC as the one closest to the reference, from the numbers', async () => {
    const fx = await writeFixtureRun(path.join(tmp, 'summary'), { repeats: 2 });
    const model = buildReportModel((await loadRun(fx.dir, { images: false })).inputs);
    const cells = model.table2.flatMap((r) => r.cells.map((c) => ({ gan: r.gan as string, budget: c.budget, auc: c.ours?.auc.mean ?? -1 })));
    const best = cells.reduce((a, b) => (b.auc > a.auc ? b : a));
    const ref = model.reference.ours?.auc.mean ?? NaN;
    expect(best.auc).toBeLessThan(ref); // the fixture's reference is the strongest classifier
    const text = summarize(model).join('\n');
    expect(text).toContain(`Closest to the reference: ${{ dcgan: 'DCGAN', pggan: 'PGGAN', cyclegan: 'CycleGAN' }[best.gan]} with ${best.budget} real malignant images, AUC ${best.auc.toFixed(3)}`);
    expect(text).toContain(`${(ref - best.auc).toFixed(3)} below it.`);
    // Move that cell above the reference: the sentence changes with the numbers.
    const row = model.table2.find((r) => r.gan === best.gan);
    const c = row?.cells.find((x) => x.budget === best.budget)?.ours;
    if (!c) throw new Error('fixture cell missing');
    c.auc = { ...c.auc, mean: ref + 0.01 };
    expect(summarize(model).join('\n')).toContain("1 GAN scenario reached the reference's AUC; the highest:");
  });
});

describe('a partial run', () => {
  it('says which missing jobs wait on a failed one', async () => {
    const fx = await writeFixtureRun(path.join(tmp, 'blocked'), { failed: ['gan-dcgan-b10-malignant'], missing: ['clf-gan-dcgan-b10-r0'], finished: true });
    const model = buildReportModel((await loadRun(fx.dir, { images: false })).inputs);
    expect(model.partial.inProgress).toBe(false);
    expect(model.partial.failed.map((f) => f.job)).toEqual(['gan-dcgan-b10-malignant']);
    expect(model.partial.blockedBy).toEqual({ 'clf-gan-dcgan-b10-r0': 'gan-dcgan-b10-malignant' });
    const md = renderMarkdown(model);
    expect(md).toContain('not run: needs gan-dcgan-b10-malignant, which failed');
    expect(md).toContain('**DCGAN, budget 10, malignant**: FAILED: out of memory (fixture)');
  });

  it('is reported as partial from the journal, with missing cells and the failure named', async () => {
    const fx = await writeFixtureRun(path.join(tmp, 'partial'), { missing: ['clf-gan-pggan-b20-r0', 'gan-cyclegan-b50-malignant'], failed: ['clf-baseline-b5-r0'] });
    const { inputs } = await loadRun(fx.dir);
    expect(inputs.resultsSource).toBe('journal');
    const model = buildReportModel(inputs);
    expect(model.partial.missing.sort()).toEqual(['clf-baseline-b5-r0', 'clf-gan-pggan-b20-r0', 'gan-cyclegan-b50-malignant']);
    expect(model.partial.inProgress).toBe(true);
    expect(model.table1[0].cells[0].ours).toBeNull();
    const md = renderMarkdown(model);
    expect(md).toContain('Partial run (in progress)');
    expect(md).toContain('FAILED: out of memory (fixture)');
    // The GAN job is missing, not failed: its classifier is just missing too.
    expect(model.partial.blockedBy).toEqual({});
    expect(md).toMatch(/\| PGGAN \(ours\) \| [^|]+ \| [^|]+ \| missing \|/);
    expect(md).toContain('Budget 5: the baseline has no result; no comparison.');
    const s = summarize(model).join('\n');
    expect(s).toContain('This report is PARTIAL');
    expect(s).toContain(`${model.partial.done} of ${model.partial.planned} planned jobs`);
  });
});

describe('compareToBaseline', () => {
  it('says a single repeat cannot tell the difference from noise', () => {
    const r = compareToBaseline(cell(summary(0.8, null), 1), cell(summary(0.7, null), 1));
    expect(r.exceedsSpread).toBeNull();
    expect(r.diff).toBeCloseTo(0.1);
    expect(r.sentence).toContain('cannot be told from run-to-run noise');
  });
  it('compares the difference with the larger standard deviation and reports interval overlap', () => {
    const big = compareToBaseline(cell(summary(0.8, 0.02, [0.78, 0.82]), 3), cell(summary(0.7, 0.03, [0.67, 0.73]), 3));
    expect(big.exceedsSpread).toBe(true);
    expect(big.sentence).toContain('larger than the repeat-to-repeat standard deviation (0.030)');
    expect(big.sentence).toContain('do not overlap');
    const small = compareToBaseline(cell(summary(0.72, 0.05, [0.66, 0.78]), 3), cell(summary(0.7, 0.03, [0.67, 0.73]), 3));
    expect(small.exceedsSpread).toBe(false);
    expect(small.sentence).toContain('not larger than');
    expect(small.sentence).toContain('intervals overlap');
  });
});

describe('the paper side by side', () => {
  it('puts the paper numbers beside ours only at the public counts and the paper budgets', () => {
    const train = { benign: 1440, malignant: 1197 };
    const test = { benign: 360, malignant: 300 };
    expect(comparableToPaper(['benign', 'malignant'], train, test, { malignant: 1197 }, [50, 100, 200, 500])).toBe(true);
    expect(comparableToPaper(['benign', 'malignant'], train, test, { malignant: 1197 }, [50, 75])).toBe(false);
    expect(comparableToPaper(['benign', 'malignant'], { benign: 144, malignant: 120 }, { benign: 36, malignant: 30 }, { malignant: 120 }, [50])).toBe(false);
  });

  it('shows paper rows in the tables of a quick-profile run, and an empty run as all missing', () => {
    const config = { ...profileDefaults('quick'), runDir: '/x/run' };
    const plan = buildPlan(config, { classes: ['benign', 'malignant'], train: { benign: 1440, malignant: 1197 }, test: { benign: 360, malignant: 300 } });
    const inputs: ReportInputs = {
      runDir: '/x/run',
      generatedAt: '2026-01-01T00:00:00.000Z',
      config,
      overrides: {},
      plan,
      results: buildResults(plan, []),
      resultsSource: 'journal',
      journal: [],
      trainers: [],
      grids: {},
      software: { node: 'v0', platform: 'p', study: '0', tfjs: null, source: 'test' },
    };
    const model = buildReportModel(inputs);
    expect(model.paperComparable).toBe(true);
    const md = renderMarkdown(model);
    expect(md).toContain('| DCGAN (paper, real public set) | 0.67 / 0.64 | 0.57 / 0.53 | 0.67 / 0.64 | 0.82 / 0.81 |');
    expect(md).toContain('| Baseline (paper, real public set) | 0.58 / 0.54 | 0.58 / 0.54 | 0.62 / 0.59 | 0.81 / 0.81 |');
    expect(md).not.toContain('as published');
    expect(md).toContain('| DCGAN (ours) | missing | missing | missing | missing |');
    expect(summarize(model).join(' ')).toContain('The all-real reference has no result');
  });
});

describe('lineChart', () => {
  it('draws one polyline per run of present values and the reference as a dashed line', () => {
    const svg = lineChart({ title: 't', xLabel: 'x', yLabel: 'y', x: [1, 2, 3, 4], series: [{ key: 'dcgan', label: 'DCGAN', values: [0.5, 0.6, null, 0.8] }, { key: 'baseline', label: 'Baseline', values: [0.4, 0.5, 0.55, 0.6] }], reference: { label: 'ref', value: 0.9 } });
    expect(svg.match(/<polyline class="series" data-series="dcgan"/g)).toHaveLength(1); // [0.5, 0.6] then a gap; 0.8 alone is a point
    expect(svg.match(/<polyline class="series" data-series="baseline"/g)).toHaveLength(1);
    expect(svg.match(/<circle /g)).toHaveLength(7);
    expect(svg).toMatch(/class="reference"[^>]*stroke-dasharray/);
  });
});

describe('trainersFromLog', () => {
  it('reads trainer joins from coordinator.log JSON lines, skipping other and torn lines', () => {
    const log = [
      JSON.stringify({ event: 'trainer-joined', trainer: 't2', host: 'h', device: 'GPU 1', backend: 'tensorflow-gpu', gpu: '1', pid: 5 }),
      '{"event":"trainer-joined", torn',
      JSON.stringify({ event: 'job-done', trainer: 't2' }),
      JSON.stringify({ event: 'trainer-joined', trainer: 't1', host: 'h', device: 'cpu', backend: 'wasm', gpu: null, pid: 4 }),
    ].join('\n');
    expect(trainersFromLog(log)).toEqual([
      { id: 't1', host: 'h', device: 'cpu', backend: 'wasm', gpu: null, pid: 4 },
      { id: 't2', host: 'h', device: 'GPU 1', backend: 'tensorflow-gpu', gpu: '1', pid: 5 },
    ]);
  });
});

describe('software versions', () => {
  it('prefers the versions the run logged at its last start over its own', () => {
    const start = (v: object) => JSON.stringify({ event: 'coordinator-start', versions: v });
    expect(versionsFromLog('')).toBeNull();
    const log = [start({ node: 'v18.0.0', platform: 'linux/x64', study: '0.0.9', tfjs: '4.21.0' }), '{"event":"coordinator-start"', start({ node: 'v20.1.0', platform: 'linux/arm64', study: '0.1.0', tfjs: '4.22.0' })].join('\n');
    expect(versionsFromLog(log)).toEqual({ node: 'v20.1.0', platform: 'linux/arm64', study: '0.1.0', tfjs: '4.22.0' });
    expect(softwareVersions().node).toBe(process.version);
  });
});

describe('loadRun errors', () => {
  it('names the directory when it is not a run directory', async () => {
    await expect(loadRun(path.join(tmp, 'nope'))).rejects.toThrow(/run directory .*nope does not exist/);
    const empty = path.join(tmp, 'empty');
    await fs.mkdir(empty);
    await expect(loadRun(empty)).rejects.toThrow(/neither results.json nor plan.json/);
  });
});

describe('findChromium', () => {
  it('fails with the install command when chromium is not on PATH (browser tests never skip)', () => {
    const saved = process.env.PATH;
    process.env.PATH = path.join(tmp, 'no-bin');
    try {
      expect(() => findChromium()).toThrow('apt-get install chromium');
    } finally {
      process.env.PATH = saved;
    }
  });
});
