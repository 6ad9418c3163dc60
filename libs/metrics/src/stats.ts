/**
 * Uncertainty: seeded bootstrap percentile confidence intervals and summaries of repeated runs.
 *
 * metrics imports no other project, so it carries its own small PRNG (mulberry32); callers that
 * want the study's generator pass `rng` instead of `seed`.
 */
import { MetricsInputError, assertFinite } from './errors';

/** A uniform [0, 1) generator. */
export type UniformRng = () => number;

/**
 * mulberry32 (Tommy Ettinger, public domain): 32 bits of state, fast, good enough for resampling.
 * Same seed, same stream.
 */
export function mulberry32(seed: number): UniformRng {
  if (!Number.isInteger(seed)) throw new MetricsInputError(`seed must be an integer, got ${seed}`);
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Uniform integer in [0, n). */
export function randomIndex(rng: UniformRng, n: number): number {
  return Math.min(n - 1, Math.floor(rng() * n));
}

export interface BootstrapOptions {
  /** Number of resamples. */
  resamples: number;
  /** Coverage of the interval. */
  confidence: number;
  /** Seed of the local PRNG; ignored when `rng` is given. */
  seed: number;
  /** A caller's uniform [0,1) generator (e.g. the study's seeded Rng), instead of `seed`. */
  rng?: UniformRng;
}

export const BOOTSTRAP_DEFAULTS: BootstrapOptions = {
  resamples: 1000, // the usual count for percentile intervals; tails of a 95% CI rest on ~25 draws each
  confidence: 0.95, // the study reports 95% intervals
  seed: 0, // fixed, so the same predictions always give the same interval
};

export interface ConfidenceInterval {
  lower: number;
  upper: number;
  confidence: number;
  method: 'percentile';
  /** Resamples drawn. */
  resamples: number;
  /** Resamples whose statistic was undefined (non-finite, e.g. AUC of a one-class resample), left out. */
  skipped: number;
}

function resolveBootstrap(options: Partial<BootstrapOptions>): BootstrapOptions {
  for (const key of Object.keys(options)) {
    if (!(key in BOOTSTRAP_DEFAULTS) && key !== 'rng') throw new MetricsInputError(`unknown bootstrap option '${key}'`);
  }
  const o = { ...BOOTSTRAP_DEFAULTS, ...options };
  if (!Number.isInteger(o.resamples) || o.resamples < 1) {
    throw new MetricsInputError(`resamples must be a positive integer, got ${o.resamples}`);
  }
  if (!(o.confidence > 0 && o.confidence < 1)) {
    throw new MetricsInputError(`confidence must be in (0, 1), got ${o.confidence}`);
  }
  if (!Number.isInteger(o.seed)) throw new MetricsInputError(`seed must be an integer, got ${o.seed}`);
  return o;
}

/**
 * Percentile of sorted values with linear interpolation between order statistics (numpy's default,
 * method='linear'): position q * (n - 1).
 */
export function percentileSorted(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) throw new MetricsInputError('percentile of an empty set');
  if (!(q >= 0 && q <= 1)) throw new MetricsInputError(`percentile fraction must be in [0, 1], got ${q}`);
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (pos - lo) * (sorted[hi] - sorted[lo]);
}

/**
 * Draws `resamples` bootstrap index sets of n examples each (with replacement), from the seeded
 * local PRNG or the caller's `rng`. Returns them with the resolved options.
 */
export function bootstrapResamples(
  n: number,
  options: Partial<BootstrapOptions> = {},
): { draws: Int32Array[]; options: BootstrapOptions } {
  const o = resolveBootstrap(options);
  if (!Number.isInteger(n) || n < 1) throw new MetricsInputError(`bootstrap needs at least one example, got n=${n}`);
  const rng = o.rng ?? mulberry32(o.seed);
  const draws: Int32Array[] = [];
  for (let r = 0; r < o.resamples; r++) {
    const idx = new Int32Array(n);
    for (let i = 0; i < n; i++) idx[i] = randomIndex(rng, n);
    draws.push(idx);
  }
  return { draws, options: o };
}

/**
 * Percentile interval of resampled statistic values: the ((1-c)/2, (1+c)/2) percentiles. Non-finite
 * values (the statistic was undefined on that resample) are left out and counted in `skipped`; if
 * every value is undefined this throws.
 */
export function percentileCi(values: ArrayLike<number>, confidence: number): ConfidenceInterval {
  if (!(confidence > 0 && confidence < 1)) throw new MetricsInputError(`confidence must be in (0, 1), got ${confidence}`);
  const finite = Array.from(values).filter((v) => Number.isFinite(v));
  if (finite.length === 0) {
    throw new MetricsInputError(`the statistic was undefined on all ${values.length} bootstrap resamples`);
  }
  finite.sort((a, b) => a - b);
  const alpha = (1 - confidence) / 2;
  return {
    lower: percentileSorted(finite, alpha),
    upper: percentileSorted(finite, 1 - alpha),
    confidence,
    method: 'percentile',
    resamples: values.length,
    skipped: values.length - finite.length,
  };
}

/**
 * Nonparametric bootstrap percentile interval of a statistic of n examples: each resample draws n
 * indices with replacement and calls `statistic(indices)` (see bootstrapResamples, percentileCi).
 */
export function bootstrapCi(
  n: number,
  statistic: (indices: Int32Array) => number,
  options: Partial<BootstrapOptions> = {},
): ConfidenceInterval {
  const { draws, options: o } = bootstrapResamples(n, options);
  return percentileCi(draws.map(statistic), o.confidence);
}

/** Natural log of the gamma function, x > 0 (Lanczos, g = 7, 9 terms; ~15 significant digits). */
export function logGamma(x: number): number {
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x);
  const z = x - 1;
  let a = c[0];
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += c[i] / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Regularized incomplete beta I_x(a, b), by its continued fraction (modified Lentz). */
export function incompleteBeta(x: number, a: number, b: number): number {
  if (!(x >= 0 && x <= 1)) throw new MetricsInputError(`incompleteBeta needs x in [0, 1], got ${x}`);
  if (x === 0 || x === 1) return x;
  const front = Math.exp(logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x));
  // The continued fraction converges fast for x < (a + 1) / (a + b + 2); use the symmetry otherwise.
  if (x > (a + 1) / (a + b + 2)) return 1 - incompleteBeta(1 - x, b, a);
  const tiny = 1e-300;
  let f = 1;
  let c = 1;
  let d = 0;
  for (let i = 0; i <= 400; i++) {
    const m = i >> 1;
    let num: number;
    if (i === 0) num = 1;
    else if (i % 2 === 0) num = (m * (b - m) * x) / ((a + 2 * m - 1) * (a + 2 * m));
    else num = -((a + m) * (a + b + m) * x) / ((a + 2 * m) * (a + 2 * m + 1));
    d = 1 + num * d;
    if (Math.abs(d) < tiny) d = tiny;
    d = 1 / d;
    c = 1 + num / c;
    if (Math.abs(c) < tiny) c = tiny;
    const cd = c * d;
    f *= cd;
    if (Math.abs(1 - cd) < 1e-15) return (front * (f - 1)) / a;
  }
  throw new Error(`incompleteBeta(${x}, ${a}, ${b}) did not converge`);
}

/** Student t cumulative distribution with `df` degrees of freedom. */
export function studentTCdf(t: number, df: number): number {
  if (!(df > 0)) throw new MetricsInputError(`degrees of freedom must be > 0, got ${df}`);
  const tail = 0.5 * incompleteBeta(df / (df + t * t), df / 2, 0.5);
  return t >= 0 ? 1 - tail : tail;
}

/** Quantile of the Student t distribution (p in (0, 1)), by bisection on the CDF to ~1e-13. */
export function studentTQuantile(p: number, df: number): number {
  if (!(p > 0 && p < 1)) throw new MetricsInputError(`quantile level must be in (0, 1), got ${p}`);
  if (p < 0.5) return -studentTQuantile(1 - p, df);
  let lo = 0;
  let hi = 1;
  while (studentTCdf(hi, df) < p) hi *= 2;
  for (let i = 0; i < 200 && hi - lo > 1e-14 * Math.max(1, hi); i++) {
    const mid = (lo + hi) / 2;
    if (studentTCdf(mid, df) < p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** Summary of one metric over repeated runs (seeds). */
export interface RepeatSummary {
  mean: number;
  /** Sample standard deviation (n - 1 in the denominator); null when n < 2. */
  std: number | null;
  n: number;
  /**
   * Student t confidence interval of the mean, mean +- t_{(1+c)/2, n-1} std / sqrt(n)
   * (assumes roughly normal repeats); null when n < 2.
   */
  ci: { lower: number; upper: number; confidence: number } | null;
}

/** Mean, sample standard deviation, count and t interval of the mean of repeated measurements. */
export function summarizeRepeats(values: ArrayLike<number>, confidence = 0.95): RepeatSummary {
  if (values.length === 0) throw new MetricsInputError('cannot summarize zero repeats');
  assertFinite(values, 'repeat values');
  if (!(confidence > 0 && confidence < 1)) throw new MetricsInputError(`confidence must be in (0, 1), got ${confidence}`);
  const n = values.length;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += values[i];
  mean /= n;
  if (n < 2) return { mean, std: null, n, ci: null };
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (values[i] - mean) ** 2;
  const std = Math.sqrt(ss / (n - 1));
  const half = (studentTQuantile((1 + confidence) / 2, n - 1) * std) / Math.sqrt(n);
  return { mean, std, n, ci: { lower: mean - half, upper: mean + half, confidence } };
}
