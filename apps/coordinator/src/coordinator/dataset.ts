/**
 * The study's dataset, from the config: an image folder (`dataset.path`), or the embedded synthetic
 * stand-in, synthesised once into DIR/dataset (reused on resume: same seed, same files). Gives the
 * class counts the plan needs and a loader per image size (decoded sets cached under DIR/.cache).
 */
import * as path from 'path';
import { countImageFolder, loadImageFolder, synthesize, type Dataset } from '@gan-study/data';
import type { ClassCounts, StudyConfig } from '@gan-study/protocol';
import { terminalProgress } from '../progress';

export interface StudyDataset {
  root: string;
  synthetic: boolean;
  counts: ClassCounts;
  load(size: number): Promise<Dataset>;
}

export async function prepareDataset(config: StudyConfig, runDir: string, log: (line: string) => void): Promise<StudyDataset> {
  let root: string;
  const synthetic = config.dataset.path === null;
  if (config.dataset.path !== null) {
    root = path.resolve(config.dataset.path);
  } else {
    root = path.join(runDir, 'dataset');
    const size = Math.max(config.imageSize, config.ganResolution.dcgan, config.ganResolution.pggan, config.ganResolution.cyclegan);
    const bar = terminalProgress('synthetic data set', 'images');
    const made = await synthesize({
      onProgress: (done, total) => bar.update(done, total),
      out: root,
      size,
      seed: config.dataset.syntheticSeed,
      ...(config.dataset.syntheticClasses ? { classes: config.dataset.syntheticClasses } : {}),
      ...(config.dataset.syntheticCounts ? { counts: config.dataset.syntheticCounts } : {}),
    });
    bar.stop();
    log(`synthetic dataset (seed ${made.seed}, ${size}px) ${made.reused ? 'reused' : 'written'} at ${root}`);
  }
  const counted = await countImageFolder(root);
  const counts: ClassCounts = { classes: counted.classes, train: counted.counts.train, test: counted.counts.test };
  const cacheDir = path.join(runDir, '.cache');
  const load = async (size: number): Promise<Dataset> => {
    const bar = terminalProgress(`decoding ${size}px`, 'images');
    try {
      return await loadImageFolder(root, { size, cacheDir, log, onProgress: bar.update });
    } finally {
      bar.stop();
    }
  };
  return { root, synthetic, counts, load };
}
