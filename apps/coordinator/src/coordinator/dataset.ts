/**
 * The study's dataset, from the config: an image folder (`dataset.path`), or the embedded synthetic
 * stand-in. Gives the class counts the plan needs and a loader per image size.
 *
 * With a cache directory (`study run` and `study coordinator` use the user's cache, see
 * studyCacheDir), the synthetic set lives once per recipe in CACHE/synth-<key> (the key covers
 * everything its bytes depend on: seed, size, classes, counts, generator, sharp version) and
 * DIR/dataset is a symbolic link to it; decoded sets are cached in CACHE too, keyed by the folder's
 * state and the size. So a second study with the same recipe, in a new run directory, neither
 * renders, encodes nor decodes an image. A cached set that is incomplete is removed and rebuilt,
 * with a log line; a damaged decoded-set file is discarded and rebuilt by the loader (also logged).
 *
 * The synthetic set is not made here up front: its counts (all the plan needs) follow from the
 * recipe, and trainers make and decode it themselves from the recipe in the coordinator's welcome
 * (in their host's cache, one process at a time: ensureSynthSet). It is made here only when a
 * trainer asks for its images (a trainer without a cache, or whose sharp build would encode other
 * bytes), on the first such request. An image folder is counted up front, and decoded here for
 * trainers that ask (`study run`'s local trainers read it themselves, with --data).
 *
 * Without a cache directory (or when DIR/dataset is already a real folder, as runs made before the
 * cache have it), the set is synthesised into DIR/dataset and decoded sets go to DIR/.cache.
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import { cachedSynthPath, countImageFolder, ensureSynthSet, loadImageFolder, synthCounts, synthKey, type Dataset } from '@gan-study/data';
import type { ClassCounts, StudyConfig, SyntheticSetRef } from '@gan-study/protocol';
import { terminalProgress } from '../progress';

export interface StudyDataset {
  root: string;
  /** The synthetic set's recipe and key, for trainers that make it themselves; null for an image folder. */
  syntheticSet: SyntheticSetRef | null;
  counts: ClassCounts;
  load(size: number): Promise<Dataset>;
}

export interface PrepareOptions {
  /** The cache shared by studies (studyCacheDir), or null to keep everything in the run directory. */
  cacheDir?: string | null;
}

/** The synthetic set a config asks for: at the largest size any of its models reads. */
export function syntheticRecipe(config: StudyConfig): SyntheticSetRef['recipe'] {
  return {
    size: Math.max(config.imageSize, config.ganResolution.dcgan, config.ganResolution.pggan, config.ganResolution.cyclegan),
    seed: config.dataset.syntheticSeed,
    ...(config.dataset.syntheticClasses ? { classes: config.dataset.syntheticClasses } : {}),
    ...(config.dataset.syntheticCounts ? { counts: config.dataset.syntheticCounts } : {}),
  };
}

export async function prepareDataset(config: StudyConfig, runDir: string, log: (line: string) => void, opts: PrepareOptions = {}): Promise<StudyDataset> {
  let cacheDir = opts.cacheDir ?? null;
  if (cacheDir !== null) {
    try {
      await fs.mkdir(cacheDir, { recursive: true });
    } catch (err) {
      log(`cache directory ${cacheDir} unusable (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); keeping the data set in the run directory`);
      cacheDir = null;
    }
  }
  const decodedCache = cacheDir ?? path.join(runDir, '.cache');
  const decoder = (root: string) => async (size: number): Promise<Dataset> => {
    const bar = terminalProgress(`decoding ${size}px`, 'images');
    try {
      return await loadImageFolder(root, { size, cacheDir: decodedCache, log, onProgress: bar.update });
    } finally {
      bar.stop();
    }
  };
  if (config.dataset.path !== null) {
    const root = path.resolve(config.dataset.path);
    const counted = await countImageFolder(root);
    return { root, syntheticSet: null, counts: { classes: counted.classes, train: counted.counts.train, test: counted.counts.test }, load: decoder(root) };
  }
  const recipe = syntheticRecipe(config);
  const size = recipe.size;
  const key = synthKey(recipe);
  const inRun = path.join(runDir, 'dataset');
  const linked = await fs.lstat(inRun).then(
    (st) => !st.isDirectory(),
    () => true,
  );
  const root = cacheDir !== null && linked ? cachedSynthPath(cacheDir, key) : inRun;
  // A link left by a cached run whose cache is gone, now without a cache: the set goes here again.
  if (root === inRun && linked && (await fs.stat(inRun).catch(() => null)) === null) await fs.rm(inRun, { force: true });
  if (root !== inRun) await linkInto(inRun, root, log);
  log(
    `synthetic dataset (seed ${recipe.seed}, ${size}px, key ${key}) at ${root}${root !== inRun ? ` (linked from ${inRun})` : ''}: ` +
      'trainers make it from its recipe where they run; made here only for a trainer that asks for its images',
  );
  let made: Promise<unknown> | null = null;
  const ensure = (): Promise<unknown> => {
    made ??= (async () => {
      const bar = terminalProgress('synthetic data set', 'images');
      try {
        const r = await ensureSynthSet(root, recipe, { cached: cacheDir !== null && root !== inRun, log, onProgress: (done, total) => bar.update(done, total) });
        log(`synthetic dataset (seed ${r.seed}, ${size}px) ${r.reused ? 'reused' : 'written'} at ${root}`);
      } finally {
        bar.stop();
      }
    })();
    made.catch(() => (made = null));
    return made;
  };
  const decode = decoder(root);
  return { root, syntheticSet: { key, recipe }, counts: synthCounts(recipe), load: (sz) => ensure().then(() => decode(sz)) };
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
