/**
 * Reflection padding of the two spatial axes of an NHWC tensor, as torch.nn.ReflectionPad2d: the
 * border row/column is not repeated ([a b c d], pad 2 -> [c b a b c d c b]).
 *
 * Why not `tf.mirrorPad(x, ..., 'reflect')` with its registered gradient: its forward pass is
 * right, but the gradient in tfjs-core 4.22 (`gradients/MirrorPad_grad`) only slices the centre
 * out of dy and drops the gradient that reached the reflected border copies, so every layer behind
 * a reflection pad would train on a wrong gradient.
 *
 * `reflectionPad2d` is one op with its own gradient, which folds each border's gradient back onto
 * the rows and columns it was copied from, and keeps nothing for the backward pass but shapes. On
 * wasm both directions are one pass on the heap (engine/wasm-norm.ts); elsewhere the forward is
 * tf.mirrorPad and the backward engine/fixes.ts `mirrorPadGrad` (slices, reverses, pads, adds).
 * `reflectionPad2dComposed` builds the pad from slice, reverse and concat, whose gradients tfjs
 * has right: the reference the fused op is tested and measured against.
 */
import * as tf from '@tensorflow/tfjs';
import { mirrorPadGrad } from '../engine/fixes';
import { onWasm } from '../engine/wasm-heap';
import { REFLECTION_PAD, REFLECTION_PAD_GRAD, runWasmNormKernel } from '../engine/wasm-norm';

function checkPad(x: tf.Tensor4D, pad: number): void {
  if (!Number.isInteger(pad) || pad < 0) throw new Error(`reflection pad must be a non-negative integer, got ${pad}`);
  if (x.rank !== 4) throw new Error(`reflection pad needs x [batch, H, W, C], got [${x.shape.join(', ')}]`);
  const [, h, w] = x.shape;
  // torch requires pad < size on each padded axis (a reflection never reaches past the far border).
  if (pad >= h || pad >= w) throw new Error(`reflection pad ${pad} needs an input larger than ${pad} on both axes, got ${h}x${w}`);
}

/** Reflects `pad` rows/columns on each side of axes 1 (H) and 2 (W) of `x` [batch, H, W, C]. */
export function reflectionPad2d(x: tf.Tensor4D, pad: number): tf.Tensor4D {
  checkPad(x, pad);
  if (pad === 0) return x.clone();
  const xShape = x.shape.slice();
  const paddings: Array<[number, number]> = [[0, 0], [pad, pad], [pad, pad], [0, 0]];
  // Nothing is saved: the backward needs only the shapes.
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const input = args[0] as tf.Tensor;
    return {
      value: onWasm() ? (runWasmNormKernel(REFLECTION_PAD, { x: input }, { pad }) as tf.Tensor) : tf.mirrorPad(input, paddings, 'reflect'),
      gradFunc: (dy: tf.Tensor) => (onWasm() ? (runWasmNormKernel(REFLECTION_PAD_GRAD, { dy }, { pad }) as tf.Tensor) : mirrorPadGrad(dy, xShape, paddings, 'reflect')),
    };
  });
  return tf.tidy('reflection pad', () => op(x)) as tf.Tensor4D;
}

/** `reflectionPad2d` from slice, reverse and concat (the reference implementation). */
export function reflectionPad2dComposed(x: tf.Tensor4D, pad: number): tf.Tensor4D {
  checkPad(x, pad);
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
