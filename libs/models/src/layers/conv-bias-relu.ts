/**
 * y = max(0, conv2d(x, w) + b) as one op with its own gradient (the classifier's two conv layers).
 *
 * As three tfjs ops the layer makes four passes over its output forward (conv, bias add, ReLU) and
 * five backward before the convolution's own (ReLU's Step, Cast and Multiply, and the bias's Sum),
 * and keeps the pre-activation for the backward pass. With the oneDNN kernels on wasm
 * (engine/native-kernels.ts) the forward is one primitive, bias and ReLU applied as each output
 * block is made, and the backward starts with one pass over dy and y that masks dy where y is not
 * positive and sums the bias gradient (y > 0 exactly where conv + b > 0, so this is ReLU's own
 * gradient). What it keeps for the backward pass: x, w and y (which the next op, a max-pool,
 * keeps too, sharing the buffer).
 *
 * Elsewhere (the cpu backend, tfjs-node, wasm without the addon) both passes are the same tfjs ops
 * as before: relu(conv + b) forward, dy * step(y) and its sum backward.
 */
import * as tf from '@tensorflow/tfjs';
import type { NamedAttrMap } from '@tensorflow/tfjs';
import { CONV2D_BIAS, RELU_BIAS_GRAD, nativeConvBiasCovers, type Conv2DBiasAttrs } from '../engine/native-kernels';

export interface ConvBiasReluOptions {
  strides?: [number, number] | number;
  pad?: 'same' | 'valid';
  /**
   * False when x is data, not a function of anything trained (the first layer's images): its
   * gradient is then not computed (a tf.customGrad op computes every input's gradient it is given;
   * x then enters as a constant). Default true.
   */
  inputGradient?: boolean;
}

export function convBiasRelu(x: tf.Tensor4D, w: tf.Tensor4D, b: tf.Tensor1D, o: ConvBiasReluOptions = {}): tf.Tensor4D {
  const strides = o.strides ?? 1;
  const pad = o.pad ?? 'same';
  const inputGradient = o.inputGradient ?? true;
  if (w.rank !== 4 || b.rank !== 1 || b.shape[0] !== w.shape[3]) {
    throw new Error(`convBiasRelu: bias [${b.shape}] must have one value per output channel of the filter [${w.shape}]`);
  }
  const fused = nativeConvBiasCovers(x, w, strides, pad);
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const [wIn, bIn, xIn] = [args[0] as tf.Tensor4D, args[1] as tf.Tensor1D, inputGradient ? (args[2] as tf.Tensor4D) : x];
    const attrs: Conv2DBiasAttrs = { strides, pad, relu: true };
    const y = fused
      ? (tf.engine().runKernel(CONV2D_BIAS, { x: xIn, filter: wIn, bias: bIn }, attrs as unknown as NamedAttrMap) as tf.Tensor4D)
      : (tf.relu(tf.add(tf.conv2d(xIn, wIn, strides, pad), bIn)) as tf.Tensor4D);
    save([xIn, wIn, y]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, ws, ys] = saved as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
        let dz: tf.Tensor4D;
        let db: tf.Tensor1D;
        if (fused) {
          [dz, db] = tf.engine().runKernel(RELU_BIAS_GRAD, { dy, y: ys }, {}) as [tf.Tensor4D, tf.Tensor1D];
        } else {
          dz = tf.mul(dy, tf.step(ys));
          db = tf.sum(dz, [0, 1, 2]);
        }
        const dw = tf.engine().runKernel(tf.Conv2DBackpropFilter, { x: xs, dy: dz }, { strides, pad, dataFormat: 'NHWC', filterShape: ws.shape } as unknown as NamedAttrMap) as tf.Tensor4D;
        if (!inputGradient) return [dw, db];
        return [dw, db, tf.conv2dTranspose(dz, ws, xs.shape, strides, pad)];
      },
    };
  });
  return (inputGradient ? op(w, b, x) : op(w, b)) as tf.Tensor4D;
}
