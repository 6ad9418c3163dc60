/**
 * The study's dataset, from the config: an image folder (`dataset.path`), or the embedded synthetic
 * stand-in. Gives the class counts the plan needs and a loader per image size.
 *
 * With a cache directory (`study run` and `study coordinator` use the user's cache, see
 * studyCacheDir), the synthetic set is synthesised once per recipe into CACHE/synth-<key> (the key
 * covers everything its bytes depend on: seed, size, classes, counts, generator, sharp version) and
 * DIR/dataset is a symbolic link to it; decoded sets are cached in CACHE too, keyed by the folder's
 * state and the size. So a second study with the same recipe, in a new run directory, neither
 * renders, encodes nor decodes an image. A cached set that is incomplete is removed and rebuilt,
 * with a log line; a damaged decoded-set file is discarded and rebuilt by the loader (also logged).
 *
 * Without a cache directory (or when DIR/dataset is already a real folder, as runs made before the
 * cache have it), the set is synthesised into DIR/dataset and decoded sets go to DIR/.cache.
 */
import { promises as fs } from 'fs';
import * as os from 'os';
import * as path from 'path';
import { UserInputError } from '@gan-study/core';
import { IncompleteSynthSetError, countImageFolder, loadImageFolder, synthesize, synthKey, type Dataset, type SynthOptions } from '@gan-study/data';
import type { ClassCounts, StudyConfig } from '@gan-study/protocol';
import { terminalProgress } from '../progress';

export interface StudyDataset {
  root: string;
  synthetic: boolean;
  counts: ClassCounts;
  load(size: number): Promise<Dataset>;
}

/**
 * Where synthetic sets and decoded sets are kept between studies: $STUDY_CACHE_DIR, else
 * $XDG_CACHE_HOME/gan-study, else ~/.cache/gan-study. STUDY_CACHE_DIR=off (or empty) keeps
 * everything inside each run directory instead.
 */
export function studyCacheDir(env: NodeJS.ProcessEnv, home: string = os.homedir()): string | null {
  const own = env.STUDY_CACHE_DIR;
  if (own !== undefined) return own.trim() === '' || own.trim() === 'off' ? null : path.resolve(own);
  const xdg = env.XDG_CACHE_HOME;
  if (xdg && path.isAbsolute(xdg)) return path.join(xdg, 'gan-study');
  return home ? path.join(home, '.cache', 'gan-study') : null;
}

export interface PrepareOptions {
  /** The cache shared by studies (studyCacheDir), or null to keep everything in the run directory. */
  cacheDir?: string | null;
}

export async function prepareDataset(config: StudyConfig, runDir: string, log: (line: string) => void, opts: PrepareOptions = {}): Promise<StudyDataset> {
  let root: string;
  const synthetic = config.dataset.path === null;
  let cacheDir = opts.cacheDir ?? null;
  if (cacheDir !== null) {
    try {
      await fs.mkdir(cacheDir, { recursive: true });
    } catch (err) {
      log(`cache directory ${cacheDir} unusable (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); keeping the data set in the run directory`);
      cacheDir = null;
    }
  }
  if (config.dataset.path !== null) {
    root = path.resolve(config.dataset.path);
  } else {
    const size = Math.max(config.imageSize, config.ganResolution.dcgan, config.ganResolution.pggan, config.ganResolution.cyclegan);
    const recipe: Omit<SynthOptions, 'out'> = {
      size,
      seed: config.dataset.syntheticSeed,
      ...(config.dataset.syntheticClasses ? { classes: config.dataset.syntheticClasses } : {}),
      ...(config.dataset.syntheticCounts ? { counts: config.dataset.syntheticCounts } : {}),
    };
    const inRun = path.join(runDir, 'dataset');
    const linked = await fs.lstat(inRun).then(
      (st) => !st.isDirectory(),
      () => true,
    );
    root = cacheDir !== null && linked ? path.join(cacheDir, `synth-${synthKey(recipe)}`) : inRun;
    // A link left by a cached run whose cache is gone, now without a cache: the set goes here again.
    if (root === inRun && linked && (await fs.stat(inRun).catch(() => null)) === null) await fs.rm(inRun, { force: true });
    const made = await synthesizeOnce(root, recipe, cacheDir !== null && root !== inRun, log);
    if (root !== inRun) await linkInto(inRun, root, log);
    log(`synthetic dataset (seed ${made.seed}, ${size}px) ${made.reused ? 'reused' : 'written'} at ${root}${root !== inRun ? ` (linked from ${inRun})` : ''}`);
  }
  const counted = await countImageFolder(root);
  const counts: ClassCounts = { classes: counted.classes, train: counted.counts.train, test: counted.counts.test };
  const decodedCache = cacheDir ?? path.join(runDir, '.cache');
  const load = async (size: number): Promise<Dataset> => {
    const bar = terminalProgress(`decoding ${size}px`, 'images');
    try {
      return await loadImageFolder(root, { size, cacheDir: decodedCache, log, onProgress: bar.update });
    } finally {
      bar.stop();
    }
  };
  return { root, synthetic, counts, load };
}

/** Synthesises the set into `out` unless it is there; a cached copy that is not complete is removed and rebuilt. */
async function synthesizeOnce(out: string, recipe: Omit<SynthOptions, 'out'>, cached: boolean, log: (line: string) => void): ReturnType<typeof synthesize> {
  const run = async () => {
    const bar = terminalProgress('synthetic data set', 'images');
    try {
      return await synthesize({ ...recipe, out, onProgress: (done, total) => bar.update(done, total) });
    } finally {
      bar.stop();
    }
  };
  try {
    return await run();
  } catch (err) {
    // Only our own cache folder is ever removed: a damaged one (a file deleted, a copy cut short)
    // or one that is not the set its name says.
    if (!cached || !(err instanceof UserInputError)) throw err;
    log(`synthetic set cache ${out} is damaged (${err instanceof IncompleteSynthSetError ? err.problem : err.message}); rebuilding it`);
    await fs.rm(out, { recursive: true, force: true });
    return run();
  }
}

/** Makes `link` a symbolic link to `target` (replacing a link to elsewhere); a failure only costs the link. */
async function linkInto(link: string, target: string, log: (line: string) => void): Promise<void> {
  try {
    const current = await fs.readlink(link).catch(() => null);
    if (current === target) return;
    await fs.mkdir(path.dirname(link), { recursive: true });
    await fs.rm(link, { force: true });
    await fs.symlink(target, link, 'dir');
  } catch (err) {
    log(`could not link ${link} to the cached data set ${target}: ${(err as Error).message}`);
  }
}
