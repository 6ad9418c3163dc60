/**
 * Ring all-reduce (Patarasuk & Yuan 2009; as in Horovod and NCCL): n replicas in a ring, the vector
 * cut into n chunks. Reduce-scatter: n-1 steps, each replica passes one chunk's partial sum to the
 * next and adds what it receives from the previous; afterwards replica r holds the full sum of chunk
 * r+1. All-gather: n-1 more steps pass the finished chunks around. Each replica sends and receives
 * 2(n-1)/n of the vector in total, whatever n is, and every element of the result is summed in one
 * fixed order and then copied, so all replicas end with bit-identical sums.
 *
 * The algorithm is transport-free: `send`/`recv` move one chunk to the next / from the previous
 * replica for a given step. peers.ts wires it to ZeroMQ.
 */
export interface RingLinks {
  /** Sends `chunk` (raw float32) to replica (rank+1) % n, tagged with `step`. */
  send(step: number, chunk: Float32Array): Promise<void>;
  /** Receives the chunk replica (rank-1+n) % n sent for `step`. */
  recv(step: number): Promise<Float32Array>;
}

/** Start (inclusive) of chunk `i` of `n` over `length` elements; chunk i is [bound(i), bound(i+1)). */
export function chunkBound(length: number, n: number, i: number): number {
  return Math.floor((length * i) / n);
}

const mod = (a: number, n: number): number => ((a % n) + n) % n;

/** The elementwise sum of `input` over the ring's replicas; `input` is not modified. */
export async function ringAllReduce(input: Float32Array, rank: number, n: number, links: RingLinks): Promise<Float32Array> {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`ring size must be a positive integer, got ${n}`);
  if (!Number.isInteger(rank) || rank < 0 || rank >= n) throw new RangeError(`rank must be in 0..${n - 1}, got ${rank}`);
  const buf = Float32Array.from(input);
  if (n === 1) return buf;
  const L = buf.length;
  const chunk = (i: number): Float32Array => buf.subarray(chunkBound(L, n, i), chunkBound(L, n, i + 1));

  // Reduce-scatter.
  for (let s = 0; s < n - 1; s++) {
    const sendIdx = mod(rank - s, n);
    const recvIdx = mod(rank - s - 1, n);
    const [, got] = await Promise.all([links.send(s, chunk(sendIdx)), links.recv(s)]);
    const target = chunk(recvIdx);
    if (got.length !== target.length) throw new Error(`ring step ${s}: chunk ${recvIdx} has ${got.length} values, expected ${target.length}`);
    // got holds the sum over replicas recvIdx..rank-1 (in ring order); add ours last.
    for (let i = 0; i < target.length; i++) target[i] = got[i] + target[i];
  }
  // All-gather.
  for (let s = 0; s < n - 1; s++) {
    const step = n - 1 + s;
    const sendIdx = mod(rank + 1 - s, n);
    const recvIdx = mod(rank - s, n);
    const [, got] = await Promise.all([links.send(step, chunk(sendIdx)), links.recv(step)]);
    const target = chunk(recvIdx);
    if (got.length !== target.length) throw new Error(`ring step ${step}: chunk ${recvIdx} has ${got.length} values, expected ${target.length}`);
    target.set(got);
  }
  return buf;
}

/** The coordinator's reduction: contributions summed in rank order (deterministic). */
export function sumInRankOrder(parts: ReadonlyArray<Float32Array>): Float32Array {
  if (parts.length === 0) throw new RangeError('nothing to reduce');
  const out = Float32Array.from(parts[0]);
  for (let r = 1; r < parts.length; r++) {
    const p = parts[r];
    if (p.length !== out.length) throw new Error(`replica ${r} sent ${p.length} values, replica 0 sent ${out.length}`);
    for (let i = 0; i < out.length; i++) out[i] += p[i];
  }
  return out;
}
