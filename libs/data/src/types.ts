/**
 * The shapes every other project sees: decoded image sets as plain typed arrays (no tfjs here; the
 * trainers turn them into tensors).
 */

/** One split, decoded. */
export interface ImageSet {
  /** Height = width, in pixels. */
  size: number;
  /** All class names of the dataset, sorted (plain code-unit order, not locale order). */
  classes: string[];
  /** N*size*size*3 values, NHWC, RGB, in [-1, 1]. */
  images: Float32Array;
  /** Class index per image (into `classes`). */
  labels: Int32Array;
  /** Path relative to the dataset root per image, with '/' separators, e.g. 'train/benign/0001.jpg'. */
  files: string[];
}

export interface Dataset {
  /** Absolute path of the folder it was loaded from. */
  root: string;
  classes: string[];
  train: ImageSet;
  test: ImageSet;
  /**
   * SHA-256 over the sorted (relative path, SHA-256 of the file's bytes) pairs of every image file:
   * the same folder copied to another machine has the same hash. Hex, 64 characters.
   */
  hash: string;
  /** Everything the loader did not do as asked (skipped files, resized sizes...), one sentence each. */
  warnings: string[];
}

export interface LoadOptions {
  /** Output height = width, pixels. */
  size: number;
  /**
   * Where decoded sets are cached (one binary file per folder and size); no cache when absent.
   * Processes loading the same folder into the same cache at once take turns (CACHEFILE.lock): one
   * decodes, the others wait and read its file.
   */
  cacheDir?: string;
  /** How long to wait for another process decoding the same folder into the cache (default 30 min). */
  lockWaitMs?: number;
  /** Images decoded at once; default os.cpus().length * 2. */
  concurrency?: number;
  /**
   * How images that are not square (or not `size`) are fitted: 'cover' (default) keeps the aspect
   * ratio and crops the centre, so lesion shape (asymmetry) is not distorted; 'fill' stretches.
   */
  fit?: 'cover' | 'fill';
  /** A corrupt or truncated image: 'skip' (default; counted, logged, listed in warnings) or 'error'. */
  onCorrupt?: 'skip' | 'error';
  onProgress?: (done: number, total: number, stage: string) => void;
  /** Each line of what the loader did; a skipped file and the set's warnings come with level 'warn'. */
  log?: (line: string, level?: 'info' | 'warn') => void;
}

export type Split = 'train' | 'test';
export const SPLITS: readonly Split[] = ['train', 'test'];
