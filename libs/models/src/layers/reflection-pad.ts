/**
 * Reflection padding of the two spatial axes of an NHWC tensor, as torch.nn.ReflectionPad2d: the
 * border row/column is not repeated ([a b c d], pad 2 -> [c b a b c d c b]).
 *
 * Why not `tf.mirrorPad(x, ..., 'reflect')`: its forward pass is right, but its registered gradient
 * in tfjs-core 4.22 (`gradients/MirrorPad_grad`) only slices the centre out of dy and drops the
 * gradient that reached the reflected border copies, so every layer behind a reflection pad would
 * train on a wrong gradient. Here the pad is built from ops whose gradients are right on every
 * backend (slice, reverse, concat): the border gradients are folded back onto the rows and columns
 * they were copied from. reflection-pad.spec.ts checks values against tf.mirrorPad and gradients
 * against finite differences.
 */
import * as tf from '@tensorflow/tfjs';

/** Reflects `pad` rows/columns on each side of axes 1 (H) and 2 (W) of `x` [batch, H, W, C]. */
export function reflectionPad2d(x: tf.Tensor4D, pad: number): tf.Tensor4D {
  if (!Number.isInteger(pad) || pad < 0) throw new Error(`reflection pad must be a non-negative integer, got ${pad}`);
  const [, h, w] = x.shape;
  // torch requires pad < size on each padded axis (a reflection never reaches past the far border).
  if (pad >= h || pad >= w) throw new Error(`reflection pad ${pad} needs an input larger than ${pad} on both axes, got ${h}x${w}`);
  if (pad === 0) return x.clone();
  return tf.tidy(() => reflectAxis(reflectAxis(x, pad, 1), pad, 2));
}

/** [.., n, ..] -> [.., n + 2 * pad, ..] along `axis`, reflecting about the first and last entries. */
function reflectAxis(x: tf.Tensor4D, pad: number, axis: 1 | 2): tf.Tensor4D {
  const n = x.shape[axis];
  // Fresh begin/size arrays per slice: tfjs keeps them as the kernel's attributes, and the
  // gradient reads them back, so mutating one after the call would corrupt the backward pass.
  const at = (start: number): [number[], number[]] => [
    [0, axis === 1 ? start : 0, axis === 2 ? start : 0, 0],
    [-1, axis === 1 ? pad : -1, axis === 2 ? pad : -1, -1],
  ];
  // Entries 1..pad, mirrored, go before; entries n-1-pad..n-2, mirrored, go after.
  const head = tf.reverse(tf.slice(x, ...at(1)), axis);
  const tail = tf.reverse(tf.slice(x, ...at(n - 1 - pad)), axis);
  return tf.concat([head, x, tail], axis);
}
