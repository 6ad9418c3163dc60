/**
 * Seeded random numbers for everything the study draws: weight initialization, shuffling, latent
 * noise, budgets, synthetic images, bootstrap resamples.
 *
 * Generator: xoshiro128** (Blackman & Vigna 2018), 128 bits of state, seeded through splitmix32 so
 * that nearby seeds give unrelated streams. Its state is plain data (`getState`/`setState`) so a
 * checkpoint can store it and a resumed run draws the same numbers as an uninterrupted one.
 */

// Module-level aliases: in some sandboxes (Jest's vm contexts) every lookup of the global `Math`
// costs about a microsecond, which dominates a generator that draws millions of numbers.
const { imul, sqrt, log, sin, cos, abs, PI } = Math;

export interface RngState {
  /** The four 32-bit words of xoshiro128** state. */
  s: [number, number, number, number];
  /** A second normal deviate left over from the last Box-Muller pair, or null. */
  spare: number | null;
}

function splitmix32(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (x + 0x9e3779b9) >>> 0;
    let z = x;
    z = imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/** FNV-1a hash of a string, for deriving named sub-streams. */
export function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

export class Rng {
  private s: Uint32Array = new Uint32Array(4);
  private spare: number | null = null;

  constructor(seed: number) {
    if (!Number.isInteger(seed)) throw new Error(`seed must be an integer, got ${seed}`);
    const sm = splitmix32(seed >>> 0);
    for (let i = 0; i < 4; i++) this.s[i] = sm();
    if (this.s[0] === 0 && this.s[1] === 0 && this.s[2] === 0 && this.s[3] === 0) this.s[0] = 1;
  }

  /** An independent stream named by `label`, derived from this one's seed state (does not advance it). */
  fork(label: string): Rng {
    const h = hashString(label);
    const child = new Rng(0);
    const sm = splitmix32((this.s[0] ^ h ^ imul(this.s[3], 0x9e3779b1)) >>> 0);
    for (let i = 0; i < 4; i++) child.s[i] = (sm() ^ this.s[i]) >>> 0;
    if (child.s.every((v) => v === 0)) child.s[0] = 1;
    return child;
  }

  /** Next 32-bit unsigned integer. */
  nextUint32(): number {
    const s = this.s;
    const result = imul(rotl(imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform in [0, 1), 32 bits of resolution. */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Uniform in [lo, hi). */
  uniform(lo = 0, hi = 1): number {
    return lo + (hi - lo) * this.next();
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0) throw new Error(`int(n) needs a positive integer, got ${n}`);
    // Rejection sampling avoids modulo bias.
    const limit = 4294967296 - (4294967296 % n);
    let x = this.nextUint32();
    while (x >= limit) x = this.nextUint32();
    return x % n;
  }

  /** Standard normal deviate (Box-Muller, the pair's second value kept for the next call). */
  normal(mean = 0, std = 1): number {
    if (this.spare !== null) {
      const v = this.spare;
      this.spare = null;
      return mean + std * v;
    }
    let u = 0;
    while (u === 0) u = this.next();
    const v = this.next();
    const r = sqrt(-2 * log(u));
    this.spare = r * sin(2 * PI * v);
    return mean + std * r * cos(2 * PI * v);
  }

  /** Normal deviate redrawn until within two standard deviations (as truncated-normal initializers do). */
  truncatedNormal(mean = 0, std = 1): number {
    for (;;) {
      const z = this.normal();
      if (abs(z) <= 2) return mean + std * z;
    }
  }

  /** Fills a Float32Array with N(mean, std^2) deviates. */
  fillNormal(out: Float32Array, mean = 0, std = 1): Float32Array {
    for (let i = 0; i < out.length; i++) out[i] = this.normal(mean, std);
    return out;
  }

  /** Fills a Float32Array with U[lo, hi) deviates. */
  fillUniform(out: Float32Array, lo = 0, hi = 1): Float32Array {
    for (let i = 0; i < out.length; i++) out[i] = this.uniform(lo, hi);
    return out;
  }

  /** Shuffles in place (Fisher-Yates) and returns the array. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = items[i];
      items[i] = items[j];
      items[j] = tmp;
    }
    return items;
  }

  /** A random permutation of 0..n-1. */
  permutation(n: number): number[] {
    return this.shuffle(Array.from({ length: n }, (_, i) => i));
  }

  getState(): RngState {
    return { s: [this.s[0], this.s[1], this.s[2], this.s[3]], spare: this.spare };
  }

  setState(state: RngState): void {
    if (!Array.isArray(state.s) || state.s.length !== 4 || state.s.some((v) => !Number.isInteger(v) || v < 0 || v > 0xffffffff)) {
      throw new Error(`RNG state must hold four 32-bit unsigned integers, got ${JSON.stringify(state.s)}`);
    }
    this.s = Uint32Array.from(state.s);
    this.spare = state.spare;
  }

  static fromState(state: RngState): Rng {
    const rng = new Rng(0);
    rng.setState(state);
    return rng;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
