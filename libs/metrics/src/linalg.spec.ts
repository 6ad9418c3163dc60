import { matmul, sqrtPsd, symmetricEigen, traceSqrtPsd } from './linalg';
import { mulberry32 } from './stats';

function randomSymmetric(n: number, seed: number): Float64Array {
  const rng = mulberry32(seed);
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      const v = rng() * 2 - 1;
      a[i * n + j] = v;
      a[j * n + i] = v;
    }
  }
  return a;
}

function transpose(a: ArrayLike<number>, n: number): Float64Array {
  const t = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) t[j * n + i] = a[i * n + j];
  return t;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('symmetric eigen-decomposition', () => {
  it.each([
    { name: 'diagonal', n: 3, a: [3, 0, 0, 0, -1, 0, 0, 0, 2], values: [-1, 2, 3] },
    { name: '2x2 [[2,1],[1,2]]', n: 2, a: [2, 1, 1, 2], values: [1, 3] },
    { name: 'all ones 3x3 (repeated eigenvalue 0)', n: 3, a: [1, 1, 1, 1, 1, 1, 1, 1, 1], values: [0, 0, 3] },
    { name: 'zero matrix', n: 2, a: [0, 0, 0, 0], values: [0, 0] },
  ])('$name', ({ n, a, values }) => {
    const e = symmetricEigen(a, n);
    values.forEach((v, i) => expect(e.values[i]).toBeCloseTo(v, 12));
  });

  it.each([5, 17, 40])('A V = V diag(l) and V^T V = I for a random %i x %i matrix', (n) => {
    const a = randomSymmetric(n, n);
    const { values, vectors } = symmetricEigen(a, n);
    const lambda = new Float64Array(n * n);
    values.forEach((v, i) => (lambda[i * n + i] = v));
    expect(maxAbsDiff(matmul(a, vectors, n), matmul(vectors, lambda, n))).toBeLessThan(1e-12);
    const identity = new Float64Array(n * n);
    for (let i = 0; i < n; i++) identity[i * n + i] = 1;
    expect(maxAbsDiff(matmul(transpose(vectors, n), vectors, n), identity)).toBeLessThan(1e-12);
    for (let i = 1; i < n; i++) expect(values[i]).toBeGreaterThanOrEqual(values[i - 1]);
  });

  it('rejects a wrong size and a non-finite entry', () => {
    expect(() => symmetricEigen([1, 2, 3], 2)).toThrow('matrix has 3 entries, expected 2x2=4');
    expect(() => symmetricEigen([1, NaN, NaN, 1], 2)).toThrow('matrix entry 1 is NaN, not finite');
  });
});

describe('PSD square root', () => {
  it('squares back to a random PSD matrix (B B^T)', () => {
    const n = 12;
    const b = randomSymmetric(n, 99);
    const a = matmul(b, transpose(b, n), n);
    const r = sqrtPsd(a, n);
    expect(maxAbsDiff(matmul(r, r, n), a)).toBeLessThan(1e-12);
    // trace of the root = sum of |eigenvalues of b| (b symmetric: sqrt(b^2) = |b|)
    const absSum = symmetricEigen(b, n).values.reduce((s, v) => s + Math.abs(v), 0);
    expect(traceSqrtPsd(a, n)).toBeCloseTo(absSum, 10);
  });

  it('takes rounding-sized negative eigenvalues as zero but rejects a clearly indefinite matrix', () => {
    expect(traceSqrtPsd([1, 0, 0, -1e-12], 2)).toBe(1);
    expect(Array.from(sqrtPsd([4, 0, 0, -1e-12], 2))).toEqual([2, 0, 0, 0]);
    expect(() => traceSqrtPsd([1, 0, 0, -1e-6], 2)).toThrow('matrix is not positive semi-definite: eigenvalue -0.000001 (largest magnitude 1)');
    expect(() => sqrtPsd([1, 2, 2, 1], 2, 'test matrix')).toThrow(/test matrix is not positive semi-definite: eigenvalue -0\.99999/);
  });
});
