/**
 * oneDNN kernels for the tfjs `wasm` backend: Conv2D, Conv2DBackpropInput, Conv2DBackpropFilter,
 * BatchMatMul and _FusedMatMul, the fused conv + (leaky) ReLU, bias + activation + 2x2 pool and
 * PGGAN's leaky ReLU kernels, and Adam's update (nativeAdamStep, called by common/adam.ts), run
 * in the native addon (libs/native) on views of the wasm heap, with no copies: the output is allocated on the heap first, then the addon reads the inputs and
 * writes the output in place.
 *
 * Why: a training step is bound by its convolutions, and XNNPACK in wasm (128-bit SIMD, no FMA)
 * reaches ~20-36 GFLOP/s here where oneDNN with AVX-512 reaches 150-190 on one core.
 *
 * Each native kernel hands what it does not cover (non-float32 data, NCHW, dilation > 1, empty
 * tensors, batch broadcasts other than one shared operand) to the kernel that was registered before it: our wasm training kernels or the shipped
 * XNNPACK ones. `registerNativeKernels` / `unregisterNativeKernels` switch between the two sets.
 */
import * as tf from '@tensorflow/tfjs';
import type { NamedAttrMap, BatchMatMulAttrs, Conv2DAttrs, Conv2DBackpropFilterAttrs, Conv2DBackpropInputAttrs, _FusedMatMulAttrs, KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs';
import { MATMUL_ACTIVATIONS, type AdamConstants, type MatmulActivation, type NativeKernels } from '@gan-study/native';
import { allocF32, f32, soleOwner } from './wasm-heap';

const BACKEND = 'wasm';

type KernelArgs = Parameters<KernelFunc>[0];
type Pad = Conv2DAttrs['pad'];
type Rounding = Conv2DAttrs['dimRoundingMode'];

/** The addon the registered kernels call; set by registerNativeKernels. */
let native: NativeKernels | null = null;

/** The kernel registered before each native one, called for the cases the native kernel does not cover. */
const fallbacks = new Map<string, KernelConfig | undefined>();

function fallback(name: string, args: KernelArgs): ReturnType<KernelFunc> {
  const k = fallbacks.get(name);
  if (!k) throw new Error(`${name}: no wasm kernel to fall back to from the oneDNN one`);
  return k.kernelFunc(args);
}

const isF32 = (t: TensorInfo | undefined): t is TensorInfo => t !== undefined && t.dtype === 'float32';
const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
const pair = (v: [number, number] | number): [number, number] => (typeof v === 'number' ? [v, v] : v);

/** tfjs's geometry, or null when the native path does not cover it. */
function convInfo(xShape: number[], filterShape: number[], strides: [number, number] | number, pad: Pad, rounding: Rounding, dataFormat: string): tf.backend_util.Conv2DInfo | null {
  if (dataFormat !== 'NHWC' || xShape.length !== 4 || filterShape.length !== 4 || xShape[3] !== filterShape[2]) return null;
  const info = tf.backend_util.computeConv2DInfo(xShape as [number, number, number, number], filterShape as [number, number, number, number], strides, 1, pad, rounding, false, 'channelsLast');
  if (info.outHeight < 1 || info.outWidth < 1 || size(xShape) === 0 || size(filterShape) === 0) return null;
  return info;
}

const sameShape = (a: number[], b: number[]) => a.length === b.length && a.every((v, i) => v === b[i]);

const conv2D: KernelFunc = (args) => {
  const { x, filter } = args.inputs;
  const a = args.attrs as unknown as Conv2DAttrs;
  const [dh, dw] = pair(a.dilations ?? 1);
  if (!native || !isF32(x) || !isF32(filter) || dh !== 1 || dw !== 1) return fallback('Conv2D', args);
  const info = convInfo(x.shape, filter.shape, a.strides, a.pad, a.dimRoundingMode, a.dataFormat);
  if (!info) return fallback('Conv2D', args);
  const out = allocF32(info.outShape);
  native.conv2d(f32(x), f32(filter), f32(out), info);
  return out;
};

const conv2DBackpropInput: KernelFunc = (args) => {
  const { dy, filter } = args.inputs;
  const a = args.attrs as unknown as Conv2DBackpropInputAttrs;
  if (!native || !isF32(dy) || !isF32(filter)) return fallback('Conv2DBackpropInput', args);
  const info = convInfo(a.inputShape, filter.shape, a.strides, a.pad, a.dimRoundingMode, a.dataFormat);
  if (!info || !sameShape(dy.shape, info.outShape)) return fallback('Conv2DBackpropInput', args);
  const out = allocF32(a.inputShape);
  native.conv2dBackwardData(f32(dy), f32(filter), f32(out), info);
  return out;
};

const conv2DBackpropFilter: KernelFunc = (args) => {
  const { x, dy } = args.inputs;
  const a = args.attrs as unknown as Conv2DBackpropFilterAttrs;
  if (!native || !isF32(x) || !isF32(dy)) return fallback('Conv2DBackpropFilter', args);
  const info = convInfo(x.shape, a.filterShape, a.strides, a.pad, a.dimRoundingMode, a.dataFormat);
  if (!info || !sameShape(dy.shape, info.outShape)) return fallback('Conv2DBackpropFilter', args);
  const out = allocF32(a.filterShape);
  native.conv2dBackwardWeights(f32(x), f32(dy), f32(out), info);
  return out;
};

interface MatmulPlan {
  outShape: number[];
  batch: number;
  m: number;
  n: number;
  k: number;
  sharedA: boolean;
  sharedB: boolean;
}

/** How op(a) x op(b) maps onto the addon's batched sgemm, or null (shapes it does not cover, or that tfjs should reject). */
function planMatmul(a: TensorInfo, b: TensorInfo, transposeA: boolean, transposeB: boolean): MatmulPlan | null {
  if (a.shape.length < 2 || b.shape.length < 2) return null;
  const [ra, ca] = a.shape.slice(-2);
  const [rb, cb] = b.shape.slice(-2);
  const [m, k] = transposeA ? [ca, ra] : [ra, ca];
  const [kb, n] = transposeB ? [cb, rb] : [rb, cb];
  if (k !== kb || m * n * k === 0) return null;
  const outerA = a.shape.slice(0, -2);
  const outerB = b.shape.slice(0, -2);
  let outer: number[];
  try {
    outer = tf.broadcast_util.assertAndGetBroadcastShape(outerA, outerB);
  } catch {
    return null;
  }
  const batchA = size(outerA);
  const batchB = size(outerB);
  const batch = size(outer);
  // Either both sides have every batch entry (same outer shape up to leading 1s) or one side is a single shared matrix.
  if (!((batchA === batch && batchB === batch) || (batchA === 1 && batchB === batch) || (batchB === 1 && batchA === batch))) return null;
  return { outShape: [...outer, m, n], batch, m, n, k, sharedA: batchA === 1 && batch > 1, sharedB: batchB === 1 && batch > 1 };
}

const batchMatMul: KernelFunc = (args) => {
  const { a, b } = args.inputs;
  const { transposeA, transposeB } = args.attrs as unknown as BatchMatMulAttrs;
  const plan = native && isF32(a) && isF32(b) ? planMatmul(a, b, transposeA, transposeB) : null;
  if (!native || !plan) return fallback('BatchMatMul', args);
  const out = allocF32(plan.outShape);
  native.matmul(f32(a as TensorInfo), f32(b as TensorInfo), f32(out), { ...plan, transposeA, transposeB });
  return out;
};

/** tfjs's fused activations as ops, for the cases the addon does not fuse (prelu, and any after a broadcast bias). */
function activate(y: tf.Tensor, activation: string, prelu: TensorInfo | undefined, leakyreluAlpha: number | undefined): tf.Tensor {
  switch (activation) {
    case 'linear':
      return y;
    case 'relu':
      return tf.relu(y);
    case 'relu6':
      return tf.relu6(y);
    case 'elu':
      return tf.elu(y);
    case 'sigmoid':
      return tf.sigmoid(y);
    case 'leakyrelu':
      return tf.leakyRelu(y, leakyreluAlpha ?? 0.2);
    case 'prelu':
      if (!prelu) throw new Error(`_FusedMatMul: activation 'prelu' needs input preluActivationWeights`);
      return tf.prelu(y, prelu as tf.Tensor);
    default:
      throw new Error(`_FusedMatMul: unknown activation '${activation}'`);
  }
}

/**
 * _FusedMatMul: the product, a bias of one value per column and the activation in one addon call;
 * other biases (broadcast over rows too) and prelu as ops on the addon's product.
 */
const fusedMatMul: KernelFunc = (args) => {
  const { a, b, bias, preluActivationWeights } = args.inputs;
  const { transposeA, transposeB, activation, leakyreluAlpha } = args.attrs as unknown as _FusedMatMulAttrs;
  const plan = native && isF32(a) && isF32(b) ? planMatmul(a, b, transposeA, transposeB) : null;
  if (!native || !plan || (bias !== undefined && !isF32(bias))) return fallback('_FusedMatMul', args);
  const act = activation as string;
  const perColumnBias = bias === undefined || (bias.shape.length > 0 && bias.shape[bias.shape.length - 1] === plan.n && size(bias.shape) === plan.n);
  if (perColumnBias && Object.prototype.hasOwnProperty.call(MATMUL_ACTIVATIONS, act)) {
    const out = allocF32(plan.outShape);
    native.matmul(f32(a as TensorInfo), f32(b as TensorInfo), f32(out), { ...plan, transposeA, transposeB, bias: bias ? f32(bias) : undefined, activation: act as MatmulActivation, leakyreluAlpha });
    return out;
  }
  const kernels = native;
  return tf.tidy(() => {
    let y = allocF32(plan.outShape);
    kernels.matmul(f32(a as TensorInfo), f32(b as TensorInfo), f32(y), { ...plan, transposeA, transposeB });
    if (bias) y = tf.add(y, bias as tf.Tensor);
    return activate(y, act, preluActivationWeights, leakyreluAlpha);
  });
};

/** The fused convolution y = act(conv2d(x, filter) + bias) (layers/conv-act.ts); its gradient is registered with it. */
export const CONV2D_BIAS_ACT = 'Conv2DBiasAct';
/** The first step of its backward pass: [dz] or [dz, dbias] from dy and y ((leaky) ReLU's slope and the bias sum, one pass). */
export const ACT_BIAS_GRAD = 'ActBiasGrad';

export interface Conv2DBiasActAttrs {
  strides: [number, number] | number;
  pad: Pad;
  /** max(z, alpha z) after the bias (0: ReLU), or null for none. */
  alpha: number | null;
  /** The bias input is given (its gradient is summed in the activation's pass). */
  hasBias: boolean;
}

const alphaOf = (attrs: unknown) => (attrs as { alpha: number }).alpha;

/** True when `kernelFunc` is registered under `name` on wasm and wasm is the backend (the oneDNN set is on). */
function fusedOn(name: string, kernelFunc: KernelFunc): boolean {
  return native !== null && (tf.getKernel(name, BACKEND) as KernelConfig | undefined)?.kernelFunc === kernelFunc && tf.getBackend() === BACKEND;
}

/**
 * The addon's one pass over tensors [..., C] of one shape: dz = dy where y > 0, else alpha dy, and
 * (sumBias) the sums of dz over all but the last axis: [dz] or [dz, db].
 */
function slopePass(kernel: string, dy: TensorInfo | undefined, y: TensorInfo | undefined, alpha: number, sumBias: boolean): TensorInfo[] {
  if (!native || !isF32(dy) || !isF32(y) || !sameShape(dy.shape, y.shape) || y.shape.length < 1 || size(y.shape) === 0) {
    throw new Error(`${kernel}: needs non-empty float32 inputs of one shape (got [${dy?.shape}] and [${y?.shape}])`);
  }
  const channels = y.shape[y.shape.length - 1];
  const dz = allocF32(y.shape);
  const db = sumBias ? allocF32([channels]) : null;
  native.reluBiasBackward(f32(dy), f32(y), f32(dz), db ? f32(db) : null, size(y.shape) / channels, channels, alpha);
  return db ? [dz, db] : [dz];
}

/**
 * Conv2DBiasAct: only registered with the other oneDNN kernels, and only called by the fused layer
 * after nativeConvActCovers; anything else is an error here.
 */
const conv2DBiasAct: KernelFunc = (args) => {
  const { x, filter, bias } = args.inputs;
  const a = args.attrs as unknown as Conv2DBiasActAttrs;
  const uncovered = () => new Error(`${CONV2D_BIAS_ACT}: not covered by the oneDNN kernels (x [${x?.shape}] ${x?.dtype}, filter [${filter?.shape}], bias [${bias?.shape}])`);
  if (!native || !isF32(x) || !isF32(filter) || (bias !== undefined && !isF32(bias))) throw uncovered();
  const info = convInfo(x.shape, filter.shape, a.strides, a.pad, undefined, 'NHWC');
  if (!info || (bias && (bias.shape.length !== 1 || bias.shape[0] !== info.outChannels))) throw uncovered();
  const out = allocF32(info.outShape);
  native.conv2dFused(f32(x), f32(filter), bias ? f32(bias) : null, a.alpha, f32(out), info);
  return out;
};

const actBiasGrad: KernelFunc = ({ inputs, attrs }) => slopePass(ACT_BIAS_GRAD, inputs.dy, inputs.y, alphaOf(attrs), (attrs as unknown as { sumBias: boolean }).sumBias);

/**
 * The gradient of Conv2DBiasAct, per input and only for the inputs asked for (the images' dx is
 * not computed when nothing upstream is trained). Not itself differentiable: the layer is for
 * first-order training only (conv-act.ts).
 */
const conv2DBiasActGrad: tf.GradConfig = {
  kernelName: CONV2D_BIAS_ACT,
  inputsToSave: ['x', 'filter'],
  outputsToSave: [true],
  gradFunc: (dy, saved, attrs) => {
    const [x, filter, y] = saved as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
    const a = attrs as unknown as Conv2DBiasActAttrs;
    const g = dy as tf.Tensor4D;
    let dz = g;
    let db: tf.Tensor | undefined;
    if (a.alpha !== null) {
      [dz, db] = tf.engine().runKernel(ACT_BIAS_GRAD, { dy: g, y }, { alpha: a.alpha, sumBias: a.hasBias }) as [tf.Tensor4D, tf.Tensor?];
    }
    return {
      x: () => tf.conv2dTranspose(dz, filter, x.shape, a.strides, a.pad as 'same' | 'valid' | number),
      filter: () => tf.engine().runKernel(tf.Conv2DBackpropFilter, { x, dy: dz }, { strides: a.strides, pad: a.pad, dataFormat: 'NHWC', filterShape: filter.shape } as unknown as NamedAttrMap) as tf.Tensor,
      bias: () => db ?? tf.sum(dz, [0, 1, 2]),
    };
  },
};

/**
 * act(z + bias), then a 2x2 max pool with stride 2 and no padding, as one kernel over a
 * convolution's output z (see NativeKernels.biasActPool); its gradient goes back through the three
 * in one pass over z (PoolActBiasGrad): dz and the bias's gradient. A bias is required (the
 * engine saves the inputs a gradient names, and cannot save one that is absent).
 */
export const BIAS_ACT_POOL = 'BiasActPool';
/** [dz, dbias] from the pooled output's gradient, z and the bias. */
export const POOL_ACT_BIAS_GRAD = 'PoolActBiasGrad';

export interface BiasActPoolAttrs {
  /** max(v, alpha v) after the bias (0: ReLU); null for none. */
  alpha: number | null;
}

const nhwc = (shape: number[]) => ({ batch: shape[0], height: shape[1], width: shape[2], channels: shape[3] });
const pooledShape = (z: number[]) => [z[0], Math.floor(z[1] / 2), Math.floor(z[2] / 2), z[3]];

/** What BiasActPool takes: float32 z [n, h, w, c] with h, w >= 2 (one window at least) and a float32 bias [c]. */
function poolTakes(zShape: readonly number[], bias: TensorInfo | undefined): boolean {
  return zShape.length === 4 && zShape[1] >= 2 && zShape[2] >= 2 && isF32(bias) && bias.shape.length === 1 && bias.shape[0] === zShape[3];
}

/** Only registered with the other oneDNN kernels, and only called by the layer after nativeConvActPoolCovers. */
function checkPoolInputs(kernel: string, z: TensorInfo | undefined, bias: TensorInfo | undefined): asserts z is TensorInfo {
  if (!native || !isF32(z) || !poolTakes(z.shape, bias)) {
    throw new Error(`${kernel}: needs float32 z [n, h, w, c] with h, w >= 2 and a bias [c] (got z [${z?.shape}], bias [${bias?.shape}])`);
  }
}

const biasActPool: KernelFunc = ({ inputs, attrs }) => {
  const { z, bias } = inputs;
  checkPoolInputs(BIAS_ACT_POOL, z, bias);
  const pooled = allocF32(pooledShape(z.shape));
  native!.biasActPool(f32(z), f32(bias!), f32(pooled), nhwc(z.shape), (attrs as unknown as BiasActPoolAttrs).alpha ?? 1);
  return pooled;
};

const poolActBiasGrad: KernelFunc = ({ inputs, attrs }) => {
  const { dy, z, bias } = inputs;
  checkPoolInputs(POOL_ACT_BIAS_GRAD, z, bias);
  if (!isF32(dy) || !sameShape(dy.shape, pooledShape(z.shape))) throw new Error(`${POOL_ACT_BIAS_GRAD}: dy must be float32 [${pooledShape(z.shape)}], got [${dy?.shape}]`);
  const dz = allocF32(z.shape);
  const db = allocF32([z.shape[3]]);
  native!.biasActPoolBackward(f32(dy), f32(z), f32(bias!), f32(dz), f32(db), nhwc(z.shape), (attrs as unknown as BiasActPoolAttrs).alpha ?? 1);
  return [dz, db];
};

/** BiasActPool's gradient: one kernel for z and the bias (both made in its pass). Not itself differentiable. */
const biasActPoolGrad: tf.GradConfig = {
  kernelName: BIAS_ACT_POOL,
  inputsToSave: ['z', 'bias'],
  gradFunc: (dy, saved, attrs) => {
    const [z, bias] = saved as [tf.Tensor4D, tf.Tensor1D];
    const [dz, db] = tf.engine().runKernel(POOL_ACT_BIAS_GRAD, { dy: dy as tf.Tensor, z, bias }, attrs) as [tf.Tensor4D, tf.Tensor1D];
    return { z: () => dz, bias: () => db };
  },
};

/**
 * True when the oneDNN kernels are registered and cover conv2d(x, filter) followed by BiasActPool
 * with this bias, decided from the convolution's geometry before it runs.
 */
export function nativeConvActPoolCovers(x: TensorInfo, filter: TensorInfo, bias: TensorInfo | undefined, strides: [number, number] | number, pad: Pad): boolean {
  if (!fusedOn(BIAS_ACT_POOL, biasActPool) || !isF32(x) || !isF32(filter)) return false;
  const info = convInfo(x.shape, filter.shape, strides, pad, undefined, 'NHWC');
  return info !== null && poolTakes(info.outShape, bias);
}

/** True when the fused kernel is registered (the oneDNN set is on) and covers this convolution. */
export function nativeConvActCovers(x: TensorInfo, filter: TensorInfo, strides: [number, number] | number, pad: Pad): boolean {
  if (!fusedOn(CONV2D_BIAS_ACT, conv2DBiasAct)) return false;
  return isF32(x) && isF32(filter) && convInfo(x.shape, filter.shape, strides, pad, undefined, 'NHWC') !== null;
}

/**
 * Leaky ReLU as one kernel with a gradient that is itself differentiable (PGGAN's critic under the
 * gradient penalty): LEAKY(x) = x * s(x), and its gradient LEAKY_SCALE(dy, x) = dy * s(x), with
 * s(x) = 1 where x > 0, else alpha (as tf.step(x, alpha), so the values equal x * step(x, alpha)
 * exactly). LEAKY_SCALE's gradient is LEAKY_SCALE again for dy, and zero for x (s is constant
 * almost everywhere). One pass each (the addon's reluBiasBackward, y = x).
 */
export const LEAKY = 'LeakyReluScaled';
export const LEAKY_SCALE = 'LeakyReluScale';

const leakyKernel: KernelFunc = ({ inputs, attrs }) => slopePass(LEAKY, inputs.x, inputs.x, alphaOf(attrs), false)[0];
const leakyScaleKernel: KernelFunc = ({ inputs, attrs }) => slopePass(LEAKY_SCALE, inputs.dy, inputs.x, alphaOf(attrs), false)[0];

const leakyScale = (dy: tf.Tensor, x: tf.Tensor, alpha: number) => tf.engine().runKernel(LEAKY_SCALE, { dy, x }, { alpha }) as tf.Tensor;

const leakyGrad: tf.GradConfig = {
  kernelName: LEAKY,
  inputsToSave: ['x'],
  gradFunc: (dy, saved, attrs) => ({ x: () => leakyScale(dy as tf.Tensor, saved[0], alphaOf(attrs)) }),
};

const leakyScaleGrad: tf.GradConfig = {
  kernelName: LEAKY_SCALE,
  inputsToSave: ['x'],
  gradFunc: (ddy, saved, attrs) => ({
    dy: () => leakyScale(ddy as tf.Tensor, saved[0], alphaOf(attrs)),
    x: () => tf.zerosLike(saved[0]),
  }),
};

/** True when the fused leaky ReLU kernels are registered (the oneDNN set is on) and take `x`. */
export function nativeLeakyCovers(x: TensorInfo): boolean {
  return fusedOn(LEAKY, leakyKernel) && isF32(x) && x.shape.length >= 1 && size(x.shape) > 0;
}

/** True when the addon's Adam runs the update (the oneDNN set is registered and wasm is the backend). */
export function nativeAdamAvailable(): boolean {
  return fusedOn(CONV2D_BIAS_ACT, conv2DBiasAct);
}

/** A parameter's gradient: as a tensor (plus an addend: another replica's), or as a dense layer's factors, dW = x^T dz. */
export type AdamGradient = { g: tf.Tensor; g2?: tf.Tensor } | { x: tf.Tensor; dz: tf.Tensor };

/**
 * One Adam update by the addon (see NativeKernels.adam), on the heap. p, m and v are written in
 * place where nothing else shares their memory (soleOwner), else into new tensors: the result
 * names, for each, the tensor that now holds it, the input itself or a new one for the caller to
 * assign and dispose. In place, no fresh 3 x 8 MB is faulted in per step for the 64 px classifier's
 * fc1 and its old copies are not streamed past the cache.
 */
export function nativeAdamStep(name: string, p: tf.Tensor, m: tf.Tensor, v: tf.Tensor, grad: AdamGradient, k: AdamConstants): { p: tf.Tensor; m: tf.Tensor; v: tf.Tensor } {
  if (!native || !nativeAdamAvailable()) throw new Error(`Adam on the addon: the oneDNN kernels are not registered on wasm (see nativeAdamAvailable), for '${name}'`);
  // Shapes are checked by Adam.apply, before any parameter is stepped (the addon checks lengths again).
  const ins = 'g' in grad ? [grad.g, ...(grad.g2 ? [grad.g2] : [])] : [grad.x, grad.dz];
  for (const [what, t] of [['parameter', p], ['first moment', m], ['second moment', v], ...ins.map((t) => ['gradient', t] as const)] as const) {
    if (t.dtype !== 'float32') throw new Error(`Adam on the addon: ${what} of '${name}' must be float32, got ${t.dtype}`);
  }
  // Looking a tensor up moves it to the heap if it lives elsewhere (an allocation): all inputs
  // first, then the outputs, then the views (an allocation may detach earlier ones).
  for (const t of [p, m, v, ...ins]) f32(t);
  const [p1, m1, v1] = [p, m, v].map((t) => (soleOwner(t) ? t : allocF32(t.shape)));
  const s = { p: f32(p), m: f32(m), v: f32(v), p1: f32(p1), m1: f32(m1), v1: f32(v1) };
  if ('g' in grad) native.adam(s, f32(grad.g), grad.g2 ? f32(grad.g2) : null, k);
  else native.denseAdam(s, f32(grad.x), f32(grad.dz), grad.x.shape[0], k);
  return { p: p1, m: m1, v: v1 };
}

/** The kernels this module registers on wasm. */
export const NATIVE_KERNELS: ReadonlyArray<{ kernelName: string; kernelFunc: KernelFunc }> = [
  { kernelName: 'Conv2D', kernelFunc: conv2D },
  { kernelName: 'Conv2DBackpropInput', kernelFunc: conv2DBackpropInput },
  { kernelName: 'Conv2DBackpropFilter', kernelFunc: conv2DBackpropFilter },
  { kernelName: 'BatchMatMul', kernelFunc: batchMatMul },
  { kernelName: '_FusedMatMul', kernelFunc: fusedMatMul },
  { kernelName: CONV2D_BIAS_ACT, kernelFunc: conv2DBiasAct },
  { kernelName: ACT_BIAS_GRAD, kernelFunc: actBiasGrad },
  { kernelName: BIAS_ACT_POOL, kernelFunc: biasActPool },
  { kernelName: POOL_ACT_BIAS_GRAD, kernelFunc: poolActBiasGrad },
  { kernelName: LEAKY, kernelFunc: leakyKernel },
  { kernelName: LEAKY_SCALE, kernelFunc: leakyScaleKernel },
];

const nativeFuncs = new Set<KernelFunc>(NATIVE_KERNELS.map((k) => k.kernelFunc));

/** True when `f` is one of the oneDNN kernel functions (so other registrations leave it in place). */
export function isNativeKernelFunc(f: KernelFunc | undefined): boolean {
  return f !== undefined && nativeFuncs.has(f);
}

/**
 * Registers the oneDNN kernels on wasm over whatever is registered now (call after
 * registerWasmTrainingKernels: those become the fallbacks). Idempotent; returns the kernel names
 * it registered on this call.
 */
export function registerNativeKernels(kernels: NativeKernels): string[] {
  native = kernels;
  for (const g of [conv2DBiasActGrad, biasActPoolGrad, leakyGrad, leakyScaleGrad]) if (tf.getGradient(g.kernelName) === undefined) tf.registerGradient(g);
  const done: string[] = [];
  for (const k of NATIVE_KERNELS) {
    const existing = tf.getKernel(k.kernelName, BACKEND) as KernelConfig | undefined;
    if (existing?.kernelFunc === k.kernelFunc) continue;
    fallbacks.set(k.kernelName, existing);
    if (existing) tf.unregisterKernel(k.kernelName, BACKEND);
    // Keep the replaced kernel's setupFunc: wasm runs it at start-up, and the fallback needs it.
    tf.registerKernel({ kernelName: k.kernelName, backendName: BACKEND, kernelFunc: k.kernelFunc, setupFunc: existing?.setupFunc });
    done.push(k.kernelName);
  }
  return done;
}

/** Puts back the kernels the oneDNN ones replaced. Returns the names it restored. */
export function unregisterNativeKernels(): string[] {
  const done: string[] = [];
  for (const k of NATIVE_KERNELS) {
    const existing = tf.getKernel(k.kernelName, BACKEND) as KernelConfig | undefined;
    if (existing?.kernelFunc !== k.kernelFunc) continue;
    tf.unregisterKernel(k.kernelName, BACKEND);
    const previous = fallbacks.get(k.kernelName);
    if (previous) tf.registerKernel(previous);
    done.push(k.kernelName);
  }
  return done;
}

/** The names of the oneDNN kernels registered on wasm right now. */
export function registeredNativeKernels(): string[] {
  return NATIVE_KERNELS.filter((k) => (tf.getKernel(k.kernelName, BACKEND) as KernelConfig | undefined)?.kernelFunc === k.kernelFunc).map((k) => k.kernelName);
}
