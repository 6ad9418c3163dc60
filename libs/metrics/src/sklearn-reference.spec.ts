/**
 * Agreement with scikit-learn / numpy / scipy to 1e-9, on the fixture written by
 * tools/metrics/make_sklearn_fixtures.py (inputs and expected values both stored there).
 */
import reference from './fixtures/sklearn-reference.json';
import { evaluate } from './evaluate';
import { fid, kid, precisionRecall } from './gan-quality';
import { symmetricEigen } from './linalg';
import { rocAuc } from './roc';
import { percentileSorted, studentTCdf, studentTQuantile, summarizeRepeats } from './stats';

const TOL = 1e-9;

function expectClose(actual: number, expected: number, tol = TOL): void {
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(tol);
}

function expectAllClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = TOL): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) expectClose(actual[i], expected[i], tol);
}

interface Curve {
  fpr: number[];
  tpr: number[];
  thresholds: Array<number | null>;
}

describe('classification metrics agree with scikit-learn', () => {
  it('has the generated cases', () => {
    expect(reference.classification.length).toBeGreaterThanOrEqual(7);
  });

  it.each(reference.classification.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const classNames = Array.from({ length: c.nClasses }, (_, i) => `c${i}`);
    const ev = evaluate({ labels: c.labels, classNames, probs: c.probs });
    expectClose(ev.accuracy, c.accuracy);
    expectClose(ev.auc, c.auc);
    expectClose(ev.balancedAccuracy, c.balancedAccuracy);
    expect(ev.confusionMatrix).toEqual(c.confusionMatrix);
    expectAllClose(classNames.map((n) => ev.perClass[n].precision), c.precision);
    expectAllClose(classNames.map((n) => ev.perClass[n].recall), c.recall);
    expectAllClose(classNames.map((n) => ev.perClass[n].f1), c.f1);
    expect(classNames.map((n) => ev.perClass[n].support)).toEqual(c.support);
    const curves = c.rocCurves as Curve[];
    const curveClasses = c.nClasses === 2 ? ['c1'] : classNames;
    curveClasses.forEach((name, i) => {
      const ours = ev.rocCurves[name];
      expectAllClose(ours.fpr, curves[i].fpr);
      expectAllClose(ours.tpr, curves[i].tpr);
      expect(ours.thresholds[0]).toBe(Infinity);
      expectAllClose(ours.thresholds.slice(1), curves[i].thresholds.slice(1) as number[]);
    });
    if (c.nClasses > 2) {
      const per = (c as { aucPerClass?: number[] }).aucPerClass as number[];
      expectAllClose(classNames.map((n) => (ev.aucPerClass as Record<string, number>)[n]), per);
    } else {
      expectClose(rocAuc(c.labels, c.probs.map((p) => p[1])), c.auc);
    }
  });
});

describe('GAN quality agrees with numpy/scipy references', () => {
  it.each(reference.fid.map((c, i) => [i, c] as const))('FID case %i matches the scipy.linalg.sqrtm computation', (_i, c) => {
    const r = fid(c.real, c.generated, 'test-net');
    expectClose(r.fid, c.fid, 1e-9 * Math.max(1, Math.abs(c.fid)));
  });

  it.each(reference.kid.map((c, i) => [i, c] as const))('KID case %i matches the numpy MMD^2 (one full subset)', (_i, c) => {
    const r = kid(c.real, c.generated, 'test-net', { subsets: 3, subsetSize: c.real.length });
    expectClose(r.kid, c.kid, 1e-9 * Math.max(1, Math.abs(c.kid)));
    expect(r.kidStd).toBe(0);
  });

  it.each(reference.precisionRecall.map((c, i) => [i, c] as const))('precision/recall case %i matches the reference', (_i, c) => {
    const r = precisionRecall(c.real, c.generated, 'test-net', c.k);
    expectClose(r.precision, c.precision);
    expectClose(r.recall, c.recall);
  });
});

describe('numerics agree with numpy', () => {
  it.each(reference.eigen.map((c) => [c.n, c] as const))('eigenvalues of a random symmetric matrix of size %i match eigh', (_n, c) => {
    expectAllClose(symmetricEigen(c.matrix, c.n).values, c.values);
  });

  it.each(reference.percentile.map((c) => [c.q, c] as const))('percentile %f matches numpy linear', (_q, c) => {
    const sorted = [...c.values].sort((a, b) => a - b);
    expectClose(percentileSorted(sorted, c.q), c.expected);
  });

  it.each(reference.studentT.map((c) => [c.p, c.df, c] as const))('Student t quantile %f with %i df and its CDF match scipy.stats.t', (_p, _df, c) => {
    expectClose(studentTQuantile(c.p, c.df), c.quantile, 1e-9 * Math.max(1, Math.abs(c.quantile)));
    expectClose(studentTCdf(c.p * 4 - 2, c.df), c.cdf);
  });

  it.each(reference.repeats.map((c) => [c.values.length, c] as const))('summary of %i repeats matches numpy std(ddof=1) and scipy t.interval', (_n, c) => {
    const s = summarizeRepeats(c.values);
    expectClose(s.mean, c.mean);
    expectClose(s.std as number, c.std);
    expectClose(s.ci?.lower as number, c.lower);
    expectClose(s.ci?.upper as number, c.upper);
  });
});
