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

/** Summary of one metric over repeated runs (seeds). */
export interface RepeatSummary {
  mean: number;
  /** Sample standard deviation (n - 1 in the denominator); null when n < 2. */
  std: number | null;
  n: number;
}

/** Mean, sample standard deviation and count of repeated measurements. */
export function summarizeRepeats(values: ArrayLike<number>): RepeatSummary {
  if (values.length === 0) throw new MetricsInputError('cannot summarize zero repeats');
  assertFinite(values, 'repeat values');
  const n = values.length;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += values[i];
  mean /= n;
  if (n < 2) return { mean, std: null, n };
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (values[i] - mean) ** 2;
  return { mean, std: Math.sqrt(ss / (n - 1)), n };
}
