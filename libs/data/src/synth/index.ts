/**
 * The synthetic lesion set: a stand-in with the public skin-cancer set's layout and counts, for
 * users without the real images. Results on it are not medical results.
 *
 * Image (split, class, i) is rendered from Rng(seed).fork(`synth/<split>/<class>/<i>`) alone, so
 * generation is order-independent and parallelisable, and the same seed gives the same pixels;
 * files are encoded by sharp with fixed settings (same bytes with the same sharp build).
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { Rng, UserInputError, writeJsonAtomic } from '@gan-study/core';
import type { ImageSet, Split } from '../types';
import { SPLITS } from '../types';
import { drawLesion, profileFor, type LesionProfile } from './profiles';
import { renderLesion } from './render';

/** Math through a module binding: under Jest's vm context every global lookup (`Math`) is slow in hot loops. */
const M = Math;

export { PROFILES, KNOWN_CLASS_NAMES, profileFor } from './profiles';
export type { LesionProfile, LesionFeatures } from './profiles';

export const SYNTH_DEFAULTS = {
  /** The public set's two classes. */
  classes: ['benign', 'malignant'],
  /** The public set's counts (train 1440 / 1197, test 360 / 300). */
  counts: { train: [1440, 1197], test: [360, 300] },
  /** The public set's resolution. */
  size: 224,
  seed: 0,
  /** JPEG like the public set. */
  format: 'jpg' as SynthFormat,
  /** JPEG quality: high enough that compression does not wash out fine structures. */
  quality: 90,
  /** Scale of the class-mixing weight (see profiles.ts): the irreducible class overlap. */
  overlap: 0.3,
};

/** Per class, when classes other than the default two are given without counts. */
export const DEFAULT_COUNTS_PER_CLASS = { train: 1000, test: 250 };

export type SynthFormat = 'jpg' | 'png';

export interface SynthOptions {
  out: string;
  size?: number;
  seed?: number;
  classes?: string[];
  counts?: { train: number[]; test: number[] };
  format?: SynthFormat;
  overlap?: number;
  /** Images rendered ahead while earlier ones are encoded and written; default 4. */
  concurrency?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface SynthResult {
  out: string;
  classes: string[];
  counts: { train: Record<string, number>; test: Record<string, number> };
  seed: number;
  size: number;
  format: SynthFormat;
  overlap: number;
  /** True when `out` already held this exact set (same manifest) and nothing was written. */
  reused: boolean;
}

export const SYNTH_MANIFEST = 'synth.json';
export const SYNTH_GENERATOR = 'gan-study synthetic lesions v1';

interface Resolved {
  size: number;
  seed: number;
  classes: string[];
  profiles: LesionProfile[];
  counts: { train: number[]; test: number[] };
  format: SynthFormat;
  overlap: number;
}

function resolve(opts: Omit<SynthOptions, 'out'>): Resolved {
  const size = opts.size ?? SYNTH_DEFAULTS.size;
  if (!Number.isInteger(size) || size < 8 || size > 1024) throw new UserInputError(`size must be an integer in [8, 1024], got ${size}`);
  const seed = opts.seed ?? SYNTH_DEFAULTS.seed;
  if (!Number.isInteger(seed)) throw new UserInputError(`seed must be an integer, got ${seed}`);
  const classes = opts.classes ?? SYNTH_DEFAULTS.classes;
  if (classes.length < 2) throw new UserInputError(`need at least two classes, got ${classes.length} (${classes.join(', ')})`);
  for (const c of classes) {
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(c)) throw new UserInputError(`class name "${c}" must be letters, digits, '_', '.', '-'`);
  }
  if (new Set(classes).size !== classes.length) throw new UserInputError(`class names repeat: ${classes.join(', ')}`);
  const isDefault = classes.join() === SYNTH_DEFAULTS.classes.join();
  const given = opts.counts ?? (isDefault ? SYNTH_DEFAULTS.counts : { train: classes.map(() => DEFAULT_COUNTS_PER_CLASS.train), test: classes.map(() => DEFAULT_COUNTS_PER_CLASS.test) });
  for (const split of SPLITS) {
    const list = given[split];
    if (!Array.isArray(list) || list.length !== classes.length) throw new UserInputError(`counts.${split} must have one count per class (${classes.length}: ${classes.join(', ')}), got ${JSON.stringify(list)}`);
    for (const n of list) if (!Number.isInteger(n) || n < 1 || n > 1_000_000) throw new UserInputError(`counts.${split} must be integers in [1, 1000000], got ${n}`);
  }
  // Folders list classes sorted, so the set is built sorted; counts follow their classes.
  const order = classes.map((_, k) => k).sort((a, b) => (classes[a] < classes[b] ? -1 : 1));
  const counts = { train: order.map((k) => given.train[k]), test: order.map((k) => given.test[k]) };
  const sortedClasses = order.map((k) => classes[k]);
  const profiles = sortedClasses.map(profileFor);
  const format = opts.format ?? SYNTH_DEFAULTS.format;
  if (format !== 'jpg' && format !== 'png') throw new UserInputError(`format must be 'jpg' or 'png', got ${String(format)}`);
  const overlap = opts.overlap ?? SYNTH_DEFAULTS.overlap;
  if (!(overlap >= 0 && overlap <= 2)) throw new UserInputError(`overlap must be in [0, 2], got ${overlap}`);
  return { size, seed, classes: sortedClasses, profiles, counts, format, overlap };
}

/** The Rng of one image: depends only on (seed, split, class, index). */
export function synthImageRng(seed: number, split: Split, className: string, index: number): Rng {
  return new Rng(seed).fork(`synth/${split}/${className}/${index}`);
}

/** Renders image `index` of `className` in `split` as 8-bit RGB (size*size*3). */
function renderOne(r: Resolved, split: Split, classIndex: number, index: number): Uint8Array {
  const rng = synthImageRng(r.seed, split, r.classes[classIndex], index);
  const lesion = drawLesion(rng, r.profiles, classIndex, r.overlap);
  const px = renderLesion(rng, r.size, lesion);
  const out = new Uint8Array(px.length);
  for (let i = 0; i < px.length; i++) out[i] = M.round(px[i] * 255);
  return out;
}

function fileName(index: number): string {
  return `${String(index).padStart(4, '0')}`;
}

function manifestOf(r: Resolved): Record<string, unknown> {
  const counts = { train: {} as Record<string, number>, test: {} as Record<string, number> };
  for (const split of SPLITS) r.classes.forEach((c, k) => (counts[split][c] = r.counts[split][k]));
  return {
    generator: SYNTH_GENERATOR,
    notice: 'Synthetic images drawn by a program. Not medical images; results on them are not medical results.',
    seed: r.seed,
    size: r.size,
    format: r.format,
    quality: r.format === 'jpg' ? SYNTH_DEFAULTS.quality : null,
    overlap: r.overlap,
    classes: r.classes,
    profiles: Object.fromEntries(r.classes.map((c, k) => [c, r.profiles[k].name])),
    counts,
    sharp: sharp.versions.sharp,
  };
}

function sameManifest(a: unknown, b: Record<string, unknown>): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * Writes OUT/{train,test}/CLASS/NNNN.{jpg,png} and OUT/synth.json. Files go to `OUT.partial`
 * first, which is renamed to OUT at the end, so OUT is either absent or complete. When OUT already
 * holds a set with the same manifest it is reused; any other existing OUT is an error.
 */
export async function synthesize(opts: SynthOptions): Promise<SynthResult> {
  const r = resolve(opts);
  const out = path.resolve(opts.out);
  const manifest = manifestOf(r);
  const result: SynthResult = { out, classes: r.classes, counts: manifest.counts as SynthResult['counts'], seed: r.seed, size: r.size, format: r.format, overlap: r.overlap, reused: false };
  const existing = await fs.stat(out).catch(() => null);
  if (existing !== null) {
    let found: unknown = null;
    try {
      found = JSON.parse(await fs.readFile(path.join(out, SYNTH_MANIFEST), 'utf8'));
    } catch {
      // not one of ours
    }
    if (found !== null && sameManifest(found, manifest)) return { ...result, reused: true };
    throw new UserInputError(
      found === null
        ? `${out} already exists and is not a synthetic set; choose another --out`
        : `${out} already holds a synthetic set with other settings (${path.join(out, SYNTH_MANIFEST)}); remove it or choose another --out`,
    );
  }
  const staging = `${out}.partial`;
  await fs.rm(staging, { recursive: true, force: true });
  const jobs: Array<{ split: Split; c: number; i: number }> = [];
  for (const split of SPLITS) {
    for (let c = 0; c < r.classes.length; c++) {
      await fs.mkdir(path.join(staging, split, r.classes[c]), { recursive: true });
      for (let i = 0; i < r.counts[split][c]; i++) jobs.push({ split, c, i });
    }
  }
  const ext = r.format === 'jpg' ? 'jpg' : 'png';
  const concurrency = opts.concurrency ?? 4;
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new UserInputError(`concurrency must be a positive integer, got ${concurrency}`);
  let done = 0;
  const inFlight = new Set<Promise<void>>();
  let failure: unknown = null;
  opts.onProgress?.(0, jobs.length);
  for (const job of jobs) {
    if (failure !== null) break;
    // Rendering is synchronous CPU work on this thread; encoding and writing run on libuv's pool.
    const pixels = renderOne(r, job.split, job.c, job.i);
    const file = path.join(staging, job.split, r.classes[job.c], `${fileName(job.i)}.${ext}`);
    const img = sharp(pixels, { raw: { width: r.size, height: r.size, channels: 3 } });
    const task = (r.format === 'jpg' ? img.jpeg({ quality: SYNTH_DEFAULTS.quality }) : img.png({ compressionLevel: 6 }))
      .toBuffer()
      .then((buf) => fs.writeFile(file, buf))
      .then(
        () => {
          done++;
          opts.onProgress?.(done, jobs.length);
        },
        (err: unknown) => {
          failure ??= err;
        },
      );
    const tracked: Promise<void> = task.finally(() => inFlight.delete(tracked));
    inFlight.add(tracked);
    if (inFlight.size >= concurrency) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  if (failure !== null) {
    await fs.rm(staging, { recursive: true, force: true });
    throw failure;
  }
  await writeJsonAtomic(path.join(staging, SYNTH_MANIFEST), manifest);
  await fs.rename(staging, out);
  return result;
}

export interface SynthImageSetOptions {
  size?: number;
  seed?: number;
  classes?: string[];
  /** Images per class, in class order. */
  counts: number[];
  split?: Split;
  overlap?: number;
}

/**
 * The same images as `synthesize` renders (before JPEG compression), straight into memory as an
 * ImageSet: for dry runs and tests that need learnable lesion images without touching the disk.
 */
export function synthImageSet(opts: SynthImageSetOptions): ImageSet {
  const split = opts.split ?? 'train';
  const other: Split = split === 'train' ? 'test' : 'train';
  const r = resolve({ ...opts, counts: { [split]: opts.counts, [other]: opts.counts } as { train: number[]; test: number[] } });
  const total = r.counts[split].reduce((a, b) => a + b, 0);
  const stride = r.size * r.size * 3;
  const images = new Float32Array(total * stride);
  const labels = new Int32Array(total);
  const files: string[] = [];
  let n = 0;
  for (let c = 0; c < r.classes.length; c++) {
    for (let i = 0; i < r.counts[split][c]; i++, n++) {
      const px = renderOne(r, split, c, i);
      for (let k = 0; k < stride; k++) images[n * stride + k] = px[k] / 127.5 - 1;
      labels[n] = c;
      files.push(`${split}/${r.classes[c]}/${fileName(i)}.png`);
    }
  }
  return { size: r.size, classes: r.classes, images, labels, files };
}
