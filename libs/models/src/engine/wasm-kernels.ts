/**
 * Training kernels for the tfjs `wasm` backend.
 *
 * As shipped, @tensorflow/tfjs-backend-wasm 4.22 has no `Conv2DBackpropFilter` kernel
 * (tensorflow/tfjs issue 8474), so no convolutional net can train on it, and its
 * `Conv2DBackpropInput` is a plain C loop. Both are replaced by wasm-conv.ts: XNNPACK
 * convolutions and GEMMs with the data movement done in JavaScript on the wasm heap
 * (dx per stride phase, dW as im2col(x)^T x dy). The textbook composition of dx (the zero-dilated
 * dy convolved with the rotated filter) stays here as `conv2DBackpropInputDilated`, the reference
 * for tests and benchmarks.
 *
 * Each kernel runs inside `tf.tidy` and returns a tensor, so every intermediate is disposed.
 * Kernels run with the gradient tape off (the engine's kernel depth), so the composed ops are
 * not recorded.
 */
import * as tf from '@tensorflow/tfjs';
import { resizeNearestNeighborGradScatter } from './fixes';
import { conv2DBackpropFilterWasm, conv2DBackpropInputWasm } from './wasm-conv';
import type { Conv2DBackpropFilterAttrs, Conv2DBackpropInputAttrs, KernelConfig, KernelFunc, ResizeNearestNeighborGradAttrs, TensorInfo, UnsortedSegmentSumAttrs } from '@tensorflow/tfjs';
import { WASM_MOVEMENT_KERNELS } from './wasm-movement-kernels';
import { isNativeKernelFunc } from './native-kernels';

const BACKEND = 'wasm';

type Pad = Conv2DBackpropFilterAttrs['pad'];
type Shape4 = [number, number, number, number];

function asTensor4D(info: TensorInfo | undefined, kernel: string, input: string): tf.Tensor4D {
  if (!(info instanceof tf.Tensor)) {
    throw new Error(`${kernel}: input '${input}' must be a tf.Tensor (got a bare TensorInfo with dataId); call it through tf ops`);
  }
  if (info.rank !== 4) throw new Error(`${kernel}: input '${input}' must be rank 4, got shape [${info.shape.join(', ')}]`);
  return info as tf.Tensor4D;
}

function checkNHWC(kernel: string, dataFormat: string): void {
  if (dataFormat !== 'NHWC') throw new Error(`${kernel} on wasm supports dataFormat 'NHWC' only, got '${dataFormat}'`);
}

/** Crops (negative amounts) or pads (positive, with `value`) rows and columns of an NHWC tensor. */
function padOrCrop(t: tf.Tensor4D, top: number, bottom: number, left: number, right: number, value = 0): tf.Tensor4D {
  const [n, h, w, c] = t.shape;
  const cropTop = Math.max(0, -top);
  const cropBottom = Math.max(0, -bottom);
  const cropLeft = Math.max(0, -left);
  const cropRight = Math.max(0, -right);
  let out = t;
  if (cropTop + cropBottom + cropLeft + cropRight > 0) {
    out = tf.slice(out, [0, cropTop, cropLeft, 0], [n, h - cropTop - cropBottom, w - cropLeft - cropRight, c]);
  }
  const [pt, pb, pl, pr] = [top, bottom, left, right].map((v) => Math.max(0, v));
  if (pt + pb + pl + pr > 0) {
    out = tf.pad(out, [
      [0, 0],
      [pt, pb],
      [pl, pr],
      [0, 0],
    ], value);
  }
  return out;
}

/** Inserts (sh - 1) zero rows after every row and (sw - 1) zero columns after every column: [n, h, w, c] -> [n, h*sh, w*sw, c]. */
function dilate(t: tf.Tensor4D, sh: number, sw: number): tf.Tensor4D {
  if (sh === 1 && sw === 1) return t;
  const [n, h, w, c] = t.shape;
  const six = tf.reshape(t, [n, h, 1, w, 1, c]);
  const padded = tf.pad(six, [
    [0, 0],
    [0, 0],
    [0, sh - 1],
    [0, 0],
    [0, sw - 1],
    [0, 0],
  ]);
  return tf.reshape(padded, [n, h * sh, w * sw, c]);
}

/**
 * The textbook composition of Conv2DBackpropInput: one stride-1 convolution of the zero-dilated,
 * padded dy with the rotated, channel-swapped filter. Reference for tests and benchmarks.
 */
export function conv2DBackpropInputDilated(inputShape: Shape4, dy: tf.Tensor4D, filter: tf.Tensor4D, strides: [number, number] | number, pad: Pad, dimRoundingMode?: 'floor' | 'round' | 'ceil'): tf.Tensor4D {
  return tf.tidy(() => {
    const info = tf.backend_util.computeConv2DInfo(inputShape, filter.shape, strides, 1, pad, dimRoundingMode, false, 'channelsLast');
    const { strideHeight: sh, strideWidth: sw, filterHeight: fh, filterWidth: fw, inHeight, inWidth } = info;
    const { top, left } = info.padInfo;
    const d = dilate(dy, sh, sw); // [n, oh*sh, ow*sw, co]
    const pt = fh - 1 - top;
    const pl = fw - 1 - left;
    const dp = padOrCrop(d, pt, inHeight + fh - 1 - pt - d.shape[1], pl, inWidth + fw - 1 - pl - d.shape[2]);
    const rotated = tf.transpose(tf.reverse(filter, [0, 1]), [0, 1, 3, 2]); // [fh, fw, co, ci]
    return tf.conv2d(dp, rotated, 1, 'valid'); // [n, H, W, ci]
  });
}

/**
 * Gradient of maxPool, as one masked, placed copy of dy per window offset (fh*fw of them):
 * the window element equal to the pooled max receives dy; on ties only the first in row-major
 * order does, as in TensorFlow and the tfjs cpu backend. Replaces wasm's MaxPoolGrad, which
 * drops the gradient of every window whose maximum is negative.
 */
export function maxPoolGradComposed(dy: tf.Tensor4D, x: tf.Tensor4D, y: tf.Tensor4D, filterSize: [number, number] | number, strides: [number, number] | number, pad: Pad, dimRoundingMode?: 'floor' | 'round' | 'ceil'): tf.Tensor4D {
  return tf.tidy(() => {
    const info = tf.backend_util.computePool2DInfo(x.shape, filterSize, strides, 1, pad, dimRoundingMode);
    const { strideHeight: sh, strideWidth: sw, filterHeight: fh, filterWidth: fw, inHeight, inWidth, outHeight, outWidth } = info;
    const { top, left } = info.padInfo;
    if (fh === sh && fw === sw) return maxPoolGradDisjoint(dy, x, y, fh, fw, top, left);
    const [n, , , c] = x.shape;
    const spanH = (outHeight - 1) * sh + 1;
    const spanW = (outWidth - 1) * sw + 1;
    // x padded with -inf (never the max) so that every window offset can be sliced.
    const xp = padOrCrop(x, top, spanH + fh - 1 - inHeight - top, left, spanW + fw - 1 - inWidth - left, -Infinity);
    let remaining: tf.Tensor4D = tf.onesLike(y);
    let dx: tf.Tensor4D | null = null;
    for (let di = 0; di < fh; di++) {
      for (let dj = 0; dj < fw; dj++) {
        const xs = tf.stridedSlice(xp, [0, di, dj, 0], [n, di + spanH, dj + spanW, c], [1, sh, sw, 1]) as tf.Tensor4D; // [n, oh, ow, c]
        const hit = tf.mul(tf.cast(tf.equal(xs, y), 'float32'), remaining) as tf.Tensor4D;
        remaining = tf.sub(remaining, hit) as tf.Tensor4D;
        const placed = dilate(tf.mul(hit, dy), sh, sw); // [n, oh*sh, ow*sw, c]
        const r0 = di - top;
        const c0 = dj - left;
        const full = padOrCrop(placed, r0, inHeight - r0 - placed.shape[1], c0, inWidth - c0 - placed.shape[2]); // [n, H, W, c]
        dx = dx ? (tf.add(dx, full) as tf.Tensor4D) : full;
      }
    }
    return dx as tf.Tensor4D;
  });
}

/**
 * maxPool gradient when windows tile the input (stride = window, the models' 2x2/2 case): view
 * x as [n, oh, fh, ow, fw, c] blocks, and route dy to the first (row-major) element of each block
 * equal to its max, all in a handful of whole-tensor ops.
 */
function maxPoolGradDisjoint(dy: tf.Tensor4D, x: tf.Tensor4D, y: tf.Tensor4D, fh: number, fw: number, top: number, left: number): tf.Tensor4D {
  const [n, inHeight, inWidth, c] = x.shape;
  const [, oh, ow] = y.shape;
  const xp = padOrCrop(x, top, oh * fh - inHeight - top, left, ow * fw - inWidth - left, -Infinity);
  const blocks = tf.reshape(xp, [n, oh, fh, ow, fw, c]);
  const isMax = tf.cast(tf.equal(blocks, tf.reshape(y, [n, oh, 1, ow, 1, c])), 'float32');
  // rank[i, j] = fh*fw - (i*fw + j): the largest rank among the maxima marks the first one.
  const rank = tf.reshape(tf.range(fh * fw, 0, -1, 'float32'), [1, 1, fh, 1, fw, 1]);
  const ranked = tf.mul(isMax, rank);
  const first = tf.mul(tf.cast(tf.equal(ranked, tf.max(ranked, [2, 4], true)), 'float32'), isMax);
  const routed = tf.mul(first, tf.reshape(dy, [n, oh, 1, ow, 1, c]));
  const dxp = tf.reshape(routed, [n, oh * fh, ow * fw, c]) as tf.Tensor4D;
  return padOrCrop(dxp, -top, inHeight + top - oh * fh, -left, inWidth + left - ow * fw);
}

/**
 * maxPool gradient as one pass over the windows in JavaScript: each window's first (row-major)
 * strict maximum receives dy. The tensor compositions above are correct but need ~10 full-size
 * passes; measured (tools/bench/kernels.ts) this loop is several times faster on wasm.
 */
export function maxPoolGradLoop(dy: tf.Tensor4D, x: tf.Tensor4D, filterSize: [number, number] | number, strides: [number, number] | number, pad: Pad, dimRoundingMode?: 'floor' | 'round' | 'ceil'): tf.Tensor4D {
  const info = tf.backend_util.computePool2DInfo(x.shape, filterSize, strides, 1, pad, dimRoundingMode);
  const { strideHeight: sh, strideWidth: sw, filterHeight: fh, filterWidth: fw, inHeight: H, inWidth: W, outHeight: oh, outWidth: ow, batchSize: n, inChannels: c } = info;
  const { top, left } = info.padInfo;
  const xv = x.dataSync();
  const g = dy.dataSync();
  const dx = new Float32Array(x.size);
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < oh; i++) {
      const r0 = i * sh - top;
      for (let j = 0; j < ow; j++) {
        const c0 = j * sw - left;
        const gBase = ((b * oh + i) * ow + j) * c;
        for (let d = 0; d < c; d++) {
          let best = -Infinity;
          let at = -1;
          for (let r = Math.max(0, r0); r < Math.min(H, r0 + fh); r++) {
            for (let q = Math.max(0, c0); q < Math.min(W, c0 + fw); q++) {
              const k = ((b * H + r) * W + q) * c + d;
              if (xv[k] > best) {
                best = xv[k];
                at = k;
              }
            }
          }
          if (at >= 0) dx[at] += g[gBase + d];
        }
      }
    }
  }
  return tf.tensor4d(dx, x.shape, 'float32');
}

/**
 * unsortedSegmentSum (the gradient of gather), as one matMul: onehot(ids)^T [S, k] x data [k, rest].
 * Ids outside [0, numSegments) contribute nothing, as in TensorFlow.
 */
export function unsortedSegmentSumComposed(x: tf.Tensor, segmentIds: tf.Tensor, numSegments: number): tf.Tensor {
  return tf.tidy(() => {
    const k = segmentIds.size;
    const rest = x.shape.slice(segmentIds.rank);
    const data = tf.reshape(x, [k, rest.reduce((a, b) => a * b, 1)]);
    // wasm's OneHot writes int32 whatever dtype it is given, so build it as int32 and cast.
    const onehot = tf.cast(tf.oneHot(tf.cast(tf.reshape(segmentIds, [k]), 'int32'), numSegments), x.dtype === 'int32' ? 'int32' : 'float32');
    return tf.reshape(tf.matMul(onehot, data, true, false), [numSegments, ...rest]);
  });
}

const unsortedSegmentSumKernel: KernelFunc = ({ inputs, attrs }) => {
  const { x, segmentIds } = inputs;
  if (!(x instanceof tf.Tensor) || !(segmentIds instanceof tf.Tensor)) throw new Error('UnsortedSegmentSum: inputs x and segmentIds must be tf.Tensors');
  return unsortedSegmentSumComposed(x, segmentIds, (attrs as unknown as UnsortedSegmentSumAttrs).numSegments);
};

/**
 * Gradient of nearest-neighbour upsampling by integer factors (fh, fw) without align-corners:
 * every input pixel was copied into one fh x fw block (with or without half-pixel centres, since
 * floor((r + 0.5) / f) = floor(r / f) for integer f), so its gradient is the block's sum.
 */
export function upsampleNearestGradComposed(dy: tf.Tensor4D, fh: number, fw: number): tf.Tensor4D {
  return tf.tidy(() => {
    const [n, oh, ow, c] = dy.shape;
    const blocks = tf.reshape(dy, [n, oh / fh, fh, ow / fw, fw, c]);
    return tf.sum(blocks, [2, 4]) as tf.Tensor4D; // [n, oh/fh, ow/fw, c]
  });
}

/**
 * ResizeNearestNeighborGrad. wasm's own kernel is wrong with half-pixel centres (3x3 -> 7x5
 * misplaces gradients) and slow; integer upsampling (the models' case) is a reshape and a sum,
 * anything else goes through the scatter (the transpose of the forward map, exact for all modes).
 */
const resizeNearestNeighborGradKernel: KernelFunc = ({ inputs, attrs }) => {
  const { alignCorners, halfPixelCenters } = attrs as unknown as ResizeNearestNeighborGradAttrs;
  const x = asTensor4D(inputs.images, 'ResizeNearestNeighborGrad', 'images');
  const g = asTensor4D(inputs.dy, 'ResizeNearestNeighborGrad', 'dy');
  const [, h, w] = x.shape;
  const [, oh, ow] = g.shape;
  if (!alignCorners && oh % h === 0 && ow % w === 0) return upsampleNearestGradComposed(g, oh / h, ow / w);
  return resizeNearestNeighborGradScatter(g, x.shape, alignCorners, halfPixelCenters);
};

const conv2DBackpropFilterKernel: KernelFunc = ({ inputs, attrs }) => {
  const a = attrs as unknown as Conv2DBackpropFilterAttrs;
  checkNHWC('Conv2DBackpropFilter', a.dataFormat);
  const x = asTensor4D(inputs.x, 'Conv2DBackpropFilter', 'x');
  const dy = asTensor4D(inputs.dy, 'Conv2DBackpropFilter', 'dy');
  return conv2DBackpropFilterWasm(x, dy, a.filterShape, a.strides, a.pad, a.dimRoundingMode);
};

const conv2DBackpropInputKernel: KernelFunc = ({ inputs, attrs }) => {
  const a = attrs as unknown as Conv2DBackpropInputAttrs;
  checkNHWC('Conv2DBackpropInput', a.dataFormat);
  const dy = asTensor4D(inputs.dy, 'Conv2DBackpropInput', 'dy');
  const filter = asTensor4D(inputs.filter, 'Conv2DBackpropInput', 'filter');
  return conv2DBackpropInputWasm(a.inputShape, dy, filter, a.strides, a.pad, a.dimRoundingMode);
};

/** The kernels this module registers on wasm; `replaces` marks ones wasm ships in a slower form. */
export const WASM_TRAINING_KERNELS: ReadonlyArray<{ kernelName: string; replaces: boolean; kernelFunc: KernelFunc }> = [
  { kernelName: 'Conv2DBackpropFilter', replaces: false, kernelFunc: conv2DBackpropFilterKernel },
  { kernelName: 'Conv2DBackpropInput', replaces: true, kernelFunc: conv2DBackpropInputKernel },
  { kernelName: 'UnsortedSegmentSum', replaces: false, kernelFunc: unsortedSegmentSumKernel },
  { kernelName: 'ResizeNearestNeighborGrad', replaces: true, kernelFunc: resizeNearestNeighborGradKernel },
  // BatchMatMul, MaxPoolGrad, data movement and reductions (wasm-movement-kernels.ts).
  ...WASM_MOVEMENT_KERNELS,
];

const originals = new Map<string, KernelConfig | undefined>();

/**
 * Registers the training kernels on the wasm backend. Idempotent: a second call changes nothing.
 * Kernels now served by oneDNN (native-kernels.ts, registered over these) stay as they are.
 * Returns the names of the kernels it (re)registered on this call.
 */
export function registerWasmTrainingKernels(): string[] {
  const done: string[] = [];
  for (const k of WASM_TRAINING_KERNELS) {
    const existing = tf.getKernel(k.kernelName, BACKEND) as KernelConfig | undefined;
    if (existing?.kernelFunc === k.kernelFunc || isNativeKernelFunc(existing?.kernelFunc)) continue;
    if (!originals.has(k.kernelName)) originals.set(k.kernelName, existing);
    if (existing) tf.unregisterKernel(k.kernelName, BACKEND);
    // Keep the shipped kernel's setupFunc: the engine runs it when wasm starts, so the shipped
    // kernel stays callable (we delegate to it, and benchmarks compare against it).
    tf.registerKernel({ kernelName: k.kernelName, backendName: BACKEND, kernelFunc: k.kernelFunc, setupFunc: existing?.setupFunc });
    done.push(k.kernelName);
  }
  return done;
}

/**
 * The kernel wasm shipped under `kernelName` before `registerWasmTrainingKernels` replaced it
 * (undefined when wasm had none). For benchmarks comparing the two.
 */
export function shippedWasmKernel(kernelName: string): KernelConfig | undefined {
  return originals.has(kernelName) ? originals.get(kernelName) : (tf.getKernel(kernelName, BACKEND) as KernelConfig | undefined);
}
