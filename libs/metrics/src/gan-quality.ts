/**
 * GAN image quality on feature vectors: FID, KID, and k-NN precision/recall.
 *
 * The features come from whatever network the caller runs (in this study, for instance, the
 * penultimate layer of the classifier trained on all real images); every result carries the
 * caller's `featureNetwork` name, because values from different networks, and in particular from
 * anything but Inception-v3 pool3, are not comparable with published FID/KID numbers.
 *
 * - FID: Heusel et al. 2017, "GANs trained by a two time-scale update rule converge to a local Nash
 *   equilibrium"; as pytorch-fid (mean, covariance with n-1, Frechet distance of the Gaussians).
 * - KID: Binkowski et al. 2018, "Demystifying MMD GANs"; as their compute_scores.py
 *   polynomial_mmd_averages (unbiased MMD^2, cubic kernel, mean and std over random subsets).
 * - Precision/recall: Kynkaanniemi et al. 2019, "Improved precision and recall metric for assessing
 *   generative models"; as kynkaat/improved-precision-and-recall-metric (k-th neighbour radii,
 *   a sample is inside the manifold if within the radius of any reference sample, <=).
 */
import { MetricsInputError } from './errors';
import { matmul, sqrtPsd, traceSqrtPsd } from './linalg';
import { UniformRng, mulberry32, randomIndex } from './stats';

/** Feature rows: one vector per image, all the same length. */
export type FeatureRows = ReadonlyArray<ArrayLike<number>>;

interface Matrix {
  data: Float64Array;
  rows: number;
  cols: number;
}

/** What every quality result says about its inputs. */
export interface FeatureSetInfo {
  /** Name of the network the features came from (given by the caller). */
  featureNetwork: string;
  nReal: number;
  nGenerated: number;
  /** Feature dimension. */
  dim: number;
}

function toMatrix(rows: FeatureRows, what: string, minRows: number): Matrix {
  if (rows.length < minRows) throw new MetricsInputError(`${what} needs at least ${minRows} feature vectors, got ${rows.length}`);
  const cols = rows[0].length;
  if (cols < 1) throw new MetricsInputError(`${what} feature vectors are empty`);
  const data = new Float64Array(rows.length * cols);
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    if (r.length !== cols) throw new MetricsInputError(`${what} row ${i} has ${r.length} features, expected ${cols} (as row 0)`);
    for (let j = 0; j < cols; j++) {
      const v = r[j];
      if (!Number.isFinite(v)) throw new MetricsInputError(`${what} row ${i} feature ${j} is ${v}, not finite`);
      data[i * cols + j] = v;
    }
  }
  return { data, rows: rows.length, cols };
}

function pair(real: FeatureRows, generated: FeatureRows, featureNetwork: string, minRows: number): [Matrix, Matrix, FeatureSetInfo] {
  if (typeof featureNetwork !== 'string' || featureNetwork.trim() === '') {
    throw new MetricsInputError(`featureNetwork must name the network the features came from, got ${JSON.stringify(featureNetwork)}`);
  }
  const a = toMatrix(real, 'real set', minRows);
  const b = toMatrix(generated, 'generated set', minRows);
  if (a.cols !== b.cols) throw new MetricsInputError(`real features have ${a.cols} dimensions, generated ${b.cols}`);
  return [a, b, { featureNetwork, nReal: a.rows, nGenerated: b.rows, dim: a.cols }];
}

/** Mean vector and covariance (n - 1 denominator, as numpy.cov) of the rows. */
export function meanAndCovariance(rows: FeatureRows): { mean: Float64Array; cov: Float64Array; dim: number } {
  const m = toMatrix(rows, 'feature set', 2);
  return gaussianFit(m);
}

function gaussianFit({ data, rows, cols }: Matrix): { mean: Float64Array; cov: Float64Array; dim: number } {
  const mean = new Float64Array(cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) mean[j] += data[i * cols + j];
  for (let j = 0; j < cols; j++) mean[j] /= rows;
  const cov = new Float64Array(cols * cols);
  const centered = new Float64Array(cols);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) centered[j] = data[i * cols + j] - mean[j];
    for (let j = 0; j < cols; j++) {
      const cj = centered[j];
      if (cj === 0) continue;
      for (let k = j; k < cols; k++) cov[j * cols + k] += cj * centered[k];
    }
  }
  for (let j = 0; j < cols; j++) {
    for (let k = j; k < cols; k++) {
      const v = cov[j * cols + k] / (rows - 1);
      cov[j * cols + k] = v;
      cov[k * cols + j] = v;
    }
  }
  return { mean, cov, dim: cols };
}

/**
 * Frechet distance between N(mu1, S1) and N(mu2, S2):
 * ||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1^(1/2) S2 S1^(1/2))^(1/2)).
 * The trace of the root is the sum of square roots of the eigenvalues of the symmetric PSD matrix
 * S1^(1/2) S2 S1^(1/2) (same eigenvalues as S1 S2, without the complex sqrtm of pytorch-fid).
 * Not clamped: identical inputs can give a rounding-sized negative value.
 */
export function frechetDistance(mu1: ArrayLike<number>, cov1: ArrayLike<number>, mu2: ArrayLike<number>, cov2: ArrayLike<number>): number {
  const d = mu1.length;
  if (mu2.length !== d) throw new MetricsInputError(`means differ in length: ${d} vs ${mu2.length}`);
  if (cov1.length !== d * d || cov2.length !== d * d) {
    throw new MetricsInputError(`covariances must be ${d}x${d}, got ${cov1.length} and ${cov2.length} entries`);
  }
  let meanTerm = 0;
  for (let j = 0; j < d; j++) meanTerm += (mu1[j] - mu2[j]) ** 2;
  let trace = 0;
  for (let j = 0; j < d; j++) trace += cov1[j * d + j] + cov2[j * d + j];
  const root1 = sqrtPsd(cov1, d, 'first covariance');
  const m = matmul(matmul(root1, cov2, d), root1, d);
  // Symmetrize away rounding before the symmetric eigen-solver.
  for (let i = 0; i < d; i++) {
    for (let j = i + 1; j < d; j++) {
      const v = (m[i * d + j] + m[j * d + i]) / 2;
      m[i * d + j] = v;
      m[j * d + i] = v;
    }
  }
  return meanTerm + trace - 2 * traceSqrtPsd(m, d, 'S1^(1/2) S2 S1^(1/2)');
}

export interface FidResult extends FeatureSetInfo {
  fid: number;
}

/** FID between real and generated feature sets (at least 2 vectors each). */
export function fid(real: FeatureRows, generated: FeatureRows, featureNetwork: string): FidResult {
  const [a, b, info] = pair(real, generated, featureNetwork, 2);
  const ga = gaussianFit(a);
  const gb = gaussianFit(b);
  return { ...info, fid: frechetDistance(ga.mean, ga.cov, gb.mean, gb.cov) };
}

export interface KidOptions {
  /** Number of random subsets whose MMD^2 estimates are averaged. */
  subsets: number;
  /** Subset size; capped at the smaller set's size, as in the reference code. */
  subsetSize: number;
  /** Seed of the local PRNG; ignored when `rng` is given. */
  seed: number;
  /** Kernel matrices with at most this many entries in all are computed once; larger sets per subset. */
  cacheEntries: number;
  /** A caller's uniform [0,1) generator, instead of `seed`. */
  rng?: UniformRng;
}

export const KID_DEFAULTS: KidOptions = {
  subsets: 100, // Binkowski et al.'s n_subsets
  subsetSize: 1000, // Binkowski et al.'s subset_size
  seed: 0, // fixed, so the same features always give the same KID
  cacheEntries: 16_000_000, // 128 MB of float64: the study's ~1200 x ~1200 sets fit, 100 subsets then cost lookups only
};

export interface KidResult extends FeatureSetInfo {
  /** Mean over subsets of the unbiased MMD^2 estimate. */
  kid: number;
  /** Standard deviation over subsets (population std, numpy default, as the reference code). */
  kidStd: number;
  subsets: number;
  /** Subset size actually used. */
  subsetSize: number;
}

/** Cubic polynomial kernel of Binkowski et al.: (x.y / d + 1)^3. */
export function polynomialKernel(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const d = x.length;
  let dot = 0;
  for (let j = 0; j < d; j++) dot += x[j] * y[j];
  return (dot / d + 1) ** 3;
}

/**
 * KID: the unbiased MMD^2 between a random subset of the generated set and one of the real set
 * (each drawn without replacement), with the cubic polynomial kernel, averaged over subsets:
 * (sum_{i!=j} k(x_i,x_j) + sum_{i!=j} k(y_i,y_j)) / (m(m-1)) - 2 sum_{i,j} k(x_i,y_j) / m^2.
 */
export function kid(real: FeatureRows, generated: FeatureRows, featureNetwork: string, options: Partial<KidOptions> = {}): KidResult {
  for (const key of Object.keys(options)) {
    if (!(key in KID_DEFAULTS) && key !== 'rng') throw new MetricsInputError(`unknown KID option '${key}'`);
  }
  const o = { ...KID_DEFAULTS, ...options };
  if (!Number.isInteger(o.subsets) || o.subsets < 1) throw new MetricsInputError(`subsets must be a positive integer, got ${o.subsets}`);
  if (!Number.isInteger(o.subsetSize) || o.subsetSize < 2) {
    throw new MetricsInputError(`subsetSize must be an integer >= 2, got ${o.subsetSize}`);
  }
  if (!Number.isInteger(o.seed)) throw new MetricsInputError(`seed must be an integer, got ${o.seed}`);
  if (!(o.cacheEntries >= 0)) throw new MetricsInputError(`cacheEntries must be >= 0, got ${o.cacheEntries}`);
  const [r, g, info] = pair(real, generated, featureNetwork, 2);
  const m = Math.min(o.subsetSize, r.rows, g.rows);
  const rng = o.rng ?? mulberry32(o.seed);
  const cacheable = r.rows * r.rows + g.rows * g.rows + r.rows * g.rows <= o.cacheEntries;
  const kGG = cacheable ? kernelMatrix(g, g) : null;
  const kRR = cacheable ? kernelMatrix(r, r) : null;
  const kGR = cacheable ? kernelMatrix(g, r) : null;
  const mmds: number[] = [];
  for (let s = 0; s < o.subsets; s++) {
    // Sorted subsets: the sums do not depend on order, and sorted rows read the cache in order.
    const gi = sampleWithoutReplacement(rng, g.rows, m).sort();
    const ri = sampleWithoutReplacement(rng, r.rows, m).sort();
    const sumGG = kernelSum(g, gi, g, gi, true, kGG);
    const sumRR = kernelSum(r, ri, r, ri, true, kRR);
    const sumGR = kernelSum(g, gi, r, ri, false, kGR);
    mmds.push((sumGG + sumRR) / (m * (m - 1)) - (2 * sumGR) / (m * m));
  }
  const mean = mmds.reduce((x, y) => x + y, 0) / mmds.length;
  const std = Math.sqrt(mmds.reduce((x, y) => x + (y - mean) ** 2, 0) / mmds.length);
  return { ...info, kid: mean, kidStd: std, subsets: o.subsets, subsetSize: m };
}

function kernelAt(p: Matrix, i: number, q: Matrix, j: number): number {
  const d = p.cols;
  const pd = p.data;
  const qd = q.data;
  const pi = i * d;
  const qj = j * d;
  let dot = 0;
  for (let t = 0; t < d; t++) dot += pd[pi + t] * qd[qj + t];
  return (dot / d + 1) ** 3;
}

/** Every k(p_i, q_j), row-major p.rows x q.rows (symmetric fill when p === q). */
function kernelMatrix(p: Matrix, q: Matrix): Float64Array {
  const k = new Float64Array(p.rows * q.rows);
  for (let i = 0; i < p.rows; i++) {
    for (let j = p === q ? i : 0; j < q.rows; j++) {
      const v = kernelAt(p, i, q, j);
      k[i * q.rows + j] = v;
      if (p === q) k[j * q.rows + i] = v;
    }
  }
  return k;
}

/**
 * Sum of k(p_a, q_b) over a in pIdx, b in qIdx; with `offDiagonal` (p, q the same subset) only the
 * pairs a != b. Reads `cache` (from kernelMatrix) when given, else computes the kernel.
 */
function kernelSum(p: Matrix, pIdx: Int32Array, q: Matrix, qIdx: Int32Array, offDiagonal: boolean, cache: Float64Array | null): number {
  let sum = 0;
  for (let a = 0; a < pIdx.length; a++) {
    const i = pIdx[a];
    let row = 0;
    const start = offDiagonal ? a + 1 : 0;
    if (cache) {
      const base = i * q.rows;
      for (let b = start; b < qIdx.length; b++) row += cache[base + qIdx[b]];
    } else {
      for (let b = start; b < qIdx.length; b++) row += kernelAt(p, i, q, qIdx[b]);
    }
    sum += row;
  }
  return offDiagonal ? 2 * sum : sum;
}

/** m distinct indices of 0..n-1 (partial Fisher-Yates); all of them, in order, when m === n. */
function sampleWithoutReplacement(rng: UniformRng, n: number, m: number): Int32Array {
  const pool = Int32Array.from({ length: n }, (_, i) => i);
  if (m === n) return pool;
  for (let i = 0; i < m; i++) {
    const j = i + randomIndex(rng, n - i);
    const t = pool[i];
    pool[i] = pool[j];
    pool[j] = t;
  }
  return pool.subarray(0, m);
}

export interface PrecisionRecallResult extends FeatureSetInfo {
  /** Fraction of generated samples inside the real manifold. */
  precision: number;
  /** Fraction of real samples inside the generated manifold. */
  recall: number;
  k: number;
}

function squaredDistance(p: Matrix, i: number, q: Matrix, j: number): number {
  const d = p.cols;
  const pd = p.data;
  const qd = q.data;
  const pi = i * d;
  const qj = j * d;
  let s = 0;
  for (let t = 0; t < d; t++) {
    const diff = pd[pi + t] - qd[qj + t];
    s += diff * diff;
  }
  return s;
}

/** Inserts `dist` into the ascending k-list of row i in `best` (rows of k), if it is small enough. */
function insertNearest(best: Float64Array, i: number, k: number, dist: number): void {
  const base = i * k;
  if (dist >= best[base + k - 1]) return;
  let pos = k - 1;
  while (pos > 0 && best[base + pos - 1] > dist) {
    best[base + pos] = best[base + pos - 1];
    pos--;
  }
  best[base + pos] = dist;
}

/** Squared distance of each row to its k-th nearest other row of the same set (each pair computed once). */
function kthNeighbourRadii(p: Matrix, k: number): Float64Array {
  const best = new Float64Array(p.rows * k).fill(Infinity);
  for (let i = 0; i < p.rows; i++) {
    for (let j = i + 1; j < p.rows; j++) {
      const dist = squaredDistance(p, i, p, j);
      insertNearest(best, i, k, dist);
      insertNearest(best, j, k, dist);
    }
  }
  const radii = new Float64Array(p.rows);
  for (let i = 0; i < p.rows; i++) radii[i] = best[i * k + k - 1];
  return radii;
}

/** Fraction of `queries` rows within the k-NN radius of at least one `manifold` row. */
function coverage(queries: Matrix, manifold: Matrix, radii: Float64Array): number {
  let inside = 0;
  for (let i = 0; i < queries.rows; i++) {
    for (let j = 0; j < manifold.rows; j++) {
      if (squaredDistance(queries, i, manifold, j) <= radii[j]) {
        inside++;
        break;
      }
    }
  }
  return inside / queries.rows;
}

/**
 * k-NN precision and recall of the generated set (Kynkaanniemi et al. 2019). Each sample's
 * manifold ball has the radius of its k-th nearest neighbour in its own set; precision is the
 * fraction of generated samples inside some real ball, recall the fraction of real samples inside
 * some generated ball. Each set needs more than k vectors.
 */
export function precisionRecall(real: FeatureRows, generated: FeatureRows, featureNetwork: string, k = 3): PrecisionRecallResult {
  if (!Number.isInteger(k) || k < 1) throw new MetricsInputError(`k must be a positive integer, got ${k}`);
  const [r, g, info] = pair(real, generated, featureNetwork, k + 1);
  const realRadii = kthNeighbourRadii(r, k);
  const genRadii = kthNeighbourRadii(g, k);
  return { ...info, precision: coverage(g, r, realRadii), recall: coverage(r, g, genRadii), k };
}
