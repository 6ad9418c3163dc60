import { fid, frechetDistance, kid, meanAndCovariance, polynomialKernel, precisionRecall } from './gan-quality';
import { mulberry32 } from './stats';

function gaussianRows(n: number, d: number, seed: number, shift = 0, scale = 1): number[][] {
  const rng = mulberry32(seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
  return Array.from({ length: n }, () => Array.from({ length: d }, () => shift + scale * normal()));
}

describe('FID', () => {
  it.each([
    {
      // means 1 and 3, sample variances 2 and 4: (1-3)^2 + (sqrt 2 - 2)^2
      name: '1-D closed form',
      real: [[0], [2]],
      generated: [[1], [5], [3]],
      expected: 10 - 4 * Math.SQRT2,
    },
    {
      // cov diag(2/3, 2/3) vs diag(6, 6), means 0 and (5, 0): 25 + 2 (sqrt(2/3) - sqrt 6)^2 = 25 + 16/3
      name: 'diagonal Gaussians closed form',
      real: [[1, 0], [-1, 0], [0, 1], [0, -1]],
      generated: [[8, 0], [2, 0], [5, 3], [5, -3]],
      expected: 25 + 16 / 3,
    },
  ])('$name', ({ real, generated, expected }) => {
    const r = fid(real, generated, 'toy');
    expect(r.fid).toBeCloseTo(expected, 12);
    expect(r).toMatchObject({ featureNetwork: 'toy', nReal: real.length, nGenerated: generated.length, dim: real[0].length });
  });

  it('is ~0 for identical sets and unchanged when both sets are rotated', () => {
    const a = gaussianRows(30, 4, 1);
    const b = gaussianRows(25, 4, 2, 0.5, 2);
    expect(Math.abs(fid(a, a, 'x').fid)).toBeLessThan(1e-9);
    const c = Math.cos(0.7);
    const s = Math.sin(0.7);
    const rotate = (rows: number[][]) => rows.map(([x, y, z, w]) => [c * x - s * y, s * x + c * y, z, w]);
    expect(fid(rotate(a), rotate(b), 'x').fid).toBeCloseTo(fid(a, b, 'x').fid, 9);
  });

  it('accepts Float32Array rows and singular covariances (fewer samples than dimensions)', () => {
    const a = gaussianRows(4, 6, 3).map((r) => Float32Array.from(r));
    const b = gaussianRows(5, 6, 4).map((r) => Float32Array.from(r));
    const r = fid(a, b, 'x');
    expect(Number.isFinite(r.fid)).toBe(true);
    expect(r.fid).toBeGreaterThan(0);
  });

  it('frechetDistance of equal covariances is the squared mean distance', () => {
    const cov = [2, 0.5, 0.5, 1];
    expect(frechetDistance([0, 0], cov, [3, 4], cov)).toBeCloseTo(25, 12);
  });

  it('meanAndCovariance uses n - 1', () => {
    const { mean, cov } = meanAndCovariance([[1, 2], [3, 6]]);
    expect(Array.from(mean)).toEqual([2, 4]);
    expect(Array.from(cov)).toEqual([2, 4, 4, 8]);
  });

  it.each([
    { real: [[0], [1]], generated: [[0], [1]], net: '', message: 'featureNetwork must name the network' },
    { real: [[0]], generated: [[0], [1]], net: 'n', message: 'real set needs at least 2 feature vectors, got 1' },
    { real: [[0, 1], [1, 1]], generated: [[0], [1]], net: 'n', message: 'real features have 2 dimensions, generated 1' },
    { real: [[0, 1], [1]], generated: [[0], [1]], net: 'n', message: 'real set row 1 has 1 features, expected 2' },
    { real: [[0], [1]], generated: [[0], [NaN]], net: 'n', message: 'generated set row 1 feature 0 is NaN, not finite' },
  ])('rejects bad input: $message', ({ real, generated, net, message }) => {
    expect(() => fid(real, generated, net)).toThrow(message);
  });
});

describe('KID', () => {
  it('hand-computed 1-D case: unbiased MMD^2 with (xy + 1)^3', () => {
    // gen {0,1}: k(0,1) = 1, twice -> 2; real {1,2}: k(1,2) = 27, twice -> 54;
    // cross: k(0,1) + k(0,2) + k(1,1) + k(1,2) = 1 + 1 + 8 + 27 = 37; (2 + 54)/2 - 2 * 37/4 = 9.5
    expect(polynomialKernel([1], [2])).toBe(27);
    const r = kid([[1], [2]], [[0], [1]], 'toy', { subsets: 5 });
    expect(r.kid).toBeCloseTo(9.5, 12);
    expect(r.kidStd).toBe(0); // every subset is the whole set
    expect(r).toMatchObject({ featureNetwork: 'toy', subsets: 5, subsetSize: 2, dim: 1 });
  });

  it('random subsets: seeded, with a spread, and the uncached path agrees', () => {
    const real = gaussianRows(40, 3, 5);
    const gen = gaussianRows(30, 3, 6, 0.8);
    const a = kid(real, gen, 'x', { subsets: 20, subsetSize: 10, seed: 1 });
    expect(kid(real, gen, 'x', { subsets: 20, subsetSize: 10, seed: 1 })).toEqual(a);
    expect(kid(real, gen, 'x', { subsets: 20, subsetSize: 10, seed: 2 }).kid).not.toBe(a.kid);
    expect(a.kidStd).toBeGreaterThan(0);
    expect(a.kid).toBeGreaterThan(0); // shifted means: clearly different distributions
    const uncached = kid(real, gen, 'x', { subsets: 20, subsetSize: 10, seed: 1, cacheEntries: 0 });
    expect(uncached.kid).toBeCloseTo(a.kid, 12);
    // same distribution: near zero compared with the shifted case
    expect(Math.abs(kid(real, gaussianRows(30, 3, 7), 'x', { subsets: 20, subsetSize: 10 }).kid)).toBeLessThan(a.kid);
  });

  it('rejects unknown options and bad sizes', () => {
    expect(() => kid([[0], [1]], [[0], [1]], 'x', { subset: 3 } as object)).toThrow("unknown KID option 'subset'");
    expect(() => kid([[0], [1]], [[0], [1]], 'x', { subsetSize: 1 })).toThrow('subsetSize must be an integer >= 2, got 1');
  });
});

describe('k-NN precision and recall', () => {
  it.each([
    // real radii (k=1) are all 1; 4 is exactly 1 from 3 (inside, <=), 10 is outside.
    // generated radii (k=1) are 6; every real point is within 6 of 4.
    { real: [[0], [1], [2], [3]], generated: [[4], [10]], k: 1, precision: 0.5, recall: 1 },
    // real radii (k=2): 0 -> 2, 1 -> 1, 2 -> 1, 3 -> 2; -2 in (|-2-0| = 2), 5.5 out (2.5 > 2), 1.5 in.
    // generated radii (k=2): -2 -> 7.5, 1.5 -> 4, 5.5 -> 7.5; all real points within 7.5 of -2.
    { real: [[0], [1], [2], [3]], generated: [[-2], [5.5], [1.5]], k: 2, precision: 2 / 3, recall: 1 },
    // two far clusters: generated covers only the first real cluster -> recall 1/2
    {
      real: [[0, 0], [0, 1], [1, 0], [100, 100], [100, 101], [101, 100]],
      generated: [[0.5, 0.5], [0, 0.5], [0.5, 0]],
      k: 2,
      precision: 1,
      recall: 0.5,
    },
  ])('case $#: precision $precision, recall $recall', ({ real, generated, k, precision, recall }) => {
    const r = precisionRecall(real, generated, 'toy', k);
    expect(r.precision).toBeCloseTo(precision, 15);
    expect(r.recall).toBeCloseTo(recall, 15);
    expect(r).toMatchObject({ featureNetwork: 'toy', k });
  });

  it('defaults to k = 3 and needs more than k vectors per set', () => {
    expect(precisionRecall(gaussianRows(5, 2, 1), gaussianRows(5, 2, 2), 'x').k).toBe(3);
    expect(() => precisionRecall([[0], [1], [2]], [[0], [1], [2], [3]], 'x')).toThrow('real set needs at least 4 feature vectors, got 3');
    expect(() => precisionRecall([[0], [1]], [[0], [1]], 'x', 0)).toThrow('k must be a positive integer, got 0');
  });
});
