/**
 * Batch normalization in training mode (Ioffe & Szegedy 2015), as torch.nn.BatchNorm2d computes
 * its output while training: each channel normalized by the batch's mean and biased variance over
 * every other axis (N, H, W for NHWC), then the per-channel scale gamma and shift beta:
 *   y = gamma * (x - mean) / sqrt(var + eps) + beta.
 * The batch statistics go to `onStats` (for running estimates); eval mode, which uses the running
 * estimates instead, is a plain expression at the call site (it needs no gradient).
 *
 * `batchNorm` is one fused op (channel-norm.ts) that can also apply the following ReLU / leaky ReLU;
 * `batchNormComposed` is the same function as tfjs ops, the reference it is tested against.
 */
import * as tf from '@tensorflow/tfjs';
import { activate, channelNorm, checkNormOptions } from './channel-norm';
import type { NormActivation } from './channel-norm';

export interface BatchNormOptions {
  /** Added to the variance; torch's default is 1e-5. */
  eps?: number;
  /** Per-channel scale [C] (torch `weight`). */
  gamma?: tf.Tensor1D;
  /** Per-channel shift [C] (torch `bias`). */
  beta?: tf.Tensor1D;
  /** Activation applied to the result (default 'linear'). */
  activation?: NormActivation;
  /** Negative-side slope for 'leakyRelu' (default 0.2). */
  leakyreluAlpha?: number;
  /** Receives the batch mean and biased variance [C] during the call (they are disposed after it). */
  onStats?: (mean: tf.Tensor1D, variance: tf.Tensor1D) => void;
}

/** x [..., C] (NHWC: statistics over N, H, W) -> same shape, normalized with the batch's statistics. */
export function batchNorm<T extends tf.Tensor>(x: T, opts: BatchNormOptions = {}): T {
  const C = x.shape[x.rank - 1];
  const { onStats, ...rest } = opts;
  const stats = onStats ? (mean: tf.Tensor2D, variance: tf.Tensor2D) => onStats(tf.reshape(mean, [C]), tf.reshape(variance, [C])) : undefined;
  return channelNorm('batch norm', x, 1, { ...rest, eps: opts.eps ?? 1e-5, onStats: stats }) as T;
}

/** `batchNorm` as a composition of tfjs ops (the reference implementation). */
export function batchNormComposed<T extends tf.Tensor>(x: T, opts: BatchNormOptions = {}): T {
  const eps = opts.eps ?? 1e-5;
  const slope = checkNormOptions('batch norm', x, { ...opts, eps });
  return tf.tidy(() => {
    const axes = x.shape.slice(0, -1).map((_, i) => i);
    const { mean, variance } = tf.moments(x, axes);
    opts.onStats?.(mean as tf.Tensor1D, variance as tf.Tensor1D);
    let y = tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, eps)));
    if (opts.gamma) y = tf.mul(y, opts.gamma);
    if (opts.beta) y = tf.add(y, opts.beta);
    return activate(y, slope) as T;
  });
}
