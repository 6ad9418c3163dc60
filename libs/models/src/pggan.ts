/**
 * PGGAN: Karras, Aila, Laine & Lehtinen 2017, "Progressive Growing of GANs for Improved Quality,
 * Stability, and Variation" (ICLR 2018). Follows the authors' reference implementation,
 * tkarras/progressive_growing_of_gans (TensorFlow, commit fdc55b9):
 * - networks.py `G_paper` / `D_paper`: channel schedule nf(stage) = min(8192 / 2^stage, 512) (the block
 *   at resolution r has nf(log2 r - 1) = min(16384 / r, 512) channels: 512 up to 32x32, then 256, 128,
 *   64, 32, 16 at 1024), scaled here by `width`; latent size nf(0), pixel-normalised; equalized
 *   learning rate on every conv/dense (layers/equalized.ts); pixel norm after every generator conv
 *   (layers/pixel-norm.ts); leaky ReLU 0.2; toRGB 1x1 convs with gain 1 and no activation; the
 *   generator's 4x4 dense with gain sqrt(2)/4 and one bias per channel; the discriminator's minibatch
 *   stddev (group 4, layers/minibatch-std.ts) before its 4x4 block, then conv 3x3, dense nf(0), dense 1.
 *   The reference's default fused_scale=True ops are written unfused, with the same parameters and
 *   math: upscale2d_conv2d = nearest 2x upsampling then conv 3x3; conv2d_downscale2d = conv 3x3, 2x2
 *   average pool, then bias and activation (bias after the pool, as in the fused op).
 * - Growth: the `recursive` structure. During a fade phase the new block's output is
 *   lerp(new, upscale2d(toRGB_old(x)), 1 - alpha) in G and lerp(new, fromRGB_old(downscale2d(img)),
 *   1 - alpha) in D; alpha rises linearly from 0 to 1 over the phase. The reference runs both nets at
 *   the target resolution with nearest up/box downscaling; we run them at the stage's resolution,
 *   which is the same function (D only ever sees box-downscaled inputs).
 * - train.py `TrainingSchedule` / `process_reals` / `train_progressive_gan`: images shown are counted
 *   globally; stage 0 (4x4) is stable for `stableImages`, then every later stage fades in for
 *   `fadeImages` and is stable for `stableImages` (the last stage for `finalStableImages`); the
 *   schedule is evaluated from the images shown before each step. Reals are box-downscaled to the
 *   stage's resolution and, while fading, lerp'd with their own 2x down-then-up version by 1 - alpha
 *   (`FadeLOD`). Both Adam states are reset whenever a phase begins (`reset_opt_for_new_lod`). One D
 *   step, then the generator EMA update (`Gs`, beta 0.999), then one G step, each with fresh latents.
 *   Per-resolution batch sizes (`minibatch_dict`) are `batchSizes`. Not followed: minibatch_repeats
 *   (the schedule is re-evaluated every step, not every 4); mirror augment (a dataset option of the
 *   reference's configs, off by default).
 * - loss.py `D_wgangp_acgan` / `G_wgan_acgan` (no labels): D loss = D(fake) - D(real) +
 *   lambda (||grad D(mixed)|| - 1)^2 + eps_drift D(real)^2, lambda 10, eps_drift 0.001, mixing factors
 *   U[0, 1) per sample; G loss = -D(fake). The reference measures the gradient at the target
 *   resolution; at a stage of resolution r that norm is ||grad at r|| / (target / r) (the adjoint of
 *   the box downscale), so the penalty here divides by that factor and is the reference's penalty.
 * - config.py: Adam lr 1e-3, beta1 0, beta2 0.99, eps 1e-8 for both networks.
 *
 * Second-order gradients: the penalty differentiates D's input gradient w.r.t. D's weights. In plain
 * tfjs 4.22, tf.leakyRelu (its gradient uses `greater`), tf.maximum (`less`) and tf.avgPool
 * (`AvgPoolGrad`) have no second-order gradient ("gradient function not found"; engine/fixes.ts now
 * registers them, but only through initBackend). So D is written with ops that have one without any
 * registration: leaky ReLU as x * step(x, 0.2), the 2x2 average pool as reshape + mean, and
 * replication (minibatch stddev, upscale2d) as a broadcasting multiply, not tf.tile, whose gradient
 * is a slice and an add per repetition (and has none beyond rank 5). Checked against finite
 * differences on cpu, and wasm against cpu (pggan.spec.ts).
 *
 * Inputs: the real images go to the backend once, at the target resolution (common/device-images.ts);
 * when a stage begins, the whole set is box-downscaled to its resolution on the device, once, and each
 * step gathers its batch from that copy by the seeded sampler's indices (the fade-in blend, which
 * changes every step, is applied to the batch). Latents (for the D and the G step) and the penalty's
 * mixing factors are drawn on the host from the seeded stream and uploaded: b x (2 nf(0) + 1) floats,
 * 64 KB at the paper's b = 16, nf(0) = 512 (tf.randomNormal would draw on the host too). The step
 * reads back only its four losses.
 *
 * `generate(n)` samples from the EMA generator (G itself if gEmaBeta = 0) at the current stage and
 * fade-in alpha, nearest-upsampled to the target resolution, clipped to [-1, 1] (the reference's
 * image conversion clips); after training that is the target resolution itself.
 */
import * as tf from '@tensorflow/tfjs';
import { Rng, UserInputError } from '@gan-study/core';
import type { RngState } from '@gan-study/core';
import { Adam, DeviceImages, ParamStore, assertSameConfig, decodeCheckpoint, encodeCheckpoint, recordingTracer } from './common';
import type { NamedArray, Network, NetworkSummary, Tracer } from './common';
import type { Gan, GanTrainingData } from './gan';
import { addBias, createEqualizedConv2d, createEqualizedDense, equalizedConv2d, equalizedConv2dNoBias, equalizedDense, layerParams } from './layers/equalized';
import type { EqualizedLayer, ParamSink } from './layers/equalized';
import { minibatchStddev } from './layers/minibatch-std';
import { pixelNorm } from './layers/pixel-norm';
import { LEAKY, nativeLeakyCovers } from './engine/native-kernels';

export interface PgganConfig {
  resolution: number;
  width: number;
  batchSize: number;
  batchSizes: Record<string, number>;
  stableImages: number;
  fadeImages: number;
  finalStableImages: number;
  lr: number;
  beta1: number;
  beta2: number;
  adamEps: number;
  gpLambda: number;
  driftEpsilon: number;
  mbstdGroupSize: number;
  gEmaBeta: number;
  resetOptimizerEachPhase: boolean;
}

export const PGGAN_DEFAULTS: PgganConfig = {
  // Target output size (a power of two >= 8); the study's images are resized to it. 64 keeps CPU runs feasible.
  resolution: 64,
  // Multiplier on the paper's channel counts (1 = the paper's nets; e.g. 1/16 for CPU-sized runs).
  width: 1,
  // The reference's minibatch_base 16 (preset v1, one GPU) at low resolutions.
  batchSize: 16,
  // Per-resolution overrides of batchSize, keyed by resolution ("4": 64, ...), as train.py's minibatch_dict; none by default.
  batchSizes: {},
  // Paper section A.1: 800k real images shown while a resolution is stable.
  stableImages: 800_000,
  // Paper section A.1: 800k real images shown while a new block fades in.
  fadeImages: 800_000,
  // Images at the target resolution after its fade-in; the paper's 800k per phase.
  finalStableImages: 800_000,
  // config.py / train.py: G_lrate_base = D_lrate_base = 0.001.
  lr: 1e-3,
  // config.py: G_opt / D_opt beta1 = 0.
  beta1: 0,
  // config.py: beta2 = 0.99.
  beta2: 0.99,
  // config.py: epsilon = 1e-8.
  adamEps: 1e-8,
  // loss.py D_wgangp_acgan: wgan_lambda = 10 (WGAN-GP's lambda).
  gpLambda: 10,
  // loss.py: wgan_epsilon = 0.001, the drift term that keeps D(real) near zero.
  driftEpsilon: 0.001,
  // networks.py D_paper: mbstd_group_size = 4 (0 or 1 disables the layer).
  mbstdGroupSize: 4,
  // train.py: G_smoothing = 0.999, the generator weights' running average used for sampling (0 = sample from G).
  gEmaBeta: 0.999,
  // train.py: reset_opt_for_new_lod = True, Adam moments restart when a fade or stable phase begins.
  resetOptimizerEachPhase: true,
};

const CONFIG_KEYS = Object.keys(PGGAN_DEFAULTS) as Array<keyof PgganConfig>;

function fail(message: string): never {
  throw new UserInputError(`pggan config: ${message}`);
}

/** Defaults, then overrides; every field validated, unknown keys rejected by name. */
export function resolvePgganConfig(overrides: Partial<PgganConfig> | Record<string, unknown> = {}): PgganConfig {
  for (const key of Object.keys(overrides)) {
    if (!(CONFIG_KEYS as string[]).includes(key)) fail(`unknown key '${key}' (known: ${CONFIG_KEYS.join(', ')})`);
  }
  const c = { ...PGGAN_DEFAULTS, ...overrides } as PgganConfig;
  const posInt = (k: keyof PgganConfig) => {
    const v = c[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) fail(`${k} must be a positive integer, got ${String(v)}`);
  };
  const nonNegInt = (k: keyof PgganConfig) => {
    const v = c[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) fail(`${k} must be a non-negative integer, got ${String(v)}`);
  };
  const num = (k: keyof PgganConfig, ok: (v: number) => boolean, what: string) => {
    const v = c[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) fail(`${k} must be ${what}, got ${String(v)}`);
  };
  posInt('resolution');
  if (c.resolution < 8 || (c.resolution & (c.resolution - 1)) !== 0) fail(`resolution must be a power of two >= 8, got ${c.resolution}`);
  num('width', (v) => v > 0, 'a positive number');
  posInt('batchSize');
  nonNegInt('stableImages');
  nonNegInt('fadeImages');
  posInt('finalStableImages');
  num('lr', (v) => v > 0, 'positive');
  num('beta1', (v) => v >= 0 && v < 1, 'in [0, 1)');
  num('beta2', (v) => v >= 0 && v < 1, 'in [0, 1)');
  num('adamEps', (v) => v > 0, 'positive');
  num('gpLambda', (v) => v >= 0, 'non-negative');
  num('driftEpsilon', (v) => v >= 0, 'non-negative');
  nonNegInt('mbstdGroupSize');
  num('gEmaBeta', (v) => v >= 0 && v < 1, 'in [0, 1)');
  if (typeof c.resetOptimizerEachPhase !== 'boolean') fail(`resetOptimizerEachPhase must be a boolean, got ${String(c.resetOptimizerEachPhase)}`);
  if (typeof c.batchSizes !== 'object' || c.batchSizes === null || Array.isArray(c.batchSizes)) fail(`batchSizes must be an object of resolution -> batch size, got ${JSON.stringify(c.batchSizes)}`);
  c.batchSizes = { ...c.batchSizes };
  const checkGroup = (key: string, b: number) => {
    if (c.mbstdGroupSize > 1) {
      const g = Math.min(c.mbstdGroupSize, b);
      if (b % g !== 0) fail(`${key} must be divisible by the minibatch-std group size ${g}, got ${b}`);
    }
  };
  checkGroup('batchSize', c.batchSize);
  for (const [res, b] of Object.entries(c.batchSizes)) {
    const r = Number(res);
    if (!Number.isInteger(r) || r < 4 || r > c.resolution || (r & (r - 1)) !== 0) fail(`batchSizes key must be a stage resolution (a power of two from 4 to ${c.resolution}), got '${res}'`);
    if (typeof b !== 'number' || !Number.isInteger(b) || b <= 0) fail(`batchSizes.${res} must be a positive integer, got ${String(b)}`);
    checkGroup(`batchSizes.${res}`, b);
  }
  return c;
}

// ---------------------------------------------------------------------------------------------
// Schedule

/** Number of stages: 4x4 is stage 0, the target resolution is the last. */
export function pgganStageCount(resolution: number): number {
  return Math.log2(resolution) - 1;
}

/** Channels nf(stage) of the reference, min(8192 / 2^stage, 512), times `width` (at least 1). */
export function pgganChannels(stage: number, width: number): number {
  return Math.max(1, Math.round(Math.min(8192 / 2 ** stage, 512) * width));
}

export interface PgganPhase {
  /** 0 = stage 0 stable; then 2s - 1 = stage s fading in, 2s = stage s stable. */
  index: number;
  /** Growth stage: resolution 4 * 2^stage. */
  stage: number;
  resolution: number;
  fading: boolean;
  /** Weight of the newest block: (images shown in the fade) / fadeImages while fading, else 1. */
  alpha: number;
  /** Images shown when this phase began. */
  start: number;
}

/** Total images of the schedule; training ends there. */
export function pgganTotalImages(cfg: PgganConfig): number {
  const stages = pgganStageCount(cfg.resolution);
  return cfg.stableImages * (stages - 1) + cfg.fadeImages * (stages - 1) + cfg.finalStableImages;
}

/** The minibatch size at a stage resolution: batchSizes[r], else batchSize. */
export function pgganBatchSize(cfg: PgganConfig, resolution: number): number {
  return cfg.batchSizes[String(resolution)] ?? cfg.batchSize;
}

/** Steps until the schedule's images are shown, each step showing its phase's batch size. */
export function pgganTotalSteps(cfg: PgganConfig): number {
  const total = pgganTotalImages(cfg);
  let shown = 0;
  let steps = 0;
  while (shown < total) {
    const phase = pgganPhase(cfg, shown);
    const b = pgganBatchSize(cfg, phase.resolution);
    // Whole steps to the end of this phase (or of training), at this phase's batch size.
    const end = Math.min(total, nextPhaseStart(cfg, phase));
    const n = Math.max(1, Math.ceil((end - shown) / b));
    shown += n * b;
    steps += n;
  }
  return steps;
}

function nextPhaseStart(cfg: PgganConfig, phase: PgganPhase): number {
  const stages = pgganStageCount(cfg.resolution);
  if (phase.fading) return phase.start + cfg.fadeImages;
  return phase.start + (phase.stage === stages - 1 ? cfg.finalStableImages : cfg.stableImages);
}

/** The phase for the images shown so far (evaluated before a step, as the reference's TrainingSchedule). */
export function pgganPhase(cfg: PgganConfig, imagesShown: number): PgganPhase {
  const stages = pgganStageCount(cfg.resolution);
  let start = 0;
  for (let s = 0; s < stages; s++) {
    const last = s === stages - 1;
    if (s > 0 && imagesShown < start + cfg.fadeImages) {
      return { index: 2 * s - 1, stage: s, resolution: 4 * 2 ** s, fading: true, alpha: (imagesShown - start) / cfg.fadeImages, start };
    }
    if (s > 0) start += cfg.fadeImages;
    const stable = last ? cfg.finalStableImages : cfg.stableImages;
    if (imagesShown < start + stable || last) return { index: 2 * s, stage: s, resolution: 4 * 2 ** s, fading: false, alpha: 1, start };
    start += stable;
  }
  throw new Error('unreachable');
}

// ---------------------------------------------------------------------------------------------
// Ops with second-order gradients

/**
 * Leaky ReLU 0.2 as x * step(x, 0.2): tf.leakyRelu's gradient is not itself differentiable. With
 * the oneDNN kernels on wasm, the same values from one kernel whose gradient is one kernel too and
 * differentiable again (engine/native-kernels.ts LEAKY): 2 ops forward and ~6 backward become 1 and 1.
 */
function lrelu<T extends tf.Tensor>(x: T): T {
  if (nativeLeakyCovers(x)) return tf.engine().runKernel(LEAKY, { x }, { alpha: 0.2 }) as T;
  return tf.mul(x, tf.step(x, 0.2)) as T;
}

/** Nearest-neighbour upscaling by `factor` (networks.py upscale2d). [n, h, w, c] -> [n, fh, fw, c]. */
export function upscale2d(x: tf.Tensor4D, factor = 2): tf.Tensor4D {
  if (factor === 1) return x;
  const [n, h, w, c] = x.shape;
  // Broadcasting multiply by ones: its gradient is a sum (tf.tile's is a slice per repetition).
  return tf.tidy(() => {
    const y = tf.mul(tf.reshape(x, [n, h, 1, w, 1, c]), tf.ones([1, 1, factor, 1, factor, 1])); // [n, h, f, w, f, c]
    return tf.reshape(y, [n, h * factor, w * factor, c]);
  });
}

/** Box-filter downscaling by `factor` (networks.py downscale2d), as reshape + mean. [n, h, w, c] -> [n, h/f, w/f, c]. */
export function downscale2d(x: tf.Tensor4D, factor = 2): tf.Tensor4D {
  if (factor === 1) return x;
  const [n, h, w, c] = x.shape;
  return tf.tidy(() => tf.mean(tf.reshape(x, [n, h / factor, factor, w / factor, factor, c]), [2, 4]) as tf.Tensor4D);
}

/** networks.py lerp: a + (b - a) * t. */
function lerp<T extends tf.Tensor>(a: T, b: T, t: number | tf.Tensor): T {
  return tf.add(a, tf.mul(tf.sub(b, a), t)) as T;
}

// ---------------------------------------------------------------------------------------------
// Networks

/** A growing network: `apply` is the full-resolution pass; `applyAt` runs a stage with a fade-in alpha. */
export interface PgganNetwork extends Network {
  readonly stages: number;
  /** Stage s works at 4 * 2^s px; alpha in [0, 1] weighs the stage's newest block against the skip path. */
  applyAt(x: tf.Tensor, stage: number, alpha: number, opts?: { tracer?: Tracer }): tf.Tensor;
}

function checkStage(stages: number, stage: number, alpha: number): void {
  if (!Number.isInteger(stage) || stage < 0 || stage >= stages) throw new Error(`stage must be an integer in [0, ${stages - 1}], got ${stage}`);
  if (!(alpha >= 0 && alpha <= 1)) throw new Error(`alpha must be in [0, 1], got ${alpha}`);
}

/**
 * networks.py G_paper. Latent [batch, nf(0)] -> image [batch, r, r, 3] at the stage's resolution r.
 * Parameters: `<prefix>.4x4.dense` (no bias of its own), `<prefix>.4x4.bias` (one per channel),
 * `<prefix>.4x4.conv`, `<prefix>.<r>x<r>.conv0|conv1` and `<prefix>.<r>x<r>.toRGB` for every stage.
 */
export function buildPgganGenerator(cfg: PgganConfig, store: ParamSink, prefix = 'G'): PgganNetwork {
  const stages = pgganStageCount(cfg.resolution);
  const nf = (s: number) => pgganChannels(s, cfg.width);
  const latent = nf(0);
  const c4 = nf(1);
  const dense = createEqualizedDense(store, `${prefix}.4x4.dense`, latent, c4 * 16, { gain: Math.SQRT2 / 4, bias: false });
  const denseBias = store.add(`${prefix}.4x4.bias`, [c4], { kind: 'zeros' });
  const conv4 = createEqualizedConv2d(store, `${prefix}.4x4.conv`, 3, c4, c4);
  const blocks: Array<{ conv0: EqualizedLayer; conv1: EqualizedLayer }> = [];
  const toRGB: EqualizedLayer[] = [];
  toRGB.push(createEqualizedConv2d(store, `${prefix}.4x4.toRGB`, 1, c4, 3, { gain: 1 }));
  for (let s = 1; s < stages; s++) {
    const r = 4 * 2 ** s;
    blocks[s] = {
      conv0: createEqualizedConv2d(store, `${prefix}.${r}x${r}.conv0`, 3, nf(s), nf(s + 1)),
      conv1: createEqualizedConv2d(store, `${prefix}.${r}x${r}.conv1`, 3, nf(s + 1), nf(s + 1)),
    };
    toRGB.push(createEqualizedConv2d(store, `${prefix}.${r}x${r}.toRGB`, 1, nf(s + 1), 3, { gain: 1 }));
  }

  const applyAt = (z: tf.Tensor, stage: number, alpha: number, opts: { tracer?: Tracer } = {}): tf.Tensor => {
    checkStage(stages, stage, alpha);
    const t = opts.tracer;
    return tf.tidy(() => {
      const n = z.shape[0];
      let x: tf.Tensor4D;
      {
        const zn = pixelNorm(z as tf.Tensor2D); // [batch, nf(0)]
        t?.('latent.pixelNorm', zn, 0);
        const d = equalizedDense(zn, dense); // [batch, 16 * nf(1)]
        x = pixelNorm(lrelu(tf.add(tf.reshape(d, [n, 4, 4, c4]), denseBias))); // [batch, 4, 4, nf(1)]
        t?.('4x4.dense', x, layerParams(dense) + denseBias.size);
        x = pixelNorm(lrelu(equalizedConv2d(x, conv4))); // [batch, 4, 4, nf(1)]
        t?.('4x4.conv', x, layerParams(conv4));
      }
      let prev = x;
      for (let s = 1; s <= stage; s++) {
        const r = 4 * 2 ** s;
        if (t) t(`${r / 2}x${r / 2}.toRGB`, equalizedConv2d(x, toRGB[s - 1]), layerParams(toRGB[s - 1])); // used while growing
        prev = x;
        x = upscale2d(x); // [batch, r, r, nf(s)]
        x = pixelNorm(lrelu(equalizedConv2d(x, blocks[s].conv0))); // [batch, r, r, nf(s + 1)]
        t?.(`${r}x${r}.conv0_up`, x, layerParams(blocks[s].conv0));
        x = pixelNorm(lrelu(equalizedConv2d(x, blocks[s].conv1))); // [batch, r, r, nf(s + 1)]
        t?.(`${r}x${r}.conv1`, x, layerParams(blocks[s].conv1));
      }
      const r = 4 * 2 ** stage;
      let img = equalizedConv2d(x, toRGB[stage]); // [batch, r, r, 3]
      t?.(`${r}x${r}.toRGB`, img, layerParams(toRGB[stage]));
      if (stage > 0 && alpha < 1) {
        const old = upscale2d(equalizedConv2d(prev, toRGB[stage - 1])); // [batch, r, r, 3]
        img = lerp(img, old, 1 - alpha); // [batch, r, r, 3]
        t?.(`${r}x${r}.fadeIn`, img, 0);
      }
      return img;
    });
  };

  return {
    name: 'generator',
    prefix,
    stages,
    applyAt,
    apply: (z, opts = {}) => applyAt(z, stages - 1, 1, { tracer: opts.tracer }),
  };
}

/**
 * networks.py D_paper. Image [batch, r, r, 3] at the stage's resolution -> score [batch, 1].
 * Parameters: `<prefix>.<r>x<r>.fromRGB` for every stage, `<prefix>.<r>x<r>.conv0|conv1_down` for
 * r >= 8, `<prefix>.4x4.conv`, `<prefix>.4x4.dense0`, `<prefix>.4x4.dense1`.
 */
export function buildPgganDiscriminator(cfg: PgganConfig, store: ParamSink, prefix = 'D'): PgganNetwork {
  const stages = pgganStageCount(cfg.resolution);
  const nf = (s: number) => pgganChannels(s, cfg.width);
  const mbstd = cfg.mbstdGroupSize > 1;
  const fromRGB: EqualizedLayer[] = [];
  const blocks: Array<{ conv0: EqualizedLayer; conv1: EqualizedLayer }> = [];
  for (let s = stages - 1; s >= 1; s--) {
    const r = 4 * 2 ** s;
    fromRGB[s] = createEqualizedConv2d(store, `${prefix}.${r}x${r}.fromRGB`, 1, 3, nf(s + 1));
    blocks[s] = {
      conv0: createEqualizedConv2d(store, `${prefix}.${r}x${r}.conv0`, 3, nf(s + 1), nf(s + 1)),
      conv1: createEqualizedConv2d(store, `${prefix}.${r}x${r}.conv1_down`, 3, nf(s + 1), nf(s)),
    };
  }
  fromRGB[0] = createEqualizedConv2d(store, `${prefix}.4x4.fromRGB`, 1, 3, nf(1));
  const conv4 = createEqualizedConv2d(store, `${prefix}.4x4.conv`, 3, nf(1) + (mbstd ? 1 : 0), nf(1));
  const dense0 = createEqualizedDense(store, `${prefix}.4x4.dense0`, nf(1) * 16, nf(0));
  const dense1 = createEqualizedDense(store, `${prefix}.4x4.dense1`, nf(0), 1, { gain: 1 });

  const block = (x: tf.Tensor4D, s: number, t?: Tracer): tf.Tensor4D => {
    const r = 4 * 2 ** s;
    x = lrelu(equalizedConv2d(x, blocks[s].conv0)); // [batch, r, r, nf(s + 1)]
    t?.(`${r}x${r}.conv0`, x, layerParams(blocks[s].conv0));
    x = lrelu(addBias(downscale2d(equalizedConv2dNoBias(x, blocks[s].conv1)), blocks[s].conv1)); // [batch, r/2, r/2, nf(s)]
    t?.(`${r}x${r}.conv1_down`, x, layerParams(blocks[s].conv1));
    return x;
  };

  const applyAt = (img: tf.Tensor, stage: number, alpha: number, opts: { tracer?: Tracer } = {}): tf.Tensor => {
    checkStage(stages, stage, alpha);
    const t = opts.tracer;
    return tf.tidy(() => {
      const image = img as tf.Tensor4D;
      const r = 4 * 2 ** stage;
      if (image.shape[1] !== r || image.shape[2] !== r || image.shape[3] !== 3) {
        throw new Error(`discriminator stage ${stage} takes [batch, ${r}, ${r}, 3] images, got [${image.shape.join(', ')}]`);
      }
      let x = lrelu(equalizedConv2d(image, fromRGB[stage])); // [batch, r, r, nf(stage + 1)]
      t?.(`${r}x${r}.fromRGB`, x, layerParams(fromRGB[stage]));
      if (t) {
        // The lower resolutions' fromRGB layers, used while growing.
        let down = image;
        for (let s = stage - 1; s >= 0; s--) {
          down = downscale2d(down);
          const q = 4 * 2 ** s;
          t(`${q}x${q}.fromRGB`, lrelu(equalizedConv2d(down, fromRGB[s])), layerParams(fromRGB[s]));
        }
      }
      for (let s = stage; s >= 1; s--) {
        x = block(x, s, t); // [batch, 2^(s+1), 2^(s+1), nf(s)]
        if (s === stage && alpha < 1) {
          const y = lrelu(equalizedConv2d(downscale2d(image), fromRGB[s - 1])); // [batch, r/2, r/2, nf(s)]
          x = lerp(x, y, 1 - alpha);
          t?.(`${r}x${r}.fadeIn`, x, 0);
        }
      }
      if (mbstd) {
        x = minibatchStddev(x, cfg.mbstdGroupSize); // [batch, 4, 4, nf(1) + 1]
        t?.('4x4.minibatchStddev', x, 0);
      }
      x = lrelu(equalizedConv2d(x, conv4)); // [batch, 4, 4, nf(1)]
      t?.('4x4.conv', x, layerParams(conv4));
      let h = lrelu(equalizedDense(tf.reshape(x, [x.shape[0], -1]), dense0)); // [batch, nf(0)]
      t?.('4x4.dense0', h, layerParams(dense0));
      h = equalizedDense(h, dense1); // [batch, 1]
      t?.('4x4.dense1', h, layerParams(dense1));
      return h;
    });
  };

  return {
    name: 'discriminator',
    prefix,
    stages,
    applyAt,
    apply: (x, opts = {}) => applyAt(x, stages - 1, 1, { tracer: opts.tracer }),
  };
}

/**
 * Trainable parameters of each network, from running the builders against a recorder that notes
 * every parameter's shape without allocating it (the 1024 px networks hold 46M weights; building
 * them for real takes seconds and 185 MB). describePggan's totals come from a real build.
 */
export function countPgganParams(overrides: Partial<PgganConfig> | Record<string, unknown> = {}): { generator: number; discriminator: number } {
  const cfg = resolvePgganConfig(overrides);
  const sizes = new Map<string, number>();
  const recorder: ParamSink = {
    add(name: string, shape: number[]): tf.Variable {
      if (sizes.has(name)) throw new Error(`parameter '${name}' is defined twice`);
      const size = shape.reduce((a, d) => a * d, 1);
      sizes.set(name, size);
      // Builders only keep the handle for their forward pass, which is never run here.
      return { name, shape, size } as unknown as tf.Variable;
    },
  };
  buildPgganGenerator(cfg, recorder, 'G');
  buildPgganDiscriminator(cfg, recorder, 'D');
  const total = (prefix: string) => [...sizes].filter(([n]) => n.startsWith(prefix)).reduce((a, [, v]) => a + v, 0);
  return { generator: total('G.'), discriminator: total('D.') };
}

/** Layers, output shapes and parameter counts of G and D at the target resolution (a batch of one). */
export function describePggan(overrides: Partial<PgganConfig> | Record<string, unknown> = {}): NetworkSummary[] {
  const cfg = resolvePgganConfig({ ...overrides, batchSize: 1, batchSizes: {} });
  const store = new ParamStore(new Rng(0));
  try {
    const g = buildPgganGenerator(cfg, store, 'G');
    const d = buildPgganDiscriminator(cfg, store, 'D');
    const out: NetworkSummary[] = [];
    tf.tidy(() => {
      const gt = recordingTracer();
      const img = g.apply(tf.zeros([1, pgganChannels(0, cfg.width)]), { tracer: gt.tracer });
      out.push({ name: g.name, params: store.count('G.'), layers: gt.layers });
      const dt = recordingTracer();
      d.apply(img, { tracer: dt.tracer });
      out.push({ name: d.name, params: store.count('D.'), layers: dt.layers });
    });
    return out;
  } finally {
    store.dispose();
  }
}

// ---------------------------------------------------------------------------------------------
// Training

/**
 * WGAN-GP's penalty per sample (loss.py GradientPenalty): norm = ||d sum(D(x)) / dx_i|| / normScale,
 * penalty = (norm - 1)^2. `normScale` = target / stage resolution gives the reference's norm, taken at
 * the target resolution. Differentiable w.r.t. D's weights (a second-order gradient).
 */
export function pgganGradientPenalty(D: PgganNetwork, mixed: tf.Tensor4D, stage: number, alpha: number, normScale = 1): { norm: tf.Tensor1D; penalty: tf.Tensor1D } {
  const grad = tf.grad((x: tf.Tensor) => tf.sum(D.applyAt(x, stage, alpha)))(mixed); // [b, r, r, 3]
  const norm = tf.div(tf.sqrt(tf.sum(tf.square(grad), [1, 2, 3])), normScale) as tf.Tensor1D; // [b]
  return { norm, penalty: tf.square(tf.sub(norm, 1)) as tf.Tensor1D };
}

export interface PgganLosses {
  /** D's full loss: D(fake) - D(real) + gpLambda * penalty + driftEpsilon * D(real)^2, batch mean. */
  d: number;
  /** G's loss: -D(G(z)), batch mean. */
  g: number;
  /** (||grad D(mixed)|| - 1)^2, batch mean, before gpLambda. */
  gp: number;
  /** D(real) - D(fake), batch mean: the critic's Wasserstein estimate. */
  wdist: number;
  /** The step's stage resolution and fade-in alpha (1 when stable). */
  resolution: number;
  alpha: number;
}

interface PgganMeta {
  imagesShown: number;
  optPhase: number;
  optGStep: number;
  optDStep: number;
  order: number[];
  cursor: number;
}

/** A PGGAN as the job runner sees it, plus where it is in the growth schedule. */
export interface PgganTrainer extends Gan {
  /** Images shown so far and the phase the next step trains in. */
  readonly progress: { imagesShown: number; phase: PgganPhase };
}

class PgganGan implements PgganTrainer {
  readonly kind = 'pggan' as const;
  readonly config: Readonly<Record<string, unknown>>;
  readonly resolution: number;
  readonly totalSteps: number;
  private readonly cfg: PgganConfig;
  private readonly store: ParamStore;
  private readonly ema: ParamStore | null;
  private readonly G: PgganNetwork;
  private readonly D: PgganNetwork;
  private readonly Gs: PgganNetwork | null;
  private readonly gVars: Record<string, tf.Variable>;
  private readonly dVars: Record<string, tf.Variable>;
  private readonly optG: Adam;
  private readonly optD: Adam;
  private readonly rngs: { data: Rng; noise: Rng; generate: Rng };
  /** The real images at the target resolution, uploaded once, and their copy at the current stage's resolution. */
  private readonly realImages: DeviceImages;
  private staged: DeviceImages | null = null;
  private readonly count: number;
  private stepCount = 0;
  private imagesShown = 0;
  private optPhase = -1;
  private order: number[] = [];
  private cursor = 0;

  constructor(cfg: PgganConfig, data: GanTrainingData, seed: number) {
    this.cfg = cfg;
    this.config = { ...cfg };
    this.resolution = cfg.resolution;
    this.totalSteps = pgganTotalSteps(cfg);
    const px = cfg.resolution * cfg.resolution * 3;
    if (!Number.isInteger(data.targetCount) || data.targetCount < 1) throw new UserInputError(`pggan: targetCount must be a positive integer, got ${data.targetCount}`);
    if (data.target.length !== data.targetCount * px) {
      throw new UserInputError(`pggan: target holds ${data.target.length} values, expected ${data.targetCount} images x ${cfg.resolution}x${cfg.resolution}x3 = ${data.targetCount * px}`);
    }
    this.count = data.targetCount;
    const root = new Rng(seed);
    this.rngs = { data: root.fork('data'), noise: root.fork('noise'), generate: root.fork('generate') };
    this.store = new ParamStore(root.fork('init'));
    this.G = buildPgganGenerator(cfg, this.store, 'G');
    this.D = buildPgganDiscriminator(cfg, this.store, 'D');
    this.gVars = this.store.trainableMap('G.');
    this.dVars = this.store.trainableMap('D.');
    if (cfg.gEmaBeta > 0) {
      // Gs starts as a copy of G (train.py: Gs = G.clone('Gs')); its init draws are overwritten.
      this.ema = new ParamStore(new Rng(0));
      this.Gs = buildPgganGenerator(cfg, this.ema, 'Gs');
      for (const [name, v] of Object.entries(this.gVars)) this.ema.get(`Gs${name.slice(1)}`).assign(v);
    } else {
      this.ema = null;
      this.Gs = null;
    }
    this.optG = this.newAdam(this.gVars);
    this.optD = this.newAdam(this.dVars);
    this.realImages = new DeviceImages(data.target, data.targetCount, [cfg.resolution, cfg.resolution, 3], 'pggan target images');
  }

  get step(): number {
    return this.stepCount;
  }

  get progress(): { imagesShown: number; phase: PgganPhase } {
    return { imagesShown: this.imagesShown, phase: pgganPhase(this.cfg, this.imagesShown) };
  }

  trainStep(): Record<string, number> {
    const cfg = this.cfg;
    const phase = pgganPhase(cfg, this.imagesShown);
    const b = pgganBatchSize(cfg, phase.resolution);
    if (phase.index !== this.optPhase) {
      if (cfg.resetOptimizerEachPhase && this.optPhase >= 0) {
        resetAdam(this.optG, this.gVars);
        resetAdam(this.optD, this.dVars);
      }
      this.optPhase = phase.index;
    }
    const { stage, alpha } = phase;
    const gpScale = cfg.resolution / phase.resolution;

    // D step.
    const realIdx = this.nextIndices(b);
    const zD = this.latents(this.rngs.noise, b);
    const mix = new Float32Array(b);
    for (let i = 0; i < b; i++) mix[i] = this.rngs.noise.next();
    const kept: tf.Tensor[] = [];
    const dOut = tf.tidy(() => {
      const reals = this.reals(realIdx, phase);
      const z = tf.tensor2d(zD, [b, zD.length / b]);
      const t = tf.tensor4d(mix, [b, 1, 1, 1]);
      const { value, grads } = tf.variableGrads(() => {
        const fake = this.G.applyAt(z, stage, alpha) as tf.Tensor4D; // [b, r, r, 3]
        const dReal = tf.reshape(this.D.applyAt(reals, stage, alpha), [b]);
        const dFake = tf.reshape(this.D.applyAt(fake, stage, alpha), [b]);
        const mixed = lerp(reals, fake, t); // [b, r, r, 3]
        const { penalty } = pgganGradientPenalty(this.D, mixed, stage, alpha, gpScale); // [b]
        const perSample = tf.add(tf.add(tf.sub(dFake, dReal), tf.mul(penalty, cfg.gpLambda)), tf.mul(tf.square(dReal), cfg.driftEpsilon));
        kept.push(tf.keep(tf.stack([tf.mean(penalty), tf.mean(tf.sub(dReal, dFake))])));
        return tf.mean(perSample) as tf.Scalar;
      }, Object.values(this.dVars));
      this.optD.apply(this.byName(this.dVars, grads));
      return tf.concat([tf.reshape(value, [1]), kept[0]]);
    });
    tf.dispose(kept);

    // Gs = lerp(G, Gs, beta), after the D step and before the G step (train.py runs it with D_train_op).
    if (this.ema) {
      const beta = cfg.gEmaBeta;
      tf.tidy(() => {
        for (const [name, v] of Object.entries(this.gVars)) {
          const s = this.ema!.get(`Gs${name.slice(1)}`);
          s.assign(lerp(v as tf.Tensor, s as tf.Tensor, beta));
        }
      });
    }

    // G step.
    const zG = this.latents(this.rngs.noise, b);
    const gOut = tf.tidy(() => {
      const z = tf.tensor2d(zG, [b, zG.length / b]);
      const { value, grads } = tf.variableGrads(() => tf.neg(tf.mean(this.D.applyAt(this.G.applyAt(z, stage, alpha), stage, alpha))) as tf.Scalar, Object.values(this.gVars));
      this.optG.apply(this.byName(this.gVars, grads));
      return tf.reshape(value, [1]);
    });

    const all = tf.concat([dOut, gOut]);
    const [d, gp, wdist, g] = Array.from(all.dataSync());
    tf.dispose([all, dOut, gOut]);
    this.imagesShown += b;
    this.stepCount += 1;
    const losses: PgganLosses = { d, g, gp, wdist, resolution: phase.resolution, alpha };
    return { ...losses };
  }

  async generate(n: number): Promise<Float32Array> {
    if (!Number.isInteger(n) || n < 0) throw new Error(`generate(n) needs a non-negative integer, got ${n}`);
    const R = this.cfg.resolution;
    const out = new Float32Array(n * R * R * 3);
    const phase = pgganPhase(this.cfg, this.imagesShown);
    const net = this.Gs ?? this.G;
    const chunk = Math.max(1, this.cfg.batchSize);
    for (let i = 0; i < n; i += chunk) {
      const m = Math.min(chunk, n - i);
      const z = this.latents(this.rngs.generate, m);
      const img = tf.tidy(() => {
        const small = net.applyAt(tf.tensor2d(z, [m, z.length / m]), phase.stage, phase.alpha) as tf.Tensor4D;
        return tf.clipByValue(upscale2d(small, R / phase.resolution), -1, 1);
      });
      out.set((await img.data()) as Float32Array, i * R * R * 3);
      img.dispose();
    }
    return out;
  }

  async checkpoint(): Promise<Uint8Array> {
    const arrays: NamedArray[] = [...(await this.store.snapshot()), ...(this.ema ? await this.ema.snapshot() : [])];
    const g = await this.optG.snapshot('optG');
    const d = await this.optD.snapshot('optD');
    const meta: PgganMeta = {
      imagesShown: this.imagesShown,
      optPhase: this.optPhase,
      optGStep: g.step,
      optDStep: d.step,
      order: this.order,
      cursor: this.cursor,
    };
    return encodeCheckpoint({
      model: 'pggan',
      config: { ...this.cfg },
      step: this.stepCount,
      meta: { ...meta, stage: pgganPhase(this.cfg, this.imagesShown).stage, alpha: pgganPhase(this.cfg, this.imagesShown).alpha },
      rng: { data: this.rngs.data.getState(), noise: this.rngs.noise.getState(), generate: this.rngs.generate.getState() },
      arrays: [...arrays, ...g.arrays, ...d.arrays],
    });
  }

  /** Loads a decoded checkpoint's state into this freshly built model. */
  load(c: { step: number; meta: Record<string, unknown>; rng: Record<string, RngState>; arrays: NamedArray[] }): void {
    const m = c.meta as unknown as PgganMeta;
    for (const key of ['imagesShown', 'optPhase', 'optGStep', 'optDStep', 'cursor'] as const) {
      if (!Number.isInteger(m[key])) throw new Error(`pggan checkpoint meta.${key} must be an integer, got ${String(m[key])}`);
    }
    if (!Array.isArray(m.order) || m.order.some((i) => !Number.isInteger(i) || i < 0 || i >= this.count)) {
      throw new Error(`pggan checkpoint meta.order is not a list of image indices below ${this.count}`);
    }
    this.store.load(c.arrays);
    this.ema?.load(c.arrays);
    this.optG.load('optG', m.optGStep, c.arrays);
    this.optD.load('optD', m.optDStep, c.arrays);
    for (const name of ['data', 'noise', 'generate'] as const) {
      const s = c.rng[name];
      if (!s) throw new Error(`pggan checkpoint has no '${name}' random-number state`);
      this.rngs[name].setState(s);
    }
    this.stepCount = c.step;
    this.imagesShown = m.imagesShown;
    this.optPhase = m.optPhase;
    this.order = [...m.order];
    this.cursor = m.cursor;
  }

  summary(): NetworkSummary[] {
    return describePggan(this.cfg);
  }

  dispose(): void {
    this.optG.dispose();
    this.optD.dispose();
    this.store.dispose();
    this.ema?.dispose();
    this.realImages.dispose();
    this.staged?.dispose();
    this.staged = null;
  }

  private newAdam(params: Record<string, tf.Variable>): Adam {
    return new Adam(params, { lr: this.cfg.lr, beta1: this.cfg.beta1, beta2: this.cfg.beta2, eps: this.cfg.adamEps });
  }

  /** variableGrads keys gradients by tfjs variable name; Adam wants store names. Parameters off the
   * current stage's path (later blocks, the replaced toRGB/fromRGB) get zeros, as in the reference,
   * where they are trainables with zero gradient. */
  private byName(vars: Record<string, tf.Variable>, grads: tf.NamedTensorMap): Record<string, tf.Tensor> {
    const out: Record<string, tf.Tensor> = {};
    for (const [name, v] of Object.entries(vars)) out[name] = grads[v.name] ?? tf.zerosLike(v);
    return out;
  }

  /** The next image indices from a seeded per-epoch permutation. */
  private nextIndices(b: number): number[] {
    const out: number[] = [];
    while (out.length < b) {
      if (this.cursor >= this.order.length) {
        this.order = this.rngs.data.permutation(this.count);
        this.cursor = 0;
      }
      out.push(this.order[this.cursor++]);
    }
    return out;
  }

  /** Real images at the phase's resolution: box-downscaled, and while fading lerp'd with their 2x down-up copy (train.py process_reals). */
  private reals(indices: number[], phase: PgganPhase): tf.Tensor4D {
    const images = this.realsAt(phase.resolution);
    return tf.tidy(() => {
      const x = images.gather(indices); // [b, r, r, 3]
      if (!phase.fading) return x;
      return lerp(x, upscale2d(downscale2d(x)), 1 - phase.alpha);
    });
  }

  /** The whole real set at stage resolution r, box-downscaled on the device once per stage (the previous stage's copy is freed). */
  private realsAt(r: number): DeviceImages {
    const R = this.cfg.resolution;
    if (r === R) return this.realImages;
    if (this.staged?.tensor.shape[1] !== r) {
      this.staged?.dispose();
      this.staged = null;
      this.staged = this.realImages.map((x) => downscale2d(x, R / r), `pggan target images at ${r}x${r}`);
    }
    return this.staged;
  }

  private latents(rng: Rng, n: number): Float32Array {
    return rng.fillNormal(new Float32Array(n * pgganChannels(0, this.cfg.width)));
  }
}

/**
 * Zero moments and step count, as tfutil.Optimizer.reset_optimizer_state does. Loading zeros (rather
 * than building a new Adam) keeps the tensor count flat: Adam's constructor does not dispose the
 * zerosLike tensors it makes its moment variables from.
 */
function resetAdam(opt: Adam, params: Record<string, tf.Variable>): void {
  const arrays: NamedArray[] = [];
  for (const [name, v] of Object.entries(params)) {
    for (const kind of ['m', 'v']) arrays.push({ name: `reset.${kind}.${name}`, shape: [...v.shape], data: new Float32Array(v.size) });
  }
  opt.load('reset', 0, arrays);
}

/** A PGGAN trained on `data.target` (NHWC in [-1, 1] at the config's resolution), seeded. */
export function createPggan(overrides: Partial<PgganConfig> | Record<string, unknown>, data: GanTrainingData, seed: number): PgganTrainer {
  return new PgganGan(resolvePgganConfig(overrides), data, seed);
}

/** A PGGAN resumed from `checkpoint()` bytes: the same losses at the next step as without stopping. */
export function restorePggan(bytes: Uint8Array, data: GanTrainingData): PgganTrainer {
  const c = decodeCheckpoint(bytes, 'pggan');
  const cfg = resolvePgganConfig(c.config);
  assertSameConfig(c.config, cfg);
  const gan = new PgganGan(cfg, data, 0);
  try {
    gan.load(c);
  } catch (err) {
    gan.dispose();
    throw err;
  }
  return gan;
}
