/**
 * Memory one training job of the `paper` profile needs on a GPU, computed from the models' own
 * traced layers (`describeModel`: output shape per layer at batch 1, parameters per layer) at the
 * profile's sizes and batch sizes. float32 throughout. Used by tools/bench/main.ts (section
 * "memory"); needs an initialized tfjs backend (the traces build the networks).
 *
 * - Parameter state: weights + gradients + Adam's two moments = 4 x 4 bytes per parameter.
 * - Activations: what the gradient tape keeps for the backward pass. Each traced layer is a conv or
 *   dense followed by a normalization and/or an activation; the tape keeps the op outputs of the
 *   layer, counted as ACTIVATION_COPIES copies of the layer's output (conv output, normalized
 *   output, activation output). Multiplied by the batch and by the forward passes of each network
 *   that are alive at the step's peak (see PASSES).
 * - Not counted: the framework's workspace (cuDNN scratch, allocator slack), the data batch, and
 *   CycleGAN's 2 x 50 pooled images (2 x 50 x 256 x 256 x 3 x 4 B = 79 MiB at 256 px, added below).
 */
import { GANS, describeModel, resolveClassifierConfig, resolveCycleganConfig, resolvePgganConfig } from '@gan-study/models';
import type { ModelName, NetworkSummary } from '@gan-study/models';
import { profileDefaults } from '@gan-study/protocol';

/** Output copies the tape keeps per traced layer (conv/dense output, normalized output, activation). */
const ACTIVATION_COPIES = 3;
const MIB = 2 ** 20;

export interface ModelMemory {
  model: ModelName;
  size: number;
  batch: number;
  params: number;
  stateMiB: number;
  activationMiB: number;
  totalMiB: number;
  how: string;
}

/**
 * Forward passes of each network kept on the tape at the step's peak, by network name.
 * - classifier: one pass.
 * - dcgan, D phase: G(z) once (kept for D's input), D on real and on fake (2); the G phase is
 *   smaller (G 1 + D 1).
 * - pggan, D phase: G once, D on real, fake and the interpolates, whose gradient-penalty double
 *   backward keeps about a second copy of that pass: D 4.
 * - cyclegan, G phase: each generator runs 3 times (translate, reconstruct, identity), each
 *   discriminator once; the D phase is smaller.
 */
const PASSES: Record<ModelName, (net: string) => number> = {
  classifier: () => 1,
  dcgan: (net) => (net === 'generator' ? 1 : 2),
  pggan: (net) => (net === 'generator' ? 1 : 4),
  cyclegan: (net) => (net.startsWith('G') ? 3 : 1),
};

const round = (x: number) => Math.round(x);

function activations(nets: NetworkSummary[], batch: number, model: ModelName): number {
  let values = 0;
  for (const net of nets) {
    const perPass = net.layers.reduce((s, l) => s + l.outputShape.slice(1).reduce((p, d) => p * d, 1), 0);
    values += perPass * PASSES[model](net.name);
  }
  return values * ACTIVATION_COPIES * batch * 4;
}

/** The paper profile's jobs, one row per model. */
export function paperMemory(): ModelMemory[] {
  const cfg = profileDefaults('paper');
  const cls = resolveClassifierConfig({ ...cfg.classifier, inputSize: cfg.imageSize });
  const dcgan = GANS.dcgan.resolve({ ...cfg.dcgan, resolution: cfg.ganResolution.dcgan }) as { batchSize: number };
  const pggan = resolvePgganConfig({ ...cfg.pggan, resolution: cfg.ganResolution.pggan });
  const cycle = resolveCycleganConfig({ ...cfg.cyclegan, resolution: cfg.ganResolution.cyclegan });
  const pgBatch = pggan.batchSizes[String(pggan.resolution)] ?? pggan.batchSize;
  const rows: Array<{ model: ModelName; size: number; batch: number; overrides: Record<string, unknown>; extraBytes: number; note: string }> = [
    { model: 'classifier', size: cls.inputSize, batch: cls.batchSize, overrides: { ...cfg.classifier, inputSize: cls.inputSize }, extraBytes: 0, note: 'one forward pass kept' },
    { model: 'dcgan', size: cfg.ganResolution.dcgan, batch: dcgan.batchSize, overrides: { ...cfg.dcgan, resolution: cfg.ganResolution.dcgan }, extraBytes: 0, note: 'D phase: G once, D twice (real, fake)' },
    { model: 'pggan', size: pggan.resolution, batch: pgBatch, overrides: { ...cfg.pggan, resolution: pggan.resolution }, extraBytes: 0, note: `final ${pggan.resolution} px phase; D phase: G once, D on real, fake, interpolates + the penalty's double backward (D x4)` },
    {
      model: 'cyclegan',
      size: cycle.resolution,
      batch: cycle.batchSize,
      overrides: { ...cfg.cyclegan, resolution: cycle.resolution },
      extraBytes: 2 * cycle.poolSize * cycle.resolution * cycle.resolution * 3 * 4,
      note: `G phase: each of 2 generators x3 (translate, reconstruct, identity), each D once; plus the 2 x ${cycle.poolSize}-image pools`,
    },
  ];
  return rows.map((r) => {
    const nets = describeModel(r.model, r.overrides);
    const params = nets.reduce((s, n) => s + n.params, 0);
    const state = params * 16;
    const act = activations(nets, r.batch, r.model) + r.extraBytes;
    return {
      model: r.model,
      size: r.size,
      batch: r.batch,
      params,
      stateMiB: round(state / MIB),
      activationMiB: round(act / MIB),
      totalMiB: round((state + act) / MIB),
      how: `${nets.map((n) => `${n.name} ${n.params.toLocaleString('en-US')} params, ${n.layers.length} layers`).join('; ')}; ${r.note}; ${ACTIVATION_COPIES} copies of each layer output`,
    };
  });
}
