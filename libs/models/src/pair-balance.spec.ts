import { Rng } from '@gan-study/core';
import { PairBalance } from './pair-balance';

/**
 * Steps of a pair whose passes take `fixed + rows * perRow[r]` ms on replica r, plus `jitter()`
 * (drawn for rank 0, then rank 1), with `spikes` (step index -> [replica, ms added]); returns the
 * cut of each step, as a job would take them.
 */
function simulate(b: PairBalance, batch: number, steps: number, perRow: [number, number], fixed = 2, spikes = new Map<number, [number, number]>(), jitter = () => 0): number[] {
  const cuts: number[] = [];
  for (let i = 0; i < steps; i++) {
    const first = b.first(batch);
    cuts.push(first);
    const ms = [fixed + first * perRow[0] + jitter(), fixed + (batch - first) * perRow[1] + jitter()];
    const spike = spikes.get(i);
    if (spike) ms[spike[0]] += spike[1];
    b.observe(first, Math.fround(ms[0]), Math.fround(ms[1]));
  }
  return cuts;
}

describe('PairBalance', () => {
  it('starts even, as the job cuts a batch without it', () => {
    for (const batch of [1, 2, 7, 32]) expect(new PairBalance(batch).first(batch)).toBe(Math.floor(batch / 2));
    const b = new PairBalance(32);
    for (const rows of [0, 1, 2, 7, 31]) expect(b.first(rows)).toBe(Math.floor(rows / 2));
  });

  it('moves rows to the faster replica until both passes take about as long, and stays there', () => {
    const b = new PairBalance(32);
    // Rank 1 takes 1.3 ms a row, rank 0 1.0: balanced where 2 + n = 2 + 1.3 (32 - n), n = 18.1.
    const cuts = simulate(b, 32, 60, [1.0, 1.3]);
    expect(cuts.slice(0, 8)).toEqual(new Array(8).fill(16)); // not before MIN_STEPS steps
    expect(cuts.slice(-20)).toEqual(new Array(20).fill(18));
    expect(b.firstRows).toBe(18);
    expect(b.history).toEqual({ firstRows: [16, 18], moves: 1 });
    // The other way round.
    const c = new PairBalance(32);
    simulate(c, 32, 60, [1.3, 1.0]);
    expect(c.firstRows).toBe(14);
  });

  it('leaves an even cut alone when the replicas are alike, and within its dead band', () => {
    const alike = new PairBalance(32);
    expect(simulate(alike, 32, 40, [1.2, 1.2])).toEqual(new Array(40).fill(16));
    // 9% slower a row: the balanced cut is 16.6 rows, nearer 17, but within 0.75 of 16.
    const close = new PairBalance(32);
    expect(simulate(close, 32, 40, [1.0, 1.09])).toEqual(new Array(40).fill(16));
  });

  it('does not move for a few slow steps (a pause, a collection)', () => {
    const b = new PairBalance(32);
    // Every fifth step replica 1 takes 25 ms longer (twice its pass): on average 0.3 ms a row more.
    const spikes = new Map<number, [number, number]>(Array.from({ length: 12 }, (_, k) => [5 * k + 2, [1, 25]] as [number, [number, number]]));
    expect(simulate(b, 32, 60, [1.1, 1.1], 2, spikes)).toEqual(new Array(60).fill(16));
  });

  it('keeps a small model, whose passes are mostly their fixed part, near the even cut under noise', () => {
    // The quick profile's classifier: ~1.3 ms a pass, 0.01 ms of it per row, jitter of +-0.3 ms.
    const rng = new Rng(7);
    const cuts = simulate(new PairBalance(32), 32, 3000, [0.01, 0.01], 1.2, undefined, () => 0.6 * (rng.next() - 0.5));
    // The per-step cuts of such a pass lie far apart: their median wanders a little, the cut with it,
    // but not off toward a clamp (a first version, from the ratio of the two median costs per row,
    // moved it 175 times here).
    const moves = cuts.filter((c, i) => i > 0 && c !== cuts[i - 1]).length;
    expect(moves).toBeLessThan(100);
    expect(Math.min(...cuts)).toBeGreaterThanOrEqual(13);
    expect(Math.max(...cuts)).toBeLessThanOrEqual(19);
  });

  it('keeps each replica at least a quarter of the batch, however slow the other', () => {
    const b = new PairBalance(32);
    simulate(b, 32, 40, [1.0, 20]);
    expect(b.firstRows).toBe(24);
    const small = new PairBalance(2);
    simulate(small, 2, 40, [1.0, 20]);
    expect(small.firstRows).toBe(1);
  });

  it('cuts a smaller batch (an epoch\'s last) in the same share, and leaves neither replica empty that can have a row', () => {
    const b = new PairBalance(32);
    simulate(b, 32, 60, [1.0, 1.3]);
    expect(b.firstRows).toBe(18);
    expect(b.first(16)).toBe(9);
    expect(b.first(2)).toBe(1);
    expect(b.first(1)).toBe(0);
    const heavy = new PairBalance(4);
    simulate(heavy, 4, 40, [1.0, 20]);
    expect(heavy.firstRows).toBe(3);
    expect(heavy.first(3)).toBe(2);
    expect(heavy.first(2)).toBe(1);
  });

  it('two replicas fed the same times cut alike at every step', () => {
    const [a, b] = [new PairBalance(32), new PairBalance(32)];
    for (let i = 0; i < 200; i++) {
      const first = a.first(32);
      expect(b.first(32)).toBe(first);
      const t = [Math.fround(10 + first * (1 + 0.3 * Math.sin(i / 9)) + (i % 7)), Math.fround(10 + (32 - first) * 1.1 + (i % 5))];
      a.observe(first, t[0], t[1]);
      b.observe(first, t[0], t[1]);
    }
  });

  it('passes by times that tell nothing, and refuses a cut that leaves a replica nothing', () => {
    const b = new PairBalance(32);
    for (let i = 0; i < 20; i++) b.observe(16, 0, 10);
    for (let i = 0; i < 20; i++) b.observe(16, Number.NaN, 10);
    expect(b.msPerRow).toBeNull();
    expect(b.history).toBeNull();
    expect(() => b.observe(0, 1, 1)).toThrow('PairBalance: a cut at 0 of 32 rows leaves a replica nothing');
    expect(() => b.first(33)).toThrow('PairBalance: a global batch of 33 rows, batch size 32');
    expect(() => new PairBalance(0)).toThrow('PairBalance: batch must be a positive integer, got 0');
  });
});
