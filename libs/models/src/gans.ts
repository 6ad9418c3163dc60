/**
 * The study's models by name: the three GANs (DCGAN, PGGAN, CycleGAN) behind one registry the job
 * runner uses, and the classifier beside them for `study models`.
 */
import type { NetworkSummary } from './common';
import { CLASSIFIER_DEFAULTS, describeClassifier } from './classifier';
import { CYCLEGAN_DEFAULTS, createCyclegan, describeCyclegan, resolveCycleganConfig, restoreCyclegan } from './cyclegan';
import { DCGAN_DEFAULTS, createDcgan, describeDcgan, resolveDcganConfig, restoreDcgan } from './dcgan';
import { GAN_KINDS } from './gan';
import type { Gan, GanKind, GanTrainingData } from './gan';
import { PGGAN_DEFAULTS, createPggan, describePggan, resolvePgganConfig, restorePggan } from './pggan';

/** What the registry knows of one GAN architecture (its file's exports). */
export interface GanEntry {
  /** A new GAN with weights drawn from `seed`, training on `data`. */
  create(overrides: Record<string, unknown>, data: GanTrainingData, seed: number): Gan;
  /** A GAN exactly as its `checkpoint()` saved it. */
  restore(bytes: Uint8Array, data: GanTrainingData): Gan;
  /** Layers, output shapes, trainable parameter counts, from a throwaway build. */
  describe(overrides: Record<string, unknown>): NetworkSummary[];
  /** The defaults (each with its reason in the architecture's file; CycleGAN's nBlocks is 'auto' here). */
  defaults: Readonly<object>;
  /** Defaults + overrides, validated; throws naming a bad or unknown key. */
  resolve(overrides: Record<string, unknown>): object;
}

export const GANS: Record<GanKind, GanEntry> = {
  dcgan: { create: createDcgan, restore: restoreDcgan, describe: describeDcgan, defaults: DCGAN_DEFAULTS, resolve: resolveDcganConfig },
  pggan: { create: createPggan, restore: restorePggan, describe: describePggan, defaults: PGGAN_DEFAULTS, resolve: resolvePgganConfig },
  cyclegan: { create: createCyclegan, restore: restoreCyclegan, describe: describeCyclegan, defaults: CYCLEGAN_DEFAULTS, resolve: resolveCycleganConfig },
};

/** Every model `study models` describes. */
export type ModelName = 'classifier' | GanKind;
export const MODEL_NAMES: readonly ModelName[] = ['classifier', ...GAN_KINDS];

/** Config key that sets a model's image size. */
export const SIZE_KEY: Record<ModelName, 'inputSize' | 'resolution'> = { classifier: 'inputSize', dcgan: 'resolution', pggan: 'resolution', cyclegan: 'resolution' };

/**
 * The size each model is described at by default: its reference configuration (the classifier at the
 * dataset's 224 px, DCGAN at pytorch/examples' 64, CycleGAN at the paper's 256 with 9 blocks, PGGAN
 * at its configured target).
 */
export const REFERENCE_SIZES: Record<ModelName, number> = {
  classifier: CLASSIFIER_DEFAULTS.inputSize,
  dcgan: DCGAN_DEFAULTS.resolution,
  pggan: PGGAN_DEFAULTS.resolution,
  cyclegan: 256,
};

export function isGanKind(name: string): name is GanKind {
  return (GAN_KINDS as readonly string[]).includes(name);
}

export function isModelName(name: string): name is ModelName {
  return (MODEL_NAMES as readonly string[]).includes(name);
}

function entry(kind: string): GanEntry {
  if (!isGanKind(kind)) throw new Error(`unknown GAN '${kind}' (known: ${GAN_KINDS.join(', ')})`);
  return GANS[kind];
}

/** A new GAN of `kind`. */
export function createGan(kind: GanKind, overrides: Record<string, unknown>, data: GanTrainingData, seed: number): Gan {
  return entry(kind).create(overrides, data, seed);
}

/** A GAN of `kind` from its checkpoint bytes (a checkpoint of another model is rejected). */
export function restoreGan(kind: GanKind, bytes: Uint8Array, data: GanTrainingData): Gan {
  return entry(kind).restore(bytes, data);
}

/** Each network of a model: layers, output shapes, trainable parameter counts. */
export function describeModel(name: ModelName, overrides: Record<string, unknown> = {}): NetworkSummary[] {
  if (name === 'classifier') return describeClassifier(overrides);
  if (!isGanKind(name)) throw new Error(`unknown model '${String(name)}' (known: ${MODEL_NAMES.join(', ')})`);
  return entry(name).describe(overrides);
}
