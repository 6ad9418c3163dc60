/**
 * Subsets and budgets. A budget keeps `k` images of one class: the class's files are sorted by
 * relative path, shuffled with Rng(seed).fork(`budget/<class>`), and the first k taken. The
 * permutation does not depend on k, so for one seed the budgets are nested (50 inside 100 inside
 * 200 inside 500), and it depends only on the file names, not on the order the set was loaded in.
 */
import { Rng, UserInputError } from '@gan-study/core';
import type { ImageSet } from './types';

/** A new ImageSet holding the given images (copied), in the given order. */
export function subsetImageSet(set: ImageSet, indices: ArrayLike<number>): ImageSet {
  const n = set.labels.length;
  const stride = set.size * set.size * 3;
  const images = new Float32Array(indices.length * stride);
  const labels = new Int32Array(indices.length);
  const files: string[] = new Array(indices.length);
  for (let j = 0; j < indices.length; j++) {
    const i = indices[j];
    if (!Number.isInteger(i) || i < 0 || i >= n) throw new UserInputError(`subset index ${i} is out of range (set has ${n} images)`);
    images.set(set.images.subarray(i * stride, (i + 1) * stride), j * stride);
    labels[j] = set.labels[i];
    files[j] = set.files[i];
  }
  return { size: set.size, classes: set.classes, images, labels, files };
}

function classIndex(set: ImageSet, className: string): number {
  const c = set.classes.indexOf(className);
  if (c < 0) throw new UserInputError(`unknown class "${className}" (classes: ${set.classes.join(', ')})`);
  return c;
}

/** Indices of the images of one class, ascending. */
export function classIndices(set: ImageSet, className: string): number[] {
  const c = classIndex(set, className);
  const out: number[] = [];
  for (let i = 0; i < set.labels.length; i++) if (set.labels[i] === c) out.push(i);
  return out;
}

/** Sorted indices into `set` of `budget` images of `className`, nested across budgets for one seed. */
export function selectBudget(set: ImageSet, className: string, budget: number, seed: number): number[] {
  const members = classIndices(set, className);
  if (!Number.isInteger(budget) || budget < 0) throw new UserInputError(`budget must be a non-negative integer, got ${budget}`);
  if (budget > members.length) throw new UserInputError(`budget ${budget} for class "${className}" exceeds its ${members.length} images`);
  if (!Number.isInteger(seed)) throw new UserInputError(`budget seed must be an integer, got ${seed}`);
  const byName = members.slice().sort((a, b) => (set.files[a] < set.files[b] ? -1 : set.files[a] > set.files[b] ? 1 : a - b));
  new Rng(seed).fork(`budget/${className}`).shuffle(byName);
  return byName.slice(0, budget).sort((a, b) => a - b);
}

/** The relative paths selectBudget chooses, sorted: what the run directory records. */
export function selectBudgetFiles(set: ImageSet, className: string, budget: number, seed: number): string[] {
  return selectBudget(set, className, budget, seed)
    .map((i) => set.files[i])
    .sort();
}

/**
 * Indices of the images whose relative paths are listed (e.g. read back from a run directory), in
 * the listed order; a path not in the set is an error naming it.
 */
export function indicesOfFiles(set: ImageSet, files: readonly string[]): number[] {
  const at = new Map<string, number>();
  set.files.forEach((f, i) => at.set(f, i));
  return files.map((f) => {
    const i = at.get(f);
    if (i === undefined) throw new UserInputError(`file ${f} is not in the image set`);
    return i;
  });
}
