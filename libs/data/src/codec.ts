/**
 * Compact bytes for an ImageSet: for sending a subset to a remote trainer, and the body of the
 * decoded-folder cache.
 *
 * Layout (little-endian):
 *   8 bytes  magic "GSIMGSET"
 *   u32      format version (1)
 *   u32      header length H
 *   H bytes  header, UTF-8 JSON: { size, n, classes, files, pixels: 'float32' | 'uint8' }
 *   pad      zero bytes up to a multiple of 4
 *   n * i32  labels
 *   pixels   n*size*size*3 float32 values, or as many uint8 values v with x = v / 127.5 - 1
 *
 * 'uint8' is four times smaller and exact for images decoded from 8-bit files (the loader computes
 * x = v / 127.5 - 1, and round((x + 1) * 127.5) gives v back); for generated images it rounds to
 * 1/127.5 steps.
 */
import { UserInputError } from '@gan-study/core';
import * as os from 'os';
import type { ImageSet } from './types';

/** Math through a module binding: under Jest's vm context every global lookup (`Math`) is slow in hot loops. */
const M = Math;

const MAGIC = 'GSIMGSET';
const VERSION = 1;

export type PixelFormat = 'float32' | 'uint8';

export interface EncodeOptions {
  /** 'float32' (default, exact) or 'uint8' (4x smaller, quantized to 256 levels). */
  pixels?: PixelFormat;
}

function assertLittleEndian(): void {
  if (os.endianness() !== 'LE') throw new Error('image set bytes are little-endian; this host is big-endian');
}

/** Checks that an ImageSet's arrays agree with each other; throws naming the first mismatch. */
export function validateImageSet(set: ImageSet, what = 'image set'): void {
  const n = set.labels.length;
  if (!Number.isInteger(set.size) || set.size < 1) throw new UserInputError(`${what}: size must be a positive integer, got ${set.size}`);
  if (set.files.length !== n) throw new UserInputError(`${what}: ${set.files.length} files but ${n} labels`);
  const want = n * set.size * set.size * 3;
  if (set.images.length !== want) {
    throw new UserInputError(`${what}: images hold ${set.images.length} values, expected ${want} (${n} x ${set.size} x ${set.size} x 3)`);
  }
  for (let i = 0; i < n; i++) {
    const l = set.labels[i];
    if (!(l >= 0 && l < set.classes.length)) throw new UserInputError(`${what}: label ${l} of image ${i} (${set.files[i]}) is not a class index (0..${set.classes.length - 1})`);
  }
}

export function encodeImageSet(set: ImageSet, opts: EncodeOptions = {}): Uint8Array {
  assertLittleEndian();
  validateImageSet(set);
  const pixels = opts.pixels ?? 'float32';
  if (pixels !== 'float32' && pixels !== 'uint8') throw new UserInputError(`pixels must be 'float32' or 'uint8', got ${String(pixels)}`);
  const n = set.labels.length;
  const header = Buffer.from(JSON.stringify({ size: set.size, n, classes: set.classes, files: set.files, pixels }), 'utf8');
  const headEnd = 16 + header.length;
  const labelsAt = M.ceil(headEnd / 4) * 4;
  const pixelsAt = labelsAt + n * 4;
  const pixelBytes = pixels === 'float32' ? set.images.length * 4 : set.images.length;
  const out = new Uint8Array(pixelsAt + pixelBytes);
  out.set(Buffer.from(MAGIC, 'latin1'), 0);
  const view = new DataView(out.buffer);
  view.setUint32(8, VERSION, true);
  view.setUint32(12, header.length, true);
  out.set(header, 16);
  out.set(new Uint8Array(set.labels.buffer, set.labels.byteOffset, n * 4), labelsAt);
  if (pixels === 'float32') {
    out.set(new Uint8Array(set.images.buffer, set.images.byteOffset, set.images.length * 4), pixelsAt);
  } else {
    const src = set.images;
    for (let i = 0; i < src.length; i++) {
      const v = M.round((src[i] + 1) * 127.5);
      out[pixelsAt + i] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  }
  return out;
}

/** Parses bytes from encodeImageSet; anything malformed is a UserInputError naming `source`. */
export function decodeImageSet(bytes: Uint8Array, source = 'image set bytes'): ImageSet {
  assertLittleEndian();
  const fail = (why: string): never => {
    throw new UserInputError(`${source}: ${why}`);
  };
  if (bytes.length < 16) fail(`too short (${bytes.length} bytes)`);
  if (Buffer.from(bytes.buffer, bytes.byteOffset, 8).toString('latin1') !== MAGIC) fail('not an encoded image set (bad magic)');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(8, true);
  if (version !== VERSION) fail(`format version ${version}, this build reads ${VERSION}`);
  const headerLength = view.getUint32(12, true);
  if (16 + headerLength > bytes.length) fail(`header length ${headerLength} runs past the end (${bytes.length} bytes)`);
  let header: unknown;
  try {
    header = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset + 16, headerLength).toString('utf8'));
  } catch (err) {
    fail(`header is not valid JSON: ${(err as Error).message}`);
  }
  const h = header as { size?: unknown; n?: unknown; classes?: unknown; files?: unknown; pixels?: unknown };
  const size = h.size;
  const n = h.n;
  if (typeof size !== 'number' || !Number.isInteger(size) || size < 1) return fail(`header size must be a positive integer, got ${String(size)}`);
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) return fail(`header n must be a non-negative integer, got ${String(n)}`);
  if (!Array.isArray(h.classes) || !h.classes.every((c) => typeof c === 'string')) return fail('header classes must be an array of strings');
  if (!Array.isArray(h.files) || h.files.length !== n || !h.files.every((f) => typeof f === 'string')) return fail(`header files must be ${n} strings`);
  if (h.pixels !== 'float32' && h.pixels !== 'uint8') return fail(`header pixels must be 'float32' or 'uint8', got ${String(h.pixels)}`);
  const labelsAt = M.ceil((16 + headerLength) / 4) * 4;
  const pixelsAt = labelsAt + n * 4;
  const count = n * size * size * 3;
  const expected = pixelsAt + (h.pixels === 'float32' ? count * 4 : count);
  if (bytes.length !== expected) fail(`length ${bytes.length} bytes, expected ${expected} for ${n} images of ${size}x${size}`);
  // Copies (a Buffer's slice() would be a view into a shared pool, not an aligned buffer of its own).
  const labels = new Int32Array(Uint8Array.prototype.slice.call(bytes, labelsAt, pixelsAt).buffer);
  let images: Float32Array;
  if (h.pixels === 'float32') {
    images = new Float32Array(Uint8Array.prototype.slice.call(bytes, pixelsAt, expected).buffer);
    for (let i = 0; i < images.length; i++) if (!Number.isFinite(images[i])) fail(`pixel value ${i} is not finite`);
  } else {
    images = new Float32Array(count);
    for (let i = 0; i < count; i++) images[i] = bytes[pixelsAt + i] / 127.5 - 1;
  }
  const set: ImageSet = { size, classes: h.classes as string[], images, labels, files: h.files as string[] };
  validateImageSet(set, source);
  return set;
}
