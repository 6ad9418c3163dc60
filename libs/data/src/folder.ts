/**
 * Image folders: `ROOT/{train,test}/{CLASS}/*.{jpg,jpeg,png}` (extensions case-insensitive), the
 * layout of the public "Skin Cancer: Malignant vs. Benign" set and of any class-sorted set.
 *
 * Decoding: sharp, EXIF orientation applied, alpha flattened onto black, converted to 8-bit sRGB
 * (grayscale becomes three equal channels), resized to size x size with `fit` ('cover' by default:
 * aspect kept, centre cropped), then x = v / 127.5 - 1. A plain JPEG already at size x size (the
 * synthetic set; a real set at its own size) is decoded by the same libjpeg in WebAssembly instead,
 * with the same pixels and without libvips's per-call cost (jpeg-wasm.ts). Each split's Float32Array is allocated once
 * from the counted files and every decoded image is written straight into its slot, so peak memory
 * is the output plus `concurrency` images in flight.
 */
import { createHash } from 'crypto';
import { promises as fs } from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp, { type Metadata } from 'sharp';
import { decodeJpegWasm } from './jpeg-wasm';
import { UserInputError } from '@gan-study/core';
import { forEachLimit } from './pool';
import { readCache, writeCache, cacheFileFor } from './cache';
import { inLockTurn } from './lock';
import type { Dataset, ImageSet, LoadOptions, Split } from './types';
import { SPLITS } from './types';

export const IMAGE_EXTENSION = /\.(jpe?g|png)$/i;

interface ScannedFile {
  /** Relative to root, '/' separators. */
  rel: string;
  abs: string;
  label: number;
  bytes: number;
  mtimeMs: number;
}

export interface FolderScan {
  root: string;
  classes: string[];
  files: Record<Split, ScannedFile[]>;
  /** Relative paths of entries under the split folders that are not images (or are nested folders). */
  ignored: string[];
  /** Sentences for Dataset.warnings found while scanning. */
  warnings: string[];
}

function byCodeUnit(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

async function statOrNull(p: string): Promise<import('fs').Stats | null> {
  try {
    return await fs.stat(p);
  } catch {
    return null;
  }
}

/** Lists the folder and checks its layout; no image is opened. */
export async function scanImageFolder(rootIn: string): Promise<FolderScan> {
  const root = path.resolve(rootIn);
  const rootStat = await statOrNull(root);
  if (rootStat === null) throw new UserInputError(`dataset folder ${root} does not exist`);
  if (!rootStat.isDirectory()) throw new UserInputError(`dataset folder ${root} is not a directory`);
  const ignored: string[] = [];
  const warnings: string[] = [];
  const classDirs: Record<Split, string[]> = { train: [], test: [] };
  for (const split of SPLITS) {
    const splitDir = path.join(root, split);
    const st = await statOrNull(splitDir);
    if (st === null || !st.isDirectory()) {
      throw new UserInputError(`${splitDir}: missing split folder (expected ${root}/{train,test}/CLASS/*.jpg)`);
    }
    for (const name of (await fs.readdir(splitDir)).sort(byCodeUnit)) {
      const s = await statOrNull(path.join(splitDir, name));
      if (s?.isDirectory()) classDirs[split].push(name);
      else ignored.push(`${split}/${name}`);
    }
    if (classDirs[split].length === 0) throw new UserInputError(`${splitDir}: no class folders (expected ${splitDir}/CLASS/*.jpg)`);
  }
  const classes = classDirs.train;
  const notInTrain = classDirs.test.filter((c) => !classes.includes(c));
  if (notInTrain.length > 0) {
    throw new UserInputError(
      `${path.join(root, 'test', notInTrain[0])}: class "${notInTrain.join('", "')}" is in test but not in train (train classes: ${classes.join(', ')})`,
    );
  }
  const missingInTest = classes.filter((c) => !classDirs.test.includes(c));
  if (missingInTest.length > 0) warnings.push(`class ${missingInTest.join(', ')} has no test folder; it is never tested`);

  const files: Record<Split, ScannedFile[]> = { train: [], test: [] };
  for (const split of SPLITS) {
    for (const cls of classDirs[split]) {
      const dir = path.join(root, split, cls);
      let count = 0;
      for (const name of (await fs.readdir(dir)).sort(byCodeUnit)) {
        const rel = `${split}/${cls}/${name}`;
        const abs = path.join(dir, name);
        const st = await statOrNull(abs);
        if (st === null || !st.isFile() || !IMAGE_EXTENSION.test(name)) {
          ignored.push(rel);
          continue;
        }
        files[split].push({ rel, abs, label: classes.indexOf(cls), bytes: st.size, mtimeMs: st.mtimeMs });
        count++;
      }
      if (count === 0) throw new UserInputError(`${dir}: class folder has no images (.jpg, .jpeg or .png)`);
    }
  }
  if (ignored.length > 0) {
    const shown = ignored.slice(0, 5).join(', ');
    warnings.push(`ignored ${ignored.length} entr${ignored.length === 1 ? 'y' : 'ies'} that are not .jpg/.jpeg/.png files in a class folder: ${shown}${ignored.length > 5 ? ', ...' : ''}`);
  }
  return { root, classes, files, ignored, warnings };
}

export async function countImageFolder(root: string): Promise<{ classes: string[]; counts: { train: Record<string, number>; test: Record<string, number> } }> {
  const scan = await scanImageFolder(root);
  const counts = { train: {} as Record<string, number>, test: {} as Record<string, number> };
  for (const split of SPLITS) {
    for (const c of scan.classes) counts[split][c] = 0;
    for (const f of scan.files[split]) counts[split][scan.classes[f.label]]++;
  }
  return { classes: scan.classes, counts };
}

/** Fast fingerprint of the folder's state (paths, sizes, mtimes) plus the decode settings: the cache key. */
export function statFingerprint(scan: FolderScan, size: number, fit: string): string {
  const h = createHash('sha256');
  h.update(`gan-study image folder v1\0size=${size}\0fit=${fit}\n`);
  for (const split of SPLITS) for (const f of scan.files[split]) h.update(`${f.rel}\0${f.bytes}\0${f.mtimeMs}\n`);
  return h.digest('hex');
}

const LOG_PREFIX = 'data';

/**
 * True when the decoding steps (orientation, flattening, sRGB, resizing, alpha) leave the image as
 * it is: already size x size, 8-bit sRGB with three channels, no alpha, palette, colour profile or
 * orientation tag. Such an image (every image of the synthetic set, and sets saved at the model's
 * size) is decoded straight to its pixels, the same values for a fraction of the work.
 */
function decodesAsIs(meta: Metadata, size: number): boolean {
  return (
    meta.width === size &&
    meta.height === size &&
    meta.channels === 3 &&
    meta.space === 'srgb' &&
    meta.depth === 'uchar' &&
    !meta.hasAlpha &&
    !meta.hasProfile &&
    !meta.isPalette &&
    (meta.orientation === undefined || meta.orientation === 1) &&
    (meta.format === 'jpeg' || meta.format === 'png')
  );
}

/**
 * True when the JPEG's own header already shows what decodesAsIs asks of sharp's metadata: size x
 * size, 8-bit, three components, baseline or progressive Huffman coding, and no APP1 (EXIF:
 * orientation), APP2 (ICC profile) or APP14 (Adobe colour transform) segment. It only reads the
 * markers before the first scan, so it saves a libvips call per image (a third of the CPU of
 * decoding a 16 px image); anything else, or anything it does not follow, is left to metadata().
 */
export function jpegDecodesAsIs(bytes: Uint8Array, size: number): boolean {
  if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8) return false;
  let at = 2;
  let sof = false;
  while (at + 4 <= bytes.length) {
    if (bytes[at] !== 0xff) return false;
    const marker = bytes[at + 1];
    if (marker === 0xff) {
      at++; // fill byte
      continue;
    }
    const length = (bytes[at + 2] << 8) | bytes[at + 3];
    if (length < 2 || at + 2 + length > bytes.length) return false;
    if (marker === 0xda) return sof; // start of scan: every header segment seen
    if (marker === 0xe1 || marker === 0xe2 || marker === 0xee) return false;
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      // SOFn: only baseline (C0), extended (C1) and progressive (C2) Huffman frames, once.
      if (sof || marker > 0xc2 || length !== 17) return false;
      const precision = bytes[at + 4];
      const height = (bytes[at + 5] << 8) | bytes[at + 6];
      const width = (bytes[at + 7] << 8) | bytes[at + 8];
      if (precision !== 8 || width !== size || height !== size || bytes[at + 9] !== 3) return false;
      sof = true;
    } else if (!(marker >= 0xe0 && marker <= 0xef) && marker !== 0xfe && marker !== 0xdb && marker !== 0xc4 && marker !== 0xdd) {
      return false; // not APPn, COM, DQT, DHT or DRI: not a header this check knows
    }
    at += 2 + length;
  }
  return false;
}

/** Decodes one encoded image into `out` at `offset`; returns its original dimensions. */
export async function decodeImageInto(bytes: Buffer, size: number, fit: 'cover' | 'fill', out: Float32Array, offset: number): Promise<{ width: number; height: number }> {
  // A JPEG whose header shows it is already as asked needs neither metadata() nor libvips: the same
  // decoder in WebAssembly gives the same pixels (jpeg-wasm.ts), unless libjpeg warns or fails.
  const asIs = jpegDecodesAsIs(bytes, size);
  if (asIs) {
    const rgba = await decodeJpegWasm(bytes);
    if (rgba !== null && rgba.width === size && rgba.height === size) {
      const d = rgba.data;
      for (let i = 0, k = 0; i < size * size * 3; i += 3, k += 4) {
        out[offset + i] = d[k] / 127.5 - 1;
        out[offset + i + 1] = d[k + 1] / 127.5 - 1;
        out[offset + i + 2] = d[k + 2] / 127.5 - 1;
      }
      return { width: size, height: size };
    }
  }
  const img = sharp(bytes, { failOn: 'truncated' });
  const meta = asIs ? null : await img.metadata();
  const pipeline = meta === null || decodesAsIs(meta, size)
    ? img
    : img
        .rotate()
        .flatten({ background: { r: 0, g: 0, b: 0 } })
        .toColourspace('srgb')
        .resize(size, size, { fit, position: 'centre', kernel: 'lanczos3' })
        .removeAlpha();
  const { data, info } = await pipeline.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  if (info.channels !== 3 || data.length !== size * size * 3) {
    throw new Error(`decoded to ${info.width}x${info.height}x${info.channels} (${data.length} bytes), expected ${size}x${size}x3`);
  }
  for (let i = 0; i < data.length; i++) out[offset + i] = data[i] / 127.5 - 1;
  return meta === null ? { width: size, height: size } : { width: meta.width ?? 0, height: meta.height ?? 0 };
}

export async function loadImageFolder(rootIn: string, opts: LoadOptions): Promise<Dataset> {
  const size = opts.size;
  if (!Number.isInteger(size) || size < 1 || size > 4096) throw new UserInputError(`size must be an integer in [1, 4096], got ${size}`);
  const fit = opts.fit ?? 'cover';
  if (fit !== 'cover' && fit !== 'fill') throw new UserInputError(`fit must be 'cover' or 'fill', got ${String(fit)}`);
  const onCorrupt = opts.onCorrupt ?? 'skip';
  if (onCorrupt !== 'skip' && onCorrupt !== 'error') throw new UserInputError(`onCorrupt must be 'skip' or 'error', got ${String(onCorrupt)}`);
  const concurrency = opts.concurrency ?? Math.max(1, os.cpus().length * 2);
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new UserInputError(`concurrency must be a positive integer, got ${concurrency}`);
  if (opts.lockWaitMs !== undefined && !(opts.lockWaitMs > 0 && Number.isFinite(opts.lockWaitMs))) throw new UserInputError(`lockWaitMs must be a positive number of milliseconds, got ${opts.lockWaitMs}`);
  const log = opts.log ?? (() => undefined);
  const progress = opts.onProgress ?? (() => undefined);

  const scan = await scanImageFolder(rootIn);
  const fingerprint = statFingerprint(scan, size, fit);
  const settings: DecodeSettings = { size, fit, onCorrupt, concurrency, log, progress };
  if (opts.cacheDir === undefined) return decodeFolder(scan, fingerprint, settings, null);
  const cacheFile = cacheFileFor(opts.cacheDir, scan.root, size, fit, fingerprint);
  const fromCache = async (): Promise<Dataset | null> => {
    const hit = await readCache(cacheFile, fingerprint, log);
    if (hit === null) return null;
    if (onCorrupt === 'error' && hit.skipped.length > 0) {
      throw new UserInputError(`${path.join(scan.root, hit.skipped[0].file)}: corrupt or truncated image (${hit.skipped[0].reason})`);
    }
    log(`${LOG_PREFIX} cache hit ${cacheFile} train=${hit.train.labels.length} test=${hit.test.labels.length} size=${size}`);
    return { root: scan.root, classes: scan.classes, train: hit.train, test: hit.test, hash: hit.hash, warnings: hit.warnings };
  };
  // A cache that is there is read without the lock (trainers that find it do not queue behind each
  // other). On a miss, a host's trainers that need the same folder at once take turns: one decodes
  // it, the others wait and read what it wrote (writeCache is atomic: without the lock only the
  // work is repeated).
  const hit = await fromCache();
  if (hit !== null) return hit;
  const turn = { what: 'decoding the image folder', log: (line: string) => log(`${LOG_PREFIX} ${line}`), waitMs: opts.lockWaitMs ?? 30 * 60_000 };
  return inLockTurn(cacheFile, turn, async () => (await fromCache()) ?? decodeFolder(scan, fingerprint, settings, cacheFile));
}

interface DecodeSettings {
  size: number;
  fit: 'cover' | 'fill';
  onCorrupt: 'skip' | 'error';
  concurrency: number;
  log: NonNullable<LoadOptions['log']>;
  progress: NonNullable<LoadOptions['onProgress']>;
}

/** Decodes every image of the scanned folder; writes the decoded-folder cache when `cacheFile` is given. */
async function decodeFolder(scan: FolderScan, fingerprint: string, settings: DecodeSettings, cacheFile: string | null): Promise<Dataset> {
  const { size, fit, onCorrupt, concurrency, log, progress } = settings;
  const fileHashes = new Map<string, string>();
  const skipped: Array<{ file: string; reason: string }> = [];
  const dims = new Map<string, number>();
  const sets: Partial<Record<Split, ImageSet>> = {};
  const stride = size * size * 3;
  for (const split of SPLITS) {
    const list = scan.files[split];
    const images = new Float32Array(list.length * stride);
    const ok = new Uint8Array(list.length);
    let done = 0;
    progress(0, list.length, `decode ${split}`);
    await forEachLimit(list.length, concurrency, async (i) => {
      const f = list[i];
      const bytes = await fs.readFile(f.abs);
      fileHashes.set(f.rel, createHash('sha256').update(bytes).digest('hex'));
      try {
        const d = await decodeImageInto(bytes, size, fit, images, i * stride);
        const key = `${d.width}x${d.height}`;
        dims.set(key, (dims.get(key) ?? 0) + 1);
        ok[i] = 1;
      } catch (err) {
        const reason = (err as Error).message.split('\n')[0];
        if (onCorrupt === 'error') throw new UserInputError(`${f.abs}: corrupt or truncated image (${reason})`);
        skipped.push({ file: f.rel, reason });
        log(`${LOG_PREFIX} skip ${f.rel}: corrupt or truncated image (${reason})`, 'warn');
      }
      progress(++done, list.length, `decode ${split}`);
    });
    sets[split] = compact(scan, split, images, ok, size);
  }
  skipped.sort((a, b) => byCodeUnit(a.file, b.file));

  const warnings = [...scan.warnings];
  if (skipped.length > 0) {
    const shown = skipped.slice(0, 10).map((s) => s.file).join(', ');
    warnings.push(`skipped ${skipped.length} corrupt or truncated image${skipped.length === 1 ? '' : 's'}: ${shown}${skipped.length > 10 ? `, and ${skipped.length - 10} more` : ''}`);
  }
  for (const split of SPLITS) {
    const set = sets[split] as ImageSet;
    for (let c = 0; c < scan.classes.length; c++) {
      const had = scan.files[split].some((f) => f.label === c);
      if (had && !set.labels.includes(c)) throw new UserInputError(`${path.join(scan.root, split, scan.classes[c])}: every image of the class is corrupt`);
    }
  }
  if (dims.size > 1) {
    const sorted = [...dims.entries()].sort((a, b) => b[1] - a[1]);
    const others = sorted.slice(1).reduce((s, e) => s + e[1], 0);
    warnings.push(`images have ${dims.size} different sizes (most common ${sorted[0][0]}: ${sorted[0][1]}; ${others} of other sizes, e.g. ${sorted[1][0]}); all resized to ${size}x${size} (fit ${fit})`);
  } else if (dims.size === 1) {
    const only = [...dims.keys()][0];
    if (only !== `${size}x${size}`) log(`${LOG_PREFIX} all images are ${only}; resized to ${size}x${size} (fit ${fit})`);
  }
  for (const w of warnings) log(`${LOG_PREFIX} warning: ${w}`, 'warn');

  const hash = contentHash(fileHashes);
  const dataset: Dataset = { root: scan.root, classes: scan.classes, train: sets.train as ImageSet, test: sets.test as ImageSet, hash, warnings };
  if (cacheFile !== null) {
    progress(0, 1, 'cache');
    await writeCache(cacheFile, { fingerprint, hash, size, fit, warnings, skipped, train: dataset.train, test: dataset.test });
    log(`${LOG_PREFIX} cache write ${cacheFile}`);
    progress(1, 1, 'cache');
  }
  return dataset;
}

function contentHash(fileHashes: Map<string, string>): string {
  const h = createHash('sha256');
  for (const rel of [...fileHashes.keys()].sort(byCodeUnit)) h.update(`${rel}\0${fileHashes.get(rel)}\n`);
  return h.digest('hex');
}

/** The split's ImageSet without the skipped slots (a copy only when something was skipped). */
function compact(scan: FolderScan, split: Split, images: Float32Array, ok: Uint8Array, size: number): ImageSet {
  const list = scan.files[split];
  const keep: number[] = [];
  for (let i = 0; i < list.length; i++) if (ok[i]) keep.push(i);
  const stride = size * size * 3;
  let out = images;
  if (keep.length < list.length) {
    out = new Float32Array(keep.length * stride);
    keep.forEach((src, dst) => out.set(images.subarray(src * stride, (src + 1) * stride), dst * stride));
  }
  return {
    size,
    classes: scan.classes,
    images: out,
    labels: Int32Array.from(keep, (i) => list[i].label),
    files: keep.map((i) => list[i].rel),
  };
}
