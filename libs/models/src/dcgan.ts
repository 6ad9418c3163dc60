/**
 * DCGAN: Radford, Metz & Chintala 2015, "Unsupervised Representation Learning with Deep Convolutional
 * Generative Adversarial Networks". Follows the PyTorch reference, pytorch/examples `dcgan/main.py`:
 *
 * - Generator: z [nz] -> ConvTranspose(nz, ngf*2^(n-1), k4, s1, p0) on a 1x1 map = 4x4, then
 *   ConvTranspose(k4, s2, p1) blocks halving the width and doubling the size, each with BatchNorm and
 *   ReLU, and a last ConvTranspose(ngf, 3, k4, s2, p1) with tanh. n = log2(resolution) - 2 (4 at 64 px).
 * - Discriminator: Conv(3, ndf, k4, s2, p1) + LeakyReLU(0.2) (no BatchNorm on the first layer), then
 *   Conv(k4, s2, p1) + BatchNorm + LeakyReLU(0.2) blocks doubling the width, and Conv(ndf*2^(n-1), 1,
 *   k4, s1, p0) on the 4x4 map: one logit. (The reference ends in Sigmoid + BCELoss; we keep the logit
 *   and use the numerically stable BCE-with-logits, the same function.)
 * - No conv biases (bias=False). Weights N(0, 0.02); BatchNorm gamma N(1, 0.02), beta 0.
 * - Adam lr 2e-4, betas (0.5, 0.999). One step = the reference's inner loop: D on a real batch (label 1)
 *   and on G(z).detach() (label 0), as two separate forward passes (separate batch statistics), one D
 *   update; then G on D(G(z)) with label 1 against the updated D, one G update.
 * - BatchNorm in training mode normalizes with batch statistics and updates running statistics like
 *   torch (momentum 0.1, unbiased variance in the running estimate, eps 1e-5): G's once per step (the
 *   reference runs netG once per step), D's on each of its three forward passes.
 *
 * Sampling: the reference never calls netG.eval(), so its samples use batch statistics. We match it by
 * default (`sampleBatchNorm: 'batch'`), generating in full batches of `batchSize` latents so the
 * statistics are those of a training-sized batch; sampling does not touch the running statistics (a
 * pure read, so a checkpoint is the same before and after generating). 'running' uses the running
 * estimates instead (eval mode).
 *
 * Inputs: the real images go to the backend once (common/device-images.ts) and each batch is
 * gathered there by the seeded sampler's indices; latents are drawn on the host from the seeded
 * stream and uploaded (B x latentDim floats, e.g. 25 KB at the reference's 64 x 100; tf.randomNormal
 * would draw on the host too, with another generator). The step reads back only its stacked losses.
 *
 * tfjs idioms from tensorflow/tfjs-examples `mnist-acgan`; parameters in a seeded ParamStore, NHWC.
 * The first transposed convolution acts on a 1x1 map, so it is a matrix product z W with W of shape
 * [nz, 4*4*c0] (the same nz*16*c0 weights as torch's [nz, c0, 4, 4]).
 */
import * as tf from '@tensorflow/tfjs';
import { Rng } from '@gan-study/core';
import type { RngState } from '@gan-study/core';
import { Adam, DeviceImages, ParamStore, assertSameConfig, decodeCheckpoint, encodeCheckpoint, recordingTracer } from './common';
import type { Network, NetworkSummary, Tracer } from './common';
import type { Gan, GanTrainingData } from './gan';
import { batchNorm } from './layers/batch-norm';
import { activate, activationSlope } from './layers/channel-norm';
import type { NormActivation } from './layers/channel-norm';
import { convAct } from './layers/conv-act';

export type DcganConfig = {
  resolution: number;
  latentDim: number;
  ngf: number;
  ndf: number;
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  batchSize: number;
  steps: number;
  bnMomentum: number;
  bnEps: number;
  leakySlope: number;
  initStd: number;
  sampleBatchNorm: 'batch' | 'running';
};

export const DCGAN_DEFAULTS: DcganConfig = {
  // pytorch/examples --imageSize 64; the architecture the paper describes (4 up/down blocks).
  resolution: 64,
  // pytorch/examples --nz 100, the paper's uniform-noise dimension.
  latentDim: 100,
  // pytorch/examples --ngf 64: generator width at the last hidden layer.
  ngf: 64,
  // pytorch/examples --ndf 64: discriminator width at the first layer.
  ndf: 64,
  // Paper and reference: Adam 2e-4 (0.001 was too high).
  lr: 2e-4,
  // Paper and reference: beta1 0.5 (0.9 oscillated and was unstable).
  beta1: 0.5,
  // Reference: torch's default beta2.
  beta2: 0.999,
  // torch.optim.Adam default eps.
  eps: 1e-8,
  // Paper and reference --batchSize 64.
  batchSize: 64,
  // Training length in D+G steps; the paper gives none: 5000 x 64 = 320k images shown, about the
  // reference's 25 epochs (--niter 25) over a 12.8k-image set.
  steps: 5000,
  // torch.nn.BatchNorm2d default running-average momentum.
  bnMomentum: 0.1,
  // torch.nn.BatchNorm2d default eps.
  bnEps: 1e-5,
  // Paper and reference: LeakyReLU slope 0.2 in the discriminator.
  leakySlope: 0.2,
  // Paper and reference weights_init: conv weights N(0, 0.02), BatchNorm gamma N(1, 0.02).
  initStd: 0.02,
  // The reference samples with netG in train mode (batch statistics); see the header.
  sampleBatchNorm: 'batch',
};

const isPositiveInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v > 0;

/** Defaults, then overrides; every field validated, unknown keys rejected by name. */
export function resolveDcganConfig(overrides: Partial<DcganConfig> | Record<string, unknown> = {}): DcganConfig {
  for (const key of Object.keys(overrides)) {
    if (!(key in DCGAN_DEFAULTS)) throw new Error(`unknown dcgan config key '${key}' (known: ${Object.keys(DCGAN_DEFAULTS).join(', ')})`);
  }
  const c = { ...DCGAN_DEFAULTS, ...overrides } as DcganConfig;
  const r = c.resolution;
  if (!isPositiveInt(r) || r < 16 || (r & (r - 1)) !== 0) throw new Error(`dcgan resolution must be a power of two >= 16, got ${JSON.stringify(r)}`);
  for (const key of ['latentDim', 'ngf', 'ndf', 'batchSize', 'steps'] as const) {
    if (!isPositiveInt(c[key])) throw new Error(`dcgan ${key} must be a positive integer, got ${JSON.stringify(c[key])}`);
  }
  for (const key of ['lr', 'eps', 'bnEps', 'initStd'] as const) {
    if (!(typeof c[key] === 'number' && c[key] > 0 && Number.isFinite(c[key]))) throw new Error(`dcgan ${key} must be a positive number, got ${JSON.stringify(c[key])}`);
  }
  for (const key of ['beta1', 'beta2', 'leakySlope'] as const) {
    if (!(typeof c[key] === 'number' && c[key] >= 0 && c[key] < 1)) throw new Error(`dcgan ${key} must be in [0, 1), got ${JSON.stringify(c[key])}`);
  }
  if (!(typeof c.bnMomentum === 'number' && c.bnMomentum > 0 && c.bnMomentum <= 1)) throw new Error(`dcgan bnMomentum must be in (0, 1], got ${JSON.stringify(c.bnMomentum)}`);
  if (c.sampleBatchNorm !== 'batch' && c.sampleBatchNorm !== 'running') throw new Error(`dcgan sampleBatchNorm must be 'batch' or 'running', got ${JSON.stringify(c.sampleBatchNorm)}`);
  return c;
}

/** Forward options of the DCGAN networks: `updateStats` folds this pass's batch statistics into the running ones. */
export interface BnForwardOptions {
  training?: boolean;
  tracer?: Tracer;
  updateStats?: boolean;
}

export interface DcganNetwork extends Network {
  apply(x: tf.Tensor, opts?: BnForwardOptions): tf.Tensor;
}

/** Number of stride-2 blocks between 4x4 and the resolution. */
function blocks(resolution: number): number {
  return Math.round(Math.log2(resolution)) - 2;
}

/** BatchNorm2d over NHWC (statistics over batch, height, width), torch semantics, with the activation that follows it. */
function batchNormLayer(cfg: DcganConfig, store: ParamStore, name: string, channels: number) {
  const gamma = store.add(`${name}.gamma`, [channels], { kind: 'normal', mean: 1, std: cfg.initStd });
  const beta = store.add(`${name}.beta`, [channels], { kind: 'zeros' });
  const runningMean = store.addBuffer(`${name}.runningMean`, [channels], { kind: 'zeros' });
  const runningVar = store.addBuffer(`${name}.runningVar`, [channels], { kind: 'ones' });
  return {
    params: gamma.size + beta.size,
    /** act(BN(x)); in training one fused op (layers/batch-norm.ts), in eval mode with the running estimates. */
    apply(x: tf.Tensor4D, opts: BnForwardOptions, act: { activation: NormActivation; leakyreluAlpha?: number }): tf.Tensor4D {
      if (opts.training) {
        const n = x.shape[0] * x.shape[1] * x.shape[2];
        const m = cfg.bnMomentum;
        // Running estimates use the unbiased variance, as torch does. The fused op hands over the batch
        // statistics inside its forward pass, off the gradient tape.
        const onStats = opts.updateStats
          ? (mean: tf.Tensor1D, variance: tf.Tensor1D) => {
              runningMean.assign(tf.add(tf.mul(runningMean, 1 - m), tf.mul(mean, m)));
              runningVar.assign(tf.add(tf.mul(runningVar, 1 - m), tf.mul(variance, (m * n) / Math.max(1, n - 1))));
            }
          : undefined;
        return batchNorm(x, { gamma: gamma as tf.Tensor1D, beta: beta as tf.Tensor1D, eps: cfg.bnEps, ...act, onStats });
      }
      const y = tf.add(tf.mul(tf.div(tf.sub(x, runningMean), tf.sqrt(tf.add(runningVar, cfg.bnEps))), gamma), beta);
      return activate(y, activationSlope('dcgan batch norm', act)) as tf.Tensor4D;
    },
  };
}

const RELU = { activation: 'relu' } as const;

/** The generator: [batch, latentDim] -> [batch, R, R, 3] in [-1, 1]. */
export function buildGenerator(cfg: DcganConfig, store: ParamStore, prefix = 'G'): DcganNetwork {
  const n = blocks(cfg.resolution);
  const widths = Array.from({ length: n }, (_, i) => cfg.ngf * 2 ** (n - 1 - i)); // 512, 256, 128, 64 at the reference
  const init = { kind: 'normal' as const, mean: 0, std: cfg.initStd };
  const proj = store.add(`${prefix}.proj.w`, [cfg.latentDim, 4 * 4 * widths[0]], init);
  const projBn = batchNormLayer(cfg, store, `${prefix}.proj.bn`, widths[0]);
  const ups = widths.slice(1).map((cout, i) => ({
    name: `up${i + 1}`,
    cout,
    // conv2dTranspose filters are [kh, kw, out, in].
    w: store.add(`${prefix}.up${i + 1}.w`, [4, 4, cout, widths[i]], init),
    bn: batchNormLayer(cfg, store, `${prefix}.up${i + 1}.bn`, cout),
  }));
  const toRgb = store.add(`${prefix}.out.w`, [4, 4, 3, widths[n - 1]], init);
  return {
    name: 'generator',
    prefix,
    apply(z, opts = {}) {
      const batch = z.shape[0];
      let h = tf.reshape(tf.matMul(z as tf.Tensor2D, proj), [batch, 4, 4, widths[0]]) as tf.Tensor4D; // [batch, 4, 4, ngf*2^(n-1)]
      h = projBn.apply(h, opts, RELU);
      opts.tracer?.('proj+bn+relu', h, proj.size + projBn.params);
      let size = 4;
      for (const up of ups) {
        size *= 2;
        h = tf.conv2dTranspose(h, up.w as tf.Tensor4D, [batch, size, size, up.cout], 2, 'same'); // [batch, 2s, 2s, width/2]
        h = up.bn.apply(h, opts, RELU);
        opts.tracer?.(`${up.name}+bn+relu`, h, up.w.size + up.bn.params);
      }
      size *= 2;
      const out = tf.tanh(tf.conv2dTranspose(h, toRgb as tf.Tensor4D, [batch, size, size, 3], 2, 'same')); // [batch, R, R, 3]
      opts.tracer?.('out+tanh', out, toRgb.size);
      return out;
    },
  };
}

/** The discriminator: [batch, R, R, 3] -> [batch] logits (real = positive). */
export function buildDiscriminator(cfg: DcganConfig, store: ParamStore, prefix = 'D'): DcganNetwork {
  const n = blocks(cfg.resolution);
  const widths = Array.from({ length: n }, (_, i) => cfg.ndf * 2 ** i); // 64, 128, 256, 512 at the reference
  const init = { kind: 'normal' as const, mean: 0, std: cfg.initStd };
  const first = store.add(`${prefix}.conv1.w`, [4, 4, 3, widths[0]], init);
  const downs = widths.slice(1).map((cout, i) => ({
    name: `conv${i + 2}`,
    w: store.add(`${prefix}.conv${i + 2}.w`, [4, 4, widths[i], cout], init),
    bn: batchNormLayer(cfg, store, `${prefix}.conv${i + 2}.bn`, cout),
  }));
  const last = store.add(`${prefix}.out.w`, [4, 4, widths[n - 1], 1], init);
  return {
    name: 'discriminator',
    prefix,
    apply(x, opts = {}) {
      let h = convAct(x as tf.Tensor4D, first as tf.Tensor4D, undefined, { strides: 2, pad: 'same', alpha: cfg.leakySlope }); // [batch, R/2, R/2, ndf]
      opts.tracer?.('conv1+lrelu', h, first.size);
      for (const down of downs) {
        h = tf.conv2d(h, down.w as tf.Tensor4D, 2, 'same'); // [batch, s/2, s/2, 2*width]
        h = down.bn.apply(h, opts, { activation: 'leakyRelu', leakyreluAlpha: cfg.leakySlope });
        opts.tracer?.(`${down.name}+bn+lrelu`, h, down.w.size + down.bn.params);
      }
      const logit = tf.conv2d(h, last as tf.Tensor4D, 1, 'valid'); // [batch, 1, 1, 1]
      opts.tracer?.('out', logit, last.size);
      return tf.reshape(logit, [-1]); // [batch]
    },
  };
}

/** Mean binary cross-entropy of logits against a constant label, stable form max(x,0) - x*y + log(1 + e^-|x|). */
export function bceWithLogits(logits: tf.Tensor, label: 0 | 1): tf.Scalar {
  return tf.tidy(() => {
    const softplusNegAbs = tf.log1p(tf.exp(tf.neg(tf.abs(logits))));
    const linear = label === 1 ? tf.sub(tf.relu(logits), logits) : tf.relu(logits);
    return tf.mean(tf.add(linear, softplusNegAbs));
  });
}

function traceNetworks(cfg: DcganConfig, g: DcganNetwork, d: DcganNetwork, store: ParamStore): NetworkSummary[] {
  const out: NetworkSummary[] = [];
  for (const [net, input] of [
    [g, [1, cfg.latentDim]],
    [d, [1, cfg.resolution, cfg.resolution, 3]],
  ] as const) {
    const { tracer, layers } = recordingTracer();
    tf.tidy(() => {
      net.apply(tf.zeros([...input]), { training: false, tracer });
    });
    out.push({ name: net.name, params: store.count(`${net.prefix}.`), layers });
  }
  return out;
}

/** Losses of one step (means over the batch), as plain numbers. */
export interface DcganLosses extends Record<string, number> {
  /** D loss: BCE(D(x), 1) + BCE(D(G(z)), 0). */
  d: number;
  /** G loss: BCE(D(G(z)), 1) against the updated D. */
  g: number;
  /** Mean D(x) (probability), the reference's D(x). */
  dReal: number;
  /** Mean D(G(z)) before and after the D update, the reference's D(G(z)) pair. */
  dFake: number;
  dFakeAfter: number;
}

class Dcgan implements Gan {
  readonly kind = 'dcgan' as const;
  readonly resolution: number;
  readonly totalSteps: number;
  private readonly g: DcganNetwork;
  private readonly d: DcganNetwork;
  private readonly optG: Adam;
  private readonly optD: Adam;
  private readonly gVars: tf.Variable[];
  private readonly dVars: tf.Variable[];
  private readonly imageSize: number;
  /** The real images, uploaded once. */
  private readonly reals: DeviceImages;
  private order: number[] = [];
  private cursor = 0;
  private disposed = false;

  constructor(
    readonly config: DcganConfig,
    private readonly store: ParamStore,
    private readonly data: GanTrainingData,
    private readonly rngs: { noise: Rng; batches: Rng; sample: Rng },
  ) {
    this.resolution = config.resolution;
    this.totalSteps = config.steps;
    this.imageSize = config.resolution * config.resolution * 3;
    if (!isPositiveInt(data.targetCount)) throw new Error(`dcgan needs at least one real image, got targetCount=${data.targetCount}`);
    if (!(data.target instanceof Float32Array) || data.target.length !== data.targetCount * this.imageSize) {
      throw new Error(`dcgan target images must be a Float32Array of ${data.targetCount} x ${config.resolution}x${config.resolution}x3 = ${data.targetCount * this.imageSize} values, got ${data.target?.length}`);
    }
    this.g = buildGenerator(config, store, 'G');
    this.d = buildDiscriminator(config, store, 'D');
    const adam = { lr: config.lr, beta1: config.beta1, beta2: config.beta2, eps: config.eps };
    this.optG = new Adam(store.trainableMap('G.'), adam);
    this.optD = new Adam(store.trainableMap('D.'), adam);
    this.gVars = store.trainable('G.');
    this.dVars = store.trainable('D.');
    // Last, so nothing above can throw after the upload (the caller disposes only the store).
    this.reals = new DeviceImages(data.target, data.targetCount, [config.resolution, config.resolution, 3], 'dcgan target images');
  }

  get step(): number {
    return this.optG.step;
  }

  trainStep(): DcganLosses {
    this.alive();
    const { batchSize: B, latentDim } = this.config;
    const zData = this.rngs.noise.fillNormal(new Float32Array(B * latentDim));
    const realIdx = this.nextRealBatch();
    // D's outputs as probabilities, for the log line; kept out of the gradient scopes, disposed below.
    let dLoss: tf.Scalar | undefined;
    let dReal: tf.Tensor | undefined;
    let dFake: tf.Tensor | undefined;
    let dFakeAfter: tf.Tensor | undefined;
    const stats = tf.tidy(() => {
      const z = tf.tensor2d(zData, [B, latentDim]);
      const real = this.reals.gather(realIdx); // [B, R, R, 3]
      // One tape for the step, so G runs forward once, as in the reference (which reuses `fake`):
      // the outer scope records G(z); the nested D step and its update run inside it, and the G
      // loss is then taken against the updated D. The outer gradient follows only the paths from
      // G's variables to the G loss (G's forward and the second D forward): the D step's nodes do
      // not lead to it and are pruned, and D's updated variables are leaves (an assign is not an op).
      // The D step's own gradient is taken with respect to D's variables only, so `fake` needs no detach.
      const gStep = tf.variableGrads(() => {
        // (1) D: maximize log D(x) + log(1 - D(G(z))). G runs once, updating its running statistics.
        const fake = this.g.apply(z, { training: true, updateStats: true }); // [B, R, R, 3]
        const dStep = tf.variableGrads(() => {
          const realLogits = this.d.apply(real, { training: true, updateStats: true });
          const fakeLogits = this.d.apply(fake, { training: true, updateStats: true });
          const loss = tf.add(bceWithLogits(realLogits, 1), bceWithLogits(fakeLogits, 0));
          dReal = tf.keep(tf.mean(tf.sigmoid(realLogits)));
          dFake = tf.keep(tf.mean(tf.sigmoid(fakeLogits)));
          return loss as tf.Scalar;
        }, this.dVars);
        this.optD.apply(byName(this.store.trainableMap('D.'), dStep.grads));
        dLoss = tf.keep(dStep.value); // the outer scope disposes what it does not return
        // (2) G: maximize log D(G(z)) against the updated D, on the same G(z).
        const logits = this.d.apply(fake, { training: true, updateStats: true });
        dFakeAfter = tf.keep(tf.mean(tf.sigmoid(logits)));
        return bceWithLogits(logits, 1);
      }, this.gVars);
      this.optG.apply(byName(this.store.trainableMap('G.'), gStep.grads));
      if (!dLoss) throw new Error('dcgan trainStep: the D step did not run');
      return tf.stack([dLoss, gStep.value, dReal!, dFake!, dFakeAfter!]);
    });
    const v = stats.dataSync(); // the step's one read-back
    tf.dispose([stats, dLoss, dReal, dFake, dFakeAfter].filter((t): t is tf.Tensor => t !== undefined));
    return { d: v[0], g: v[1], dReal: v[2], dFake: v[3], dFakeAfter: v[4] };
  }

  async generate(n: number): Promise<Float32Array> {
    this.alive();
    if (!Number.isInteger(n) || n < 0) throw new Error(`dcgan generate needs a non-negative integer count, got ${n}`);
    const { batchSize: B, latentDim } = this.config;
    const out = new Float32Array(n * this.imageSize);
    const training = this.config.sampleBatchNorm === 'batch';
    for (let start = 0; start < n; start += B) {
      // Always a full batch, so batch statistics are those of a training-sized batch.
      const zData = this.rngs.sample.fillNormal(new Float32Array(B * latentDim));
      const images = tf.tidy(() => this.g.apply(tf.tensor2d(zData, [B, latentDim]), { training, updateStats: false }));
      const values = (await images.data()) as Float32Array;
      images.dispose();
      const take = Math.min(B, n - start);
      out.set(values.subarray(0, take * this.imageSize), start * this.imageSize);
    }
    return out;
  }

  async checkpoint(): Promise<Uint8Array> {
    this.alive();
    const g = await this.optG.snapshot('optG');
    const d = await this.optD.snapshot('optD');
    return encodeCheckpoint({
      model: 'dcgan',
      config: { ...this.config },
      step: this.step,
      meta: { optDStep: d.step, order: this.order, cursor: this.cursor },
      rng: { noise: this.rngs.noise.getState(), batches: this.rngs.batches.getState(), sample: this.rngs.sample.getState() },
      arrays: [...(await this.store.snapshot()), ...g.arrays, ...d.arrays],
    });
  }

  summary(): NetworkSummary[] {
    this.alive();
    return traceNetworks(this.config, this.g, this.d, this.store);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.optG.dispose();
    this.optD.dispose();
    this.store.dispose();
    this.reals.dispose();
  }

  /** Restores everything `checkpoint` saved (used by restoreDcgan). */
  load(c: ReturnType<typeof decodeCheckpoint>): void {
    this.store.load(c.arrays);
    this.optG.load('optG', c.step, c.arrays);
    const optDStep = c.meta.optDStep;
    if (!Number.isInteger(optDStep)) throw new Error(`dcgan checkpoint meta.optDStep must be an integer, got ${JSON.stringify(optDStep)}`);
    this.optD.load('optD', optDStep as number, c.arrays);
    const order = c.meta.order;
    const cursor = c.meta.cursor;
    if (!Array.isArray(order) || !order.every((i) => Number.isInteger(i) && i >= 0 && i < this.data.targetCount)) {
      throw new Error(`dcgan checkpoint batch order does not fit ${this.data.targetCount} real images (was it made with other data?)`);
    }
    if (!Number.isInteger(cursor) || (cursor as number) < 0 || (cursor as number) > order.length) throw new Error(`dcgan checkpoint meta.cursor is invalid: ${JSON.stringify(cursor)}`);
    this.order = order as number[];
    this.cursor = cursor as number;
    for (const name of ['noise', 'batches', 'sample'] as const) {
      const state = c.rng[name] as RngState | undefined;
      if (!state) throw new Error(`dcgan checkpoint has no '${name}' random-number state`);
      this.rngs[name].setState(state);
    }
  }

  /** Indices of the next batchSize real images: epochs of a seeded permutation, batches running across epoch boundaries. */
  private nextRealBatch(): Int32Array {
    const B = this.config.batchSize;
    const out = new Int32Array(B);
    for (let i = 0; i < B; i++) {
      if (this.cursor >= this.order.length) {
        this.order = this.rngs.batches.permutation(this.data.targetCount);
        this.cursor = 0;
      }
      out[i] = this.order[this.cursor++];
    }
    return out;
  }

  private alive(): void {
    if (this.disposed) throw new Error('dcgan was disposed');
  }
}

/** Maps tfjs variable-name-keyed gradients to the store names Adam uses. */
function byName(vars: Record<string, tf.Variable>, grads: tf.NamedTensorMap): Record<string, tf.Tensor> {
  const out: Record<string, tf.Tensor> = {};
  for (const [name, v] of Object.entries(vars)) out[name] = grads[v.name];
  return out;
}

function newRngs(seed: number) {
  const root = new Rng(seed);
  return { init: root.fork('dcgan.init'), noise: root.fork('dcgan.noise'), batches: root.fork('dcgan.batches'), sample: root.fork('dcgan.sample') };
}

/** A new DCGAN with the reference initialization drawn from `seed`, training on `data.target`. */
export function createDcgan(overrides: Partial<DcganConfig> | Record<string, unknown>, data: GanTrainingData, seed: number): Gan {
  const cfg = resolveDcganConfig(overrides);
  const { init, ...streams } = newRngs(seed);
  const store = new ParamStore(init);
  try {
    return new Dcgan(cfg, store, data, streams);
  } catch (err) {
    store.dispose();
    throw err;
  }
}

/** A DCGAN exactly as `checkpoint()` saved it (weights, running statistics, Adam moments, step, streams, batch order). */
export function restoreDcgan(bytes: Uint8Array, data: GanTrainingData): Gan {
  const c = decodeCheckpoint(bytes, 'dcgan');
  const cfg = resolveDcganConfig(c.config);
  assertSameConfig(c.config, cfg);
  const { init, ...streams } = newRngs(0);
  const store = new ParamStore(init);
  let gan: Dcgan;
  try {
    gan = new Dcgan(cfg, store, data, streams);
  } catch (err) {
    store.dispose();
    throw err;
  }
  try {
    gan.load(c);
  } catch (err) {
    gan.dispose();
    throw err;
  }
  return gan;
}

/** Generator and discriminator layers, output shapes and trainable parameter counts (throwaway build). */
export function describeDcgan(overrides: Partial<DcganConfig> | Record<string, unknown> = {}): NetworkSummary[] {
  const cfg = resolveDcganConfig(overrides);
  const store = new ParamStore(new Rng(0));
  try {
    return traceNetworks(cfg, buildGenerator(cfg, store, 'G'), buildDiscriminator(cfg, store, 'D'), store);
  } finally {
    store.dispose();
  }
}
