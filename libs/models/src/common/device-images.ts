/**
 * A training set uploaded to the backend once, from which each step's batch is gathered on the
 * device (tf.gather on an int32 index tensor). At most the batch's indices cross to the device per
 * step (4 B per image); on a GPU backend the images never travel again, and on wasm a step saves the
 * host copy into a batch buffer and its upload.
 *
 * The indices come from the caller's seeded Rng, exactly as the host batches did, and a gather copies
 * values bit for bit: runs stay reproducible and resumable, and give the same numbers as before.
 *
 * On wasm the batch is copied image by image on the heap (engine/wasm-heap.ts): the shipped wasm
 * GatherV2 is a generic per-element loop, measured at 14 ms CPU for 32 images of 64 px, slower than
 * the host gather + upload it replaces (6 ms), where the heap copy takes 0.13 ms. Other backends
 * use tf.gather.
 *
 * Sizes (float32, NHWC): the quick profile's largest set, the classifier's 2637 images at 16 px, is
 * 8 MB; the paper profile's largest are the classifier's 2637 images at 224 px (1.59 GB) and
 * CycleGAN's 1440 + 500 images at 256 px (1.53 GB); see docs/benchmarks.md.
 */
import * as tf from '@tensorflow/tfjs';
import { allocF32, f32, onWasm } from '../engine/wasm-heap';

export class DeviceImages {
  /** [count, height, width, channels], owned here: `dispose` frees it, no enclosing tidy does (a set may be made mid-step). */
  readonly tensor: tf.Tensor4D;
  readonly count: number;
  private disposed = false;

  /**
   * Uploads `count` images of `shape` (height, width, channels) from `images` (NHWC, exactly
   * count x h x w x c values), or takes ownership of a [count, h, w, c] tensor already on the device;
   * `what` names the set in errors.
   */
  constructor(images: Float32Array | tf.Tensor4D, count: number, shape: readonly [number, number, number], readonly what: string) {
    const per = shape[0] * shape[1] * shape[2];
    if (!Number.isInteger(count) || count < 1) throw new Error(`${what}: need at least one image, got count ${count}`);
    if (images instanceof tf.Tensor) {
      const s = images.shape;
      if (s.length !== 4 || s[0] !== count || s[1] !== shape[0] || s[2] !== shape[1] || s[3] !== shape[2] || images.dtype !== 'float32') {
        throw new Error(`${what}: expected a float32 tensor of [${count}, ${shape.join(', ')}], got ${images.dtype} [${s.join(', ')}]`);
      }
      this.tensor = tf.keep(images);
    } else {
      if (!(images instanceof Float32Array) || images.length !== count * per) {
        throw new Error(`${what}: expected ${count} images of ${shape.join('x')} = ${count * per} values, got ${(images as { length?: number } | undefined)?.length}`);
      }
      this.tensor = tf.keep(tf.tensor4d(images, [count, shape[0], shape[1], shape[2]], 'float32'));
    }
    this.count = count;
  }

  /** A new set holding f(these images) (e.g. downscaled), computed on the device; this one is unchanged. */
  map(f: (images: tf.Tensor4D) => tf.Tensor4D, what = this.what): DeviceImages {
    this.alive();
    const t = tf.tidy(() => f(this.tensor));
    try {
      return new DeviceImages(t, this.count, [t.shape[1], t.shape[2], t.shape[3]], what);
    } catch (err) {
      t.dispose();
      throw err;
    }
  }

  /** Bytes held on the device. */
  get bytes(): number {
    return this.tensor.size * 4;
  }

  /** The images at `indices`, in that order, as a new [indices.length, h, w, c] tensor (the caller disposes it). */
  gather(indices: ArrayLike<number>): tf.Tensor4D {
    this.alive();
    const idx = Int32Array.from(indices);
    if (idx.length === 0) throw new Error(`${this.what}: a batch needs at least one index`);
    for (let i = 0; i < idx.length; i++) {
      // Not every backend's gather checks its indices; a bad one is a bug in the caller's sampler.
      if (!(idx[i] >= 0 && idx[i] < this.count) || idx[i] !== indices[i]) {
        throw new Error(`${this.what}: batch index #${i} is ${indices[i]}, outside [0, ${this.count})`);
      }
    }
    if (onWasm()) return this.copyOnHeap(idx);
    return tf.tidy(() => tf.gather(this.tensor, tf.tensor1d(idx, 'int32')));
  }

  /** The gather as one memcpy per image on the wasm heap (indices already checked). */
  private copyOnHeap(idx: Int32Array): tf.Tensor4D {
    const [, h, w, c] = this.tensor.shape;
    const per = h * w * c;
    const out = allocF32([idx.length, h, w, c]) as tf.Tensor4D;
    // Views after the allocation, which may grow (and detach) the heap; every element is written.
    const src = f32(this.tensor);
    const dst = f32(out);
    for (let j = 0; j < idx.length; j++) dst.set(src.subarray(idx[j] * per, (idx[j] + 1) * per), j * per);
    return out;
  }

  private alive(): void {
    if (this.disposed) throw new Error(`${this.what}: images were disposed`);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.tensor.dispose();
  }
}
