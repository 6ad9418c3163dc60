/**
 * CycleGAN: Zhu, Park, Isola & Efros 2017, "Unpaired Image-to-Image Translation using
 * Cycle-Consistent Adversarial Networks" (arXiv:1703.10593), following the authors' PyTorch
 * implementation, github.com/junyanz/pytorch-CycleGAN-and-pix2pix:
 * - models/networks.py: `ResnetGenerator` + `ResnetBlock` (c7s1-64, d128, d256, R256 x n_blocks,
 *   u128, u64, c7s1-3, tanh; reflection padding), `NLayerDiscriminator` (the 70x70 PatchGAN),
 *   `get_norm_layer('instance')` (InstanceNorm2d, affine=False, no running statistics, so every conv
 *   followed by a norm keeps its bias: use_bias = True), `GANLoss('lsgan')` (MSE to 1 / 0),
 *   `init_weights('normal', 0.02)` (conv weights N(0, 0.02), biases 0), `get_scheduler('linear')`.
 * - models/cycle_gan_model.py: G_A: A -> B, G_B: B -> A, D_A judges B (real B vs G_A(A)), D_B judges
 *   A; generator loss = LSGAN(D_A(G_A(A)), 1) + LSGAN(D_B(G_B(B)), 1) + lambda_A |G_B(G_A(A)) - A|
 *   + lambda_B |G_A(G_B(B)) - B| + lambda_identity (lambda_B |G_A(B) - B| + lambda_A |G_B(A) - A|)
 *   (L1 means); one Adam over both generators, one over both discriminators, lr 2e-4, betas (0.5,
 *   0.999); per step: forward, update G_A and G_B, then D_A and D_B on fakes drawn through the
 *   history pools, each discriminator's loss (real + fake) halved.
 * - util/image_pool.py: `ImagePool` (50 images; once full, each query image is swapped with a random
 *   stored one with probability 0.5).
 *
 * In this study domain A is the majority class (benign, `data.source`) and domain B the budget's
 * minority images (malignant, `data.target`); `generate(n, source)` translates benign images through
 * G_A into malignant-looking ones. Time is counted in steps: the reference's n_epochs (constant lr)
 * and n_epochs_decay (linear decay) become `steps - decaySteps` and `decaySteps`.
 *
 * Inputs: both domains' images go to the backend once (common/device-images.ts) and each step
 * gathers its batches there by the seeded sampler's indices; the step reads back only its losses.
 *
 * Two deviations from a literal port, both for tfjs, neither changing the function computed:
 * - Reflection padding is layers/reflection-pad.ts, not tf.mirrorPad, whose gradient in tfjs 4.22
 *   drops the border contributions.
 * - torch's ConvTranspose2d(k3, s2, padding 1, output_padding 1) places its outputs one pixel
 *   earlier than tfjs's 'same' transposed conv; we take the 'valid' transposed conv (2H + 1) and
 *   drop its first row and column, which is exactly torch's output. Strided convs use explicit
 *   symmetric zero padding (torch's padding=1), not 'same' (which pads bottom/right only).
 *
 * Each conv followed by instance norm hands its bias and the activation after the norm to the norm,
 * one fused op (layers/instance-norm.ts), as is the reflection pad (layers/reflection-pad.ts): the
 * same function with far fewer passes over memory and tensors kept for the backward pass.
 */
import * as tf from '@tensorflow/tfjs';
import { Rng, type RngState } from '@gan-study/core';
import { Adam } from './common/adam';
import { DeviceImages } from './common/device-images';
import { assertSameConfig, decodeCheckpoint, encodeCheckpoint } from './common/checkpoint';
import { ParamStore, type NamedArray } from './common/params';
import type { LayerSummary, Network, NetworkSummary, Tracer } from './common/summary';
import type { Gan, GanTrainingData } from './gan';
import { instanceNorm } from './layers/instance-norm';
import type { NormActivation } from './layers/channel-norm';
import { reflectionPad2d } from './layers/reflection-pad';
import { convAct } from './layers/conv-act';

// A type alias, not an interface: the Gan contract wants it assignable to Record<string, unknown>.
export type CycleganConfig = {
  /** Image side in pixels (input and output). */
  resolution: number;
  /** Generator base width (reference --ngf). */
  ngf: number;
  /** Discriminator base width (reference --ndf). */
  ndf: number;
  /** Residual blocks in each generator. */
  nBlocks: number;
  /** Strided conv layers in the PatchGAN (reference --n_layers_D). */
  nLayersD: number;
  /** Images of each domain per step. */
  batchSize: number;
  /**
   * Images per forward/backward pass (gradient accumulation): a step runs `batchSize / microBatch`
   * passes, averages their gradients on the device and applies Adam once, which is the full-batch
   * gradient up to float summation order (every loss is a per-image mean and instance norm is per
   * image). 'auto': the whole batch, except on wasm when the step's estimated memory would not fit
   * the heap (`cycleganMicroBatch`). A number must divide `batchSize`.
   */
  microBatch: number | 'auto';
  /** Training length in steps (constant phase + decay phase). */
  steps: number;
  /** The last `decaySteps` steps decay the learning rate linearly towards zero. */
  decaySteps: number;
  lr: number;
  beta1: number;
  beta2: number;
  /** Weight of the forward cycle loss |G_B(G_A(A)) - A|. */
  lambdaA: number;
  /** Weight of the backward cycle loss |G_A(G_B(B)) - B|. */
  lambdaB: number;
  /** Identity loss weight, relative to the cycle weights. */
  lambdaIdentity: number;
  /** Images in each history pool (0: no pool). */
  poolSize: number;
  /** Std of the N(0, std) conv weight initialization. */
  initStd: number;
};

/** What a user may set: the config, with `nBlocks` 'auto' (6 below 256 px, 9 from 256 px on). */
export type CycleganSettings = Omit<CycleganConfig, 'nBlocks'> & { nBlocks: number | 'auto' };

export const CYCLEGAN_DEFAULTS: Readonly<CycleganSettings> = {
  // The paper trains at 256; 128 is its smaller setting and what a CPU can still train.
  resolution: 128,
  // Reference --ngf 64.
  ngf: 64,
  // Reference --ndf 64.
  ndf: 64,
  // Paper: 6 residual blocks for 128x128 images, 9 for 256x256 and higher.
  nBlocks: 'auto',
  // Reference --n_layers_D 3 (--netD basic): the 70x70 PatchGAN.
  nLayersD: 3,
  // Paper and reference: batch size 1.
  batchSize: 1,
  // The whole batch in one pass wherever it fits (the reference has no accumulation).
  microBatch: 'auto',
  // The study's budget of steps; the reference runs 200 epochs, far beyond a CPU.
  steps: 20000,
  // Reference: the second half (n_epochs_decay = n_epochs = 100) decays linearly.
  decaySteps: 10000,
  // Reference --lr 0.0002.
  lr: 2e-4,
  // Reference --beta1 0.5.
  beta1: 0.5,
  // Reference: betas=(beta1, 0.999).
  beta2: 0.999,
  // Reference --lambda_A 10.
  lambdaA: 10,
  // Reference --lambda_B 10.
  lambdaB: 10,
  // Reference --lambda_identity 0.5: identity loss is half the cycle weight.
  lambdaIdentity: 0.5,
  // Reference --pool_size 50.
  poolSize: 50,
  // Reference --init_type normal --init_gain 0.02.
  initStd: 0.02,
};

/** Adam's epsilon: torch.optim.Adam's default, which the reference does not change. */
const ADAM_EPS = 1e-8;
/** Images translated per forward pass in `generate` (bounded memory; results do not depend on it). */
const GENERATE_BATCH = 8;

/** Merges overrides into the defaults and validates every field; throws naming the key and value. */
export function resolveCycleganConfig(overrides: Partial<CycleganSettings> | Record<string, unknown> = {}): CycleganConfig {
  for (const key of Object.keys(overrides)) {
    if (!(key in CYCLEGAN_DEFAULTS)) throw new Error(`unknown CycleGAN config key '${key}'`);
  }
  // Every field's type is checked below, so a JSON-read override cannot slip through.
  const s = { ...CYCLEGAN_DEFAULTS, ...overrides } as CycleganSettings;
  const posInt = (key: keyof CycleganSettings, min = 1) => {
    const v = s[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
      throw new Error(`${key} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
    }
  };
  const inRange = (key: keyof CycleganSettings, lo: number, hi: number, hiOpen: boolean) => {
    const v = s[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < lo || (hiOpen ? v >= hi : v > hi)) {
      throw new Error(`${key} must be in [${lo}, ${hi}${hiOpen ? ')' : ']'}, got ${JSON.stringify(v)}`);
    }
  };
  posInt('resolution', 8);
  if (s.resolution % 4 !== 0) throw new Error(`resolution must be a multiple of 4 (two stride-2 stages), got ${s.resolution}`);
  posInt('ngf');
  posInt('ndf');
  if (s.nBlocks !== 'auto') posInt('nBlocks', 0);
  posInt('nLayersD');
  // The PatchGAN ends with two stride-1 4x4 convs (padding 1), each shrinking the map by one.
  if (Math.floor(s.resolution / 2 ** s.nLayersD) < 3) {
    throw new Error(`resolution ${s.resolution} is too small for nLayersD ${s.nLayersD}: needs resolution / 2^nLayersD >= 3`);
  }
  posInt('batchSize');
  if (s.microBatch !== 'auto') {
    const m = s.microBatch;
    if (typeof m !== 'number' || !Number.isInteger(m) || m < 1 || s.batchSize % m !== 0) {
      throw new Error(`microBatch must be 'auto' or a positive integer dividing batchSize (${s.batchSize}), got ${JSON.stringify(m)}`);
    }
  }
  posInt('steps');
  posInt('decaySteps', 0);
  if (s.decaySteps > s.steps) throw new Error(`decaySteps must be at most steps (${s.steps}), got ${s.decaySteps}`);
  if (!(typeof s.lr === 'number' && Number.isFinite(s.lr) && s.lr > 0)) throw new Error(`lr must be a positive number, got ${JSON.stringify(s.lr)}`);
  inRange('beta1', 0, 1, true);
  inRange('beta2', 0, 1, true);
  inRange('lambdaA', 0, Infinity, true);
  inRange('lambdaB', 0, Infinity, true);
  inRange('lambdaIdentity', 0, Infinity, true);
  posInt('poolSize', 0);
  if (!(typeof s.initStd === 'number' && Number.isFinite(s.initStd) && s.initStd > 0)) {
    throw new Error(`initStd must be a positive number, got ${JSON.stringify(s.initStd)}`);
  }
  const nBlocks = s.nBlocks === 'auto' ? (s.resolution >= 256 ? 9 : 6) : s.nBlocks;
  return { ...s, nBlocks };
}

/**
 * The reference's linear policy, `1 - max(0, epoch + epoch_count - n_epochs) / (n_epochs_decay + 1)`
 * with epoch_count 1, counted in steps: 1 for the first `steps - decaySteps` steps (0-based `step`),
 * then falling by 1 / (decaySteps + 1) per step, to 1 / (decaySteps + 1) at the last step.
 */
export function cycleganLrFactor(step: number, cfg: Pick<CycleganConfig, 'steps' | 'decaySteps'>): number {
  const constant = cfg.steps - cfg.decaySteps;
  return 1 - Math.max(0, step + 1 - constant) / (cfg.decaySteps + 1);
}

// ---------------------------------------------------------------------------------------------
// Memory and micro-batches

/**
 * What a step's estimated peak (`cycleganStepBytes`) may reach on wasm under microBatch 'auto'.
 * tfjs-backend-wasm 4.22 can grow its heap to 4 GiB (emscripten getHeapMax 4294901760). Until
 * engine/wasm-heap.ts `floatIndex` replaced a signed `byteOffset >> 2` in the conv kernels, steps
 * whose tensors reached past 2 GiB crashed ('memory access out of bounds'; measured: batch 2 at
 * 64 px at 2.1-2.2 GiB of heap; with the unsigned shift the same step ran, at 2.9 GiB). The budget
 * is 0.85 x 4 GiB: the rest is headroom for the allocator's fragmentation (measured 30-180 MiB of
 * heap above the peak of live tensors) and for the estimate's error (see ACTIVATION_COPIES).
 */
export const WASM_STEP_BUDGET_BYTES = 0.85 * 2 ** 32;
/**
 * Float32 values alive at a step's peak per float of conv output (see `cycleganActivationFloats`):
 * what the tape keeps for the backward pass (each conv's input; each fused instance norm's input,
 * which is the conv's output; the tanh output, the losses' inputs) while the forward pass's
 * intermediates are still alive, and the gradients the backward pass adds. Measured on wasm (peak
 * of live tensors, tf.profile's peakBytes over a training step after a warm-up step; the slope over
 * micro-batches of 4, 6 and 8 images at 64 px, 16 and 24 at 32 px): 250 MiB per image at 64 px,
 * 6.4 per float, and 6.7 at 32 px (64 filters; 6.5 with 32 filters at 64 px). Before the norm and
 * padding layers were fused ops it was 28-29.5. 7 keeps the estimate 5-9% above the measured peaks
 * of live tensors, and within -1% to +7% of the heap's high-water mark (which the budget's headroom covers).
 */
const ACTIVATION_COPIES = 7;
/**
 * Float32 values per parameter alive across a step: weights, Adam's two moments, the gradient sum, a
 * pass's gradients and Adam's temporaries. Measured about 7.7 on wasm.
 */
const STATE_COPIES = 8;

/**
 * Floats of conv output per image in one step's largest phase, the generator phase: each generator
 * runs three times (translate, reconstruct, identity) and each discriminator once on the fakes. The D
 * phase (four discriminator passes) is smaller at every size the study uses.
 */
export function cycleganActivationFloats(cfg: Pick<CycleganConfig, 'resolution' | 'ngf' | 'ndf' | 'nBlocks' | 'nLayersD'>): number {
  const r = cfg.resolution;
  const { ngf, ndf } = cfg;
  // c7s1, d, d, 2 convs per residual block, u, u (the 'valid' transposed conv of an h px map is 2h + 1 px before the crop), c7s1-3.
  const g = r * r * ngf + (r / 2) ** 2 * 2 * ngf + (r / 4) ** 2 * 4 * ngf * (1 + 2 * cfg.nBlocks) + (r / 2 + 1) ** 2 * 2 * ngf + (r + 1) ** 2 * ngf + r * r * 3;
  let s = Math.floor(r / 2);
  let d = s * s * ndf;
  for (let n = 1; n <= cfg.nLayersD; n++) {
    s = n < cfg.nLayersD ? Math.floor(s / 2) : s - 1;
    d += s * s * ndf * Math.min(2 ** n, 8);
  }
  d += (s - 1) ** 2;
  return 6 * g + 2 * d;
}

/**
 * Estimated peak bytes of one training step with `microBatch` images per pass: the pass's tensors
 * (`cycleganActivationFloats` x ACTIVATION_COPIES per image), plus what lives across the step (the
 * parameters x STATE_COPIES, both domains' uploaded images, the two history pools and the batch).
 * Measured peaks of live tensors on wasm (MiB, estimate in brackets; heap high-water mark after),
 * 64 filters, 6 blocks, 64 + 64 images: at 64 px, micro-batches of 4, 6 and 8 images 1628 (1757,
 * heap 1678), 2128 (2306, 2177), 2628 (2855, 2662); at 32 px, 16 and 24 images 1681 (1758, 1776)
 * and 2210 (2312, 2275); 32 filters at 64 px, 8 images 1176 (1280, 1192). With one or two images per
 * pass the peak is the optimizer's update instead (1146 MiB at 64 filters, common/adam.ts's ops
 * keeping their temporaries until the update ends), which this estimate leaves out: it matters only
 * far below the budget.
 */
export function cycleganStepBytes(cfg: CycleganConfig, microBatch: number, params: number, images: number): number {
  const per = cfg.resolution * cfg.resolution * 3;
  const activations = microBatch * ACTIVATION_COPIES * cycleganActivationFloats(cfg);
  const state = STATE_COPIES * params + (images + 2 * cfg.poolSize + 2 * cfg.batchSize) * per;
  return 4 * (activations + state);
}

/**
 * The images per pass a step of `cfg` uses on `backend`: the configured number, or for 'auto' the
 * whole batch, except on wasm (a heap capped at 4 GiB, see WASM_STEP_BUDGET_BYTES): there the largest
 * divisor of the batch whose estimated step (`cycleganStepBytes`) stays within the budget, at least 1.
 * `params` and `images` are the model's parameter count and the images uploaded for training.
 */
export function cycleganMicroBatch(cfg: CycleganConfig, backend: string, params: number, images: number): number {
  if (cfg.microBatch !== 'auto') return cfg.microBatch;
  if (backend !== 'wasm') return cfg.batchSize;
  for (let m = cfg.batchSize; m > 1; m--) {
    if (cfg.batchSize % m === 0 && cycleganStepBytes(cfg, m, params, images) <= WASM_STEP_BUDGET_BYTES) return m;
  }
  return 1;
}

// ---------------------------------------------------------------------------------------------
// Layers

type Pad = [[number, number], [number, number], [number, number], [number, number]];
const zeroPad = (p: number): Pad => [[0, 0], [p, p], [p, p], [0, 0]];

interface Conv {
  w: tf.Variable;
  b: tf.Variable;
  /** Output channels. */
  cout: number;
  params: number;
}

/** A conv layer's weight [k, k, in, out] (transposed: [k, k, out, in]) ~ N(0, std) and zero bias. */
function addConv(store: ParamStore, name: string, k: number, cin: number, cout: number, std: number, transposed = false): Conv {
  const w = store.add(`${name}.w`, transposed ? [k, k, cout, cin] : [k, k, cin, cout], { kind: 'normal', mean: 0, std });
  const b = store.add(`${name}.b`, [cout], { kind: 'zeros' });
  return { w, b, cout, params: w.size + b.size };
}

/**
 * torch Conv2d(k, stride, padding=pad): zero padding on all four sides (w [k, k, in, out]), plus the
 * bias `b` when given (a conv followed by instance norm hands its bias to the norm instead, which
 * adds it in its own pass: layers/channel-norm.ts).
 */
export function torchConv2d(x: tf.Tensor4D, w: tf.Tensor4D, b: tf.Tensor1D | undefined, stride: number, pad: number): tf.Tensor4D {
  const y = tf.conv2d(x, w, stride, pad === 0 ? 'valid' : zeroPad(pad));
  return b ? y.add(b) : y;
}

/**
 * torch ConvTranspose2d(k3, stride 2, padding 1, output_padding 1) (w [3, 3, out, in]), plus the
 * bias `b` when given: [batch, h, w, in] -> [batch, 2h, 2w, out], input pixel i feeding outputs 2i - 1 .. 2i + 1.
 */
export function torchConvTranspose2d(x: tf.Tensor4D, w: tf.Tensor4D, b?: tf.Tensor1D): tf.Tensor4D {
  const [batch, h, wd] = x.shape;
  const out = w.shape[2];
  // 'valid' gives 2h + 1 with input pixel i feeding 2i .. 2i + 2; torch's padding 1 crops the first
  // row and column, its output_padding 1 keeps the last.
  const full = tf.conv2dTranspose(x, w, [batch, 2 * h + 1, 2 * wd + 1, out], 2, 'valid');
  const y = tf.slice(full, [0, 1, 1, 0], [batch, 2 * h, 2 * wd, out]);
  return b ? y.add(b) : y;
}

/** The conv of layer `c` with its bias. */
const conv = (x: tf.Tensor4D, c: Conv, stride: number, pad: number) => torchConv2d(x, c.w as tf.Tensor4D, c.b as tf.Tensor1D, stride, pad);
/**
 * The conv of layer `c`, then instance norm (adding the conv's bias in its pass) and `act`: one op
 * after the conv, which keeps a single activation-sized tensor for the backward pass.
 */
const convNorm = (x: tf.Tensor4D, c: Conv, stride: number, pad: number, act: NormActivation, leakyreluAlpha?: number) =>
  instanceNorm(torchConv2d(x, c.w as tf.Tensor4D, undefined, stride, pad), { bias: c.b as tf.Tensor1D, activation: act, leakyreluAlpha });
const convTransposeNorm = (x: tf.Tensor4D, c: Conv) => instanceNorm(torchConvTranspose2d(x, c.w as tf.Tensor4D), { bias: c.b as tf.Tensor1D, activation: 'relu' });

// ---------------------------------------------------------------------------------------------
// Networks

/**
 * A network that also states its layers' output shapes for an input size without running: a traced
 * forward pass at 256 px takes minutes on the cpu backend, so summaries come from the plan, and the
 * spec checks the plan against a traced forward pass at small sizes.
 */
export interface PlannedNetwork extends Network {
  /** Layer names, output shapes (batch of one) and trainable parameters for `resolution` px input. */
  plan(resolution: number): LayerSummary[];
}

/** networks.py ResnetGenerator (norm instance, no dropout, padding_type reflect). */
export function buildResnetGenerator(cfg: Pick<CycleganConfig, 'ngf' | 'nBlocks' | 'initStd'>, store: ParamStore, prefix: string): PlannedNetwork {
  const { ngf, nBlocks, initStd: std } = cfg;
  const inConv = addConv(store, `${prefix}.c7s1_in`, 7, 3, ngf, std);
  const down1 = addConv(store, `${prefix}.down1`, 3, ngf, ngf * 2, std);
  const down2 = addConv(store, `${prefix}.down2`, 3, ngf * 2, ngf * 4, std);
  const blocks = Array.from({ length: nBlocks }, (_, i) => ({
    conv1: addConv(store, `${prefix}.res${i}.conv1`, 3, ngf * 4, ngf * 4, std),
    conv2: addConv(store, `${prefix}.res${i}.conv2`, 3, ngf * 4, ngf * 4, std),
  }));
  const up1 = addConv(store, `${prefix}.up1`, 3, ngf * 4, ngf * 2, std, true);
  const up2 = addConv(store, `${prefix}.up2`, 3, ngf * 2, ngf, std, true);
  const outConv = addConv(store, `${prefix}.c7s1_out`, 7, ngf, 3, std);

  return {
    name: prefix,
    prefix,
    plan(r: number): LayerSummary[] {
      return [
        { name: `c7s1-${ngf}`, outputShape: [1, r, r, ngf], params: inConv.params },
        { name: `d${ngf * 2}`, outputShape: [1, r / 2, r / 2, ngf * 2], params: down1.params },
        { name: `d${ngf * 4}`, outputShape: [1, r / 4, r / 4, ngf * 4], params: down2.params },
        ...blocks.map((blk, i) => ({ name: `R${ngf * 4}.${i + 1}`, outputShape: [1, r / 4, r / 4, ngf * 4], params: blk.conv1.params + blk.conv2.params })),
        { name: `u${ngf * 2}`, outputShape: [1, r / 2, r / 2, ngf * 2], params: up1.params },
        { name: `u${ngf}`, outputShape: [1, r, r, ngf], params: up2.params },
        { name: 'c7s1-3', outputShape: [1, r, r, 3], params: outConv.params },
      ];
    },
    apply(x: tf.Tensor, opts: { tracer?: Tracer } = {}): tf.Tensor {
      const trace = opts.tracer ?? (() => undefined);
      const r = x.shape[1] as number;
      let h = x as tf.Tensor4D; // [batch, r, r, 3]
      h = convNorm(reflectionPad2d(h, 3), inConv, 1, 0, 'relu'); // [batch, r, r, ngf]
      trace(`c7s1-${ngf}`, h, inConv.params);
      h = convNorm(h, down1, 2, 1, 'relu'); // [batch, r/2, r/2, 2 ngf]
      trace(`d${ngf * 2}`, h, down1.params);
      h = convNorm(h, down2, 2, 1, 'relu'); // [batch, r/4, r/4, 4 ngf]
      trace(`d${ngf * 4}`, h, down2.params);
      blocks.forEach((blk, i) => {
        let y = convNorm(reflectionPad2d(h, 1), blk.conv1, 1, 0, 'relu'); // [batch, r/4, r/4, 4 ngf]
        y = convNorm(reflectionPad2d(y, 1), blk.conv2, 1, 0, 'linear'); // [batch, r/4, r/4, 4 ngf]
        h = h.add(y); // [batch, r/4, r/4, 4 ngf]
        trace(`R${ngf * 4}.${i + 1}`, h, blk.conv1.params + blk.conv2.params);
      });
      h = convTransposeNorm(h, up1); // [batch, r/2, r/2, 2 ngf]
      trace(`u${ngf * 2}`, h, up1.params);
      h = convTransposeNorm(h, up2); // [batch, r, r, ngf]
      trace(`u${ngf}`, h, up2.params);
      h = tf.tanh(conv(reflectionPad2d(h, 3), outConv, 1, 0)); // [batch, r, r, 3]
      trace('c7s1-3', h, outConv.params);
      if (h.shape[1] !== r) throw new Error(`generator output is ${h.shape[1]} px for a ${r} px input`);
      return h;
    },
  };
}

/** networks.py NLayerDiscriminator (the PatchGAN; 70x70 receptive field at nLayers 3), norm instance. */
export function buildPatchDiscriminator(cfg: Pick<CycleganConfig, 'ndf' | 'nLayersD' | 'initStd'>, store: ParamStore, prefix: string): PlannedNetwork {
  const { ndf, nLayersD, initStd: std } = cfg;
  const first = addConv(store, `${prefix}.conv0`, 4, 3, ndf, std);
  const mid: Conv[] = [];
  let mult = 1;
  for (let n = 1; n <= nLayersD; n++) {
    const prev = mult;
    mult = Math.min(2 ** n, 8);
    mid.push(addConv(store, `${prefix}.conv${n}`, 4, ndf * prev, ndf * mult, std));
  }
  const last = addConv(store, `${prefix}.conv${nLayersD + 1}`, 4, ndf * mult, 1, std);

  return {
    name: prefix,
    prefix,
    plan(r: number): LayerSummary[] {
      // 4x4 convs with padding 1: stride 2 maps s -> floor(s / 2), stride 1 maps s -> s - 1.
      let s = Math.floor(r / 2);
      const out: LayerSummary[] = [{ name: `C${ndf}`, outputShape: [1, s, s, ndf], params: first.params }];
      mid.forEach((c, i) => {
        s = i + 1 < nLayersD ? Math.floor(s / 2) : s - 1;
        out.push({ name: `C${c.cout}`, outputShape: [1, s, s, c.cout], params: c.params });
      });
      out.push({ name: 'patch', outputShape: [1, s - 1, s - 1, 1], params: last.params });
      return out;
    },
    apply(x: tf.Tensor, opts: { tracer?: Tracer } = {}): tf.Tensor {
      const trace = opts.tracer ?? (() => undefined);
      let h = convAct(x as tf.Tensor4D, first.w as tf.Tensor4D, first.b as tf.Tensor1D, { strides: 2, pad: zeroPad(1), alpha: 0.2 }); // [batch, r/2, r/2, ndf]
      trace(`C${ndf}`, h, first.params);
      mid.forEach((c, i) => {
        // Layers 1..nLayersD-1 halve the map; layer nLayersD has stride 1 (size - 1).
        const stride = i + 1 < nLayersD ? 2 : 1;
        h = convNorm(h, c, stride, 1, 'leakyRelu', 0.2); // [batch, r/2^(i+2) or r/2^nLayersD - 1, .., ndf * min(2^(i+1), 8)]
        trace(`C${c.cout}`, h, c.params);
      });
      h = conv(h, last, 1, 1); // [batch, r/2^nLayersD - 2, r/2^nLayersD - 2, 1]: one LSGAN score per patch
      trace('patch', h, last.params);
      return h;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// History pool

/**
 * util/image_pool.py ImagePool: keeps up to `size` generated images. While filling, each query image
 * is stored and returned; once full, each one is, with probability 0.5, stored in place of a random
 * stored image and that older image returned instead; otherwise returned as it is. Images stay on the
 * backend (no read-back per step); a checkpoint reads them out as raw float32.
 */
export class ImagePool {
  private images: tf.Tensor4D[] = [];

  constructor(
    readonly size: number,
    private readonly rng: Rng,
  ) {
    if (!Number.isInteger(size) || size < 0) throw new Error(`pool size must be a non-negative integer, got ${size}`);
  }

  get count(): number {
    return this.images.length;
  }

  /** Returns a new tensor (the caller disposes it) of the images D should see; never disposes `images`. */
  query(images: tf.Tensor4D): tf.Tensor4D {
    if (this.size === 0) return images.clone();
    const [n, h, w, c] = images.shape;
    const out: tf.Tensor4D[] = [];
    const release: tf.Tensor4D[] = [];
    for (let i = 0; i < n; i++) {
      const image = tf.keep(tf.slice(images, [i, 0, 0, 0], [1, h, w, c]));
      if (this.images.length < this.size) {
        this.images.push(image);
        out.push(image);
      } else if (this.rng.next() > 0.5) {
        const id = this.rng.int(this.size);
        const stored = this.images[id];
        this.images[id] = image;
        out.push(stored);
        release.push(stored);
      } else {
        out.push(image);
        release.push(image);
      }
    }
    const result = tf.concat(out, 0);
    tf.dispose(release);
    return result;
  }

  /** The stored images as one [count, H, W, C] array (null while empty). */
  async snapshot(name: string): Promise<NamedArray | null> {
    if (this.images.length === 0) return null;
    const all = tf.concat(this.images, 0);
    const data = (await all.data()) as Float32Array;
    const shape = [...all.shape];
    all.dispose();
    return { name, shape, data };
  }

  /** Replaces the contents with a snapshot's images (none when `array` is undefined). */
  load(array: NamedArray | undefined, imageShape: [number, number, number]): void {
    const [h, w, c] = imageShape;
    if (array) {
      const [n, ...rest] = array.shape;
      if (array.shape.length !== 4 || rest[0] !== h || rest[1] !== w || rest[2] !== c || n > this.size) {
        throw new Error(`pool '${array.name}' has shape [${array.shape}], expected [<=${this.size}, ${h}, ${w}, ${c}]`);
      }
    }
    this.dispose();
    if (!array) return;
    const per = h * w * c;
    for (let i = 0; i < array.shape[0]; i++) {
      this.images.push(tf.tensor4d(array.data.slice(i * per, (i + 1) * per), [1, h, w, c]));
    }
  }

  dispose(): void {
    tf.dispose(this.images);
    this.images = [];
  }
}

// ---------------------------------------------------------------------------------------------
// Training

type NetName = 'G_A' | 'G_B' | 'D_A' | 'D_B';
const LOSS_KEYS = ['g', 'cycle_A', 'cycle_B', 'idt_A', 'idt_B', 'd_A', 'd_B'] as const;

interface Domains {
  resolution: number;
  a: Float32Array;
  aCount: number;
  b: Float32Array;
  bCount: number;
}

function checkData(data: GanTrainingData, resolution: number): Domains {
  const per = resolution * resolution * 3;
  const check = (what: string, images: Float32Array | undefined, count: number | undefined) => {
    if (!(images instanceof Float32Array)) throw new Error(`CycleGAN needs ${what} images as a Float32Array`);
    if (count === undefined || !Number.isInteger(count) || count < 1) throw new Error(`CycleGAN needs at least one ${what} image, got count ${count}`);
    if (images.length !== count * per) {
      throw new Error(`CycleGAN ${what} images: ${images.length} values for ${count} images of ${resolution}x${resolution}x3 (expected ${count * per})`);
    }
  };
  check('source (domain A)', data.source, data.sourceCount);
  check('target (domain B)', data.target, data.targetCount);
  return { resolution, a: data.source as Float32Array, aCount: data.sourceCount as number, b: data.target, bCount: data.targetCount };
}

const mse = (x: tf.Tensor, target: number): tf.Scalar => tf.mean(tf.square(tf.sub(x, target)));
const l1 = (x: tf.Tensor, y: tf.Tensor): tf.Scalar => tf.mean(tf.abs(tf.sub(x, y)));

/** The random streams: weight init, batch sampling, pool choices. */
type RngStates = Record<'init' | 'data' | 'pool', RngState>;

/**
 * A store for summaries and restores: the parameters get their shapes but no random draws (28M
 * normal deviates at the reference size take tens of seconds on a busy machine, only to be thrown
 * away or overwritten).
 */
class ShapeOnlyStore extends ParamStore {
  override add(name: string, shape: number[]): tf.Variable {
    return super.add(name, shape, { kind: 'zeros' });
  }
}

class CycleGan implements Gan {
  readonly kind = 'cyclegan' as const;
  readonly resolution: number;
  readonly totalSteps: number;
  private t = 0;
  private readonly store: ParamStore;
  private readonly nets: Record<NetName, PlannedNetwork>;
  private readonly gParams: Array<[string, tf.Variable]>;
  private readonly dParams: Array<[string, tf.Variable]>;
  private readonly optG: Adam;
  private readonly optD: Adam;
  private readonly rngInit: Rng;
  private readonly rngData: Rng;
  private readonly rngPool: Rng;
  /** fake_A_pool (G_B(B), for D_B) and fake_B_pool (G_A(A), for D_A). */
  private readonly poolFakeA: ImagePool;
  private readonly poolFakeB: ImagePool;
  /** Domain A is walked in shuffled epochs (the reference's shuffled loader over the larger set); B is drawn at random. */
  private aOrder: number[] = [];
  private aCursor = 0;
  /** Both domains' images, uploaded once. */
  private readonly imagesA: DeviceImages;
  private readonly imagesB: DeviceImages;
  /** Images per forward/backward pass (`cycleganMicroBatch`, resolved on the backend active at construction). */
  readonly microBatch: number;
  private disposed = false;

  /** `drawWeights` false (restoring): parameters start at zero, the checkpoint overwrites them all. */
  constructor(
    readonly config: CycleganConfig,
    private readonly data: Domains,
    private readonly seed: number,
    drawWeights = true,
  ) {
    this.resolution = config.resolution;
    this.totalSteps = config.steps;
    const root = new Rng(seed);
    this.rngInit = root.fork('init');
    this.rngData = root.fork('data');
    this.rngPool = root.fork('pool');
    this.store = drawWeights ? new ParamStore(this.rngInit) : new ShapeOnlyStore(this.rngInit);
    this.nets = {
      G_A: buildResnetGenerator(config, this.store, 'G_A'),
      G_B: buildResnetGenerator(config, this.store, 'G_B'),
      D_A: buildPatchDiscriminator(config, this.store, 'D_A'),
      D_B: buildPatchDiscriminator(config, this.store, 'D_B'),
    };
    const g = { ...this.store.trainableMap('G_A.'), ...this.store.trainableMap('G_B.') };
    const d = { ...this.store.trainableMap('D_A.'), ...this.store.trainableMap('D_B.') };
    this.gParams = Object.entries(g);
    this.dParams = Object.entries(d);
    const adam = { lr: config.lr, beta1: config.beta1, beta2: config.beta2, eps: ADAM_EPS };
    this.optG = new Adam(g, adam);
    this.optD = new Adam(d, adam);
    this.poolFakeA = new ImagePool(config.poolSize, this.rngPool);
    this.poolFakeB = new ImagePool(config.poolSize, this.rngPool);
    const shape = [config.resolution, config.resolution, 3] as const;
    this.imagesA = new DeviceImages(data.a, data.aCount, shape, 'CycleGAN source images (domain A)');
    try {
      this.imagesB = new DeviceImages(data.b, data.bCount, shape, 'CycleGAN target images (domain B)');
    } catch (err) {
      this.imagesA.dispose();
      throw err;
    }
    this.microBatch = cycleganMicroBatch(config, tf.getBackend(), this.store.count(), data.aCount + data.bCount);
  }

  get step(): number {
    return this.t;
  }

  /**
   * One step over `batchSize` images of each domain, in `batchSize / microBatch` passes whose
   * gradients are averaged on the device before each Adam update (one pass: exactly the reference's
   * step). Every loss is a mean over images of per-image means and instance norm is per image, so
   * the average of the passes' gradients is the full batch's gradient, up to float summation order.
   * (Conv biases followed by instance norm have a zero gradient, so they move by Adam-scaled
   * rounding noise, differently for any change of summation order; cyclegan.spec.ts checks the rest
   * to 1e-5.) The batch indices are drawn, and the history pools queried image by image, in the full
   * batch's order, so the random streams and the pools see what a one-pass step would.
   */
  trainStep(): Record<string, number> {
    this.assertLive();
    const cfg = this.config;
    const lr = cfg.lr * cycleganLrFactor(this.t, cfg);
    const { G_A, G_B, D_A, D_B } = this.nets;
    const m = this.microBatch;
    const passes = cfg.batchSize / m;
    const aIdx = this.nextA();
    const bIdx = Array.from({ length: cfg.batchSize }, () => this.rngData.int(this.data.bCount));
    // Tensors that outlive the tidy scope they are made in; all disposed in `finally`.
    const owned: tf.Tensor[] = [];
    const own = <T extends tf.Tensor>(t: T): T => (owned.push(t), t);
    const gGrads = new PassSum();
    const dGrads = new PassSum();
    // Each pass's loss parts: [total, cycle_A, cycle_B, idt_A, idt_B] and [d_A, d_B].
    const gParts: tf.Tensor[] = [];
    const dParts: tf.Tensor[] = [];
    try {
      const realA: tf.Tensor4D[] = []; // [m, r, r, 3] each
      const realB: tf.Tensor4D[] = [];
      for (let j = 0; j < passes; j++) {
        realA.push(own(this.imagesA.gather(aIdx.slice(j * m, (j + 1) * m))));
        realB.push(own(this.imagesB.gather(bIdx.slice(j * m, (j + 1) * m))));
      }
      // G_A and G_B, jointly (D's weights are not updated here).
      const fakeA: tf.Tensor4D[] = [];
      const fakeB: tf.Tensor4D[] = [];
      for (let j = 0; j < passes; j++) {
        tf.tidy(() => {
          const { grads } = tf.variableGrads(() => {
            const fB = G_A.apply(realA[j]) as tf.Tensor4D; // G_A(A)
            const recA = G_B.apply(fB); // G_B(G_A(A))
            const fA = G_B.apply(realB[j]) as tf.Tensor4D; // G_B(B)
            const recB = G_A.apply(fA); // G_A(G_B(B))
            const identity = cfg.lambdaIdentity > 0;
            const idtA = identity ? l1(G_A.apply(realB[j]), realB[j]).mul(cfg.lambdaB * cfg.lambdaIdentity) : tf.scalar(0);
            const idtB = identity ? l1(G_B.apply(realA[j]), realA[j]).mul(cfg.lambdaA * cfg.lambdaIdentity) : tf.scalar(0);
            const ganA = mse(D_A.apply(fB), 1);
            const ganB = mse(D_B.apply(fA), 1);
            const cycleA = l1(recA, realA[j]).mul(cfg.lambdaA);
            const cycleB = l1(recB, realB[j]).mul(cfg.lambdaB);
            const total = tf.addN([ganA, ganB, cycleA, cycleB, idtA, idtB]) as tf.Scalar;
            fakeA.push(own(tf.keep(fA)));
            fakeB.push(own(tf.keep(fB)));
            gParts.push(own(tf.keep(tf.stack([total, cycleA, cycleB, idtA, idtB]))));
            return total;
          }, this.gParams.map(([, v]) => v));
          gGrads.add(grads);
        });
      }
      tf.tidy(() => this.optG.apply(byName(this.gParams, gGrads.mean()), lr));
      // D_A: real B vs pooled G_A(A); D_B: real A vs pooled G_B(B) (the fakes from before the G update).
      // All of B's fakes go through their pool before A's, image by image, as in a one-pass step.
      const poolB = fakeB.map((f) => own(this.poolFakeB.query(f)));
      const poolA = fakeA.map((f) => own(this.poolFakeA.query(f)));
      for (let j = 0; j < passes; j++) {
        tf.tidy(() => {
          const { grads } = tf.variableGrads(() => {
            const dA = mse(D_A.apply(realB[j]), 1).add(mse(D_A.apply(poolB[j]), 0)).mul(0.5);
            const dB = mse(D_B.apply(realA[j]), 1).add(mse(D_B.apply(poolA[j]), 0)).mul(0.5);
            dParts.push(own(tf.keep(tf.stack([dA, dB]))));
            return dA.add(dB) as tf.Scalar;
          }, this.dParams.map(([, v]) => v));
          dGrads.add(grads);
        });
      }
      tf.tidy(() => this.optD.apply(byName(this.dParams, dGrads.mean()), lr));
      // The step's only read-back.
      const mean = (parts: tf.Tensor[]) => (parts.length === 1 ? parts[0] : tf.addN(parts).div(parts.length));
      const values = own(tf.tidy(() => tf.concat([mean(gParts), mean(dParts)]))).dataSync();
      this.t += 1;
      const out: Record<string, number> = {};
      LOSS_KEYS.forEach((k, i) => (out[k] = values[i]));
      return out;
    } finally {
      tf.dispose(owned);
      gGrads.dispose();
      dGrads.dispose();
    }
  }

  async generate(n: number, source?: Float32Array): Promise<Float32Array> {
    this.assertLive();
    const r = this.resolution;
    const per = r * r * 3;
    if (!Number.isInteger(n) || n < 0) throw new Error(`generate needs a non-negative integer count, got ${n}`);
    if (!(source instanceof Float32Array)) {
      throw new Error('CycleGAN generate(n, source) translates source images: pass n source images (NHWC Float32Array, benign domain A)');
    }
    if (source.length !== n * per) {
      throw new Error(`generate(${n}, source): source holds ${source.length} values, expected ${n * per} (${n} images of ${r}x${r}x3)`);
    }
    const out = new Float32Array(n * per);
    for (let start = 0; start < n; start += GENERATE_BATCH) {
      const count = Math.min(GENERATE_BATCH, n - start);
      const y = tf.tidy(() => this.nets.G_A.apply(tf.tensor4d(source.subarray(start * per, (start + count) * per), [count, r, r, 3])));
      out.set((await y.data()) as Float32Array, start * per);
      y.dispose();
    }
    return out;
  }

  async checkpoint(): Promise<Uint8Array> {
    this.assertLive();
    const arrays = await this.store.snapshot();
    const g = await this.optG.snapshot('adam_G');
    const d = await this.optD.snapshot('adam_D');
    arrays.push(...g.arrays, ...d.arrays);
    const pools = { fake_A_pool: await this.poolFakeA.snapshot('pool.fake_A'), fake_B_pool: await this.poolFakeB.snapshot('pool.fake_B') };
    for (const p of Object.values(pools)) if (p) arrays.push(p);
    const rng: RngStates = { init: this.rngInit.getState(), data: this.rngData.getState(), pool: this.rngPool.getState() };
    return encodeCheckpoint({
      model: 'cyclegan',
      config: { ...this.config },
      step: this.t,
      meta: {
        seed: this.seed,
        adamSteps: { G: g.step, D: d.step },
        // The lr schedule is a function of the step; stored for readers of the checkpoint.
        lrFactor: cycleganLrFactor(this.t, this.config),
        poolCounts: { fake_A: this.poolFakeA.count, fake_B: this.poolFakeB.count },
        aOrder: this.aOrder,
        aCursor: this.aCursor,
      },
      rng,
      arrays,
    });
  }

  /** Loads a decoded checkpoint's state (weights, moments, pools, sampler, streams, step). */
  load(c: ReturnType<typeof decodeCheckpoint>): void {
    const meta = c.meta as { adamSteps?: { G: number; D: number }; aOrder?: unknown; aCursor?: unknown };
    const byName = new Map(c.arrays.map((a) => [a.name, a]));
    this.store.load(c.arrays);
    if (!meta.adamSteps) throw new Error('CycleGAN checkpoint has no Adam step counts (meta.adamSteps)');
    this.optG.load('adam_G', meta.adamSteps.G, c.arrays);
    this.optD.load('adam_D', meta.adamSteps.D, c.arrays);
    const shape: [number, number, number] = [this.resolution, this.resolution, 3];
    this.poolFakeA.load(byName.get('pool.fake_A'), shape);
    this.poolFakeB.load(byName.get('pool.fake_B'), shape);
    for (const key of ['init', 'data', 'pool'] as const) {
      if (!c.rng[key]) throw new Error(`CycleGAN checkpoint has no '${key}' random-number state`);
    }
    this.rngInit.setState(c.rng.init);
    this.rngData.setState(c.rng.data);
    this.rngPool.setState(c.rng.pool);
    const order = meta.aOrder;
    if (!Array.isArray(order) || order.some((i) => !Number.isInteger(i) || i < 0 || i >= this.data.aCount)) {
      throw new Error(`CycleGAN checkpoint's domain-A order does not fit ${this.data.aCount} source images`);
    }
    if (!Number.isInteger(meta.aCursor) || (meta.aCursor as number) < 0 || (meta.aCursor as number) > order.length) {
      throw new Error(`CycleGAN checkpoint's domain-A cursor is invalid: ${JSON.stringify(meta.aCursor)}`);
    }
    this.aOrder = order as number[];
    this.aCursor = meta.aCursor as number;
    this.t = c.step;
  }

  summary(): NetworkSummary[] {
    this.assertLive();
    return summarize(this.store, this.nets, this.resolution);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.store.dispose();
    this.optG.dispose();
    this.optD.dispose();
    this.poolFakeA.dispose();
    this.poolFakeB.dispose();
    this.imagesA.dispose();
    this.imagesB.dispose();
  }

  /** The next batch of domain-A indices, walking a fresh shuffle of all source images per epoch. */
  private nextA(): number[] {
    const out: number[] = [];
    while (out.length < this.config.batchSize) {
      if (this.aCursor >= this.aOrder.length) {
        this.aOrder = this.rngData.permutation(this.data.aCount);
        this.aCursor = 0;
      }
      out.push(this.aOrder[this.aCursor++]);
    }
    return out;
  }

  private assertLive(): void {
    if (this.disposed) throw new Error('this CycleGAN has been disposed');
  }
}

/**
 * The running sum of a step's per-pass gradients, kept on the device (one sum, not one copy per
 * pass); `mean()` divides by the number of passes. With one pass it holds that pass's gradients
 * themselves, so a one-pass step computes exactly what it did before micro-batches existed.
 */
class PassSum {
  private sums: tf.NamedTensorMap = {};
  private passes = 0;

  /** Adds one pass's tensors; keeps what it stores, so the caller's tidy may dispose `values`. */
  add(values: tf.NamedTensorMap): void {
    const next: tf.NamedTensorMap = {};
    for (const [k, v] of Object.entries(values)) {
      if (this.passes > 0 && !this.sums[k]) throw new Error(`pass ${this.passes + 1} has a tensor '${k}' the first pass did not have`);
      next[k] = tf.keep(this.passes === 0 ? v : this.sums[k].add(v));
    }
    if (this.passes > 0) tf.dispose(Object.values(this.sums));
    this.sums = next;
    this.passes += 1;
  }

  /** The mean over the passes: the stored tensors for one pass, else new ones (call inside a tidy). */
  mean(): tf.NamedTensorMap {
    if (this.passes <= 1) return this.sums;
    const out: tf.NamedTensorMap = {};
    for (const [k, v] of Object.entries(this.sums)) out[k] = v.div(this.passes);
    return out;
  }

  dispose(): void {
    tf.dispose(Object.values(this.sums));
    this.sums = {};
    this.passes = 0;
  }
}

/** Gradients keyed by tfjs variable name -> keyed by our parameter name. */
function byName(params: Array<[string, tf.Variable]>, grads: tf.NamedTensorMap): Record<string, tf.Tensor> {
  const out: Record<string, tf.Tensor> = {};
  for (const [name, v] of params) out[name] = grads[v.name];
  return out;
}

function summarize(store: ParamStore, nets: Record<string, PlannedNetwork>, resolution: number): NetworkSummary[] {
  return Object.values(nets).map((net) => ({ name: net.name, params: store.count(`${net.prefix}.`), layers: net.plan(resolution) }));
}

/** A CycleGAN translating `data.source` (domain A) into `data.target` (domain B), seeded by `seed`. */
export function createCyclegan(overrides: Partial<CycleganSettings> | Record<string, unknown>, data: GanTrainingData, seed: number): Gan {
  const config = resolveCycleganConfig(overrides);
  return new CycleGan(config, checkData(data, config.resolution), seed);
}

/** Rebuilds a CycleGAN from `checkpoint()` bytes; training continues exactly where it stopped. */
export function restoreCyclegan(bytes: Uint8Array, data: GanTrainingData): Gan {
  const c = decodeCheckpoint(bytes, 'cyclegan');
  const config = resolveCycleganConfig(c.config);
  // Checkpoints from before micro-batches have no microBatch: they took whole-batch steps, which is
  // what 'auto' does wherever such a step fits (and the result does not depend on it beyond rounding).
  assertSameConfig({ microBatch: CYCLEGAN_DEFAULTS.microBatch, ...c.config }, config);
  const seed = c.meta.seed;
  if (typeof seed !== 'number' || !Number.isInteger(seed)) throw new Error(`CycleGAN checkpoint has no integer seed, got ${JSON.stringify(seed)}`);
  const gan = new CycleGan(config, checkData(data, config.resolution), seed, false);
  try {
    gan.load(c);
  } catch (err) {
    gan.dispose();
    throw err;
  }
  return gan;
}

/** Each network's layers, output shapes and trainable parameter counts, for a config (builds and disposes). */
export function describeCyclegan(overrides: Partial<CycleganSettings> | Record<string, unknown> = {}): NetworkSummary[] {
  const config = resolveCycleganConfig(overrides);
  const store = new ShapeOnlyStore(new Rng(0));
  try {
    const nets = {
      G_A: buildResnetGenerator(config, store, 'G_A'),
      G_B: buildResnetGenerator(config, store, 'G_B'),
      D_A: buildPatchDiscriminator(config, store, 'D_A'),
      D_B: buildPatchDiscriminator(config, store, 'D_B'),
    };
    return summarize(store, nets, config.resolution);
  } finally {
    store.dispose();
  }
}
