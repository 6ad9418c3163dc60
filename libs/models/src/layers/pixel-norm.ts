/**
 * Pixelwise feature vector normalization (Karras et al. 2017, section 4.2): each pixel's feature
 * vector is scaled to unit mean square over channels, b = a / sqrt(mean_c(a^2) + eps). Follows
 * `pixel_norm` in tkarras/progressive_growing_of_gans networks.py (eps 1e-8). Channels are the
 * last axis (NHWC, or [batch, features] for the latent vector).
 */
import * as tf from '@tensorflow/tfjs';

export const PIXEL_NORM_EPSILON = 1e-8;

export function pixelNorm<T extends tf.Tensor>(x: T, epsilon = PIXEL_NORM_EPSILON): T {
  return tf.tidy(() => tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), epsilon))) as T);
}
