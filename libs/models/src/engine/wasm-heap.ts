/**
 * Direct access to tensors on the wasm backend's heap, for kernels that move data (transposes,
 * patch extraction, pooling gradients) in one JavaScript pass instead of several wasm kernels
 * or a copy to the host and back (`dataSync` + `tf.tensor`, ~30 ms per 8 MB here).
 *
 * Rules for a kernel using it:
 * - allocate every output first (`allocF32`), then take the views (`f32`): an allocation may
 *   grow the wasm memory, which detaches every view taken before it;
 * - write every element of an output: the heap is not zeroed;
 * - only float32 tensors of the wasm backend.
 */
import * as tf from '@tensorflow/tfjs';
import type { TensorInfo } from '@tensorflow/tfjs';

/** The part of tfjs-backend-wasm's BackendWasm these kernels use (public methods of the class). */
interface WasmHeapBackend {
  makeOutput(shape: number[], dtype: 'float32'): TensorInfo;
  typedArrayFromHeap(info: TensorInfo): Float32Array | Int32Array | Uint8Array;
  refCount(dataId: object): number;
}

function heapBackend(): WasmHeapBackend {
  const backend = tf.findBackend('wasm') as unknown as Partial<WasmHeapBackend> | null;
  if (!backend || typeof backend.makeOutput !== 'function' || typeof backend.typedArrayFromHeap !== 'function' || typeof backend.refCount !== 'function') {
    throw new Error('wasm heap access: the wasm backend is not registered or has no makeOutput/typedArrayFromHeap/refCount (tfjs-backend-wasm 4.x expected)');
  }
  return backend as WasmHeapBackend;
}

/** A new, uninitialised float32 tensor on the wasm heap. Fill every element before use. */
export function allocF32(shape: number[]): tf.Tensor {
  const info = heapBackend().makeOutput(shape, 'float32');
  return tf.engine().makeTensorFromTensorInfo(info);
}

/**
 * A Float32Array over the tensor's bytes on the wasm heap (no copy). Valid until the next
 * allocation on the heap (any tf op or `allocF32`): take views after allocating outputs.
 */
export function f32(t: TensorInfo): Float32Array {
  if (t.dtype !== 'float32') throw new Error(`wasm heap access: expected a float32 tensor, got ${t.dtype} [${t.shape.join(', ')}]`);
  const view = heapBackend().typedArrayFromHeap(t);
  if (!(view instanceof Float32Array)) throw new Error(`wasm heap access: tensor [${t.shape.join(', ')}] is not float32 on the heap`);
  return view;
}

/**
 * True when `t` is the only tensor on its memory (a reshape or clone shares it; a variable that was
 * assigned a tensor shares it until that tensor is disposed), so writing it in place changes no
 * other tensor.
 */
export function soleOwner(t: tf.Tensor): boolean {
  return heapBackend().refCount(t.dataId) === 1;
}

/**
 * The index, in floats, of a view's first element within its buffer. Unsigned shift: the wasm heap
 * grows to 4 GiB, and a signed `>> 2` of a byte offset past 2 GiB is negative (it crashed CycleGAN
 * steps whose heap passed ~2.1 GiB, and could have read the wrong floats before that).
 */
export function floatIndex(view: { byteOffset: number }): number {
  return view.byteOffset >>> 2;
}

const readObservers = new Set<(values: number) => void>();

/** Calls `f` with the count of values each `readBack` reads from the wasm heap (for countTransfers in testing.ts); returns the unsubscribe. */
export function observeReadBacks(f: (values: number) => void): () => void {
  readObservers.add(f);
  return () => readObservers.delete(f);
}

/**
 * A float32 tensor's values on the host: on wasm a view of the heap (no copy; valid until the next
 * allocation, so copy out what you keep), elsewhere `dataSync()`. On wasm, dataSync copies into a
 * fresh array, and fresh memory costs ~4 ms per MB on the machines measured (8.4 MB: ~30 ms).
 */
export function readBack(t: tf.Tensor): Float32Array {
  if (onWasm()) {
    for (const f of readObservers) f(t.size); // dataSync goes through readSync, where countTransfers sees it
    return f32(t);
  }
  const values = t.dataSync();
  if (!(values instanceof Float32Array)) throw new Error(`readBack: expected a float32 tensor, got ${t.dtype} [${t.shape.join(', ')}]`);
  return values;
}

/** True when the active backend is wasm (the only one these kernels run on). */
export function onWasm(): boolean {
  return tf.getBackend() === 'wasm';
}
