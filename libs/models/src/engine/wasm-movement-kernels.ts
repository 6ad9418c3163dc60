/**
 * wasm kernels for the parts of a training step that are not convolutions: matrix products with
 * transposes, pooling gradients, and the data-movement and reduction kernels that tfjs-backend-wasm
 * 4.22 runs as slow generic loops.
 *
 * - BatchMatMul / _FusedMatMul: wasm uses XNNPACK only for a plain [m, k] x [k, n] product;
 *   any transpose or batch > 1 falls to a naive triple loop (a dense layer's backward
 *   x^T [32, 16384] x g [32, 128] takes ~170 ms there, ~8 ms through XNNPACK). We materialise
 *   the transposed operand, fold batches into rows where one side is shared, and hand XNNPACK
 *   the plain product; when that makes the packed operand (XNNPACK packs b) smaller, we compute
 *   C^T = op(B)^T op(A)^T instead and transpose the (small) result.
 * - MaxPoolGrad: one JavaScript pass on the wasm heap (wasm's own drops every window whose maximum
 *   is negative; the previous fix copied to the host and back).
 * - Reverse, Slice, StridedSlice: one strided copy on the heap (wasm's Reverse takes ~25 ms for a
 *   3x3x256x256 filter, its StridedSlice ~60 ms for a 4x4x256x512 one).
 * - Sum / Mean over leading or middle axes (batch and instance norm statistics): one pass of
 *   column sums on the heap; wasm transposes the reduced axes inwards first.
 *
 * Every kernel here handles float32 on the wasm heap (`wasm-heap.ts`) and hands anything else
 * (other dtypes, shapes it does not special-case) to the kernel wasm ships, captured when this
 * module loads, before `registerWasmTrainingKernels` replaces it.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import type { BatchMatMulAttrs, _FusedMatMulAttrs, KernelConfig, KernelFunc, MaxPoolGradAttrs, NamedAttrMap, ReverseAttrs, SliceAttrs, StridedSliceAttrs, SumAttrs, TensorInfo } from '@tensorflow/tfjs';
import { allocF32, f32 } from './wasm-heap';
import { poolSimd, type PoolRowFn } from './wasm-pool-simd';

const BACKEND = 'wasm';
type Pad = MaxPoolGradAttrs['pad'];

/** The kernels wasm shipped under the names this module replaces, captured before anything replaces them. */
const SHIPPED = new Map<string, KernelConfig | undefined>(['BatchMatMul', '_FusedMatMul', 'MaxPoolGrad', 'Reverse', 'Slice', 'StridedSlice', 'Sum', 'Mean', 'Cast', 'Identity'].map((name) => [name, tf.getKernel(name, BACKEND) as KernelConfig | undefined]));

/** Runs the kernel wasm ships under `name` (as the engine would) and wraps its output as a tf.Tensor. */
function runShipped(name: string, inputs: Record<string, TensorInfo | undefined>, attrs: object): tf.Tensor {
  const k = SHIPPED.get(name);
  if (!k) throw new Error(`${name}: tfjs-backend-wasm ships no kernel to fall back to`);
  const out = k.kernelFunc({ inputs: inputs as never, attrs: attrs as NamedAttrMap, backend: tf.backend() }) as TensorInfo;
  return out instanceof tf.Tensor ? out : tf.engine().makeTensorFromTensorInfo(out);
}

const isF32Tensor = (t: TensorInfo | undefined): t is tf.Tensor => t instanceof tf.Tensor && t.dtype === 'float32';
const prod = (xs: number[]) => xs.reduce((a, b) => a * b, 1);

// ---------------------------------------------------------------------------------------------
// Strided copies on the heap

/** One axis of a strided view: `n` entries, `stride` elements apart in the source (may be negative). */
type Axis = { n: number; stride: number };

/**
 * Merges axes that are contiguous in the source (outer stride = inner stride * inner size) and
 * drops size-1 axes, so that the innermost run is as long as possible.
 */
function collapse(axes: Axis[]): Axis[] {
  const out: Axis[] = [];
  for (const a of axes) {
    if (a.n === 1) continue;
    const last = out[out.length - 1];
    if (last && last.stride === a.stride * a.n) out[out.length - 1] = { n: last.n * a.n, stride: a.stride };
    else out.push({ ...a });
  }
  return out;
}

/** dst[0..] = the source elements at off0 + sum_k i_k * axes[k].stride, in row-major order of i. */
function stridedCopy(src: Float32Array, off0: number, view: Axis[], dst: Float32Array): void {
  const axes = collapse(view);
  if (axes.length === 0) {
    if (dst.length > 0) dst[0] = src[off0];
    return;
  }
  const { n, stride } = axes[axes.length - 1];
  const outer = axes.slice(0, -1);
  const idx = new Array<number>(outer.length).fill(0);
  const runs = prod(outer.map((a) => a.n));
  let off = off0;
  let o = 0;
  for (let t = 0; t < runs; t++) {
    if (stride === 1 && n >= 16) dst.set(src.subarray(off, off + n), o);
    else for (let i = 0, s = off; i < n; i++, s += stride) dst[o + i] = src[s];
    o += n;
    for (let k = outer.length - 1; k >= 0; k--) {
      off += outer[k].stride;
      if (++idx[k] < outer[k].n) break;
      off -= outer[k].stride * outer[k].n;
      idx[k] = 0;
    }
  }
}

/** Row-major element strides of a shape. */
function stridesOf(shape: number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let k = shape.length - 1; k >= 0; k--) {
    s[k] = acc;
    acc *= shape[k];
  }
  return s;
}

/** A new float32 tensor of `outShape` holding x[begin + i * step] (per axis), in one pass on the heap. */
export function stridedGather(x: tf.Tensor, begin: number[], step: number[], outShape: number[]): tf.Tensor {
  const out = allocF32(outShape);
  if (out.size === 0) return out;
  const st = stridesOf(x.shape);
  const off0 = begin.reduce((acc, b, k) => acc + b * st[k], 0);
  stridedCopy(f32(x), off0, outShape.map((n, k) => ({ n, stride: st[k] * step[k] })), f32(out));
  return out;
}

/** tf.reverse as one strided copy: reversed axes are read from their end with stride -1. */
export function reverseHeap(x: tf.Tensor, dims: number[]): tf.Tensor {
  const rev = new Set(dims.map((d) => (d < 0 ? d + x.rank : d)));
  return stridedGather(
    x,
    x.shape.map((n, k) => (rev.has(k) ? n - 1 : 0)),
    x.shape.map((_, k) => (rev.has(k) ? -1 : 1)),
    x.shape,
  );
}

const reverseKernel: KernelFunc = ({ inputs, attrs }) => {
  const { x } = inputs;
  const { dims } = attrs as unknown as ReverseAttrs;
  if (!isF32Tensor(x) || x.rank === 0) return runShipped('Reverse', inputs, attrs as object);
  return reverseHeap(x, typeof dims === 'number' ? [dims] : dims);
};

const sliceKernel: KernelFunc = ({ inputs, attrs }) => {
  const { x } = inputs;
  if (!isF32Tensor(x) || x.rank === 0) return runShipped('Slice', inputs, attrs as object);
  const { begin, size } = attrs as unknown as SliceAttrs;
  const [b, s] = tf.slice_util.parseSliceParams(x, begin, size);
  tf.slice_util.assertParamsValid(x, b, s);
  return stridedGather(x, b, b.map(() => 1), s);
};

const stridedSliceKernel: KernelFunc = ({ inputs, attrs }) => {
  const { x } = inputs;
  const a = attrs as unknown as StridedSliceAttrs;
  if (!isF32Tensor(x)) return runShipped('StridedSlice', inputs, attrs as object);
  const info = tf.slice_util.sliceInfo(x.shape, a.begin, a.end, a.strides, a.beginMask, a.endMask, a.ellipsisMask, a.newAxisMask, a.shrinkAxisMask);
  const sparse = info.finalShapeSparse;
  // The general case: one begin/stride per input axis (new axes only add size-1 dims).
  if (info.isIdentity || info.begin.length !== x.rank || info.strides.length !== x.rank || sparse.length !== x.rank) return runShipped('StridedSlice', inputs, attrs as object);
  const gathered = stridedGather(x, info.begin, info.strides, sparse);
  if (sparse.length === info.finalShape.length && sparse.every((n, k) => n === info.finalShape[k])) return gathered;
  const shaped = tf.reshape(gathered, info.finalShape);
  gathered.dispose();
  return shaped;
};

// ---------------------------------------------------------------------------------------------
// Reductions over leading or middle axes

/**
 * Sum (or mean) over a contiguous block of axes that is not the innermost: x viewed as
 * [A, R, B] (B > 1), out[a, b] = sum_r x[a, r, b], accumulated in float64 as the cpu backend
 * does. Returns null when the axes are not such a block (the caller falls back).
 */
function reduceMiddle(x: tf.Tensor, axis: number | number[], keepDims: boolean, mean: boolean): tf.Tensor | null {
  const axes = [...new Set(tf.util.parseAxisParam(axis, x.shape))].sort((p, q) => p - q);
  if (axes.length === 0) return null;
  const lo = axes[0];
  const hi = axes[axes.length - 1];
  if (hi - lo + 1 !== axes.length || hi === x.rank - 1) return null;
  const A = prod(x.shape.slice(0, lo));
  const R = prod(x.shape.slice(lo, hi + 1));
  const B = prod(x.shape.slice(hi + 1));
  const outShape = keepDims ? x.shape.map((n, k) => (k >= lo && k <= hi ? 1 : n)) : x.shape.filter((_, k) => k < lo || k > hi);
  const out = allocF32(outShape);
  const src = f32(x);
  const dst = f32(out);
  const acc = new Float64Array(B);
  const scale = mean ? 1 / R : 1;
  for (let a = 0; a < A; a++) {
    acc.fill(0);
    // Four rows per sweep: a quarter of the accumulator traffic.
    let r = 0;
    let base = a * R * B;
    for (; r + 4 <= R; r += 4, base += 4 * B) {
      for (let b = 0, p = base; b < B; b++, p++) acc[b] += src[p] + src[p + B] + src[p + 2 * B] + src[p + 3 * B];
    }
    for (; r < R; r++, base += B) {
      for (let b = 0; b < B; b++) acc[b] += src[base + b];
    }
    for (let b = 0, o = a * B; b < B; b++) dst[o + b] = R === 0 ? (mean ? NaN : 0) : acc[b] * scale;
  }
  return out;
}

const sumKernel: KernelFunc = ({ inputs, attrs }) => {
  const { x } = inputs;
  const { axis, keepDims } = attrs as unknown as SumAttrs;
  return (isF32Tensor(x) && reduceMiddle(x, axis, keepDims, false)) || runShipped('Sum', inputs, attrs as object);
};

const meanKernel: KernelFunc = ({ inputs, attrs }) => {
  const { x } = inputs;
  const { axis, keepDims } = attrs as unknown as SumAttrs;
  return (isF32Tensor(x) && reduceMiddle(x, axis, keepDims, true)) || runShipped('Mean', inputs, attrs as object);
};

// ---------------------------------------------------------------------------------------------
// Matrix products

/**
 * [rows, cols] -> [cols, rows]. wasm's Transpose writes with the output's row stride, which is
 * ~10x slow when that is a large power of two (cache-set conflicts: [16384, 128] takes 30-40 ms);
 * there a tiled copy that writes 8 whole output rows at a time is used instead (~6 ms).
 */
export function transpose2D(x: tf.Tensor): tf.Tensor {
  const [rows, cols] = x.shape;
  if (rows < 512 || rows % 256 !== 0 || !isF32Tensor(x)) return tf.transpose(x);
  const out = allocF32([cols, rows]);
  const s = f32(x);
  const d = f32(out);
  const TI = 64;
  const TJ = 8;
  for (let i0 = 0; i0 < rows; i0 += TI) {
    const i1 = Math.min(rows, i0 + TI);
    for (let j0 = 0; j0 < cols; j0 += TJ) {
      const j1 = Math.min(cols, j0 + TJ);
      for (let j = j0; j < j1; j++) {
        for (let i = i0, si = i0 * cols + j, di = j * rows + i0; i < i1; i++, si += cols, di++) d[di] = s[si];
      }
    }
  }
  return out;
}

/**
 * The [k, n] shape each buffer (dataId) was first handed to XNNPACK with as its `b` operand.
 *
 * wasm caches XNNPACK's fully-connected operator (with b packed into it) under b's buffer id and
 * ignores the shape: after `matMul(x, reshape(w, [k1, n1]))`, a `matMul(y, reshape(w, [k2, n2]))`
 * of the same buffer reuses the first operator and writes m * n1 floats into an m * n2 output,
 * corrupting the heap (tf.reshape shares the buffer on wasm). A buffer seen with another shape is
 * therefore copied first, so the copy gets its own operator.
 */
const xnnWeightShapes = new WeakMap<object, string>();

/** b itself, or a copy of it when its buffer was packed by XNNPACK under another shape. */
function xnnSafeWeights(b: tf.Tensor): tf.Tensor {
  const key = b.shape.slice(-2).join(',');
  const seen = xnnWeightShapes.get(b.dataId);
  if (seen === undefined) xnnWeightShapes.set(b.dataId, key);
  if (seen === undefined || seen === key) return b;
  const copy = allocF32(b.shape);
  f32(copy).set(f32(b));
  return copy;
}

/** The plain product a [m, k] x b [k, n] through XNNPACK (wasm's BatchMatMul without transposes). */
function xnnMatMul(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  const out = runShipped('BatchMatMul', { a: tf.reshape(a, [1, ...a.shape]), b: tf.reshape(xnnSafeWeights(b), [1, ...b.shape]) }, { transposeA: false, transposeB: false });
  return tf.reshape(out, [a.shape[0] as number, b.shape[1] as number]); // [m, n], not the kernel's [1, m, n]
}

/** Packing b costs about this many transposed elements per element (measured: ~11 ms for 2M floats, a tiled transpose ~5 ms). */
const PACK_COST = 2;

/**
 * op(a) x op(b) for 2-D a, b (op = transpose when the flag is set) through XNNPACK. Either
 * computes it directly (materialising op(a), op(b); b gets packed) or as (op(b)^T op(a)^T)^T
 * (op(a)^T gets packed, and the result is transposed), whichever moves fewer elements.
 */
export function matMul2D(a: tf.Tensor, b: tf.Tensor, transposeA: boolean, transposeB: boolean): tf.Tensor {
  return tf.tidy(() => {
    const [ra, ca] = a.shape as [number, number];
    const [rb, cb] = b.shape as [number, number];
    const [m, k] = transposeA ? [ca, ra] : [ra, ca];
    const n = transposeB ? rb : cb;
    if (!transposeA && !transposeB) return xnnMatMul(a, b);
    const sizeA = m * k;
    const sizeB = k * n;
    const direct = (transposeA ? sizeA : 0) + (transposeB ? sizeB : 0) + PACK_COST * sizeB;
    const swapped = (transposeA ? 0 : sizeA) + (transposeB ? 0 : sizeB) + PACK_COST * sizeA + m * n;
    if (direct <= swapped) return xnnMatMul(transposeA ? transpose2D(a) : a, transposeB ? transpose2D(b) : b);
    // C^T = op(b)^T op(a)^T, where op(b)^T is b itself when transposeB, and likewise for a.
    const ct = xnnMatMul(transposeB ? b : transpose2D(b), transposeA ? a : transpose2D(a)); // [n, m]
    return transpose2D(ct);
  });
}

/**
 * BatchMatMul through XNNPACK. Batches: when b's batch is 1, a's batch folds into rows (and
 * likewise with the roles swapped, through C^T); equal batches > 1 run one product per batch
 * entry. Other broadcasts keep the shipped kernel.
 */
export function batchMatMulXnn(a: tf.Tensor, b: tf.Tensor, transposeA: boolean, transposeB: boolean): tf.Tensor | null {
  const outerA = a.shape.slice(0, -2);
  const outerB = b.shape.slice(0, -2);
  const batchA = prod(outerA);
  const batchB = prod(outerB);
  const [ra, ca] = a.shape.slice(-2);
  const [rb, cb] = b.shape.slice(-2);
  const m = transposeA ? ca : ra;
  const n = transposeB ? rb : cb;
  if ((transposeA ? ra : ca) !== (transposeB ? cb : rb)) return null; // let the shipped kernel report it
  let outer: number[];
  try {
    outer = tf.broadcast_util.assertAndGetBroadcastShape(outerA, outerB);
  } catch {
    return null;
  }
  if (batchA !== batchB && batchA !== 1 && batchB !== 1) return null;
  return tf.tidy(() => {
    const outShape = [...outer, m, n];
    if (batchA === 1 && batchB === 1) return tf.reshape(matMul2D(tf.reshape(a, [ra, ca]), tf.reshape(b, [rb, cb]), transposeA, transposeB), outShape);
    if (batchB === 1) {
      // Rows of every a[i] against one b: op(a) as [batchA * m, k].
      const a3 = tf.reshape(a, [batchA, ra, ca]);
      const rows = tf.reshape(transposeA ? tf.transpose(a3, [0, 2, 1]) : a3, [batchA * m, -1]);
      return tf.reshape(matMul2D(rows, tf.reshape(b, [rb, cb]), false, transposeB), outShape);
    }
    if (batchA === 1) {
      // C[i]^T = op(b[i])^T op(a)^T: the op(b[i])^T stack as [batchB * n, k] rows.
      const b3 = tf.reshape(b, [batchB, rb, cb]);
      const rows = tf.reshape(transposeB ? b3 : tf.transpose(b3, [0, 2, 1]), [batchB * n, -1]);
      const ct = matMul2D(rows, tf.reshape(a, [ra, ca]), false, !transposeA); // [batchB * n, m]
      return tf.reshape(tf.transpose(tf.reshape(ct, [batchB, n, m]), [0, 2, 1]), outShape);
    }
    const a3 = tf.reshape(a, [batchA, ra, ca]);
    const b3 = tf.reshape(b, [batchB, rb, cb]);
    const parts: tf.Tensor[] = [];
    for (let i = 0; i < batchA; i++) {
      const ai = tf.reshape(tf.slice(a3, [i, 0, 0], [1, ra, ca]), [ra, ca]);
      const bi = tf.reshape(tf.slice(b3, [i, 0, 0], [1, rb, cb]), [rb, cb]);
      parts.push(matMul2D(ai, bi, transposeA, transposeB));
    }
    return tf.reshape(tf.stack(parts), outShape);
  });
}

/**
 * Equal batches > 1 go through per-entry XNNPACK products only when each product is big enough
 * to beat the naive loop's lack of per-call overhead (measured crossover, see the bench).
 */
const MIN_BATCHED_MACS = 1 << 16;

const batchMatMulKernel: KernelFunc = ({ inputs, attrs }) => {
  const { a, b } = inputs;
  const { transposeA, transposeB } = attrs as unknown as BatchMatMulAttrs;
  if (!isF32Tensor(a) || !isF32Tensor(b)) return runShipped('BatchMatMul', inputs, attrs as object);
  const batched = prod(a.shape.slice(0, -2)) > 1 && prod(b.shape.slice(0, -2)) > 1;
  const macs = (transposeA ? a.shape[a.rank - 1] : a.shape[a.rank - 2]) * (transposeA ? a.shape[a.rank - 2] : a.shape[a.rank - 1]) * (transposeB ? b.shape[b.rank - 2] : b.shape[b.rank - 1]);
  if (batched && macs < MIN_BATCHED_MACS) return runShipped('BatchMatMul', inputs, attrs as object);
  return batchMatMulXnn(a, b, transposeA, transposeB) ?? runShipped('BatchMatMul', inputs, attrs as object);
};

/** Applies a fused matMul's activation, as tfjs-core's `applyActivation` does. */
function activate(x: tf.Tensor, activation: string, prelu: tf.Tensor | undefined, leakyreluAlpha: number | undefined): tf.Tensor {
  switch (activation) {
    case 'linear':
      return x;
    case 'relu':
      return tf.relu(x);
    case 'relu6':
      return tf.relu6(x);
    case 'elu':
      return tf.elu(x);
    case 'sigmoid':
      return tf.sigmoid(x);
    case 'leakyrelu':
      return tf.leakyRelu(x, leakyreluAlpha ?? 0.2);
    case 'prelu':
      if (!prelu) throw new Error(`_FusedMatMul: activation 'prelu' needs input preluActivationWeights`);
      return tf.prelu(x, prelu);
    default:
      throw new Error(`_FusedMatMul: unknown activation '${activation}'`);
  }
}

/**
 * _FusedMatMul: the plain batch-1 product with a linear/relu/relu6 activation stays on the shipped
 * kernel (XNNPACK applies bias and clamp); everything else is our BatchMatMul, then the bias and
 * the activation as separate ops (wasm's fallback loop indexes a rank-1 bias by the flat output
 * index, so it is wrong past the first row).
 */
const fusedMatMulKernel: KernelFunc = ({ inputs, attrs }) => {
  const { a, b, bias, preluActivationWeights } = inputs;
  const { transposeA, transposeB, activation, leakyreluAlpha } = attrs as unknown as _FusedMatMulAttrs;
  const plain = !transposeA && !transposeB && a !== undefined && b !== undefined && prod(a.shape.slice(0, -2)) === 1 && prod(b.shape.slice(0, -2)) === 1;
  if (!isF32Tensor(a) || !isF32Tensor(b)) return runShipped('_FusedMatMul', inputs, attrs as object);
  if (plain && ['linear', 'relu', 'relu6'].includes(activation)) {
    return tf.tidy(() => runShipped('_FusedMatMul', { ...inputs, b: xnnSafeWeights(b) }, attrs as object));
  }
  return tf.tidy(() => {
    let y = batchMatMulKernel({ inputs: { a, b }, attrs: { transposeA, transposeB } as unknown as NamedAttrMap, backend: tf.backend() }) as tf.Tensor;
    if (bias) y = tf.add(y, bias as tf.Tensor);
    return activate(y, activation, preluActivationWeights as tf.Tensor | undefined, leakyreluAlpha);
  });
};

// ---------------------------------------------------------------------------------------------
// Pooling gradients

/**
 * maxPool gradient as one pass on the wasm heap: each window's first (row-major) strict maximum
 * receives dy, as in TensorFlow and the tfjs cpu backend; windows whose maximum is negative too
 * (wasm 4.22's own kernel drops those); windows over padding only see real pixels; overlapping
 * windows accumulate.
 */
export function maxPoolGradHeap(dy: tf.Tensor4D, x: tf.Tensor4D, filterSize: [number, number] | number, strides: [number, number] | number, pad: Pad, dimRoundingMode?: 'floor' | 'round' | 'ceil'): tf.Tensor4D {
  const info = tf.backend_util.computePool2DInfo(x.shape, filterSize, strides, 1, pad, dimRoundingMode);
  const { strideHeight: sh, strideWidth: sw, filterHeight: fh, filterWidth: fw, inHeight: H, inWidth: W, outHeight: oh, outWidth: ow, batchSize: n, inChannels: c } = info;
  const { top, left } = info.padInfo;
  if (dy.shape[1] !== oh || dy.shape[2] !== ow || dy.shape[3] !== c) {
    throw new Error(`MaxPoolGrad: dy is [${dy.shape.join(', ')}] but pooling x [${x.shape.join(', ')}] gives ${oh}x${ow}x${c}`);
  }
  const out = allocF32(x.shape) as tf.Tensor4D;
  const xv = f32(x);
  const g = f32(dy);
  const dx = f32(out);
  // 2x2 windows with stride 2 inside the input (the classifier's pools): the SIMD kernel, 27 -> 4 ms
  // for the classifier's first pool (32 x 64 x 64 x 32), the same dx.
  const row = fh === 2 && fw === 2 && sh === 2 && sw === 2 && top === 0 && left === 0 && 2 * oh <= H && 2 * ow <= W && c % 4 === 0 ? poolSimd() : null;
  if (row) {
    maxPoolGrad2x2(row, xv, g, dx, n, H, W, c, oh, ow);
    return out;
  }
  dx.fill(0);
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < oh; i++) {
      const r0 = Math.max(0, i * sh - top);
      const r1 = Math.min(H, i * sh - top + fh);
      for (let j = 0; j < ow; j++) {
        const q0 = Math.max(0, j * sw - left);
        const q1 = Math.min(W, j * sw - left + fw);
        const gBase = ((b * oh + i) * ow + j) * c;
        const wBase = ((b * H + r0) * W + q0) * c;
        // Per channel, scan the window in row-major order (all within a few cache lines).
        for (let d = 0; d < c; d++) {
          let best = -Infinity;
          let at = -1;
          for (let r = r0, rowK = wBase + d; r < r1; r++, rowK += W * c) {
            for (let q = q0, k = rowK; q < q1; q++, k += c) {
              const v = xv[k];
              if (v > best) {
                best = v;
                at = k;
              }
            }
          }
          if (at >= 0) dx[at] += g[gBase + d];
        }
      }
    }
  }
  return out;
}

/** The 2x2, stride 2 case with the SIMD row kernel (wasm-pool-simd.ts), one call per output row. */
function maxPoolGrad2x2(row: PoolRowFn, xv: Float32Array, g: Float32Array, dx: Float32Array, n: number, H: number, W: number, C: number, oh: number, ow: number): void {
  // An odd last row or column lies in no window: zero everything first (the kernel writes only windows).
  if (H !== 2 * oh || W !== 2 * ow) dx.fill(0);
  const rowBytes = W * C * 4;
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < oh; i++) {
      const r = (b * H + 2 * i) * rowBytes;
      row(xv.byteOffset + r, xv.byteOffset + r + rowBytes, g.byteOffset + (b * oh + i) * ow * C * 4, dx.byteOffset + r, dx.byteOffset + r + rowBytes, ow, C);
    }
  }
}

function asTensor4D(info: TensorInfo | undefined, kernel: string, input: string): tf.Tensor4D {
  if (!(info instanceof tf.Tensor)) throw new Error(`${kernel}: input '${input}' must be a tf.Tensor (got a bare TensorInfo); call it through tf ops`);
  if (info.rank !== 4) throw new Error(`${kernel}: input '${input}' must be rank 4, got shape [${info.shape.join(', ')}]`);
  return info as tf.Tensor4D;
}

const maxPoolGradKernel: KernelFunc = ({ inputs, attrs }) => {
  const a = attrs as unknown as MaxPoolGradAttrs;
  const dy = asTensor4D(inputs.dy, 'MaxPoolGrad', 'dy');
  const x = asTensor4D(inputs.input, 'MaxPoolGrad', 'input');
  if (dy.dtype !== 'float32' || x.dtype !== 'float32') throw new Error(`MaxPoolGrad on wasm: float32 only, got dy ${dy.dtype}, input ${x.dtype}`);
  return maxPoolGradHeap(dy, x, a.filterSize, a.strides, a.pad, a.dimRoundingMode);
};

// ---------------------------------------------------------------------------------------------
// Cast to the same dtype, and Identity: the same buffer, not a copy

/**
 * wasm's Cast copies even when the dtype does not change, and tfjs casts to float32 on every
 * Multiply gradient (both operands), Step and comparison gradients and more: 224 same-type casts,
 * each a full copy, in one PGGAN step. Identity copies too. Both now return the input's buffer
 * with its reference count raised, as wasm's own Reshape does and the cpu backend's Cast and
 * Identity do. That is safe because no kernel here writes into an existing tensor's memory
 * (Adam's and every other kernel's outputs are new tensors: wasm-adam.ts).
 */
function shareBuffer(x: TensorInfo): TensorInfo {
  (tf.backend() as unknown as { incRef(dataId: object): void }).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

const castKernel: KernelFunc = ({ inputs, attrs }) => {
  const { x } = inputs;
  const { dtype } = attrs as unknown as { dtype: string };
  if (x && x.dtype === dtype && dtype !== 'string') return shareBuffer(x);
  return runShipped('Cast', inputs, attrs as object);
};

const identityKernel: KernelFunc = ({ inputs, attrs }) => {
  const { x } = inputs;
  if (x && x.dtype !== 'string') return shareBuffer(x);
  return runShipped('Identity', inputs, attrs as object);
};

/** The kernels this module registers on wasm (through `registerWasmTrainingKernels`); all replace shipped ones. */
export const WASM_MOVEMENT_KERNELS: ReadonlyArray<{ kernelName: string; replaces: boolean; kernelFunc: KernelFunc }> = [
  { kernelName: 'BatchMatMul', replaces: true, kernelFunc: batchMatMulKernel },
  { kernelName: '_FusedMatMul', replaces: true, kernelFunc: fusedMatMulKernel },
  { kernelName: 'MaxPoolGrad', replaces: true, kernelFunc: maxPoolGradKernel },
  { kernelName: 'Reverse', replaces: true, kernelFunc: reverseKernel },
  { kernelName: 'Slice', replaces: true, kernelFunc: sliceKernel },
  { kernelName: 'StridedSlice', replaces: true, kernelFunc: stridedSliceKernel },
  { kernelName: 'Sum', replaces: true, kernelFunc: sumKernel },
  { kernelName: 'Mean', replaces: true, kernelFunc: meanKernel },
  { kernelName: 'Cast', replaces: true, kernelFunc: castKernel },
  { kernelName: 'Identity', replaces: true, kernelFunc: identityKernel },
];
