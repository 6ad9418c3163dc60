/**
 * Ring all-reduce (Patarasuk & Yuan 2009; as in Horovod and NCCL): n replicas in a ring, the vector
 * cut into n chunks. Reduce-scatter: n-1 steps, each replica passes one chunk's partial sum to the
 * next and adds what it receives from the previous; afterwards replica r holds the full sum of chunk
 * r+1. All-gather: n-1 more steps pass the finished chunks around. Each replica sends and receives
 * 2(n-1)/n of the vector in total, whatever n is, and every element of the result is summed in one
 * fixed order and then copied, so all replicas end with bit-identical sums.
 *
 * Pipelined: what a replica sends at step t+1 is exactly what it received (and added to, in the
 * reduce-scatter) at step t, so each chunk travels in pieces (`pieceValues` floats) and a piece is
 * added and forwarded as soon as it arrives, while the next pieces are still on the wire. Without
 * this, a K=2 all-reduce is two transfers of half the vector back to back; with it, about one.
 *
 * Copies: none on the way. Step 0 sends straight from `input`; a received piece is added to in
 * place (it is the ring's own memory) and forwarded as it is; the result is written once, when a
 * piece is final. So the memory the result is returned in is never read back by a send of this
 * call, and the caller may write to it as soon as the call resolves.
 *
 * The algorithm is transport-free: `send`/`recv` move one piece to the next / from the previous
 * replica. peers.ts wires it to ZeroMQ.
 */
export interface RingLinks {
  /**
   * Sends piece `part` of `parts` of this step's chunk to replica (rank+1) % n. Must not wait for
   * the peer to take it (the ring sends a step's pieces before it receives). The ring never writes
   * to `data` after handing it over, so a transport may send it without copying.
   */
  send(step: number, part: number, parts: number, data: Float32Array): Promise<void>;
  /**
   * Receives piece `part` of `parts` that replica (rank-1+n) % n sent for `step`. The array is the
   * ring's: it adds into it and forwards it, so it must not be memory anyone else still reads.
   */
  recv(step: number, part: number, parts: number): Promise<Float32Array>;
}

export interface RingOptions {
  /** Floats per piece (default DEFAULT_PIECE_VALUES); every replica must use the same. */
  pieceValues?: number;
  /** Where the sum goes (its length must be the input's; may be `input` itself); default a new array. */
  out?: Float32Array;
}

/**
 * 256 KiB pieces. Measured (tools/bench/allreduce.ts, 2 processes, 1 and 10 MB, on a loaded 2-core
 * VM): 64-512 KiB were alike within the noise; 1 MiB pieces took more CPU and page faults, and one
 * piece per chunk (no pipelining) the most.
 */
export const DEFAULT_PIECE_VALUES = 65_536;

/** Start (inclusive) of chunk `i` of `n` over `length` elements; chunk i is [bound(i), bound(i+1)). */
export function chunkBound(length: number, n: number, i: number): number {
  return Math.floor((length * i) / n);
}

/** How many pieces a chunk of `length` floats travels in (at least 1, so an empty chunk still steps the ring). */
export function pieceCount(length: number, pieceValues: number): number {
  return Math.max(1, Math.ceil(length / pieceValues));
}

const mod = (a: number, n: number): number => ((a % n) + n) % n;

/**
 * acc[i] = acc[i] + ours[from + i]. A plain function of its own: V8 optimizes the loop at once,
 * where inside the async ring loop it was seen running as baseline code with keyed-load ICs.
 */
function addInto(acc: Float32Array, ours: Float32Array, from: number): void {
  for (let i = 0; i < acc.length; i++) acc[i] = acc[i] + ours[from + i];
}

/** The elementwise sum of `input` over the ring's replicas; `input` is not modified (unless it is `opts.out`). */
export async function ringAllReduce(input: Float32Array, rank: number, n: number, links: RingLinks, opts: RingOptions = {}): Promise<Float32Array> {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`ring size must be a positive integer, got ${n}`);
  if (!Number.isInteger(rank) || rank < 0 || rank >= n) throw new RangeError(`rank must be in 0..${n - 1}, got ${rank}`);
  const pieceValues = opts.pieceValues ?? DEFAULT_PIECE_VALUES;
  if (!Number.isInteger(pieceValues) || pieceValues < 1) throw new RangeError(`pieceValues must be a positive integer, got ${pieceValues}`);
  const L = input.length;
  const out = opts.out ?? new Float32Array(L);
  if (out.length !== L) throw new RangeError(`out has ${out.length} values, input has ${L}`);
  if (n === 1) {
    if (out !== input) out.set(input);
    return out;
  }
  const lo = (c: number): number => chunkBound(L, n, c);
  const partsOf = (c: number): number => pieceCount(lo(c + 1) - lo(c), pieceValues);
  const pieceLo = (c: number, j: number): number => lo(c) + Math.floor(((lo(c + 1) - lo(c)) * j) / partsOf(c));

  // Sends run in the background; the first failure ends the call (rather than a recv timing out).
  const sends: Array<Promise<void>> = [];
  let fail: (err: unknown) => void = () => undefined;
  const sendFailed = new Promise<never>((_, reject) => (fail = reject));
  sendFailed.catch(() => undefined);
  const send = (step: number, part: number, parts: number, data: Float32Array): void => {
    const p = links.send(step, part, parts, data);
    p.catch(fail);
    sends.push(p);
  };

  // Step 0: this replica's own chunk, straight from the input.
  const first = rank;
  for (let j = 0, P = partsOf(first); j < P; j++) send(0, j, P, input.subarray(pieceLo(first, j), pieceLo(first, j + 1)));
  const last = 2 * n - 3;
  for (let t = 0; t <= last; t++) {
    const reducing = t < n - 1;
    // Reduce-scatter step s receives chunk rank-s-1; all-gather step s receives chunk rank-s.
    const c = reducing ? mod(rank - t - 1, n) : mod(rank - (t - (n - 1)), n);
    const P = partsOf(c);
    for (let j = 0; j < P; j++) {
      const a = pieceLo(c, j);
      const b = pieceLo(c, j + 1);
      const got = await Promise.race([links.recv(t, j, P), sendFailed]);
      if (got.length !== b - a) throw new Error(`ring step ${t}: piece ${j}/${P} of chunk ${c} has ${got.length} values, expected ${b - a}`);
      // got holds the sum over replicas c..rank-1 (in ring order); add ours last.
      if (reducing) addInto(got, input, a);
      // The last reduce-scatter step completes chunk rank+1; every all-gather step brings a final one.
      if (t >= n - 2) out.set(got, a);
      if (t < last) send(t + 1, j, P, got);
    }
  }
  await Promise.all(sends);
  return out;
}

/** The coordinator's reduction: contributions summed in rank order (deterministic). */
export function sumInRankOrder(parts: ReadonlyArray<Float32Array>): Float32Array {
  if (parts.length === 0) throw new RangeError('nothing to reduce');
  return sumInRankOrderInto(Float32Array.from(parts[0]), parts.slice(1), 1);
}

/**
 * Adds `rest` (ranks first, first+1, ...) into `acc` in rank order, in place: the same sums as
 * `sumInRankOrder`, without allocating, for a caller that owns rank 0's array.
 */
export function sumInRankOrderInto(acc: Float32Array, rest: ReadonlyArray<Float32Array>, first = 1): Float32Array {
  for (let r = 0; r < rest.length; r++) {
    const p = rest[r];
    if (p.length !== acc.length) throw new Error(`replica ${r + first} sent ${p.length} values, replica 0 sent ${acc.length}`);
    addInto(acc, p, 0);
  }
  return acc;
}
