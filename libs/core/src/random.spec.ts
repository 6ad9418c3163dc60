import { Rng } from './random';

describe('Rng', () => {
  it('gives the same stream for the same seed and different streams for different seeds', () => {
    const a = new Rng(42), b = new Rng(42), c = new Rng(43);
    const xa = Array.from({ length: 8 }, () => a.nextUint32());
    const xb = Array.from({ length: 8 }, () => b.nextUint32());
    const xc = Array.from({ length: 8 }, () => c.nextUint32());
    expect(xa).toEqual(xb);
    expect(xa).not.toEqual(xc);
  });

  it('resumes exactly from a saved state, including the spare normal', () => {
    const a = new Rng(7);
    a.normal();
    const saved = JSON.parse(JSON.stringify(a.getState()));
    const expected = [a.normal(), a.next(), a.int(10)];
    const b = Rng.fromState(saved);
    expect([b.normal(), b.next(), b.int(10)]).toEqual(expected);
  });

  it('draws uniforms in [0,1) and normals with mean 0 and variance 1', () => {
    const r = new Rng(1);
    let sum = 0, sq = 0, lo = 1, hi = 0;
    const n = 200000;
    for (let i = 0; i < n; i++) {
      const u = r.next();
      lo = Math.min(lo, u); hi = Math.max(hi, u);
      const z = r.normal();
      sum += z; sq += z * z;
    }
    expect(lo).toBeGreaterThanOrEqual(0);
    expect(hi).toBeLessThan(1);
    expect(Math.abs(sum / n)).toBeLessThan(0.01);
    expect(Math.abs(sq / n - 1)).toBeLessThan(0.02);
  });

  it('forks named streams that are reproducible and distinct', () => {
    const r = new Rng(5);
    expect(r.fork('a').nextUint32()).toBe(new Rng(5).fork('a').nextUint32());
    expect(r.fork('a').nextUint32()).not.toBe(r.fork('b').nextUint32());
  });

  it('shuffles into a permutation and rejects bad arguments', () => {
    const p = new Rng(3).permutation(50);
    expect([...p].sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(() => new Rng(1).int(0)).toThrow('positive integer, got 0');
    expect(() => new Rng(1.5)).toThrow('seed must be an integer, got 1.5');
  });
});
