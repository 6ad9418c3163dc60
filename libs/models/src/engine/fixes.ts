/**
 * Corrections to @tensorflow/tfjs 4.22 that affect training on every backend, found while
 * checking the wasm training kernels against the cpu backend and a numeric gradient:
 *
 * - MirrorPad gradient (tfjs-core `MirrorPad_grad`) only slices the centre out of dy. In
 *   'reflect' / 'symmetric' modes the padded border copies interior values, so their gradient
 *   must be folded back onto those values. CycleGAN's ResNet generator pads by reflection.
 * - cpu `ResizeNearestNeighborGrad` reads dy at the *input* batch offset (`b * imageStride`
 *   instead of `b * dyStride`), so every image after the first gets another image's gradient.
 *   Nearest-neighbour 2x upsampling (DCGAN, PGGAN generators) trains wrong on cpu with batch > 1.
 *
 * - Second-order gradients: `Greater`, `Less`, `LessEqual`, `Equal`, `NotEqual` have no gradient
 *   (GreaterEqual has: zeros), so d/dW of a gradient fails through tf.leakyRelu (its gradient
 *   uses `greater`) or tf.maximum; and `AvgPoolGrad` has none, so through tf.avgPool. Comparisons
 *   get the zero gradient, AvgPoolGrad its adjoint (avgPool of the incoming gradient; it is
 *   linear in dy and does not depend on the input's values). WGAN-GP (PGGAN) needs these.
 *
 * - Mean and Sum gradients build `ones(x.shape)` on the host and upload it on every backward pass
 *   (tfjs-core `Mean_grad`/`Sum_grad`): batch norm, instance norm and the losses' means move
 *   75 MB per DCGAN step this way (batch 32, 64 px). Same values with the ones made on the backend
 *   (`tf.fill`): a DCGAN step on wasm went from ~3.9 to ~3.55 s of CPU, losses bit-identical.
 *
 * All are registered here, idempotently, by `registerTfjsFixes()` (called by initBackend);
 * registrations tfjs already has are left alone, except the two wrong ones above.
 */
import * as tf from '@tensorflow/tfjs';
import type { AvgPoolGradAttrs, GradConfig, KernelConfig, KernelFunc, MirrorPadAttrs, NamedAttrMap, ResizeNearestNeighborGradAttrs } from '@tensorflow/tfjs';

/**
 * Gradient of mirrorPad: dy [x.shape + paddings] -> dx [x.shape]. Per axis, the centre slice
 * plus each border reversed and added onto the values it copied (offset 1 for 'reflect', which
 * skips the edge value, 0 for 'symmetric').
 */
export function mirrorPadGrad(dy: tf.Tensor, xShape: number[], paddings: Array<[number, number]>, mode: 'reflect' | 'symmetric'): tf.Tensor {
  return tf.tidy(() => {
    const offset = mode === 'reflect' ? 1 : 0;
    let g = dy;
    for (let axis = 0; axis < xShape.length; axis++) {
      const [before, after] = paddings[axis];
      if (before === 0 && after === 0) continue;
      const n = xShape[axis];
      const size = g.shape.slice();
      const begin = g.shape.map(() => 0);
      const part = (start: number, len: number): tf.Tensor => {
        begin[axis] = start;
        size[axis] = len;
        return tf.slice(g, begin.slice(), size.slice());
      };
      const zeroPad = (t: tf.Tensor, lo: number, hi: number): tf.Tensor => tf.pad(t, t.shape.map((_, i) => (i === axis ? [lo, hi] : [0, 0])) as Array<[number, number]>);
      let acc = part(before, n);
      if (before > 0) acc = tf.add(acc, zeroPad(tf.reverse(part(0, before), axis), offset, n - offset - before));
      if (after > 0) acc = tf.add(acc, zeroPad(tf.reverse(part(before + n, after), axis), n - offset - after, offset));
      g = acc;
    }
    return g;
  });
}

const mirrorPadGradConfig: GradConfig = {
  kernelName: 'MirrorPad',
  inputsToSave: ['x'],
  gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs?: NamedAttrMap) => {
    const { paddings, mode } = attrs as unknown as MirrorPadAttrs;
    const x = saved[0];
    return { x: () => mirrorPadGrad(dy as tf.Tensor, x.shape, paddings, mode) };
  },
};

/** Source index of output index `i` in nearest-neighbour resizing, exactly as the tfjs forward kernels compute it. */
function nearestSource(i: number, ratio: number, inSize: number, alignCorners: boolean, halfPixelCenters: boolean): number {
  const frac = halfPixelCenters ? ratio * (i + 0.5) : ratio * i;
  let s = Math.min(inSize - 1, alignCorners ? Math.round(frac) : Math.floor(frac));
  if (halfPixelCenters) s = Math.max(0, s);
  return s;
}

/**
 * Gradient of resizeNearestNeighbor as the transpose of the forward map: every dy value is
 * added onto the input pixel the forward pass copied it from.
 */
export function resizeNearestNeighborGradScatter(dy: tf.Tensor4D, imagesShape: [number, number, number, number], alignCorners: boolean, halfPixelCenters: boolean): tf.Tensor4D {
  const [batch, inH, inW, ch] = imagesShape;
  const [, outH, outW] = dy.shape;
  const eff = (inSize: number, outSize: number) => (alignCorners && outSize > 1 ? (inSize - 1) / (outSize - 1) : inSize / outSize);
  const rowRatio = eff(inH, outH);
  const colRatio = eff(inW, outW);
  const rows = Array.from({ length: outH }, (_, r) => nearestSource(r, rowRatio, inH, alignCorners, halfPixelCenters));
  const cols = Array.from({ length: outW }, (_, c) => nearestSource(c, colRatio, inW, alignCorners, halfPixelCenters));
  const g = dy.dataSync();
  const dx = new Float32Array(batch * inH * inW * ch);
  let k = 0;
  for (let b = 0; b < batch; b++) {
    for (let r = 0; r < outH; r++) {
      const rowBase = (b * inH + rows[r]) * inW;
      for (let c = 0; c < outW; c++) {
        const base = (rowBase + cols[c]) * ch;
        for (let d = 0; d < ch; d++) dx[base + d] += g[k++];
      }
    }
  }
  return tf.tensor4d(dx, imagesShape, 'float32');
}

const resizeNearestNeighborGradKernel: KernelFunc = ({ inputs, attrs }) => {
  const { images, dy } = inputs;
  const { alignCorners, halfPixelCenters } = attrs as unknown as ResizeNearestNeighborGradAttrs;
  if (!(dy instanceof tf.Tensor) || !images) throw new Error(`ResizeNearestNeighborGrad: needs inputs images and dy (a tf.Tensor)`);
  return resizeNearestNeighborGradScatter(dy as tf.Tensor4D, images.shape as [number, number, number, number], alignCorners, halfPixelCenters);
};

/** Comparisons are piecewise constant: zero gradient for both inputs. */
const COMPARISONS = ['Greater', 'Less', 'LessEqual', 'Equal', 'NotEqual'];
const comparisonGrad = (kernelName: string): GradConfig => ({
  kernelName,
  inputsToSave: ['a', 'b'],
  gradFunc: (_dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => ({ a: () => tf.zerosLike(saved[0]), b: () => tf.zerosLike(saved[1]) }),
});

/** AvgPoolGrad(dy) is linear in dy, its adjoint is avgPool; the input only supplies a shape. */
const avgPoolGradGradConfig: GradConfig = {
  kernelName: 'AvgPoolGrad',
  inputsToSave: ['input'],
  gradFunc: (ddx: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs?: NamedAttrMap) => {
    const { filterSize, strides, pad } = attrs as unknown as AvgPoolGradAttrs;
    return { dy: () => tf.avgPool(ddx as tf.Tensor4D, filterSize, strides, pad), input: () => tf.zerosLike(saved[0]) };
  },
};

/**
 * Gradient of Mean/Sum over `axis`: dy broadcast back over the reduced axes (divided by their size
 * for Mean). The same arithmetic as tfjs-core's (dy times ones, then / size), with the ones made by
 * a backend kernel instead of uploaded from the host.
 */
function reductionGrad(kernelName: 'Mean' | 'Sum'): GradConfig {
  return {
    kernelName,
    inputsToSave: ['x'],
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs?: NamedAttrMap) => {
      const [x] = saved;
      const axes = tf.util.parseAxisParam((attrs as unknown as { axis: number | number[] }).axis, x.shape);
      const reduceSize = tf.util.sizeFromShape(tf.backend_util.computeOutAndReduceShapes(x.shape, axes)[1]);
      return {
        x: () => {
          const expanded = x.shape.slice();
          for (const a of axes) expanded[a] = 1;
          const spread = tf.mul(tf.reshape(dy as tf.Tensor, expanded), tf.fill(x.shape, 1, 'float32'));
          return kernelName === 'Mean' ? tf.div(spread, reduceSize) : spread;
        },
      };
    },
  };
}

const meanGradConfig = reductionGrad('Mean');
const sumGradConfig = reductionGrad('Sum');

interface SavingEngine {
  clone(x: tf.Tensor): tf.Tensor;
  state: { activeScope: { name: string } };
  addTapeNode(scopeName: string, inputs: Record<string, tf.Tensor>, outputs: tf.Tensor[], gradFunc: (dy: tf.Tensor) => Record<string, () => tf.Tensor>, saved: tf.Tensor[], attrs: object): void;
}
const SHARED_SAVES = Symbol.for('gan-study.sharedSaves');

/**
 * On wasm, a tensor saved for the backward pass shares its buffer instead of being copied.
 *
 * The engine keeps what a gradient needs as `engine.clone(t)` (its only use), which runs the
 * backend's Identity kernel: on cpu and webgl that shares the buffer, on wasm (tfjs-backend-wasm
 * 4.22) it copies it, so each saved activation costs a pass over memory and a second copy for as
 * long as the tape lives (the 64 px classifier's step: three copies of 16 MB, ~2 ms each). Tensors
 * are written in place only where no other tensor shares their memory (the addon's Adam checks
 * the backend's reference count, native-kernels.ts nativeAdamStep; the other heap kernels, wasm-adam.ts,
 * wasm-norm.ts and the oneDNN ones, write only fresh outputs), so on wasm a same-shape reshape,
 * which the backend serves by reference counting, holds the same values. It goes on the tape as the engine's clone does (a
 * saved tensor is often called inside a kernel, where ops are not recorded, and second-order
 * gradients, WGAN-GP's penalty, differentiate through it). Other backends keep the engine's clone.
 */
function shareSavedTensorsOnWasm(): void {
  const engine = tf.engine() as unknown as SavingEngine & { [SHARED_SAVES]?: true };
  if (engine[SHARED_SAVES]) return;
  const clone = engine.clone.bind(engine);
  engine.clone = (x: tf.Tensor) => {
    if (tf.getBackend() !== 'wasm') return clone(x);
    const y = tf.engine().runKernel('Reshape', { x }, { shape: x.shape }) as tf.Tensor;
    const gradFunc = (dy: tf.Tensor) => ({ x: () => tf.engine().runKernel('Cast', { x: dy }, { dtype: 'float32' }) as tf.Tensor });
    engine.addTapeNode(engine.state.activeScope.name, { x }, [y], gradFunc, [], {});
    return y;
  };
  engine[SHARED_SAVES] = true;
}

/** Registers the gradient and kernel fixes above. Idempotent. */
export function registerTfjsFixes(): void {
  shareSavedTensorsOnWasm();
  for (const name of COMPARISONS) if (!tf.getGradient(name)) tf.registerGradient(comparisonGrad(name));
  if (!tf.getGradient('AvgPoolGrad')) tf.registerGradient(avgPoolGradGradConfig);
  const grad = tf.getGradient('MirrorPad') as GradConfig | undefined;
  if (grad?.gradFunc !== mirrorPadGradConfig.gradFunc) tf.registerGradient(mirrorPadGradConfig);
  for (const config of [meanGradConfig, sumGradConfig]) {
    if ((tf.getGradient(config.kernelName) as GradConfig | undefined)?.gradFunc !== config.gradFunc) tf.registerGradient(config);
  }
  const kernel = tf.getKernel('ResizeNearestNeighborGrad', 'cpu') as KernelConfig | undefined;
  if (kernel?.kernelFunc !== resizeNearestNeighborGradKernel) {
    if (kernel) tf.unregisterKernel('ResizeNearestNeighborGrad', 'cpu');
    tf.registerKernel({ kernelName: 'ResizeNearestNeighborGrad', backendName: 'cpu', kernelFunc: resizeNearestNeighborGradKernel });
  }
}
