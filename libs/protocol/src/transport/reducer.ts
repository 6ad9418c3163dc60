/**
 * All-reduce through the coordinator (the alternative to the ring): every replica sends its vector
 * (`reduce`), the coordinator sums the K contributions in rank order once all have arrived and
 * sends the same sum back to each (`reduced`). Simple and robust, but the coordinator moves K
 * vectors in and K out per step, so its link is the bottleneck as K grows.
 */
import { sumInRankOrderInto } from './ring';

export interface Contribution {
  job: string;
  attempt: number;
  seq: number;
  rank: number;
  worldSize: number;
  /**
   * This replica's vector. The reducer keeps it (no copy) and writes the sum into rank 0's: pass
   * memory nobody else uses, such as a decoded message's payload (`bytesToF32(m.data)`).
   */
  data: Float32Array;
}

export class CoordinatorReducer {
  private readonly pending = new Map<string, Array<Float32Array | undefined>>();

  /**
   * Adds one replica's vector. Returns the sum (in rank 0's array, summed in rank order) when this
   * was the last one missing, else null. Throws on a rank out of range or a replica that sent twice.
   */
  add(c: Contribution): Float32Array | null {
    if (c.rank < 0 || c.rank >= c.worldSize) throw new RangeError(`rank ${c.rank} out of range for ${c.worldSize} replicas`);
    const key = `${c.job}#${c.attempt}:${c.seq}`;
    let parts = this.pending.get(key);
    if (!parts) {
      parts = new Array<Float32Array | undefined>(c.worldSize).fill(undefined);
      this.pending.set(key, parts);
    }
    if (parts.length !== c.worldSize) throw new Error(`${key}: replica ${c.rank} says ${c.worldSize} replicas, others said ${parts.length}`);
    if (parts[c.rank]) throw new Error(`${key}: replica ${c.rank} sent twice`);
    parts[c.rank] = c.data;
    if (parts.some((p) => !p)) return null;
    this.pending.delete(key);
    const [first, ...rest] = parts as Float32Array[];
    return sumInRankOrderInto(first, rest);
  }

  /** Forgets partial sums of an attempt that ended. */
  endAttempt(job: string, attempt: number): void {
    const prefix = `${job}#${attempt}:`;
    for (const key of [...this.pending.keys()]) if (key.startsWith(prefix)) this.pending.delete(key);
  }
}
