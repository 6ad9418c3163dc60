/**
 * Small dense linear algebra for FID: symmetric eigen-decomposition and the square root of a
 * positive semi-definite matrix. Matrices are row-major Float64Array of n*n.
 *
 * The eigen-decomposition is Householder tridiagonalization followed by the implicit QL algorithm
 * (EISPACK tred2/tql2, as in the public-domain JAMA EigenvalueDecomposition, Bowdler, Martin,
 * Reinsch and Wilkinson, Handbook for Automatic Computation vol. II). O(n^3), stable, no pivoting.
 */
import { MetricsInputError } from './errors';

export interface SymmetricEigen {
  /** Eigenvalues, ascending. */
  values: Float64Array;
  /** Row-major n*n; column j is the unit eigenvector of values[j]. */
  vectors: Float64Array;
}

/** Eigen-decomposition of a symmetric matrix (only symmetry up to rounding is assumed; not checked). */
export function symmetricEigen(a: ArrayLike<number>, n: number): SymmetricEigen {
  if (!Number.isInteger(n) || n < 1) throw new MetricsInputError(`matrix size must be a positive integer, got ${n}`);
  if (a.length !== n * n) throw new MetricsInputError(`matrix has ${a.length} entries, expected ${n}x${n}=${n * n}`);
  for (let i = 0; i < a.length; i++) {
    if (!Number.isFinite(a[i])) throw new MetricsInputError(`matrix entry ${i} is ${a[i]}, not finite`);
  }
  // V as an array of rows, for readable indexing in the classic algorithm.
  const V: Float64Array[] = [];
  for (let i = 0; i < n; i++) V.push(Float64Array.from({ length: n }, (_, j) => a[i * n + j]));
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  tred2(V, d, e, n);
  tql2(V, d, e, n);
  // Sort ascending, permuting eigenvector columns alike.
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => d[x] - d[y]);
  const values = new Float64Array(n);
  const vectors = new Float64Array(n * n);
  order.forEach((src, dst) => {
    values[dst] = d[src];
    for (let r = 0; r < n; r++) vectors[r * n + dst] = V[r][src];
  });
  return { values, vectors };
}

/** Householder reduction to tridiagonal form (JAMA tred2). */
function tred2(V: Float64Array[], d: Float64Array, e: Float64Array, n: number): void {
  for (let j = 0; j < n; j++) d[j] = V[n - 1][j];
  for (let i = n - 1; i > 0; i--) {
    let scale = 0;
    let h = 0;
    for (let k = 0; k < i; k++) scale += Math.abs(d[k]);
    if (scale === 0) {
      e[i] = d[i - 1];
      for (let j = 0; j < i; j++) {
        d[j] = V[i - 1][j];
        V[i][j] = 0;
        V[j][i] = 0;
      }
    } else {
      for (let k = 0; k < i; k++) {
        d[k] /= scale;
        h += d[k] * d[k];
      }
      let f = d[i - 1];
      let g = Math.sqrt(h);
      if (f > 0) g = -g;
      e[i] = scale * g;
      h -= f * g;
      d[i - 1] = f - g;
      for (let j = 0; j < i; j++) e[j] = 0;
      for (let j = 0; j < i; j++) {
        f = d[j];
        V[j][i] = f;
        g = e[j] + V[j][j] * f;
        for (let k = j + 1; k <= i - 1; k++) {
          g += V[k][j] * d[k];
          e[k] += V[k][j] * f;
        }
        e[j] = g;
      }
      f = 0;
      for (let j = 0; j < i; j++) {
        e[j] /= h;
        f += e[j] * d[j];
      }
      const hh = f / (h + h);
      for (let j = 0; j < i; j++) e[j] -= hh * d[j];
      for (let j = 0; j < i; j++) {
        f = d[j];
        g = e[j];
        for (let k = j; k <= i - 1; k++) V[k][j] -= f * e[k] + g * d[k];
        d[j] = V[i - 1][j];
        V[i][j] = 0;
      }
    }
    d[i] = h;
  }
  // Accumulate the transformations.
  for (let i = 0; i < n - 1; i++) {
    V[n - 1][i] = V[i][i];
    V[i][i] = 1;
    const h = d[i + 1];
    if (h !== 0) {
      for (let k = 0; k <= i; k++) d[k] = V[k][i + 1] / h;
      for (let j = 0; j <= i; j++) {
        let g = 0;
        for (let k = 0; k <= i; k++) g += V[k][i + 1] * V[k][j];
        for (let k = 0; k <= i; k++) V[k][j] -= g * d[k];
      }
    }
    for (let k = 0; k <= i; k++) V[k][i + 1] = 0;
  }
  for (let j = 0; j < n; j++) {
    d[j] = V[n - 1][j];
    V[n - 1][j] = 0;
  }
  V[n - 1][n - 1] = 1;
  e[0] = 0;
}

/** Implicit QL iterations on the tridiagonal matrix (JAMA tql2). */
function tql2(V: Float64Array[], d: Float64Array, e: Float64Array, n: number): void {
  for (let i = 1; i < n; i++) e[i - 1] = e[i];
  e[n - 1] = 0;
  let f = 0;
  let tst1 = 0;
  const eps = 2 ** -52;
  const maxIter = 60;
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l]) + Math.abs(e[l]));
    let m = l;
    while (m < n - 1 && Math.abs(e[m]) > eps * tst1) m++;
    if (m > l) {
      let iter = 0;
      do {
        if (++iter > maxIter) throw new Error(`symmetric eigen-decomposition did not converge (row ${l})`);
        let g = d[l];
        let p = (d[l + 1] - g) / (2 * e[l]);
        let r = Math.hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = e[l] / (p + r);
        d[l + 1] = e[l] * (p + r);
        const dl1 = d[l + 1];
        let h = g - d[l];
        for (let i = l + 2; i < n; i++) d[i] -= h;
        f += h;
        p = d[m];
        let c = 1;
        let c2 = c;
        let c3 = c;
        const el1 = e[l + 1];
        let s = 0;
        let s2 = 0;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i];
          h = c * p;
          r = Math.hypot(p, e[i]);
          e[i + 1] = s * r;
          s = e[i] / r;
          c = p / r;
          p = c * d[i] - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]);
          for (let k = 0; k < n; k++) {
            const vk = V[k];
            h = vk[i + 1];
            vk[i + 1] = s * vk[i] + c * h;
            vk[i] = c * vk[i] - s * h;
          }
        }
        p = (-s * s2 * c3 * el1 * e[l]) / dl1;
        e[l] = s * p;
        d[l] = c * p;
      } while (Math.abs(e[l]) > eps * tst1);
    }
    d[l] += f;
    e[l] = 0;
  }
}

/**
 * Relative tolerance for negative eigenvalues of a matrix that is PSD in exact arithmetic:
 * eigenvalues in [-tol * max|eigenvalue|, 0) are rounding noise and taken as 0; anything more
 * negative means the matrix is not PSD, which is an error.
 */
export const PSD_TOLERANCE = 1e-9;

function psdEigenvalues(values: Float64Array, what: string): Float64Array {
  let maxAbs = 0;
  for (const v of values) maxAbs = Math.max(maxAbs, Math.abs(v));
  const out = new Float64Array(values.length);
  values.forEach((v, i) => {
    if (v < -PSD_TOLERANCE * maxAbs) {
      throw new MetricsInputError(`${what} is not positive semi-definite: eigenvalue ${v} (largest magnitude ${maxAbs})`);
    }
    out[i] = Math.max(v, 0);
  });
  return out;
}

/** Symmetric square root V diag(sqrt(l)) V^T of a symmetric PSD matrix. */
export function sqrtPsd(a: ArrayLike<number>, n: number, what = 'matrix'): Float64Array {
  const { values, vectors } = symmetricEigen(a, n);
  const roots = psdEigenvalues(values, what).map(Math.sqrt);
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += vectors[i * n + k] * roots[k] * vectors[j * n + k];
      out[i * n + j] = s;
      out[j * n + i] = s;
    }
  }
  return out;
}

/** Trace of the square root of a symmetric PSD matrix: the sum of sqrt of its eigenvalues. */
export function traceSqrtPsd(a: ArrayLike<number>, n: number, what = 'matrix'): number {
  const { values } = symmetricEigen(a, n);
  let t = 0;
  for (const v of psdEigenvalues(values, what)) t += Math.sqrt(v);
  return t;
}

/** Row-major product of n*n matrices. */
export function matmul(a: ArrayLike<number>, b: ArrayLike<number>, n: number): Float64Array {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < n; k++) {
      const aik = a[i * n + k];
      if (aik === 0) continue;
      for (let j = 0; j < n; j++) out[i * n + j] += aik * b[k * n + j];
    }
  }
  return out;
}
