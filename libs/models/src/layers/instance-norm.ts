/**
 * Instance normalization (Ulyanov et al. 2016, "Instance Normalization: The Missing Ingredient for
 * Fast Stylization"), as torch.nn.InstanceNorm2d computes it in training and in eval mode when it
 * tracks no running statistics (CycleGAN's `--norm instance`: affine=False,
 * track_running_stats=False): each sample's each channel is normalized by its own mean and biased
 * variance over H and W, y = (x - mean) / sqrt(var + eps).
 *
 * With `affine`, a per-channel scale and shift follow (torch's affine=True, gamma [C], beta [C]).
 *
 * `instanceNorm` is one fused op (channel-norm.ts: two passes over memory each way on wasm, and the
 * backward keeps one activation-sized tensor); it can also add the preceding conv's bias first and
 * apply the following ReLU / leaky ReLU. `instanceNormComposed` is the same function built from
 * tfjs ops (moments, sub, mul, rsqrt), kept as the reference the fused op is tested and measured
 * against.
 */
import * as tf from '@tensorflow/tfjs';
import { activate, channelNorm, checkNormOptions } from './channel-norm';
import type { NormActivation } from './channel-norm';

export interface InstanceNormOptions {
  /** Added to the variance; torch's default is 1e-5. */
  eps?: number;
  /** Per-channel scale [C] (torch `weight`), only for affine instance norm. */
  gamma?: tf.Tensor1D;
  /** Per-channel shift [C] (torch `bias`), only for affine instance norm. */
  beta?: tf.Tensor1D;
  /** A preceding conv's bias [C], added to x before normalising (it cancels in y; see channel-norm.ts). */
  bias?: tf.Tensor1D;
  /** Activation applied to the result (default 'linear'). */
  activation?: NormActivation;
  /** Negative-side slope for 'leakyRelu' (default 0.2). */
  leakyreluAlpha?: number;
}

function checkRank(x: tf.Tensor): void {
  if (x.rank !== 4) throw new Error(`instance norm needs x [batch, H, W, C], got [${x.shape.join(', ')}]`);
}

/** x [batch, H, W, C] -> same shape, zero mean and unit (biased) variance per sample and channel. */
export function instanceNorm(x: tf.Tensor4D, opts: InstanceNormOptions = {}): tf.Tensor4D {
  checkRank(x);
  return channelNorm('instance norm', x, x.shape[0], { ...opts, eps: opts.eps ?? 1e-5 }) as tf.Tensor4D;
}

/** `instanceNorm` as a composition of tfjs ops (the reference implementation). */
export function instanceNormComposed(x: tf.Tensor4D, opts: InstanceNormOptions = {}): tf.Tensor4D {
  checkRank(x);
  const eps = opts.eps ?? 1e-5;
  const slope = checkNormOptions('instance norm', x, { ...opts, eps });
  return tf.tidy(() => {
    const xb = opts.bias ? tf.add(x, opts.bias) : x;
    // Mean and biased variance over H, W: [batch, 1, 1, C].
    const { mean, variance } = tf.moments(xb, [1, 2], true);
    let y = tf.sub(xb, mean).mul(tf.rsqrt(tf.add(variance, eps))) as tf.Tensor4D;
    if (opts.gamma) y = y.mul(opts.gamma);
    if (opts.beta) y = y.add(opts.beta);
    return activate(y, slope) as tf.Tensor4D;
  });
}
