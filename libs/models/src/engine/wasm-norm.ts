/**
 * Normalisation and reflection padding as single passes over the wasm heap, registered as wasm
 * kernels (so tf.profile shows them by name) and called by layers/channel-norm.ts and
 * layers/reflection-pad.ts.
 *
 * ChannelNorm: x viewed as [G, R, C] (instance norm: G = batch, R = H*W; batch norm: G = 1,
 * R = batch*H*W), each (group, channel) normalised by its own mean and biased variance over the R
 * rows, then an optional per-channel scale and shift and a (leaky) ReLU:
 *   xb = x + bias (rounded to float32, as tf.add),  xhat = (xb - mean) * rstd,  rstd = 1/sqrt(var + eps),
 *   v = gamma * xhat + beta,  y = v > 0 ? v : slope * v   (slope 1: linear, 0: ReLU).
 * Two passes forward (statistics, then y) and two backward (the sums over rows, then dx), with
 * statistics and sums in float64. The mean and variance are outputs (float32), and every later use
 * of them (the forward's second pass, the backward) takes those rounded values, so the backward
 * recomputes exactly the xhat and the activation mask the forward used.
 *
 * ReflectionPad2D: torch ReflectionPad2d on H and W of NHWC (the edge row/column not repeated); its
 * gradient folds each reflected copy's gradient back onto its source in one pass over dx.
 *
 * Heap rules (wasm-heap.ts): outputs allocated before any view is taken; every output element written.
 */
import * as tf from '@tensorflow/tfjs';
import type { KernelConfig, KernelFunc, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs';
import { allocF32, f32 } from './wasm-heap';
import { normSimd } from './wasm-norm-simd';
import type { NormSimd } from './wasm-norm-simd';

const BACKEND = 'wasm';

export const CHANNEL_NORM = 'ChannelNorm';
export const CHANNEL_NORM_GRAD = 'ChannelNormGrad';
export const REFLECTION_PAD = 'ReflectionPad2D';
export const REFLECTION_PAD_GRAD = 'ReflectionPad2DGrad';

/** What the norm kernels need besides tensors. */
export interface ChannelNormAttrs {
  /** Leading groups G; x.size / G / C rows each. */
  groups: number;
  eps: number;
  /** Negative-side slope of the activation: 1 linear, 0 ReLU, else leaky ReLU. */
  slope: number;
}

/** The per-channel tensors of a norm call (each [C] when present). */
export interface ChannelParams {
  bias?: tf.Tensor;
  gamma?: tf.Tensor;
  beta?: tf.Tensor;
}

function geometry(x: tf.Tensor, groups: number, what: string): { G: number; R: number; C: number } {
  const C = x.shape[x.rank - 1];
  if (!Number.isInteger(groups) || groups < 1 || x.size % (groups * C) !== 0) {
    throw new Error(`${what}: ${groups} groups do not divide x [${x.shape.join(', ')}] into whole rows of ${C} channels`);
  }
  return { G: groups, R: x.size / groups / C, C };
}

/**
 * One group's share of the bias gradient, the sum over its rows of dx = k (g - m1 - xhat m2),
 * evaluated from the float64 sums S1 = sum g and S3 = sum xhat: k (S1 - R m1 - m2 S3), with the m1
 * and m2 the rows used. Zero but for the rounding of m1 and of the mean (the norm cancels
 * any per-channel shift); summing the rounded dx values instead would add each one's rounding.
 */
function biasGrad(k: number, S1: number, S3: number, m1: number, m2: number, R: number): number {
  return k * (S1 - R * m1 - m2 * S3);
}

/** A [C] tensor's values as doubles, or `fill` repeated when absent. */
function perChannel(t: tf.Tensor | undefined, C: number, fill: number): Float64Array {
  if (!t) return new Float64Array(C).fill(fill);
  return Float64Array.from(f32(t));
}

/**
 * Rows per call of the SIMD loops that sum: their float32 block sums go into float64 after each
 * call, so no float32 sum runs over more than this many rows.
 */
const BLOCK_ROWS = 32;

/** The SIMD module when it can take this many channels (a multiple of 4) on this backend. */
function simdFor(C: number, allowed: boolean): NormSimd | null {
  return allowed && C % 4 === 0 ? normSimd() : null;
}

/** Byte offset of a tensor's first value on the heap. */
const at = (t: tf.Tensor): number => f32(t).byteOffset;

/**
 * Forward: [y (x's shape), mean [G, C], biased variance [G, C]]. Through the SIMD loops when the
 * channel count is a multiple of 4 (and `simd` is not false), else in JavaScript.
 */
export function channelNormHeap(x: tf.Tensor, p: ChannelParams, a: ChannelNormAttrs, simd = true): [tf.Tensor, tf.Tensor, tf.Tensor] {
  const { G, R, C } = geometry(x, a.groups, CHANNEL_NORM);
  const fns = simdFor(C, simd);
  if (fns) return channelNormSimd(fns, x, p, a, G, R, C);
  const y = allocF32(x.shape);
  const meanT = allocF32([G, C]);
  const varT = allocF32([G, C]);
  const xv = f32(x);
  const yv = f32(y);
  const mv = f32(meanT);
  const vv = f32(varT);
  const hasBias = p.bias !== undefined;
  const b = perChannel(p.bias, C, 0);
  const ga = perChannel(p.gamma, C, 1);
  const be = perChannel(p.beta, C, 0);
  const slope = a.slope;
  const relu = slope === 0;
  const fr = Math.fround;
  const shift = new Float64Array(C);
  const s1 = new Float64Array(C);
  const s2 = new Float64Array(C);
  const mean = new Float64Array(C);
  const rstd = new Float64Array(C);
  for (let g = 0; g < G; g++) {
    const base = g * R * C;
    // Sums of (xb - shift) and its square, shifted by each channel's first value: no cancellation
    // when the mean is large against the spread.
    for (let c = 0; c < C; c++) shift[c] = hasBias ? fr(xv[base + c] + b[c]) : xv[base + c];
    s1.fill(0);
    s2.fill(0);
    if (hasBias) {
      for (let r = 0, i = base; r < R; r++) {
        for (let c = 0; c < C; c++, i++) {
          const d = fr(xv[i] + b[c]) - shift[c];
          s1[c] += d;
          s2[c] += d * d;
        }
      }
    } else {
      for (let r = 0, i = base; r < R; r++) {
        for (let c = 0; c < C; c++, i++) {
          const d = xv[i] - shift[c];
          s1[c] += d;
          s2[c] += d * d;
        }
      }
    }
    for (let c = 0; c < C; c++) {
      const m = fr(shift[c] + s1[c] / R);
      const v = fr(Math.max(0, (s2[c] - (s1[c] * s1[c]) / R) / R));
      mv[g * C + c] = m;
      vv[g * C + c] = v;
      mean[c] = m;
      rstd[c] = fr(1 / Math.sqrt(v + a.eps));
    }
    for (let r = 0, i = base; r < R; r++) {
      for (let c = 0; c < C; c++, i++) {
        const xb = hasBias ? fr(xv[i] + b[c]) : xv[i];
        // The same expression as the backward's, so both see the same sign of v.
        const v = (xb - mean[c]) * rstd[c] * ga[c] + be[c];
        yv[i] = v > 0 ? v : relu ? 0 : v * slope;
      }
    }
  }
  return [y, meanT, varT];
}

/**
 * Backward. `src` is x (then xhat is recomputed from it) or, when `srcIsOutput` (linear, no gamma or
 * beta: y = xhat), the forward's output y. Returns dx, then dbias, dgamma, dbeta for those present.
 */
export function channelNormGradHeap(dy: tf.Tensor, src: tf.Tensor, srcIsOutput: boolean, mean: tf.Tensor, variance: tf.Tensor, p: ChannelParams, a: ChannelNormAttrs, simd = true): tf.Tensor[] {
  const { G, R, C } = geometry(src, a.groups, CHANNEL_NORM_GRAD);
  if (srcIsOutput && (a.slope !== 1 || p.gamma || p.beta)) throw new Error(`${CHANNEL_NORM_GRAD}: xhat can be read from y only without activation, gamma and beta`);
  if (!tf.util.arraysEqual(dy.shape, src.shape)) throw new Error(`${CHANNEL_NORM_GRAD}: dy [${dy.shape.join(', ')}] and the saved input [${src.shape.join(', ')}] differ`);
  const fns = simdFor(C, simd);
  if (fns) return channelNormGradSimd(fns, dy, src, srcIsOutput, mean, variance, p, a, G, R, C);
  const dx = allocF32(src.shape);
  const dbT = p.bias ? allocF32([C]) : undefined;
  const dgT = p.gamma ? allocF32([C]) : undefined;
  const dbeT = p.beta ? allocF32([C]) : undefined;
  const gv = f32(dy);
  const sv = f32(src);
  const dxv = f32(dx);
  const mv = f32(mean);
  const vv = f32(variance);
  const hasBias = p.bias !== undefined && !srcIsOutput;
  const b = perChannel(p.bias, C, 0);
  const ga = perChannel(p.gamma, C, 1);
  const be = perChannel(p.beta, C, 0);
  const slope = a.slope;
  const linear = slope === 1;
  const fr = Math.fround;
  const m = new Float64Array(C);
  const rstd = new Float64Array(C);
  const s1 = new Float64Array(C); // sum of g (the gradient at v)
  const s2 = new Float64Array(C); // sum of g * xhat
  const s3 = new Float64Array(C); // sum of xhat
  const dgamma = new Float64Array(C);
  const dbeta = new Float64Array(C);
  const dbias = new Float64Array(C);
  const k0 = new Float64Array(C); // gamma * rstd
  const k1 = new Float64Array(C); // mean of g
  const k2 = new Float64Array(C); // mean of g * xhat
  for (let g = 0; g < G; g++) {
    const base = g * R * C;
    for (let c = 0; c < C; c++) {
      m[c] = srcIsOutput ? 0 : mv[g * C + c];
      rstd[c] = srcIsOutput ? 1 : fr(1 / Math.sqrt(vv[g * C + c] + a.eps));
    }
    s1.fill(0);
    s2.fill(0);
    s3.fill(0);
    for (let r = 0, i = base; r < R; r++) {
      for (let c = 0; c < C; c++, i++) {
        const xb = hasBias ? fr(sv[i] + b[c]) : sv[i];
        const xh = (xb - m[c]) * rstd[c];
        let d = gv[i];
        if (!linear && xh * ga[c] + be[c] <= 0) d *= slope;
        s1[c] += d;
        s2[c] += d * xh;
        s3[c] += xh;
      }
    }
    for (let c = 0; c < C; c++) {
      dbeta[c] += s1[c];
      dgamma[c] += s2[c];
      const trueRstd = srcIsOutput ? fr(1 / Math.sqrt(vv[g * C + c] + a.eps)) : rstd[c];
      k0[c] = ga[c] * trueRstd;
      k1[c] = s1[c] / R;
      k2[c] = s2[c] / R;
      dbias[c] += biasGrad(k0[c], s1[c], s3[c], k1[c], k2[c], R);
    }
    for (let r = 0, i = base; r < R; r++) {
      for (let c = 0; c < C; c++, i++) {
        const xb = hasBias ? fr(sv[i] + b[c]) : sv[i];
        const xh = (xb - m[c]) * rstd[c];
        let d = gv[i];
        if (!linear && xh * ga[c] + be[c] <= 0) d *= slope;
        dxv[i] = k0[c] * (d - k1[c] - xh * k2[c]);
      }
    }
  }
  const outs: tf.Tensor[] = [dx];
  if (dbT) {
    f32(dbT).set(dbias);
    outs.push(dbT);
  }
  if (dgT) {
    f32(dgT).set(dgamma);
    outs.push(dgT);
  }
  if (dbeT) {
    f32(dbeT).set(dbeta);
    outs.push(dbeT);
  }
  return outs;
}

// ---------------------------------------------------------------------------------------------
// The same, driving the SIMD loops (wasm-norm-simd.ts): JavaScript walks groups and row blocks and
// keeps the float64 sums; the loops run over the heap.

/** A per-channel vector's values, or zeros when the tensor is absent. */
function setOrZero(view: Float32Array, t: tf.Tensor | undefined): void {
  if (t) view.set(f32(t));
  else view.fill(0);
}

/** Per-channel vectors of C floats in one scratch tensor: `names` in order. */
function vectors<K extends string>(scratch: tf.Tensor, names: readonly K[], C: number): Record<K, { view: Float32Array; ptr: number }> {
  const all = f32(scratch);
  return Object.fromEntries(names.map((n, i) => [n, { view: all.subarray(i * C, (i + 1) * C), ptr: all.byteOffset + 4 * i * C }])) as Record<K, { view: Float32Array; ptr: number }>;
}

function channelNormSimd(fns: NormSimd, x: tf.Tensor, p: ChannelParams, a: ChannelNormAttrs, G: number, R: number, C: number): [tf.Tensor, tf.Tensor, tf.Tensor] {
  const y = allocF32(x.shape);
  const meanT = allocF32([G, C]);
  const varT = allocF32([G, C]);
  const scratch = allocF32([7 * C]);
  const v = vectors(scratch, ['b', 'shift', 's1', 's2', 'mean', 'k', 'beta'] as const, C);
  const ga = perChannel(p.gamma, C, 1);
  setOrZero(v.b.view, p.bias);
  setOrZero(v.beta.view, p.beta);
  const mv = f32(meanT);
  const vv = f32(varT);
  const x0 = at(x);
  const y0 = at(y);
  const fr = Math.fround;
  const S1 = new Float64Array(C);
  const S2 = new Float64Array(C);
  const groupBytes = 4 * R * C;
  for (let g = 0; g < G; g++) {
    const xg = x0 + g * groupBytes;
    // Sums are shifted by the first block's mean, near the group's: no cancellation in the variance.
    const first = Math.min(R, BLOCK_ROWS);
    v.shift.view.fill(0);
    v.s1.view.fill(0);
    v.s2.view.fill(0);
    fns.stats(xg, v.b.ptr, v.shift.ptr, v.s1.ptr, v.s2.ptr, first, C);
    for (let c = 0; c < C; c++) v.shift.view[c] = v.s1.view[c] / first;
    S1.fill(0);
    S2.fill(0);
    for (let r0 = 0; r0 < R; r0 += BLOCK_ROWS) {
      v.s1.view.fill(0);
      v.s2.view.fill(0);
      fns.stats(xg + 4 * r0 * C, v.b.ptr, v.shift.ptr, v.s1.ptr, v.s2.ptr, Math.min(BLOCK_ROWS, R - r0), C);
      for (let c = 0; c < C; c++) {
        S1[c] += v.s1.view[c];
        S2[c] += v.s2.view[c];
      }
    }
    for (let c = 0; c < C; c++) {
      const m = fr(v.shift.view[c] + S1[c] / R);
      const variance = fr(Math.max(0, (S2[c] - (S1[c] * S1[c]) / R) / R));
      mv[g * C + c] = m;
      vv[g * C + c] = variance;
      v.mean.view[c] = m;
      v.k.view[c] = fr(1 / Math.sqrt(variance + a.eps)) * ga[c];
    }
    fns.fwd(xg, y0 + g * groupBytes, v.b.ptr, v.mean.ptr, v.k.ptr, v.beta.ptr, R, C, a.slope);
  }
  scratch.dispose();
  return [y, meanT, varT];
}

function channelNormGradSimd(fns: NormSimd, dy: tf.Tensor, src: tf.Tensor, srcIsOutput: boolean, mean: tf.Tensor, variance: tf.Tensor, p: ChannelParams, a: ChannelNormAttrs, G: number, R: number, C: number): tf.Tensor[] {
  const dx = allocF32(src.shape);
  const dbT = p.bias ? allocF32([C]) : undefined;
  const dgT = p.gamma ? allocF32([C]) : undefined;
  const dbeT = p.beta ? allocF32([C]) : undefined;
  const scratch = allocF32([10 * C]);
  const v = vectors(scratch, ['b', 'mean', 'rstd', 'k', 'beta', 's1', 's2', 's3', 'm1', 'm2'] as const, C);
  const ga = perChannel(p.gamma, C, 1);
  // Reading xhat from y: nothing to add or subtract, rstd 1 (k keeps the true rstd for dx).
  setOrZero(v.b.view, srcIsOutput ? undefined : p.bias);
  setOrZero(v.beta.view, p.beta);
  const mv = f32(mean);
  const vv = f32(variance);
  const dy0 = at(dy);
  const src0 = at(src);
  const dx0 = at(dx);
  const fr = Math.fround;
  const S1 = new Float64Array(C);
  const S2 = new Float64Array(C);
  const S3 = new Float64Array(C);
  const dgamma = new Float64Array(C);
  const dbeta = new Float64Array(C);
  const dbias = new Float64Array(C);
  const groupBytes = 4 * R * C;
  for (let g = 0; g < G; g++) {
    for (let c = 0; c < C; c++) {
      const rstd = fr(1 / Math.sqrt(vv[g * C + c] + a.eps));
      v.mean.view[c] = srcIsOutput ? 0 : mv[g * C + c];
      v.rstd.view[c] = srcIsOutput ? 1 : rstd;
      v.k.view[c] = rstd * ga[c];
    }
    const off = g * groupBytes;
    S1.fill(0);
    S2.fill(0);
    S3.fill(0);
    for (let r0 = 0; r0 < R; r0 += BLOCK_ROWS) {
      v.s1.view.fill(0);
      v.s2.view.fill(0);
      v.s3.view.fill(0);
      const o = off + 4 * r0 * C;
      fns.bwd1(dy0 + o, src0 + o, v.b.ptr, v.mean.ptr, v.rstd.ptr, v.k.ptr, v.beta.ptr, v.s1.ptr, v.s2.ptr, v.s3.ptr, Math.min(BLOCK_ROWS, R - r0), C, a.slope);
      for (let c = 0; c < C; c++) {
        S1[c] += v.s1.view[c];
        S2[c] += v.s2.view[c];
        S3[c] += v.s3.view[c];
      }
    }
    for (let c = 0; c < C; c++) {
      dbeta[c] += S1[c];
      dgamma[c] += S2[c];
      v.m1.view[c] = S1[c] / R;
      v.m2.view[c] = S2[c] / R;
      dbias[c] += biasGrad(v.k.view[c], S1[c], S3[c], v.m1.view[c], v.m2.view[c], R);
    }
    fns.bwd2(dy0 + off, src0 + off, dx0 + off, v.b.ptr, v.mean.ptr, v.rstd.ptr, v.k.ptr, v.beta.ptr, v.m1.ptr, v.m2.ptr, R, C, a.slope);
  }
  scratch.dispose();
  const outs: tf.Tensor[] = [dx];
  for (const [t, sums] of [[dbT, dbias], [dgT, dgamma], [dbeT, dbeta]] as const) {
    if (!t) continue;
    f32(t).set(sums);
    outs.push(t);
  }
  return outs;
}

// ---------------------------------------------------------------------------------------------
// Reflection padding

/** Source index of padded index `i` (0 .. n + 2 pad - 1) along an axis of n entries. */
function reflect(i: number, pad: number, n: number): number {
  const k = i - pad;
  return k < 0 ? -k : k >= n ? 2 * (n - 1) - k : k;
}

function checkPad(pad: number, h: number, w: number, what: string): void {
  if (!Number.isInteger(pad) || pad < 1 || pad >= h || pad >= w) throw new Error(`${what}: pad ${pad} must be an integer in [1, min(H, W) - 1] for a ${h}x${w} map`);
}

/** Copies `n` floats from src[s..] to dst[d..]; typed-array `set` for long runs, a loop for short ones. */
function copyRun(src: Float32Array, s: number, dst: Float32Array, d: number, n: number): void {
  if (n >= 16) dst.set(src.subarray(s, s + n), d);
  else for (let k = 0; k < n; k++) dst[d + k] = src[s + k];
}

/** x [N, H, W, C] -> [N, H + 2 pad, W + 2 pad, C], reflected about the edge rows and columns. */
export function reflectionPadHeap(x: tf.Tensor4D, pad: number): tf.Tensor4D {
  const [N, H, W, C] = x.shape;
  checkPad(pad, H, W, REFLECTION_PAD);
  const Ho = H + 2 * pad;
  const Wo = W + 2 * pad;
  const out = allocF32([N, Ho, Wo, C]) as tf.Tensor4D;
  const xv = f32(x);
  const yv = f32(out);
  const rowLen = W * C;
  for (let n = 0; n < N; n++) {
    for (let io = 0; io < Ho; io++) {
      const src = (n * H + reflect(io, pad, H)) * rowLen;
      const dst = (n * Ho + io) * Wo * C;
      yv.set(xv.subarray(src, src + rowLen), dst + pad * C);
      for (let j = 0; j < pad; j++) {
        copyRun(xv, src + (pad - j) * C, yv, dst + j * C, C);
        copyRun(xv, src + (W - 2 - j) * C, yv, dst + (pad + W + j) * C, C);
      }
    }
  }
  return out;
}

/** The padded indices (1 to 3 of them) whose values came from index k (0 .. n - 1) along an axis. */
function sources(n: number, pad: number): number[][] {
  const out = Array.from({ length: n }, (_, k) => [k + pad]);
  for (let i = 0; i < n + 2 * pad; i++) {
    if (i < pad || i >= n + pad) out[reflect(i, pad, n)].push(i);
  }
  return out;
}

/** dy [N, H + 2 pad, W + 2 pad, C] -> dx [N, H, W, C]: every padded value's gradient added onto its source. */
export function reflectionPadGradHeap(dy: tf.Tensor4D, pad: number): tf.Tensor4D {
  const [N, Ho, Wo, C] = dy.shape;
  const H = Ho - 2 * pad;
  const W = Wo - 2 * pad;
  checkPad(pad, H, W, REFLECTION_PAD_GRAD);
  const dx = allocF32([N, H, W, C]) as tf.Tensor4D;
  const gv = f32(dy);
  const dv = f32(dx);
  const rowSources = sources(H, pad);
  // Columns whose value was also copied into the border: the extra padded columns of each.
  const colExtra: Array<[number, number]> = [];
  sources(W, pad).forEach((list, j) => list.slice(1).forEach((jo) => colExtra.push([j, jo])));
  const rowLen = W * C;
  const inRow = Wo * C;
  for (let n = 0; n < N; n++) {
    for (let r = 0; r < H; r++) {
      const dst = (n * H + r) * rowLen;
      const rows = rowSources[r];
      for (let s = 0; s < rows.length; s++) {
        const src = (n * Ho + rows[s]) * inRow;
        if (s === 0) {
          dv.set(gv.subarray(src + pad * C, src + pad * C + rowLen), dst);
        } else {
          for (let k = 0, a = src + pad * C; k < rowLen; k++) dv[dst + k] += gv[a + k];
        }
        for (const [j, jo] of colExtra) {
          for (let c = 0, d = dst + j * C, a = src + jo * C; c < C; c++) dv[d + c] += gv[a + c];
        }
      }
    }
  }
  return dx;
}

// ---------------------------------------------------------------------------------------------
// Kernels

function tensorInput(info: TensorInfo | undefined, kernel: string, name: string): tf.Tensor {
  if (!(info instanceof tf.Tensor)) throw new Error(`${kernel}: input '${name}' must be a tf.Tensor; call it through tf.engine().runKernel`);
  if (info.dtype !== 'float32') throw new Error(`${kernel}: input '${name}' must be float32, got ${info.dtype}`);
  return info;
}

function optionalInput(info: TensorInfo | undefined, kernel: string, name: string): tf.Tensor | undefined {
  return info === undefined ? undefined : tensorInput(info, kernel, name);
}

function paramsOf(inputs: Record<string, TensorInfo | undefined>, kernel: string): ChannelParams {
  return { bias: optionalInput(inputs.bias, kernel, 'bias'), gamma: optionalInput(inputs.gamma, kernel, 'gamma'), beta: optionalInput(inputs.beta, kernel, 'beta') };
}

const channelNormKernel: KernelFunc = ({ inputs, attrs }) => {
  const a = attrs as unknown as ChannelNormAttrs;
  return channelNormHeap(tensorInput(inputs.x, CHANNEL_NORM, 'x'), paramsOf(inputs, CHANNEL_NORM), a);
};

const channelNormGradKernel: KernelFunc = ({ inputs, attrs }) => {
  const a = attrs as unknown as ChannelNormAttrs & { srcIsOutput: boolean };
  const k = CHANNEL_NORM_GRAD;
  return channelNormGradHeap(tensorInput(inputs.dy, k, 'dy'), tensorInput(inputs.src, k, 'src'), a.srcIsOutput, tensorInput(inputs.mean, k, 'mean'), tensorInput(inputs.variance, k, 'variance'), paramsOf(inputs, k), a);
};

const reflectionPadKernel: KernelFunc = ({ inputs, attrs }) => {
  const x = tensorInput(inputs.x, REFLECTION_PAD, 'x');
  if (x.rank !== 4) throw new Error(`${REFLECTION_PAD}: x must be rank 4 (NHWC), got [${x.shape.join(', ')}]`);
  return reflectionPadHeap(x as tf.Tensor4D, (attrs as unknown as { pad: number }).pad);
};

const reflectionPadGradKernel: KernelFunc = ({ inputs, attrs }) => {
  const dy = tensorInput(inputs.dy, REFLECTION_PAD_GRAD, 'dy');
  if (dy.rank !== 4) throw new Error(`${REFLECTION_PAD_GRAD}: dy must be rank 4 (NHWC), got [${dy.shape.join(', ')}]`);
  return reflectionPadGradHeap(dy as tf.Tensor4D, (attrs as unknown as { pad: number }).pad);
};

export const WASM_NORM_KERNELS: ReadonlyArray<{ kernelName: string; kernelFunc: KernelFunc }> = [
  { kernelName: CHANNEL_NORM, kernelFunc: channelNormKernel },
  { kernelName: CHANNEL_NORM_GRAD, kernelFunc: channelNormGradKernel },
  { kernelName: REFLECTION_PAD, kernelFunc: reflectionPadKernel },
  { kernelName: REFLECTION_PAD_GRAD, kernelFunc: reflectionPadGradKernel },
];

/** Registers the kernels above on wasm (idempotent; the layers call it before their first wasm use). */
export function registerWasmNormKernels(): void {
  for (const k of WASM_NORM_KERNELS) {
    const existing = tf.getKernel(k.kernelName, BACKEND) as KernelConfig | undefined;
    if (existing?.kernelFunc === k.kernelFunc) continue;
    if (existing) tf.unregisterKernel(k.kernelName, BACKEND);
    tf.registerKernel({ kernelName: k.kernelName, backendName: BACKEND, kernelFunc: k.kernelFunc });
  }
}

/** Runs one of the kernels above on the active (wasm) backend, registering them first if needed. */
export function runWasmNormKernel(name: string, inputs: Record<string, tf.Tensor | undefined>, attrs: object): tf.Tensor | tf.Tensor[] {
  if (tf.getKernel(name, BACKEND) === undefined) registerWasmNormKernels();
  const present: tf.NamedTensorMap = {};
  for (const [k, v] of Object.entries(inputs)) if (v !== undefined) present[k] = v;
  return tf.engine().runKernel(name, present, attrs as NamedAttrMap) as tf.Tensor | tf.Tensor[];
}
