/**
 * The report's content in a renderer-neutral form: tables as header + rows of strings, charts as
 * SVG strings, facts as label/value pairs. markdown.ts and html.ts only lay these out, so both files
 * say the same thing.
 */
import { PAPER, type PaperCell } from './paper';
import { duration, ganLabel, interval, meanStd, num, sig } from './format';
import type { Cell, ReportModel, TableRow } from './model';
import { lineChart, rocChart } from './svg';

export interface TableSection {
  id: string;
  caption: string;
  header: string[];
  rows: string[][];
  /** Row indexes that hold the paper's numbers (styled apart in HTML). */
  paperRows: number[];
  note?: string;
}

function cellText(c: Cell | null): string {
  if (!c) return 'missing';
  const partial = c.n < c.planned ? ` (${c.n}/${c.planned} repeats)` : '';
  return `${meanStd(c.accuracy)} / ${meanStd(c.auc)}${partial}`;
}

function ciText(c: Cell | null): string {
  if (!c || !c.accuracy.ci) return '—';
  return `${interval(c.accuracy)} / ${interval(c.auc)}`;
}

function paperText(p: PaperCell | null): string {
  return p ? `${num(p.accuracy, 2)} / ${num(p.auc, 2)}` : '—';
}

function rowLabel(r: TableRow): string {
  return r.scenario === 'baseline' ? 'Baseline' : ganLabel(r.gan ?? r.label);
}

function resultTable(m: ReportModel, id: string, caption: string, rows: TableRow[]): TableSection {
  const header = ['', ...m.budgets.map(String)];
  const out: string[][] = [];
  const paperRows: number[] = [];
  const withCi = m.repeats > 1;
  for (const r of rows) {
    out.push([`${rowLabel(r)} (ours)`, ...r.cells.map((c) => cellText(c.ours))]);
    if (withCi) out.push([`${rowLabel(r)} (ours) 95% CI`, ...r.cells.map((c) => ciText(c.ours))]);
    if (m.paperComparable) {
      paperRows.push(out.length);
      out.push([`${rowLabel(r)} (${PAPER.label})`, ...r.cells.map((c) => paperText(c.paper))]);
    }
  }
  const ref = m.reference.ours;
  out.push([`All-real reference (ours)`, ...m.budgets.map((_, i) => (i === 0 ? `${cellText(ref)}${withCi && ref?.accuracy.ci ? ` ${ciText(ref)}` : ''}` : ''))]);
  if (m.paperComparable) {
    paperRows.push(out.length);
    out.push([`All-real reference (${PAPER.label})`, ...m.budgets.map((_, i) => (i === 0 ? paperText(m.reference.paper) : ''))]);
  }
  const columns = `Columns: real ${m.minorityClasses.join('/')} training images kept (the budget). Cells: accuracy / AUC on the test split` + (withCi ? `, mean ± sample standard deviation over ${m.repeats} repeats; the CI rows give the bootstrap 95% interval of the mean over repeats.` : ' (one run each).');
  return { id, caption, header, rows: out, paperRows, note: columns };
}

/** The paper's tables as published (shown apart when our study is not at the paper's sizes). */
export function paperTables(): TableSection {
  const header = ['', ...PAPER.budgets.map(String)];
  const rows = [['Baseline (imbalanced)', ...PAPER.budgets.map((b) => paperText(PAPER.baseline[b]))]];
  for (const g of ['dcgan', 'pggan', 'cyclegan'] as const) rows.push([ganLabel(g), ...PAPER.budgets.map((b) => paperText(PAPER.gan[g][b]))]);
  rows.push(['All-real reference', paperText(PAPER.reference), '', '', '']);
  return {
    id: 'paper',
    caption: `The paper's Tables 1 and 2 as published (accuracy / AUC), measured on the real public set (train ${PAPER.train.benign} benign / ${PAPER.train.malignant} malignant, test ${PAPER.test.benign} / ${PAPER.test.malignant})`,
    header,
    rows,
    paperRows: rows.map((_, i) => i),
    note: 'Not side by side with ours: this study does not use the public set at the paper\'s counts and budgets, so the numbers do not answer the same question.',
  };
}

export function resultTables(m: ReportModel): TableSection[] {
  const t1 = resultTable(m, 'table1', `Table 1: imbalanced baseline (all ${m.majorityClass} + N real ${m.minorityClasses.join('/')}), accuracy / AUC`, m.table1);
  const t2 = resultTable(m, 'table2', `Table 2: ${m.minorityClasses.join('/')} filled up to ${Object.values(m.fillTo).join('/') || '?'} with images of a GAN trained on N real, accuracy / AUC`, m.table2);
  return m.paperComparable ? [t1, t2] : [t1, t2, paperTables()];
}

export interface ChartSection {
  id: string;
  caption: string;
  svg: string;
}

export function charts(m: ReportModel): ChartSection[] {
  const out: ChartSection[] = [];
  for (const metric of ['accuracy', 'auc'] as const) {
    const name = metric === 'auc' ? 'AUC' : 'accuracy';
    const rows = [...m.table1, ...m.table2];
    const series = rows.map((r) => ({
      key: r.gan ?? 'baseline',
      label: rowLabel(r),
      values: r.cells.map((c) => c.ours?.[metric].mean ?? null),
      errors: r.cells.map((c) => c.ours?.[metric].std ?? null),
    }));
    const ref = m.reference.ours;
    out.push({
      id: `chart-${metric}`,
      caption: `Test ${name} against the budget of real ${m.minorityClasses.join('/')} images, one line per method; the dashed line is the all-real reference.${m.repeats > 1 ? ' Bars: ± one standard deviation over repeats.' : ''}`,
      svg: lineChart({ title: `${name} vs budget`, xLabel: `real ${m.minorityClasses.join('/')} training images (budget)`, yLabel: name, x: m.budgets, series, reference: ref ? { label: 'all-real reference', value: ref[metric].mean } : null }),
    });
  }
  if (m.roc.length > 0) {
    out.push({
      id: 'chart-roc',
      caption: `ROC curves on the test split (${m.dataset.classes.length > 2 ? `one-vs-rest for class ${m.minorityClasses[0] ?? '?'}` : `positive class ${m.minorityClasses[0] ?? '?'}`}): the all-real reference and, per budget, the method with the highest mean AUC (its first repeat's curve).`,
      svg: rocChart(
        'ROC curves',
        m.roc.map((r) => ({ key: r.label.startsWith('reference') ? 'reference' : r.label.split(' @ ')[0], label: `${r.label.replace(/^(dcgan|pggan|cyclegan)/, (g) => ganLabel(g))} (AUC ${num(r.auc)})`, fpr: r.fpr, tpr: r.tpr })),
      ),
    });
  }
  return out;
}

/** FID/KID/precision/recall per GAN and budget (one row per GAN job). */
export function qualityTable(m: ReportModel): TableSection {
  const rows = m.grids.map((g) => {
    const q = m.gansQuality.find((r) => r.id === g.job);
    if (!q) {
      const failed = m.partial.failed.find((f) => f.job === g.job);
      return [ganLabel(g.gan), String(g.budget), g.className, failed ? `FAILED: ${failed.error}` : 'missing', '', '', '', '', ''];
    }
    const qual = q.quality;
    return [ganLabel(g.gan), String(g.budget), g.className, qual ? sig(qual.fid) : 'n/a', qual ? sig(qual.kid) : 'n/a', qual ? num(qual.precision) : 'n/a', qual ? num(qual.recall) : 'n/a', `${q.resolution} px, ${q.steps} steps`, String(q.generated)];
  });
  return {
    id: 'quality',
    caption: 'Image quality of the generated images against the budget\'s real images',
    header: ['GAN', 'budget', 'class', 'FID ↓', 'KID ↓', 'precision ↑', 'recall ↑', 'training', 'generated'],
    rows,
    paperRows: [],
    note: m.featureNetworks.length ? `Feature network: ${m.featureNetworks.join('; ')}. FID and KID compare feature statistics (lower is closer); precision and recall are k-NN manifold estimates (higher is better). With tens of real images these estimates are noisy.` : 'No GAN job has image-quality numbers.',
  };
}

export interface Fact {
  label: string;
  value: string;
}

export function runFacts(m: ReportModel): Fact[] {
  const d = m.dataset;
  const counts = (r: Record<string, number>): string => (Object.keys(r).length ? d.classes.map((c) => `${c} ${r[c] ?? '?'}`).join(', ') : '?');
  const facts: Fact[] = [
    { label: 'run directory', value: m.runDir },
    { label: 'data set', value: m.synthetic ? `synthetic stand-in (seed ${d.syntheticSeed ?? '?'}) — not medical images` : `image folder ${d.path}` },
    { label: 'training images', value: counts(d.train) },
    { label: 'test images', value: counts(d.test) },
    { label: 'majority / minority', value: `${m.majorityClass} / ${m.minorityClasses.join(', ')} (filled up to ${Object.entries(m.fillTo).map(([c, n]) => `${c} ${n}`).join(', ') || '?'})` },
    { label: 'budgets', value: m.budgets.join(', ') },
    { label: 'GANs', value: m.gans.map(ganLabel).join(', ') },
    { label: 'repeats', value: String(m.repeats) },
    { label: 'profile', value: m.profile ?? '?' },
    { label: 'master seed', value: m.seed === null ? '?' : String(m.seed) },
    { label: 'classifier input', value: m.imageSize === null ? '?' : `${m.imageSize} px` },
    { label: 'GAN resolutions', value: m.ganResolution ? Object.entries(m.ganResolution).map(([g, r]) => `${ganLabel(g)} ${r} px`).join(', ') : '?' },
    { label: 'config overrides', value: m.overrides.length ? m.overrides.map((o) => `${o.key} (${o.source})`).join(', ') : 'none (profile defaults)' },
    { label: 'jobs', value: `${m.partial.done} of ${m.partial.planned} with a result${m.partial.failed.length ? `, ${m.partial.failed.length} failed` : ''}` },
    { label: 'wall time', value: m.wall.ms === null ? '?' : `${duration(m.wall.ms)} (${m.wall.startedAt ?? '?'} to ${m.wall.finishedAt ?? 'not finished'}${m.wall.sessions > 1 ? `, ${m.wall.sessions} sessions` : ''})` },
    { label: 'results from', value: m.resultsSource === 'results.json' ? 'results.json' : 'the journal (results.json not written yet)' },
    { label: 'software', value: `study ${m.software.study}, node ${m.software.node}, ${m.software.platform}, tfjs ${m.software.tfjs ?? '?'} (${m.software.source})` },
    { label: 'report written', value: m.generatedAt },
  ];
  return facts;
}

export function trainerTable(m: ReportModel): TableSection {
  const jobsOf = (id: string): number => m.jobs.filter((j) => j.trainer === id).length;
  return {
    id: 'trainers',
    caption: 'Trainers (from coordinator.log)',
    header: ['trainer', 'host', 'device', 'backend', 'CUDA_VISIBLE_DEVICES', 'jobs finished'],
    rows: m.trainers.map((t) => [t.id, t.host, t.device, t.backend, t.gpu ?? '—', String(jobsOf(t.id))]),
    paperRows: [],
  };
}

export function jobTable(m: ReportModel): TableSection {
  const rows = m.jobs.map((j) => [j.id, j.kind, j.seed === null ? '?' : String(j.seed), j.trainer ?? '—', j.backend, String(j.attempts), duration(j.trainMs), duration(j.totalMs)]);
  for (const id of m.partial.missing) {
    const f = m.partial.failed.find((x) => x.job === id);
    const blocked = m.partial.blockedBy[id];
    rows.push([id, '', '', '', '', '', '', f ? `FAILED: ${f.error}` : blocked ? `not run: needs ${blocked}, which failed` : 'no result']);
  }
  return { id: 'jobs', caption: 'Jobs: seeds and durations', header: ['job', 'kind', 'seed', 'trainer', 'backend', 'attempts', 'training', 'total'], rows, paperRows: [] };
}
