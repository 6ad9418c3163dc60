import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { allocF32, f32, floatIndex, observeReadBacks, readBack } from './wasm-heap';

describe('wasm heap access', () => {
  beforeAll(async () => {
    await tf.setBackend('wasm');
  });

  it('views a tensor in place and allocates outputs that tf ops can use', () => {
    const x = tf.tensor([1, 2, 3, 4], [2, 2]);
    const y = allocF32([2, 2]);
    const [src, dst] = [f32(x), f32(y)];
    for (let i = 0; i < 4; i++) dst[i] = src[i] * 10;
    expect(Array.from(tf.add(y, 1).dataSync())).toEqual([11, 21, 31, 41]);
    expect(floatIndex(dst)).toBe(dst.byteOffset / 4);
    tf.dispose([x, y]);
  });

  it('gives float offsets past 2 GiB as positive numbers (a signed shift made them negative)', () => {
    expect(floatIndex({ byteOffset: 2 ** 31 + 8 })).toBe(2 ** 29 + 2);
    expect(floatIndex({ byteOffset: 4294901760 - 4 })).toBe(4294901760 / 4 - 1);
  });

  it('rejects tensors that are not float32', () => {
    const i = tf.tensor([1, 2], [2], 'int32');
    expect(() => f32(i)).toThrow(/float32/);
    i.dispose();
  });
});

describe('readBack', () => {
  it('reads a tensor on wasm from the heap (no readSync) and tells the observers; on cpu through dataSync', async () => {
    const seen: number[] = [];
    const stop = observeReadBacks((n) => seen.push(n));
    try {
      await tf.setBackend('wasm');
      const x = tf.tensor([1.5, 2.5, 3.5]);
      const backend = tf.backend() as unknown as { readSync: (...a: unknown[]) => unknown };
      const readSync = jest.spyOn(backend, 'readSync');
      expect(Array.from(readBack(x))).toEqual([1.5, 2.5, 3.5]);
      expect(readSync).not.toHaveBeenCalled();
      readSync.mockRestore();
      x.dispose();
      expect(seen).toEqual([3]);
      await tf.setBackend('cpu');
      const y = tf.tensor([4, 5]);
      expect(Array.from(readBack(y))).toEqual([4, 5]);
      y.dispose();
      expect(seen).toEqual([3]); // cpu reads go through readSync, counted there
    } finally {
      stop();
      await tf.setBackend('wasm');
    }
  });
});
