/**
 * The report's plain-language summary, derived from the numbers of the report model and from
 * nothing else (no sentence is written by hand for a particular run). AUC is the primary measure
 * (the test split is imbalanced only mildly, and AUC does not depend on a threshold); accuracy is
 * quoted beside it.
 *
 * "Larger than the repeat-to-repeat spread" means: the difference of the two means is larger than
 * the larger of the two sample standard deviations over repeats; the sentence also says whether the
 * two bootstrap 95% intervals of the means overlap. With a single repeat there is no spread, and the
 * summary says that the difference cannot be told from run-to-run noise.
 */
import { duration, ganLabel, num } from './format';
import type { Cell, ReportModel } from './model';

function signed(v: number): string {
  return `${v >= 0 ? '+' : '−'}${Math.abs(v).toFixed(3)}`;
}

function overlap(a: Cell, b: Cell): boolean | null {
  if (!a.auc.ci || !b.auc.ci) return null;
  return a.auc.ci.lower <= b.auc.ci.upper && b.auc.ci.lower <= a.auc.ci.upper;
}

/** One sentence on how a GAN cell differs from the baseline cell, by mean AUC, against the spread. */
export function compareToBaseline(gan: Cell, base: Cell): { diff: number; exceedsSpread: boolean | null; sentence: string } {
  const diff = gan.auc.mean - base.auc.mean;
  const sds = [gan.auc.std, base.auc.std];
  if (sds.some((s) => s === null) || gan.n < 2 || base.n < 2) {
    return { diff, exceedsSpread: null, sentence: `AUC ${signed(diff)} against the baseline; with a single repeat the repeat-to-repeat spread is unknown, so this difference cannot be told from run-to-run noise` };
  }
  const spread = Math.max(sds[0] as number, sds[1] as number);
  const exceeds = Math.abs(diff) > spread;
  const ov = overlap(gan, base);
  const ci = ov === null ? '' : ov ? '; their 95% intervals overlap' : '; their 95% intervals do not overlap';
  return {
    diff,
    exceedsSpread: exceeds,
    sentence: `AUC ${signed(diff)} against the baseline, ${exceeds ? 'larger' : 'not larger'} than the repeat-to-repeat standard deviation (${num(spread)})${ci}`,
  };
}

/** The summary, one paragraph per element. */
export function summarize(m: ReportModel): string[] {
  const out: string[] = [];
  if (m.synthetic) {
    out.push(
      `Data: the synthetic stand-in set (seed ${m.dataset.syntheticSeed ?? '?'}), not medical images. These numbers test the method and the pipeline; they are not medical results and say nothing about skin lesions.`,
    );
  } else {
    out.push(`Data: the image folder ${m.dataset.path}.`);
  }
  if (m.partial.missing.length > 0) {
    const failed = m.partial.failed.length ? ` ${m.partial.failed.length} failed: ${m.partial.failed.map((f) => f.job).join(', ')}.` : '';
    out.push(
      `This report is PARTIAL${m.partial.inProgress ? ' (the run is still in progress)' : ''}: ${m.partial.done} of ${m.partial.planned} planned jobs have a result; ${m.partial.missing.length} have none.${failed} Empty cells are missing results, not zeros.`,
    );
  }

  const ref = m.reference.ours;
  if (ref) {
    out.push(`The all-real reference reached accuracy ${num(ref.accuracy.mean)} and AUC ${num(ref.auc.mean)}${ref.n > 1 ? ` (mean of ${ref.n} repeats)` : ''}${m.paperComparable ? `; the paper reports ${num(m.reference.paper.accuracy, 2)} / ${num(m.reference.paper.auc, 2)} on the real public set` : ''}.`);
  } else {
    out.push('The all-real reference has no result, so nothing can be compared with it.');
  }

  // Which GAN at which budget came closest to the reference: the highest mean AUC of any GAN
  // scenario (the smallest shortfall; or, when some reach the reference, how many and the highest).
  let best: { gan: string; budget: number; cell: Cell } | null = null;
  let reached = 0;
  for (const row of m.table2) {
    for (const c of row.cells) {
      if (!c.ours || !row.gan) continue;
      if (ref && c.ours.auc.mean >= ref.auc.mean) reached++;
      if (!best || c.ours.auc.mean > best.cell.auc.mean) best = { gan: row.gan, budget: c.budget, cell: c.ours };
    }
  }
  if (best && ref) {
    const gap = best.cell.auc.mean - ref.auc.mean;
    const what = `${ganLabel(best.gan)} with ${best.budget} real ${m.minorityClasses.join('/')} images, AUC ${num(best.cell.auc.mean)} (accuracy ${num(best.cell.accuracy.mean)})`;
    out.push(
      reached > 0
        ? `${reached} GAN scenario${reached > 1 ? 's' : ''} reached the reference's AUC; the highest: ${what}, ${gap.toFixed(3)} above it.`
        : `Closest to the reference: ${what}, ${Math.abs(gap).toFixed(3)} below it.`,
    );
  } else if (m.table2.length > 0) {
    out.push('No GAN scenario has a result yet.');
  }

  // Per budget: the best GAN against the baseline.
  let better = 0;
  let compared = 0;
  let beyondSpread = 0;
  for (const b of m.budgets) {
    const base = m.table1[0]?.cells.find((c) => c.budget === b)?.ours ?? null;
    let best: { gan: string; cell: Cell } | null = null;
    for (const row of m.table2) {
      const c = row.cells.find((x) => x.budget === b)?.ours;
      if (c && row.gan && (!best || c.auc.mean > best.cell.auc.mean)) best = { gan: row.gan, cell: c };
    }
    if (!base || !best) {
      out.push(`Budget ${b}: ${!base ? 'the baseline' : 'no GAN scenario'} has no result; no comparison.`);
      continue;
    }
    compared++;
    const cmp = compareToBaseline(best.cell, base);
    if (cmp.diff > 0) better++;
    if (cmp.exceedsSpread && cmp.diff > 0) beyondSpread++;
    out.push(`Budget ${b}: the best GAN, ${ganLabel(best.gan)} (AUC ${num(best.cell.auc.mean)}), against the imbalanced baseline (AUC ${num(base.auc.mean)}): ${cmp.sentence}.`);
  }
  if (compared > 0) {
    const reps = m.repeats > 1 ? `, and at ${beyondSpread} of them by more than the repeat-to-repeat spread` : '';
    out.push(`Overall: the best GAN beat the baseline's mean AUC at ${better} of ${compared} budgets${reps}.`);
  }

  const smallest = m.budgets[0];
  const base0 = m.table1[0]?.cells.find((c) => c.budget === smallest)?.ours;
  if (ref && base0) {
    const d = ref.auc.mean - base0.auc.mean;
    out.push(
      d > 0
        ? `Sanity check: the reference is ${d.toFixed(3)} AUC above the budget-${smallest} baseline, the cost of the scarce minority class in this setup.`
        : `Sanity check FAILED: the reference is not above the budget-${smallest} baseline (AUC ${signed(d)}); with this setup the scarcity does not hurt, and the comparison of GANs means little.`,
    );
  }
  if (m.wall.ms !== null) out.push(`The run took ${duration(m.wall.ms)} of wall time${m.wall.sessions > 1 ? ` over ${m.wall.sessions} sessions (resumed)` : ''}.`);
  return out;
}
