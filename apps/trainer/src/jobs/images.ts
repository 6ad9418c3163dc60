/**
 * Image helpers for the job runners: gathering rows of an NHWC set, resizing a batch, and the
 * sample grid (the paper's Figure 2: real images of the budget beside generated ones).
 */
import * as tf from '@tensorflow/tfjs';
import { encodePng } from '@gan-study/data';

/** The images at `indices` of an NHWC array of `size` px, copied into one array. */
export function gather(images: Float32Array, size: number, indices: ArrayLike<number>): Float32Array {
  const stride = size * size * 3;
  const out = new Float32Array(indices.length * stride);
  for (let j = 0; j < indices.length; j++) out.set(images.subarray(indices[j] * stride, (indices[j] + 1) * stride), j * stride);
  return out;
}

/**
 * Bilinear resize of n images from `from` to `to` px (half-pixel centres, as PIL and torchvision),
 * values kept in [-1, 1]. Identity (a copy-free return) when the sizes match.
 */
export function resizeImages(images: Float32Array, n: number, from: number, to: number): Float32Array {
  if (from === to) return images;
  if (n === 0) return new Float32Array(0);
  return tf.tidy(() => {
    const x = tf.tensor4d(images, [n, from, from, 3]);
    const y = tf.image.resizeBilinear(x, [to, to], false, true).clipByValue(-1, 1);
    return y.dataSync() as Float32Array;
  }).slice();
}

/**
 * One PNG: `real` images in the first row(s), a blank gap row, then `generated` ones, `cols` per row.
 * White background, 2 px between cells.
 */
export async function gridPng(real: Float32Array, nReal: number, generated: Float32Array, nGen: number, size: number, cols = 8): Promise<Buffer> {
  const pad = 2;
  const rowsReal = Math.ceil(nReal / cols);
  const rowsGen = Math.ceil(nGen / cols);
  const rows = rowsReal + rowsGen + (rowsReal > 0 && rowsGen > 0 ? 1 : 0);
  const width = cols * size + (cols + 1) * pad;
  const height = Math.max(1, rows) * size + (Math.max(1, rows) + 1) * pad;
  const grid = new Float32Array(width * height * 3).fill(1);
  const place = (src: Float32Array, i: number, row: number) => {
    const x0 = pad + (i % cols) * (size + pad);
    const y0 = pad + row * (size + pad);
    for (let y = 0; y < size; y++) {
      const s = (i * size * size + y * size) * 3;
      grid.set(src.subarray(s, s + size * 3), ((y0 + y) * width + x0) * 3);
    }
  };
  for (let i = 0; i < nReal; i++) place(real, i, Math.floor(i / cols));
  const genRow0 = rowsReal > 0 ? rowsReal + 1 : 0;
  for (let i = 0; i < nGen; i++) place(generated, i, genRow0 + Math.floor(i / cols));
  return encodePng(grid, width, height);
}
