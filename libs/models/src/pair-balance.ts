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
 * message. The model: a pass takes about a fixed part plus a cost per row on each replica; the cut
 * where both passes take as long has first * c0 = second * c1 for the per-row costs c = ms / rows
 * measured at the current cut (with a fixed part that is a fixed point, not a one-step jump, and
 * the iteration converges to it). Each replica's cost is the median of its last WINDOW steps, so
 * that a step slowed by a pause (a collection, the host's preemption: every tenth step or so here,
 * at twice the usual time) does not move the cut; the cut moves only when the balanced cut lies
 * more than DEAD_BAND rows away from it, so that noise does not move it either.
 */

/** Steps whose per-row costs make the estimate (the median of each replica's). */
const WINDOW = 15;
/** Steps seen before the cut may move. */
const MIN_STEPS = 8;
/** How far (in rows) the balanced cut must lie from the current one before the cut moves. */
const DEAD_BAND = 0.75;
/** Each replica keeps at least this share of a global batch, however slow (a guard against a stall read as slowness). */
const MIN_SHARE = 1 / 4;

export class PairBalance {
  /** Rows of a whole global batch that the first replica (rank 0) takes. */
  private cut: number;
  /** Each replica's per-row pass costs (ms per row) of the last WINDOW steps, oldest first. */
  private readonly costs: [number[], number[]] = [[], []];
  private readonly lo: number;
  private readonly hi: number;

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
    const step = [firstMs / firstRows, secondMs / secondRows];
    for (const i of [0, 1]) {
      this.costs[i].push(step[i]);
      if (this.costs[i].length > WINDOW) this.costs[i].shift();
    }
    const cost = this.msPerRow;
    if (cost === null) return;
    // Where first * c0 = (batch - first) * c1.
    const balanced = (this.batch * cost[1]) / (cost[0] + cost[1]);
    if (Math.abs(balanced - this.cut) > DEAD_BAND) this.cut = Math.min(this.hi, Math.max(this.lo, Math.round(balanced)));
  }

  /** Each replica's per-row pass cost (ms per row, rank 0's first): the median of its recent steps; null before MIN_STEPS steps. */
  get msPerRow(): readonly [number, number] | null {
    if (this.costs[0].length < MIN_STEPS) return null;
    return [median(this.costs[0]), median(this.costs[1])];
  }

  /** Rows of a whole global batch the first replica takes now. */
  get firstRows(): number {
    return this.cut;
  }
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
