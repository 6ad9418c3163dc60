/**
 * Test fixtures (import from '@gan-study/data/testing'): a fake in-memory image set for dry runs,
 * and tiny image folders on disk.
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { Rng } from '@gan-study/core';
import type { ImageSet } from './types';

export interface FakeImageSetOptions {
  size?: number;
  classes?: string[];
  /** Images per class (same order as classes); default 4 each. */
  perClass?: number[];
  seed?: number;
  split?: string;
}

/**
 * A small in-memory ImageSet: class c's images are noise around a class-specific colour, so a
 * classifier can learn it. Files are named like a folder's ('train/a/0000.png').
 */
export function fakeImageSet(opts: FakeImageSetOptions = {}): ImageSet {
  const size = opts.size ?? 8;
  const classes = opts.classes ?? ['benign', 'malignant'];
  const perClass = opts.perClass ?? classes.map(() => 4);
  const rng = new Rng(opts.seed ?? 0).fork('fake-image-set');
  const n = perClass.reduce((a, b) => a + b, 0);
  const stride = size * size * 3;
  const images = new Float32Array(n * stride);
  const labels = new Int32Array(n);
  const files: string[] = [];
  let i = 0;
  classes.forEach((cls, c) => {
    const tint = [Math.cos(c * 2.1), Math.sin(c * 1.7), Math.cos(c * 0.9 + 1)].map((v) => 0.5 * v);
    for (let k = 0; k < perClass[c]; k++, i++) {
      labels[i] = c;
      files.push(`${opts.split ?? 'train'}/${cls}/${String(k).padStart(4, '0')}.png`);
      for (let p = 0; p < size * size; p++) {
        for (let ch = 0; ch < 3; ch++) images[i * stride + p * 3 + ch] = Math.max(-1, Math.min(1, tint[ch] + rng.normal(0, 0.2)));
      }
    }
  });
  return { size, classes, images, labels, files };
}

/** One file to write into a test folder. */
export interface FixtureImage {
  /** Relative path, e.g. 'train/benign/a.png'. */
  rel: string;
  width?: number;
  height?: number;
  /** 1 (grayscale), 3 (RGB) or 4 (RGBA); default 3. */
  channels?: 1 | 3 | 4;
  /** Default from the extension. */
  format?: 'png' | 'jpeg';
  /** Raw bytes instead of an image (a corrupt or non-image file). */
  bytes?: Uint8Array | string;
  /** Seeds the pixel values; default derived from rel. */
  seed?: number;
}

/** Writes small images (random pixels) into `root` and returns it. */
export async function writeImageFolder(root: string, items: FixtureImage[]): Promise<string> {
  for (const item of items) {
    const file = path.join(root, ...item.rel.split('/'));
    await fs.mkdir(path.dirname(file), { recursive: true });
    if (item.bytes !== undefined) {
      await fs.writeFile(file, item.bytes);
      continue;
    }
    const width = item.width ?? 16;
    const height = item.height ?? width;
    const channels = item.channels ?? 3;
    const rng = new Rng(item.seed ?? 0).fork(item.rel);
    const raw = Buffer.alloc(width * height * channels);
    for (let i = 0; i < raw.length; i++) raw[i] = rng.int(256);
    const format = item.format ?? (/\.png$/i.test(item.rel) ? 'png' : 'jpeg');
    let img = sharp(raw, { raw: { width, height, channels } });
    if (channels === 1) img = img.toColourspace('b-w');
    await fs.writeFile(file, format === 'png' ? await img.png().toBuffer() : await img.jpeg({ quality: 90 }).toBuffer());
  }
  return root;
}
