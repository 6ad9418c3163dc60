/**
 * Instance normalization (Ulyanov et al. 2016, "Instance Normalization: The Missing Ingredient for
 * Fast Stylization"), as torch.nn.InstanceNorm2d computes it in training and in eval mode when it
 * tracks no running statistics (CycleGAN's `--norm instance`: affine=False,
 * track_running_stats=False): each sample's each channel is normalized by its own mean and biased
 * variance over H and W, y = (x - mean) / sqrt(var + eps).
 *
 * With `affine`, a per-channel scale and shift follow (torch's affine=True, gamma [C], beta [C]).
 */
import * as tf from '@tensorflow/tfjs';

export interface InstanceNormOptions {
  /** Added to the variance; torch's default is 1e-5. */
  eps?: number;
  /** Per-channel scale [C] (torch `weight`), only for affine instance norm. */
  gamma?: tf.Tensor1D;
  /** Per-channel shift [C] (torch `bias`), only for affine instance norm. */
  beta?: tf.Tensor1D;
}

/** x [batch, H, W, C] -> same shape, zero mean and unit (biased) variance per sample and channel. */
export function instanceNorm(x: tf.Tensor4D, opts: InstanceNormOptions = {}): tf.Tensor4D {
  const eps = opts.eps ?? 1e-5;
  if (!(eps > 0)) throw new Error(`instance norm eps must be positive, got ${eps}`);
  const channels = x.shape[3];
  for (const [name, t] of [['gamma', opts.gamma], ['beta', opts.beta]] as const) {
    if (t && (t.rank !== 1 || t.shape[0] !== channels)) throw new Error(`instance norm ${name} must have shape [${channels}], got [${t.shape}]`);
  }
  return tf.tidy(() => {
    // Mean and biased variance over H, W: [batch, 1, 1, C].
    const { mean, variance } = tf.moments(x, [1, 2], true);
    let y = tf.sub(x, mean).mul(tf.rsqrt(tf.add(variance, eps))) as tf.Tensor4D;
    if (opts.gamma) y = y.mul(opts.gamma);
    if (opts.beta) y = y.add(opts.beta);
    return y;
  });
}
