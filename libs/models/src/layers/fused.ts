/**
 * Plumbing shared by the fused layers (channel-norm.ts, reflection-pad.ts): a tf.customGrad op
 * whose forward saves tensors for its backward without copying them.
 */
import * as tf from '@tensorflow/tfjs';

interface CloningEngine {
  clone(x: tf.Tensor): tf.Tensor;
}

/**
 * `save(tensors)` of a tf.customGrad forward, with each saved tensor sharing its buffer with the
 * tensor given instead of holding a copy.
 *
 * The engine keeps what a forward saves as `clone(t)`. On cpu and webgl a clone shares the buffer;
 * the wasm backend's Identity kernel (tfjs-backend-wasm 4.22) copies it, so every saved activation
 * would be a second copy of that activation for as long as the tape lives, plus a pass over memory
 * to make it. Here, for the duration of `save`, the engine's clone is a same-shape reshape, which
 * shares the buffer on every backend (reference-counted, as a clone is on cpu). Tensors are never
 * written in place, so a shared buffer holds the values the forward saw.
 */
export function saveShared(save: tf.GradSaveFunc, tensors: tf.Tensor[]): void {
  const engine = tf.engine() as unknown as CloningEngine;
  const own = Object.prototype.hasOwnProperty.call(engine, 'clone');
  const clone = engine.clone;
  engine.clone = (t: tf.Tensor) => tf.reshape(t, t.shape);
  try {
    save(tensors);
  } finally {
    if (own) engine.clone = clone;
    else delete (engine as Partial<CloningEngine>).clone;
  }
}
