import {
  bootstrapCi,
  bootstrapResamples,
  logGamma,
  mulberry32,
  percentileCi,
  percentileSorted,
  studentTCdf,
  studentTQuantile,
  summarizeRepeats,
} from './stats';

describe('mulberry32', () => {
  it('gives the same stream for the same seed, another for another seed, all in [0, 1)', () => {
    const a = mulberry32(42);
    const b = mulberry32(42);
    const c = mulberry32(43);
    const xs = Array.from({ length: 1000 }, () => a());
    expect(Array.from({ length: 1000 }, () => b())).toEqual(xs);
    expect(Array.from({ length: 1000 }, () => c())).not.toEqual(xs);
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
    // roughly uniform: mean of 1000 draws within 4 standard errors of 1/2
    expect(Math.abs(xs.reduce((s, x) => s + x, 0) / 1000 - 0.5)).toBeLessThan(4 * Math.sqrt(1 / 12 / 1000));
  });

  it('rejects a non-integer seed', () => {
    expect(() => mulberry32(1.5)).toThrow('seed must be an integer, got 1.5');
  });
});

describe('percentiles (numpy linear)', () => {
  it.each([
    { values: [1, 2, 3, 4], q: 0.5, expected: 2.5 },
    { values: [1, 2, 3, 4], q: 0, expected: 1 },
    { values: [1, 2, 3, 4], q: 1, expected: 4 },
    { values: [10, 20, 30, 40, 50], q: 0.025, expected: 11 }, // pos 0.1
    { values: [7], q: 0.975, expected: 7 },
  ])('$q of $values = $expected', ({ values, q, expected }) => {
    expect(percentileSorted(values, q)).toBeCloseTo(expected, 12);
  });

  it('percentileCi leaves out and counts undefined values', () => {
    const ci = percentileCi([NaN, 1, 2, 3, 4, Infinity], 0.5);
    expect(ci).toEqual({ lower: 1.75, upper: 3.25, confidence: 0.5, method: 'percentile', resamples: 6, skipped: 2 });
    expect(() => percentileCi([NaN, NaN], 0.95)).toThrow('the statistic was undefined on all 2 bootstrap resamples');
  });
});

describe('bootstrap percentile CI', () => {
  const data = [0, 1, 1, 0, 1, 1, 1, 0, 1, 1, 0, 1, 1, 1, 1, 0, 1, 1, 0, 1];
  const mean = (idx: Int32Array) => idx.reduce((s, i) => s + data[i], 0) / idx.length;

  it('is reproducible from the seed and changes with it', () => {
    const a = bootstrapCi(data.length, mean, { seed: 3, resamples: 400 });
    expect(bootstrapCi(data.length, mean, { seed: 3, resamples: 400 })).toEqual(a);
    expect(bootstrapCi(data.length, mean, { seed: 4, resamples: 400 })).not.toEqual(a);
  });

  it('brackets the sample mean with about the binomial normal-approximation width', () => {
    const ci = bootstrapCi(data.length, mean, { resamples: 2000 });
    const p = 14 / 20;
    const half = 1.96 * Math.sqrt((p * (1 - p)) / 20); // ~0.20
    expect(ci.lower).toBeLessThan(p);
    expect(ci.upper).toBeGreaterThan(p);
    expect(ci.upper - ci.lower).toBeGreaterThan(1.4 * half);
    expect(ci.upper - ci.lower).toBeLessThan(2.6 * half);
    expect(ci.skipped).toBe(0);
  });

  it('a constant statistic gives a zero-width interval', () => {
    expect(bootstrapCi(5, () => 0.7, { resamples: 50 })).toMatchObject({ lower: 0.7, upper: 0.7, resamples: 50 });
  });

  it('uses a caller-supplied rng instead of the seed', () => {
    const draws = bootstrapResamples(4, { resamples: 2, rng: () => 0.6 }).draws;
    expect(draws.map((d) => Array.from(d))).toEqual([
      [2, 2, 2, 2],
      [2, 2, 2, 2],
    ]);
  });

  it.each([
    [{ resamples: 0 }, 'resamples must be a positive integer, got 0'],
    [{ confidence: 1 }, 'confidence must be in (0, 1), got 1'],
    [{ seed: 0.5 }, 'seed must be an integer, got 0.5'],
    [{ sead: 1 } as object, "unknown bootstrap option 'sead'"],
  ])('rejects options %j', (options, message) => {
    expect(() => bootstrapCi(3, mean, options)).toThrow(message);
  });
});

describe('summary of repeats', () => {
  it.each([
    { values: [1, 2, 3, 4], expected: { mean: 2.5, std: Math.sqrt(5 / 3), n: 4 } },
    { values: [3, 5], expected: { mean: 4, std: Math.SQRT2, n: 2 } },
    { values: [0.8, 0.8], expected: { mean: 0.8, std: 0, n: 2 } },
    { values: [0.61], expected: { mean: 0.61, std: null, n: 1 } },
  ])('$values', ({ values, expected }) => {
    const s = summarizeRepeats(values);
    expect(s.n).toBe(expected.n);
    expect(s.mean).toBeCloseTo(expected.mean, 15);
    if (expected.std === null) expect(s.std).toBeNull();
    else expect(s.std).toBeCloseTo(expected.std, 15);
  });

  it('t interval: two repeats 3 and 5 give 4 +- t(0.975, 1) * sqrt(2) / sqrt(2) = 4 +- 12.7062', () => {
    // t(0.975, 1) = tan(pi * 0.475), the Cauchy quantile
    const half = Math.tan(Math.PI * 0.475);
    const s = summarizeRepeats([3, 5]);
    expect(s.ci?.lower).toBeCloseTo(4 - half, 9);
    expect(s.ci?.upper).toBeCloseTo(4 + half, 9);
    expect(summarizeRepeats([0.61]).ci).toBeNull();
  });

  it('rejects no values and non-finite values', () => {
    expect(() => summarizeRepeats([])).toThrow('cannot summarize zero repeats');
    expect(() => summarizeRepeats([0.5, NaN])).toThrow('repeat values must be finite numbers; index 1 is NaN');
  });
});

describe('Student t distribution', () => {
  it.each([
    { x: 1, expected: 0 },
    { x: 0.5, expected: Math.log(Math.sqrt(Math.PI)) },
    { x: 10, expected: Math.log(362880) },
  ])('logGamma($x)', ({ x, expected }) => {
    expect(logGamma(x)).toBeCloseTo(expected, 12);
  });

  it('closed forms: df = 1 is Cauchy, df = 2 has F(t) = 1/2 + t / (2 sqrt(t^2 + 2))', () => {
    for (const t of [-3, -0.5, 0, 0.7, 4]) {
      expect(studentTCdf(t, 1)).toBeCloseTo(0.5 + Math.atan(t) / Math.PI, 12);
      expect(studentTCdf(t, 2)).toBeCloseTo(0.5 + t / (2 * Math.sqrt(t * t + 2)), 12);
    }
    expect(studentTQuantile(0.9, 1)).toBeCloseTo(Math.tan(Math.PI * 0.4), 9);
    expect(studentTQuantile(0.1, 2)).toBeCloseTo(-studentTQuantile(0.9, 2), 12);
  });
});
