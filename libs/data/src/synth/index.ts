/**
 * The synthetic lesion set: a stand-in with the public skin-cancer set's layout and counts, for
 * users without the real images. Results on it are not medical results.
 *
 * Image (split, class, i) is rendered from Rng(seed).fork(`synth/<split>/<class>/<i>`) alone, so
 * generation is order-independent and parallelisable, and the same seed gives the same pixels;
 * files are encoded by sharp with fixed settings (same bytes with the same sharp build).
 */
import { createHash } from 'crypto';
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
 * A short name for the set `opts` describes (seed, size, classes, counts, format, overlap, generator
 * and sharp version: everything its bytes depend on), computed without rendering anything: sets
 * with the same key are the same files, so a cache can keep one per key.
 */
export function synthKey(opts: Omit<SynthOptions, 'out'>): string {
  return createHash('sha256').update(JSON.stringify(manifestOf(resolve(opts)))).digest('hex').slice(0, 16);
}

/**
 * The classes (sorted, as the set's folders list them) and per-split image counts of the set `opts`
 * describes, without rendering anything: what a study's plan needs before any image exists.
 */
export function synthCounts(opts: Omit<SynthOptions, 'out'>): { classes: string[]; train: Record<string, number>; test: Record<string, number> } {
  const r = resolve(opts);
  const counts = manifestOf(r).counts as SynthResult['counts'];
  return { classes: r.classes, train: counts.train, test: counts.test };
}

/** Why `out` (holding a manifest equal to `r`'s) is not the complete set, or null when it is. */
async function missingFiles(out: string, r: Resolved): Promise<string | null> {
  const ext = r.format === 'jpg' ? 'jpg' : 'png';
  for (const split of SPLITS) {
    for (let c = 0; c < r.classes.length; c++) {
      const dir = path.join(out, split, r.classes[c]);
      let names: Set<string>;
      try {
        names = new Set(await fs.readdir(dir));
      } catch {
        return `${dir} is missing`;
      }
      const n = r.counts[split][c];
      for (let i = 0; i < n; i++) {
        const name = `${fileName(i)}.${ext}`;
        if (!names.has(name)) return `${path.join(dir, name)} is missing`;
      }
      if (names.size !== n) return `${dir} holds ${names.size} entries, the manifest says ${n} images`;
    }
  }
  return null;
}

/** Staging folders are `OUT.partial-<pid>-<random>`: one per writer, so two processes never share one. */
const STAGING = /\.partial-(\d+)-[0-9a-z]+$/;

/** Removes staging folders next to `out` left by writers that are gone (killed mid-way). */
async function removeAbandonedStaging(out: string): Promise<void> {
  const base = path.basename(out);
  let names: string[];
  try {
    names = await fs.readdir(path.dirname(out));
  } catch {
    return;
  }
  for (const name of names) {
    const m = STAGING.exec(name);
    if (!m || name.slice(0, m.index) !== base) continue;
    const pid = Number(m[1]);
    let alive = pid === process.pid;
    if (!alive) {
      try {
        process.kill(pid, 0);
        alive = true;
      } catch (err) {
        alive = (err as NodeJS.ErrnoException).code === 'EPERM';
      }
    }
    if (!alive) await fs.rm(path.join(path.dirname(out), name), { recursive: true, force: true });
  }
}

/**
 * Writes OUT/{train,test}/CLASS/NNNN.{jpg,png} and OUT/synth.json. Files go to a staging folder
 * next to OUT first, which is renamed to OUT at the end, so OUT is either absent or complete, also
 * when several processes synthesise the same set at once (the first rename wins; the others find
 * the same set there and reuse it). When OUT already holds a set with the same manifest and every
 * file it lists, it is reused; an OUT with the same manifest but missing or extra files is an
 * error naming the first problem (`study run`'s cache removes and rebuilds it); any other existing
 * OUT is an error.
 */
export async function synthesize(opts: SynthOptions): Promise<SynthResult> {
  const r = resolve(opts);
  const out = path.resolve(opts.out);
  const manifest = manifestOf(r);
  const result: SynthResult = { out, classes: r.classes, counts: manifest.counts as SynthResult['counts'], seed: r.seed, size: r.size, format: r.format, overlap: r.overlap, reused: false };
  const existing = await reusable(out, r, manifest);
  if (existing) return { ...result, reused: true };
  await removeAbandonedStaging(out);
  await fs.rm(`${out}.partial`, { recursive: true, force: true }); // the staging folder of earlier versions
  const staging = `${out}.partial-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
  try {
    await writeSet(r, staging, opts);
    await writeJsonAtomic(path.join(staging, SYNTH_MANIFEST), manifest);
    try {
      await fs.rename(staging, out);
    } catch (err) {
      // Another process renamed its copy of the same set into place first.
      if (!(await reusable(out, r, manifest))) throw err;
      return { ...result, reused: true };
    }
  } finally {
    await fs.rm(staging, { recursive: true, force: true });
  }
  return result;
}

/** OUT holds the manifest of the set asked for but not all of its files (or more). */
export class IncompleteSynthSetError extends UserInputError {
  constructor(
    readonly out: string,
    /** The first problem found, e.g. `OUT/train/benign/0003.jpg is missing`. */
    readonly problem: string,
  ) {
    super(`${out} holds an incomplete synthetic set (${problem}); remove it or choose another --out`);
  }
}

/** True when OUT holds this exact set; false when OUT is absent; an error for anything else there. */
async function reusable(out: string, r: Resolved, manifest: Record<string, unknown>): Promise<boolean> {
  const existing = await fs.stat(out).catch(() => null);
  if (existing === null) return false;
  let found: unknown = null;
  try {
    found = JSON.parse(await fs.readFile(path.join(out, SYNTH_MANIFEST), 'utf8'));
  } catch {
    // not one of ours
  }
  if (found !== null && sameManifest(found, manifest)) {
    const missing = await missingFiles(out, r);
    if (missing === null) return true;
    throw new IncompleteSynthSetError(out, missing);
  }
  throw new UserInputError(
    found === null
      ? `${out} already exists and is not a synthetic set; choose another --out`
      : `${out} already holds a synthetic set with other settings (${path.join(out, SYNTH_MANIFEST)}); remove it or choose another --out`,
  );
}

/** Renders and encodes every image of the set into `dir`. */
async function writeSet(r: Resolved, dir: string, opts: SynthOptions): Promise<void> {
  const jobs: Array<{ split: Split; c: number; i: number }> = [];
  for (const split of SPLITS) {
    for (let c = 0; c < r.classes.length; c++) {
      await fs.mkdir(path.join(dir, split, r.classes[c]), { recursive: true });
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
    const file = path.join(dir, job.split, r.classes[job.c], `${fileName(job.i)}.${ext}`);
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
  if (failure !== null) throw failure;
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
