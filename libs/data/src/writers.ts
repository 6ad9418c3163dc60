/**
 * Writers for generated images: one PNG per image, and a sample grid (the paper's Figure 2), both
 * through sharp and written atomically (temporary file, fsync, rename).
 */
import * as path from 'path';
import sharp from 'sharp';
import { UserInputError, writeFileAtomic } from '@gan-study/core';

/** Math through a module binding: under Jest's vm context every global lookup (`Math`) is slow in hot loops. */
const M = Math;

function countImages(images: Float32Array, size: number, what: string): number {
  if (!Number.isInteger(size) || size < 1) throw new UserInputError(`${what}: size must be a positive integer, got ${size}`);
  const stride = size * size * 3;
  if (images.length % stride !== 0) throw new UserInputError(`${what}: ${images.length} values is not a whole number of ${size}x${size}x3 images`);
  return images.length / stride;
}

/** [-1, 1] floats to 8-bit values (clamped; NaN becomes 0). */
export function toUint8(src: Float32Array, out = new Uint8Array(src.length)): Uint8Array {
  for (let i = 0; i < src.length; i++) {
    const v = M.round((src[i] + 1) * 127.5);
    out[i] = v > 255 ? 255 : v >= 0 ? v : 0;
  }
  return out;
}

/** Encodes one size x size RGB image ([-1, 1] floats, HWC) as PNG bytes. */
export async function encodePng(pixels: Float32Array, width: number, height: number): Promise<Buffer> {
  return sharp(toUint8(pixels), { raw: { width, height, channels: 3 } }).png({ compressionLevel: 6 }).toBuffer();
}

/** Writes images (N*size*size*3, [-1, 1], NHWC) as `${dir}/${prefix}${index padded}.png`; returns the paths. */
export async function writePngs(dir: string, images: Float32Array, size: number, prefix: string): Promise<string[]> {
  const n = countImages(images, size, 'writePngs');
  const stride = size * size * 3;
  const digits = M.max(4, String(n - 1).length);
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const file = path.join(dir, `${prefix}${String(i).padStart(digits, '0')}.png`);
    await writeFileAtomic(file, await encodePng(images.subarray(i * stride, (i + 1) * stride), size, size));
    out.push(file);
  }
  return out;
}

export interface GridOptions {
  /** Columns; default ceil(sqrt(N)). */
  cols?: number;
  /** Pixels between cells and around the border; default 2. */
  pad?: number;
  /** Background value in [-1, 1]; default 1 (white). */
  background?: number;
}

/** Lays images out in a grid (row-major) and writes it as one PNG. */
export async function writeGrid(file: string, images: Float32Array, size: number, opts: GridOptions = {}): Promise<void> {
  const n = countImages(images, size, 'writeGrid');
  if (n === 0) throw new UserInputError('writeGrid: no images');
  const cols = opts.cols ?? M.ceil(M.sqrt(n));
  const pad = opts.pad ?? 2;
  if (!Number.isInteger(cols) || cols < 1) throw new UserInputError(`writeGrid: cols must be a positive integer, got ${cols}`);
  if (!Number.isInteger(pad) || pad < 0) throw new UserInputError(`writeGrid: pad must be a non-negative integer, got ${pad}`);
  const rows = M.ceil(n / cols);
  const width = cols * size + (cols + 1) * pad;
  const height = rows * size + (rows + 1) * pad;
  const grid = new Float32Array(width * height * 3).fill(opts.background ?? 1);
  for (let i = 0; i < n; i++) {
    const x0 = pad + (i % cols) * (size + pad);
    const y0 = pad + M.floor(i / cols) * (size + pad);
    for (let y = 0; y < size; y++) {
      const src = (i * size * size + y * size) * 3;
      grid.set(images.subarray(src, src + size * 3), ((y0 + y) * width + x0) * 3);
    }
  }
  await writeFileAtomic(file, await encodePng(grid, width, height));
}
