/**
 * Equalized learning rate (Karras et al. 2017, "Progressive Growing of GANs", section 4.1): weights
 * are stored as N(0, 1) draws and multiplied at run time by He's constant gain / sqrt(fanIn), so
 * Adam's per-parameter step sizes act on every layer at the same dynamic range. Follows `get_weight(...,
 * use_wscale=True)`, `dense`, `conv2d` and `apply_bias` in tkarras/progressive_growing_of_gans
 * networks.py: biases start at zero and are not scaled.
 *
 * A layer is its parameters plus the scale; the forward functions are plain tf ops, so every op
 * here has a second-order gradient (conv2d, matMul, mul, add), as WGAN-GP's gradient penalty needs.
 */
import * as tf from '@tensorflow/tfjs';
import type { ParamStore } from '../common';

/** Where a builder creates its parameters: a ParamStore, or anything that takes `add` calls. */
export type ParamSink = Pick<ParamStore, 'add'>;

export interface EqualizedLayer {
  /** Parameter-name stem in the store, e.g. 'G.8x8.conv0' (weights '<name>.w', bias '<name>.b'). */
  name: string;
  /** N(0, 1)-initialised weights: [inUnits, units] for dense, [k, k, in, out] for conv. */
  w: tf.Variable;
  /** Zero-initialised bias of `biasSize`, or null for a layer whose bias is added elsewhere. */
  b: tf.Variable | null;
  /** Run-time multiplier gain / sqrt(fanIn). */
  scale: number;
  fanIn: number;
}

export interface EqualizedOptions {
  /** He gain: sqrt(2) for layers followed by (leaky) ReLU, 1 for linear outputs. */
  gain?: number;
  /** Create a bias (default true). */
  bias?: boolean;
}

/** He's constant: gain / sqrt(fanIn). */
export function heScale(fanIn: number, gain = Math.SQRT2): number {
  if (!(fanIn > 0)) throw new Error(`fanIn must be positive, got ${fanIn}`);
  return gain / Math.sqrt(fanIn);
}

export function createEqualizedDense(store: ParamSink, name: string, inUnits: number, units: number, opts: EqualizedOptions = {}): EqualizedLayer {
  const w = store.add(`${name}.w`, [inUnits, units], { kind: 'normal', mean: 0, std: 1 });
  const b = opts.bias === false ? null : store.add(`${name}.b`, [units], { kind: 'zeros' });
  return { name, w, b, scale: heScale(inUnits, opts.gain), fanIn: inUnits };
}

export function createEqualizedConv2d(store: ParamSink, name: string, kernel: number, inChannels: number, filters: number, opts: EqualizedOptions = {}): EqualizedLayer {
  if (!Number.isInteger(kernel) || kernel < 1 || kernel % 2 !== 1) throw new Error(`${name}: kernel must be an odd positive integer, got ${kernel}`);
  const w = store.add(`${name}.w`, [kernel, kernel, inChannels, filters], { kind: 'normal', mean: 0, std: 1 });
  const b = opts.bias === false ? null : store.add(`${name}.b`, [filters], { kind: 'zeros' });
  const fanIn = kernel * kernel * inChannels;
  return { name, w, b, scale: heScale(fanIn, opts.gain), fanIn };
}

/** The weights the layer actually applies: w * gain / sqrt(fanIn). */
export function effectiveWeights(layer: EqualizedLayer): tf.Tensor {
  return tf.mul(layer.w, layer.scale);
}

/** Adds the layer's bias over the last axis (no-op for a bias-less layer). */
export function addBias<T extends tf.Tensor>(x: T, layer: EqualizedLayer): T {
  return layer.b ? (tf.add(x, layer.b) as T) : x;
}

/** x [batch, inUnits] -> [batch, units], scaled weights, then the bias if the layer has one. */
export function equalizedDense(x: tf.Tensor2D, layer: EqualizedLayer): tf.Tensor2D {
  return addBias(tf.matMul(x, effectiveWeights(layer) as tf.Tensor2D), layer);
}

/** Stride-1 'same' convolution with scaled weights, without the bias. NHWC. */
export function equalizedConv2dNoBias(x: tf.Tensor4D, layer: EqualizedLayer): tf.Tensor4D {
  return tf.conv2d(x, effectiveWeights(layer) as tf.Tensor4D, 1, 'same');
}

/** Stride-1 'same' convolution with scaled weights, then the bias. NHWC. */
export function equalizedConv2d(x: tf.Tensor4D, layer: EqualizedLayer): tf.Tensor4D {
  return addBias(equalizedConv2dNoBias(x, layer), layer);
}

/** Trainable scalars of a layer. */
export function layerParams(layer: EqualizedLayer): number {
  return layer.w.size + (layer.b?.size ?? 0);
}
