/**
 * y = act(conv2d(x, w) + b): a convolution, an optional per-channel bias and an optional ReLU or
 * leaky ReLU, as one op where the oneDNN kernels run (wasm with the addon, engine/native-kernels.ts).
 *
 * As separate tfjs ops the layer makes up to four passes over its output forward (conv, bias add,
 * activation) and up to five backward before the convolution's own (ReLU's Step, Cast and
 * Multiply, or leaky ReLU's Greater and Select, and the bias's Sum), and keeps the pre-activation
 * for the backward pass. Fused, the forward is one oneDNN primitive (bias and activation applied
 * as each output block is made) and the backward starts with one pass over dy and y that applies
 * the activation's slope and sums the bias gradient: y > 0 exactly where conv + b > 0, so that is
 * the activation's own gradient. It keeps x, w and y (which the next op usually keeps too, sharing
 * the buffer), and computes dx only when something upstream is trained.
 *
 * Elsewhere (the cpu backend, tfjs-node, wasm without the addon) it is the same tfjs ops as before.
 * The fused op's gradient is not itself differentiable: layers that need second-order gradients
 * (PGGAN's critic under the gradient penalty) keep their own ops.
 */
import * as tf from '@tensorflow/tfjs';
import type { NamedAttrMap } from '@tensorflow/tfjs';
import { BIAS_ACT_POOL, CONV2D_BIAS_ACT, nativeConvActCovers, nativeConvActPoolCovers, type BiasActPoolAttrs, type Conv2DBiasActAttrs } from '../engine/native-kernels';
import { activate } from './channel-norm';

export type ConvPad = Conv2DBiasActAttrs['pad'];

export interface ConvActOptions {
  strides?: [number, number] | number;
  /** tfjs's pad: 'same', 'valid', a number, or explicit [[0, 0], [top, bottom], [left, right], [0, 0]]. */
  pad?: ConvPad;
  /** The activation after the bias: max(z, alpha z), so 0 is ReLU and 0.2 leaky ReLU; null (default) for none. */
  alpha?: number | null;
}

/** The fused kernels' inputs and attributes, the options checked. */
function fusedArgs(op: string, x: tf.Tensor4D, w: tf.Tensor4D, b: tf.Tensor1D | undefined, o: ConvActOptions) {
  const strides = o.strides ?? 1;
  const pad = o.pad ?? 'same';
  const alpha = o.alpha ?? null;
  if (w.rank !== 4 || (b !== undefined && (b.rank !== 1 || b.shape[0] !== w.shape[3]))) {
    throw new Error(`${op}: bias [${b?.shape}] must have one value per output channel of the filter [${w.shape}]`);
  }
  if (alpha !== null && !(Number.isFinite(alpha) && alpha >= 0 && alpha <= 1)) throw new Error(`${op}: alpha must be a number in [0, 1] or null, got ${alpha}`);
  const attrs: Conv2DBiasActAttrs = { strides, pad, alpha, hasBias: b !== undefined };
  const inputs: tf.NamedTensorMap = b ? { x, filter: w, bias: b } : { x, filter: w };
  return { attrs, inputs };
}

/**
 * convAct, then a 2x2 max pool with stride 2 ('valid'): the pooled output, and the activation's
 * shape (for summaries). Where the oneDNN kernels run and there is a bias, the convolution goes alone and the bias,
 * activation and pool are one kernel over its output (BiasActPool), whose backward pass goes
 * through the three in one pass: the separate kernels make MaxPoolGrad's full-size gradient (three
 * quarters zeros) and pass over it and the activation again for the slope and the bias sum.
 */
export function convActPool(x: tf.Tensor4D, w: tf.Tensor4D, b: tf.Tensor1D | undefined, o: ConvActOptions = {}): { pooled: tf.Tensor4D; activationShape: number[] } {
  const { attrs } = fusedArgs('convActPool', x, w, b, o);
  if (nativeConvActPoolCovers(x, w, b, attrs.strides, attrs.pad)) {
    const z = tf.conv2d(x, w, attrs.strides, attrs.pad as Parameters<typeof tf.conv2d>[3]);
    const pooled = tf.engine().runKernel(BIAS_ACT_POOL, { z, bias: b! }, { alpha: attrs.alpha } satisfies BiasActPoolAttrs as unknown as NamedAttrMap) as tf.Tensor4D;
    return { pooled, activationShape: z.shape };
  }
  const y = convAct(x, w, b, o);
  return { pooled: tf.maxPool(y, 2, 2, 'valid'), activationShape: y.shape };
}

export function convAct(x: tf.Tensor4D, w: tf.Tensor4D, b: tf.Tensor1D | undefined, o: ConvActOptions = {}): tf.Tensor4D {
  const { attrs, inputs } = fusedArgs('convAct', x, w, b, o);
  const { strides, pad, alpha } = attrs;
  if (nativeConvActCovers(x, w, strides, pad)) return tf.engine().runKernel(CONV2D_BIAS_ACT, inputs, attrs as unknown as NamedAttrMap) as tf.Tensor4D;
  let y = tf.conv2d(x, w, strides, pad as Parameters<typeof tf.conv2d>[3]);
  if (b) y = tf.add(y, b);
  // The norm layers' activation by slope (1: none, 0: ReLU, else leaky ReLU).
  return activate(y, alpha ?? 1) as tf.Tensor4D;
}
