/**
 * What every GAN of the study offers the job runner. Each architecture file (dcgan.ts, pggan.ts,
 * cyclegan.ts) exports `create<Name>(overrides, data, seed)` and `restore<Name>(bytes, data)` returning
 * a `Gan`; gans.ts maps the study's GAN names to them.
 *
 * The GAN owns its real images and samples its own batches with its own seeded streams, so a
 * checkpoint holds everything needed to resume exactly, and a step needs no argument.
 */
import type { NetworkSummary } from './common';

export type GanKind = 'dcgan' | 'pggan' | 'cyclegan';
export const GAN_KINDS: readonly GanKind[] = ['dcgan', 'pggan', 'cyclegan'];

export interface GanTrainingData {
  /** Real images of the class to fill (the budget's minority images), NHWC, RGB, in [-1, 1], at the GAN's resolution. */
  target: Float32Array;
  targetCount: number;
  /** CycleGAN only: images of the source domain it translates from (the majority class), same layout. */
  source?: Float32Array;
  sourceCount?: number;
}

export interface Gan {
  readonly kind: GanKind;
  /** The resolved config (JSON-serialisable). */
  readonly config: Readonly<Record<string, unknown>>;
  /** Output images are resolution x resolution x 3. */
  readonly resolution: number;
  /** Steps done, and the planned total (from the config's training length). */
  readonly step: number;
  readonly totalSteps: number;
  /** One training step: samples a batch, updates every network, returns the step's losses as plain numbers. */
  trainStep(): Record<string, number>;
  /**
   * n new images, NHWC in [-1, 1] at `resolution`. CycleGAN translates the given source images
   * (n of them); the others draw fresh latent noise from their own stream.
   */
  generate(n: number, source?: Float32Array): Promise<Float32Array>;
  /** The full training state as bytes (see common/checkpoint.ts). */
  checkpoint(): Promise<Uint8Array>;
  /** Each network's layers, output shapes and trainable parameter counts. */
  summary(): NetworkSummary[];
  dispose(): void;
}
