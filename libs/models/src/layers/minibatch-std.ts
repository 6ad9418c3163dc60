/**
 * Minibatch standard deviation (Karras et al. 2017, section 3): the minibatch is split into groups
 * of `groupSize`; per group, the standard deviation of every feature over the group's members is
 * averaged over features and pixels into one number, appended to each member as a constant extra
 * feature map. Follows `minibatch_stddev_layer` in tkarras/progressive_growing_of_gans networks.py,
 * NHWC instead of NCHW: sample i belongs to group-slot i mod M (M = batch / groupSize), as the
 * reference's reshape to [G, M, ...] puts it. Every op has a second-order gradient.
 */
import * as tf from '@tensorflow/tfjs';

export const MINIBATCH_STD_EPSILON = 1e-8;

/** x [n, h, w, c] -> [n, h, w, c + 1]. The group is min(groupSize, n); n must be divisible by it. */
export function minibatchStddev(x: tf.Tensor4D, groupSize = 4): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  if (!Number.isInteger(groupSize) || groupSize < 1) throw new Error(`minibatch std group size must be a positive integer, got ${groupSize}`);
  const g = Math.min(groupSize, n);
  if (n % g !== 0) throw new Error(`minibatch std: batch ${n} is not divisible by the group size ${g}`);
  const m = n / g;
  return tf.tidy(() => {
    const y = tf.reshape(x, [g, m, h, w, c]); // [G, M, H, W, C]
    const centred = tf.sub(y, tf.mean(y, 0, true)); // [G, M, H, W, C]
    const variance = tf.mean(tf.square(centred), 0); // [M, H, W, C]
    const std = tf.sqrt(tf.add(variance, MINIBATCH_STD_EPSILON)); // [M, H, W, C]
    const s = tf.reshape(tf.mean(std, [1, 2, 3]), [1, m, 1, 1, 1]); // [1, M, 1, 1, 1]
    // Replicated over the group and the pixels by a broadcasting multiply (tf.tile's gradient is a
    // slice and an add per repetition, and it is differentiated again by the gradient penalty).
    const tiled = tf.reshape(tf.mul(s, tf.ones([g, m, h, w, 1])), [n, h, w, 1]); // [N, H, W, 1]
    return tf.concat([x, tiled as tf.Tensor4D], 3); // [N, H, W, C + 1]
  });
}
