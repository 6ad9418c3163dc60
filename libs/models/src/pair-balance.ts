/**
 * Where two replicas of a data-parallel step cut each global batch, from how long each one's pass
 * took on its shard (Classifier.pairStep's PairStepResult).
 *
 * A pair steps in lockstep: each waits for the other's gradients, so a replica that is slower on
 * its shard for a while (its core shared with other work, on one host two cores that are not
 * alike) makes the other wait as long, every step. Moving rows from the slower to the faster turns
 * that wait into work. The gradient is the same sum over the global batch whatever the cut, so
 * the weights are those of an even cut up to float summation order; but the cut follows the
 * machine's timing, so two runs of a job need no longer agree to the last bit (an even cut keeps
 * them bit for bit alike).
 *
 * Each replica keeps its own PairBalance and feeds it the same two float32 pass times (both travel
 * with the step's loss), so both compute the same cut, in plain double arithmetic, without another
 * message. The model: a pass takes a fixed part plus a cost per row on each replica. Each step
 * gives the cut where both passes would take as long if a pass were all cost per row, first * c0
 * = second * c1 for c = ms / rows at the step's cut; with a fixed part that cut is a fixed point
 * of the moves, not a one-step jump, and the moves converge to it. After every step the cut moves
 * to the median of the last WINDOW steps' cuts (a step slowed by a pause, a collection or the
 * host's preemption, about one in ten here at twice the usual time, moves nothing) when that lies
 * more than DEAD_BAND rows away and more than NOISE standard errors of the median (from the
 * steps' spread). A small model, whose passes are mostly their fixed part, has per-step cuts far
 * apart: the guard keeps it near the even cut, where a plain estimate walked it about (the cut
 * matters little to such a model's time, but a larger shard makes a larger vector).
 *
 * Measured against each other on one host (bench section 3, 12 alternated rounds each), a faster
 * response gained more than stricter evidence: the asymmetry moves as the host moves the two
 * processes between its cores, so the cut has to follow within steps.
 */

/** Steps whose balanced cuts make the estimate (the last ones). */
const WINDOW = 15;
/** Steps seen before the cut may move. */
const MIN_STEPS = 8;
/** How far (in rows) the estimate must lie from the current cut before the cut moves. */
const DEAD_BAND = 0.75;
/** ... and how many of its standard errors. */
const NOISE = 2;
/** Each replica keeps at least this share of a global batch, however slow (a guard against a stall read as slowness). */
const MIN_SHARE = 1 / 4;

export class PairBalance {
  /** Rows of a whole global batch that the first replica (rank 0) takes. */
  private cut: number;
  /** The balanced cuts (rows of rank 0) of the last WINDOW steps, oldest first. */
  private readonly targets: number[] = [];
  /** Each replica's per-row costs (ms per row) of the same steps. */
  private readonly costs: [number[], number[]] = [[], []];
  private readonly lo: number;
  private readonly hi: number;
  /** The fewest and most rows of the cuts `observe` was given; how often the cut moved. */
  private seen: { min: number; max: number; moves: number } = { min: Infinity, max: -Infinity, moves: 0 };

  /** `batch`: the configured global batch; the cut starts even (rank 0 takes floor(batch / 2), as the job's even cut). */
  constructor(private readonly batch: number) {
    if (!Number.isInteger(batch) || batch < 1) throw new RangeError(`PairBalance: batch must be a positive integer, got ${batch}`);
    this.cut = Math.floor(batch / 2);
    const floor = batch >= 2 ? Math.max(1, Math.floor(batch * MIN_SHARE)) : 0;
    this.lo = Math.min(floor, this.cut);
    this.hi = Math.max(batch - floor, this.cut);
  }

  /**
   * Rows the first replica takes of a global batch of `rows` (the second takes the rest): the
   * current cut for a whole batch, the same share of a smaller one (an epoch's last), rounded down.
   */
  first(rows: number): number {
    if (rows === this.batch) return this.cut;
    if (!Number.isInteger(rows) || rows < 0 || rows > this.batch) throw new RangeError(`PairBalance: a global batch of ${rows} rows, batch size ${this.batch}`);
    const share = Math.floor((rows * this.cut) / this.batch);
    return rows >= 2 ? Math.min(rows - 1, Math.max(1, share)) : share;
  }

  /**
   * After a step of a whole global batch cut at `firstRows` (what `first` said for it): each
   * replica's pass time in ms, rank 0's first, as both replicas hold them (float32). Steps of a
   * smaller batch, or with an empty shard, tell nothing of the per-row costs: pass them by.
   */
  observe(firstRows: number, firstMs: number, secondMs: number): void {
    const secondRows = this.batch - firstRows;
    if (firstRows < 1 || secondRows < 1) throw new RangeError(`PairBalance: a cut at ${firstRows} of ${this.batch} rows leaves a replica nothing`);
    if (!(firstMs > 0 && secondMs > 0 && Number.isFinite(firstMs) && Number.isFinite(secondMs))) return;
    this.seen.min = Math.min(this.seen.min, firstRows);
    this.seen.max = Math.max(this.seen.max, firstRows);
    const c0 = firstMs / firstRows;
    const c1 = secondMs / secondRows;
    // Where first * c0 = (batch - first) * c1.
    this.push(this.targets, (this.batch * c1) / (c0 + c1));
    this.push(this.costs[0], c0);
    this.push(this.costs[1], c1);
    if (this.targets.length < MIN_STEPS) return;
    const target = median(this.targets);
    // The median's standard error, from the median absolute deviation of the steps' cuts.
    const spread = 1.4826 * median(this.targets.map((t) => Math.abs(t - target)));
    const error = (1.2533 * spread) / Math.sqrt(this.targets.length);
    if (Math.abs(target - this.cut) <= Math.max(DEAD_BAND, NOISE * error)) return;
    const cut = Math.min(this.hi, Math.max(this.lo, Math.round(target)));
    if (cut !== this.cut) this.seen.moves++;
    this.cut = cut;
  }

  /** The cuts observed so far (rank 0's rows of a whole batch: the fewest and the most), and how often the cut moved; null before any. */
  get history(): { firstRows: readonly [number, number]; moves: number } | null {
    return this.seen.max < 0 ? null : { firstRows: [this.seen.min, this.seen.max], moves: this.seen.moves };
  }

  /** Each replica's per-row pass cost (ms per row, rank 0's first): the medians of the last WINDOW steps; null before MIN_STEPS of them. */
  get msPerRow(): readonly [number, number] | null {
    return this.targets.length < MIN_STEPS ? null : [median(this.costs[0]), median(this.costs[1])];
  }

  /** Rows of a whole global batch the first replica takes now. */
  get firstRows(): number {
    return this.cut;
  }

  private push(xs: number[], x: number): void {
    xs.push(x);
    if (xs.length > WINDOW) xs.shift();
  }
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
