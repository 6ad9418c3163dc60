/**
 * Test helpers for code that trains the models (import from '@gan-study/models/testing'; not part of
 * the library's runtime surface).
 */
import * as tf from '@tensorflow/tfjs';
import { observeReadBacks } from './engine/wasm-heap';

/** What crossed between host and backend: each read-back's length and their sum; each upload's values and their total count. */
export interface Transfers {
  reads: number[];
  read: number;
  uploads: ArrayLike<unknown>[];
  written: number;
}

interface Patchable {
  readSync(...args: unknown[]): ArrayLike<unknown>;
  write(values: ArrayLike<unknown> | null, ...rest: unknown[]): unknown;
}

/**
 * Counts the values that the code run by `f` moves between the host and the current backend: read
 * back (backend.readSync, which dataSync and data go through) and uploaded (backend.write, which
 * every tensor made from host values goes through). Transfers inside a kernel are the backend's own
 * business and not counted: the engine's JavaScript kernels on wasm read their inputs from the wasm
 * heap (host memory anyway); a GPU backend's kernels would not.
 */
export async function countTransfers(f: () => unknown): Promise<Transfers> {
  const backend = tf.backend() as unknown as Patchable;
  for (const name of ['readSync', 'write']) {
    if (Object.prototype.hasOwnProperty.call(backend, name)) throw new Error(`countTransfers: backend ${tf.getBackend()} has its own '${name}' (already counting?)`);
  }
  const outsideKernels = () => tf.engine().state.kernelDepth === 0;
  const reads: number[] = [];
  const uploads: ArrayLike<unknown>[] = [];
  const readSync = backend.readSync;
  const write = backend.write;
  backend.readSync = function (this: unknown, ...args: unknown[]) {
    const values = readSync.apply(this, args);
    if (outsideKernels()) reads.push(values.length);
    return values;
  };
  backend.write = function (this: unknown, values: ArrayLike<unknown> | null, ...rest: unknown[]) {
    if (outsideKernels() && values) uploads.push(values);
    return write.call(this, values, ...rest);
  };
  // The engine's own read-backs (a heap view on wasm, which bypasses readSync) are counted too.
  const unobserve = observeReadBacks((values) => {
    if (outsideKernels()) reads.push(values);
  });
  try {
    await f();
  } finally {
    unobserve();
    // The methods live on the backend's prototype: dropping the instance's copies restores them.
    delete (backend as Partial<Patchable>).readSync;
    delete (backend as Partial<Patchable>).write;
  }
  return { reads, read: reads.reduce((a, b) => a + b, 0), uploads, written: uploads.reduce((a, u) => a + u.length, 0) };
}
