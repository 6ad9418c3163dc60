/**
 * @gan-study/data: image folders, budgets, the synthetic lesion set, and image writers. Plain typed
 * arrays only (no tfjs): the trainers turn them into tensors.
 */
export type { ImageSet, Dataset, LoadOptions, Split } from './types';
export { SPLITS } from './types';
export { loadImageFolder, countImageFolder, scanImageFolder, IMAGE_EXTENSION } from './folder';
export { subsetImageSet, classIndices, selectBudget, selectBudgetFiles, indicesOfFiles } from './budget';
export { encodeImageSet, decodeImageSet, validateImageSet } from './codec';
export type { EncodeOptions, PixelFormat } from './codec';
export { writePngs, writeGrid, encodePng, toUint8 } from './writers';
export type { GridOptions } from './writers';
export { synthesize, synthKey, synthCounts, IncompleteSynthSetError, synthImageSet, synthImageRng, SYNTH_DEFAULTS, DEFAULT_COUNTS_PER_CLASS, SYNTH_MANIFEST, SYNTH_GENERATOR, PROFILES, KNOWN_CLASS_NAMES, profileFor } from './synth';
export type { SynthOptions, SynthResult, SynthFormat, SynthImageSetOptions, LesionProfile, LesionFeatures } from './synth';
export { cachedSynthPath, ensureSynthSet } from './synth/cached';
export type { SynthRecipe, EnsureSynthOptions } from './synth/cached';
