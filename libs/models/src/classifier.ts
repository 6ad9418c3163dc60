/**
 * The study's classifier: the "basic 2-block CNN" of Park et al. (Sungkyunkwan University), "Improving
 * classification results on medical dataset augmentation using GAN", written in PyTorch there. The
 * paper gives no layer table, so this follows the shape of PyTorch's own basic CNN (the "Training a
 * classifier" tutorial, pytorch/tutorials `cifar10_tutorial.py`): two blocks of
 * Conv2d -> ReLU -> MaxPool2d(2), flatten, Linear -> ReLU (one or more), Linear to C logits, softmax.
 * PyTorch's default initialization (kaiming_uniform(a=sqrt(5)): U(-1/sqrt(fanIn), 1/sqrt(fanIn)) for
 * weights and biases), Adam with torch's defaults.
 *
 * No dropout and no batch norm: a step is a pure function of (weights, batch), so a data-parallel run
 * (shards' gradients with denominator = global batch, summed, then applied) equals the single-process
 * run up to float summation order.
 *
 * Ways to take a step:
 * - `trainStep` (one trainer, no peers): the tape's gradients go straight into Adam on the device; the
 *   step's only read-back is the loss (one float), so a GPU backend syncs once per step.
 * - `gradients` + `applyGradients`: the gradient as ONE flat Float32Array over all trainable
 *   parameters in creation order (conv1.w, conv1.b, conv2.w, conv2.b, fc1.w, fc1.b, ..., out.w, out.b).
 * - `exchangeGradients` + `applyExchanged` (data-parallel, summed by an all-reduce) and `pairStep`
 *   (two replicas on one host): ONE flat vector as well, so trainers can all-reduce it as raw bytes,
 *   but a large dense layer goes as its factors, the shard's rows of its input and output gradient,
 *   from which each replica makes the whole batch's weight gradient (ExchangeLayout): 2.2 MB
 *   instead of 8.5 MB for the 64 px classifier, paid only when there are peers to exchange with.
 * All apply the same float32 gradient with the same Adam ops, so they give the same weights (up to
 * summation order across shards).
 *
 * Images come either as a host Float32Array (uploaded for the call) or as a tensor already on the
 * device, e.g. a batch gathered from a training set uploaded once (common/device-images.ts).
 */
import * as tf from '@tensorflow/tfjs';
import { Rng } from '@gan-study/core';
import { Adam, ParamStore, assertSameConfig, decodeCheckpoint, encodeCheckpoint, recordingTracer } from './common';
import type { GradientFactors, Network, NetworkSummary, Tracer } from './common';
import { allocF32, f32, onWasm, readBack } from './engine/wasm-heap';
import { convActPool } from './layers/conv-act';

export interface ClassifierConfig {
  inputSize: number;
  channels: number;
  numClasses: number;
  filters: number[];
  kernelSize: number;
  hidden: number[];
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  batchSize: number;
  epochs: number;
}

export const CLASSIFIER_DEFAULTS: ClassifierConfig = {
  // The dataset's images are 224x224 (the paper's profile); smoke runs override it (works down to 4 px).
  inputSize: 224,
  // RGB dermoscopy images.
  channels: 3,
  // Benign vs malignant.
  numClasses: 2,
  // Two conv blocks, doubling the width as the map halves: the usual basic-CNN widths.
  filters: [32, 64],
  // 3x3 with 'same' padding (torch padding=k//2), so any input size keeps a whole map after two pools.
  kernelSize: 3,
  // One hidden dense layer of 128 ReLU units before the logits; its output is the feature vector.
  hidden: [128],
  // torch.optim.Adam default step size.
  lr: 1e-3,
  // torch.optim.Adam default betas.
  beta1: 0.9,
  beta2: 0.999,
  // torch.optim.Adam default eps.
  eps: 1e-8,
  // A common PyTorch DataLoader batch for a 2.6k-image set.
  batchSize: 32,
  // Passes over the training set; the paper does not state it, the caller's epoch loop reads it.
  epochs: 20,
};

const PREFIX = 'C';

function isPositiveInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v > 0;
}

/** Defaults, then overrides; every field validated, unknown keys rejected by name. */
export function resolveClassifierConfig(overrides: Partial<ClassifierConfig> | Record<string, unknown> = {}): ClassifierConfig {
  for (const key of Object.keys(overrides)) {
    if (!(key in CLASSIFIER_DEFAULTS)) throw new Error(`unknown classifier config key '${key}' (known: ${Object.keys(CLASSIFIER_DEFAULTS).join(', ')})`);
  }
  const c = { ...CLASSIFIER_DEFAULTS, ...overrides } as ClassifierConfig;
  for (const key of ['inputSize', 'channels', 'kernelSize', 'batchSize', 'epochs'] as const) {
    if (!isPositiveInt(c[key])) throw new Error(`classifier ${key} must be a positive integer, got ${JSON.stringify(c[key])}`);
  }
  if (!isPositiveInt(c.numClasses) || c.numClasses < 2) throw new Error(`classifier numClasses must be an integer >= 2, got ${JSON.stringify(c.numClasses)}`);
  if (c.inputSize < 4) throw new Error(`classifier inputSize must be at least 4 (two 2x2 pools), got ${c.inputSize}`);
  if (c.kernelSize % 2 !== 1) throw new Error(`classifier kernelSize must be odd ('same' padding k//2 as torch), got ${c.kernelSize}`);
  if (!Array.isArray(c.filters) || c.filters.length !== 2 || !c.filters.every(isPositiveInt)) {
    throw new Error(`classifier filters must be two positive integers (one per conv block), got ${JSON.stringify(c.filters)}`);
  }
  if (!Array.isArray(c.hidden) || c.hidden.length < 1 || !c.hidden.every(isPositiveInt)) {
    throw new Error(`classifier hidden must be a non-empty list of positive integers (dense layer widths), got ${JSON.stringify(c.hidden)}`);
  }
  if (!(typeof c.lr === 'number' && c.lr > 0 && Number.isFinite(c.lr))) throw new Error(`classifier lr must be a positive number, got ${JSON.stringify(c.lr)}`);
  for (const key of ['beta1', 'beta2'] as const) {
    if (!(typeof c[key] === 'number' && c[key] >= 0 && c[key] < 1)) throw new Error(`classifier ${key} must be in [0, 1), got ${JSON.stringify(c[key])}`);
  }
  if (!(typeof c.eps === 'number' && c.eps > 0)) throw new Error(`classifier eps must be a positive number, got ${JSON.stringify(c.eps)}`);
  return { ...c, filters: [...c.filters], hidden: [...c.hidden] };
}

/** Width of the penultimate layer (what `features` returns per image). */
export function classifierFeatureWidth(overrides: Partial<ClassifierConfig> = {}): number {
  const cfg = resolveClassifierConfig(overrides);
  return cfg.hidden[cfg.hidden.length - 1];
}

/**
 * How a parameter enters the graph, at the point of its use (default: the variable itself). A
 * gradient hook goes here: its gradient function runs as soon as the backward pass has finished that
 * parameter's gradient, which for the last layers is long before the pass ends.
 */
export type ParamUse = (v: tf.Variable) => tf.Tensor;

/**
 * Watches chosen dense layers (by layer name: fc1, fc2, ..., out) in a training pass: `input` gets
 * the layer's input [batch, in] as the forward pass makes it, `outputGrad` the gradient of the
 * layer's output before its activation [batch, out] as the backward pass makes it. The tensors are
 * the pass's own: copy or keep what is held on to. The factored exchange (Classifier) uses it.
 */
export interface DenseTap {
  layers: ReadonlySet<string>;
  input(layer: string, x: tf.Tensor2D): void;
  outputGrad(layer: string, dz: tf.Tensor2D): void;
}

export interface ClassifierNetwork extends Network {
  apply(x: tf.Tensor, opts?: { training?: boolean; tracer?: Tracer; use?: ParamUse; tap?: DenseTap }): tf.Tensor;
  /** Penultimate activations (after the last hidden ReLU): [batch, hidden[last]]. */
  features(x: tf.Tensor, opts?: { tracer?: Tracer; use?: ParamUse; tap?: DenseTap }): tf.Tensor2D;
  /** The dense layers in order: name, input and output width. */
  readonly denseLayers: ReadonlyArray<{ name: string; nin: number; nout: number }>;
}

/** y, with a gradient function that shows the incoming gradient to `seen` and passes it on unchanged. */
function onGradient<T extends tf.Tensor>(y: T, seen: (dy: T) => void): T {
  return tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => ({
    // A reshape to its own shape: a new tensor on the same memory (wasm's Identity would copy it).
    value: tf.reshape(args[0] as tf.Tensor, y.shape),
    gradFunc: (dy: tf.Tensor) => {
      seen(dy as T);
      return dy;
    },
  }))(y) as T;
}

/** Builds the network's parameters into `store` under `prefix` and returns its forward pass (logits). */
export function buildClassifier(cfg: ClassifierConfig, store: ParamStore, prefix = PREFIX): ClassifierNetwork {
  const k = cfg.kernelSize;
  const [f1, f2] = cfg.filters;
  const conv = (name: string, cin: number, cout: number) => {
    const fanIn = cin * k * k;
    return {
      w: store.add(`${prefix}.${name}.w`, [k, k, cin, cout], { kind: 'torchDefault', fanIn }),
      b: store.add(`${prefix}.${name}.b`, [cout], { kind: 'torchDefault', fanIn }),
    };
  };
  const dense = (name: string, nin: number, nout: number) => ({
    w: store.add(`${prefix}.${name}.w`, [nin, nout], { kind: 'torchDefault', fanIn: nin }),
    b: store.add(`${prefix}.${name}.b`, [nout], { kind: 'torchDefault', fanIn: nin }),
  });
  const pooled = Math.floor(Math.floor(cfg.inputSize / 2) / 2);
  const flat = pooled * pooled * f2;
  const conv1 = conv('conv1', cfg.channels, f1);
  const conv2 = conv('conv2', f1, f2);
  const fcs: Array<{ name: string; w: tf.Variable; b: tf.Variable }> = [];
  let width = flat;
  cfg.hidden.forEach((h, i) => {
    fcs.push({ name: `fc${i + 1}`, ...dense(`fc${i + 1}`, width, h) });
    width = h;
  });
  const out = dense('out', width, cfg.numClasses);

  const denseOf = (name: string, v: tf.Tensor2D, w: tf.Variable, b: tf.Variable, use: ParamUse, tap?: DenseTap): tf.Tensor2D => {
    if (!tap?.layers.has(name)) return tf.add(tf.matMul(v, use(w) as tf.Tensor2D), use(b)) as tf.Tensor2D;
    tap.input(name, v);
    return onGradient(tf.add(tf.matMul(v, use(w) as tf.Tensor2D), use(b)) as tf.Tensor2D, (dz) => tap.outputGrad(name, dz));
  };
  const featuresOf = (x: tf.Tensor, tracer?: Tracer, use: ParamUse = (v) => v, tap?: DenseTap): tf.Tensor2D => {
    const S = cfg.inputSize;
    let h = x as tf.Tensor4D; // [batch, S, S, channels]
    // Each block: conv + bias + ReLU, then a 2x2 max pool (one kernel and one backward pass through
    // the pool and the ReLU where the oneDNN kernels run).
    const c1 = convActPool(h, use(conv1.w) as tf.Tensor4D, use(conv1.b) as tf.Tensor1D, { alpha: 0 });
    tracer?.('conv1+relu', { shape: c1.activationShape }, conv1.w.size + conv1.b.size); // [batch, S, S, f1]
    tracer?.('pool1', c1.pooled, 0); // [batch, S/2, S/2, f1]
    const c2 = convActPool(c1.pooled, use(conv2.w) as tf.Tensor4D, use(conv2.b) as tf.Tensor1D, { alpha: 0 });
    tracer?.('conv2+relu', { shape: c2.activationShape }, conv2.w.size + conv2.b.size); // [batch, S/2, S/2, f2]
    tracer?.('pool2', c2.pooled, 0); // [batch, S/4, S/4, f2]
    h = c2.pooled;
    if (h.shape[1] !== pooled) throw new Error(`classifier expected a ${S}x${S} input, got [${x.shape}]`);
    let v: tf.Tensor2D = tf.reshape(h, [-1, flat]); // [batch, S/4 * S/4 * f2]
    tracer?.('flatten', v, 0);
    for (const fc of fcs) {
      v = tf.relu(denseOf(fc.name, v, fc.w, fc.b, use, tap)); // [batch, hidden[i]]
      tracer?.(`${fc.name}+relu`, v, fc.w.size + fc.b.size);
    }
    return v;
  };
  return {
    name: 'classifier',
    prefix,
    denseLayers: [...fcs, { name: 'out', ...out }].map((l) => {
      const [nin, nout] = l.w.shape as [number, number];
      return { name: l.name, nin, nout };
    }),
    features: (x, opts = {}) => featuresOf(x, opts.tracer, opts.use, opts.tap),
    apply(x, opts = {}) {
      const use = opts.use ?? ((v: tf.Variable) => v);
      const v = featuresOf(x, opts.tracer, use, opts.tap);
      const logits = denseOf('out', v, out.w, out.b, use, opts.tap); // [batch, numClasses]
      opts.tracer?.('out', logits, out.w.size + out.b.size);
      return logits;
    },
  };
}

/** Values [from, to) of the gradient vector are final (see Classifier.gradients). */
export type GradientReady = (from: number, to: number) => void;

/**
 * Sends this replica's vector to the one other replica of a data-parallel job and resolves when the
 * other's vector can be read (the trainer's JobContext.pairExchange). `ours` are the vector's
 * segments laid end to end; they are read before the call returns (they may be views of the
 * device's memory that a later allocation invalidates). `readInto` writes the other's vector (as
 * long as this one's) into segments laid end to end, synchronously, once per call, before the call
 * after next: `pairStep` makes its second call of a step before it reads the first. `now`, where
 * the swap offers it, gives the other's vector at once when it has come already, else null (then
 * the caller awaits the call): `pairStep` tries it before it awaits.
 */
export type VectorSwap = (ours: readonly Float32Array[]) => Promise<IncomingSwap> & { now?: () => IncomingSwap | null };

/** The other replica's vector of a VectorSwap call (the shape of @gan-study/protocol's IncomingVector, which this library does not import). */
export interface IncomingSwap {
  readInto(segments: readonly Float32Array[]): void;
}

/**
 * The points of a `pairStep`, in the order they come, for a caller that times where the step goes
 * (the bench's timeline of the pair's step):
 * - `rows-ready`, `rows-sent`: the backward pass has made the factored layers' rows, and the first
 *   swap (them) has returned (inside the pass: the rest of it, the layers below, comes after);
 * - `pass-done`: the pass has ended;
 * - `gradients-sent`: the second swap (the gradients and the loss) has returned;
 * - `rows-in`: the other's rows are there; `rows-merged`: both shards' rows are in tensors;
 * - `rows-applied`: the factored layers are updated (their dW and Adam);
 * - `gradients-in`: the other's gradients are there; `done`: Adam on the rest, the step is over.
 * A step without factored layers has no `rows-*` points; an empty shard's `rows-ready` and
 * `rows-sent` come after its `pass-done`.
 */
export const PAIR_STEP_POINTS = ['rows-ready', 'rows-sent', 'pass-done', 'gradients-sent', 'rows-in', 'rows-merged', 'rows-applied', 'gradients-in', 'done'] as const;
export type PairStepPoint = (typeof PAIR_STEP_POINTS)[number];

/** What follows a pair's gradients in its second vector: the shard's loss sum, its pass's time, and its row count. */
const PAIR_TAIL = 3;

/** A `pairStep`'s outcome, the same on both replicas but for which pass time is whose. */
export interface PairStepResult {
  /** The global batch's summed cross-entropy (float32). */
  lossSum: number;
  /**
   * How long each replica's pass took (ms, float32 as it travelled): from the call until its
   * gradients were made, the forward and backward passes and the first swap. The rest of a step
   * (the other's vectors merged, Adam) is the same work on both, so the two passes show which
   * replica is slower on its shard and by how much (PairBalance).
   */
  passMs: { ours: number; theirs: number };
}

/** A batch of images, NHWC at inputSize: host values (uploaded for the call) or a [count, S, S, C] tensor on the device (not disposed). */
export type ClassifierImages = Float32Array | tf.Tensor4D;

/** Where a replica's shard lies in the global batch of a data-parallel step: its first row, and the global batch's row count. */
export interface ShardRows {
  offset: number;
  total: number;
}

/**
 * The layout of the vector data-parallel replicas exchange (`exchangeGradients`, `pairStep`). A
 * dense layer whose weight gradient dW = x^T dz is larger than its factors at the configured batch
 * (batchSize * (in + out) < in * out: the 64 px classifier's fc1, 16384 x 128) is exchanged as its
 * factors: each replica's rows of the layer's input x and of the gradient dz of its output before
 * the ReLU, each in a slot of batchSize rows where the replica writes its shard's rows and zeros
 * elsewhere. Summed over replicas (or swapped and merged), the slots hold the global batch's x and
 * dz exactly (x + 0 = x), and dW = x^T dz is the same product one trainer takes on the whole batch.
 * At batch 32 the 64 px classifier's vector is 0.55 M floats (2.2 MB) of which fc1's factors 0.53 M,
 * against 2.1 M for fc1's gradient alone. The other parameters' gradients come first, in creation order.
 */
export interface ExchangeLayout {
  /** Floats in the vector (the loss sum, where a job sends it, comes after). */
  length: number;
  /** Parameters exchanged as gradients: store name, shape and offset. */
  gradients: ReadonlyArray<{ name: string; shape: readonly number[]; offset: number; size: number }>;
  /** Dense layers exchanged as factors: layer name, widths, and the offsets of their x and dz slots (batchSize rows each). */
  factored: ReadonlyArray<{ layer: string; nin: number; nout: number; x: number; dz: number }>;
  /** Rows of each factor slot: the configured batch size. */
  rows: number;
  /**
   * Floats each of two replicas sharing memory sends per step of a whole batch cut in two halves
   * (`pairStep`): the gradients, only its own rows of each factor, half the slot (ceil(rows / 2)
   * rows; the other's rows it would fill with zeros are left out), then its loss sum, pass time
   * and row count. Shards of unequal size each send as many rows as the larger one.
   */
  pairLength: number;
}

export interface Classifier {
  readonly config: Readonly<ClassifierConfig>;
  /** Trainable scalars; also the length of every gradient vector. */
  readonly paramCount: number;
  /** Width of `features` per image. */
  readonly featureWidth: number;
  /** Optimizer steps applied so far. */
  readonly step: number;
  /**
   * Gradient of (sum over these `count` examples of cross-entropy) / denominator, flattened over all
   * trainable parameters in creation order and read back to the host (for an all-reduce); `lossSum`
   * is the summed (not divided) cross-entropy. Shards of a global batch B called with denominator B
   * sum to the full batch's mean gradient. `grads` is `into` when given (paramCount values, e.g. a
   * view of the array the job exchanges: no copy), else a fresh array; x is NHWC, `count` images at inputSize.
   * With `onReady`, each parameter's gradient is read into `grads` as soon as the backward pass has
   * finished it (the last layers' first) and reported, so a data-parallel job can send it while the
   * rest of the pass runs; the values are the same either way.
   */
  gradients(x: ClassifierImages, labels: Int32Array, count: number, denominator: number, into?: Float32Array, onReady?: GradientReady): { lossSum: number; grads: Float32Array };
  /** One Adam step with a flat gradient laid out as `gradients` returns it. */
  applyGradients(flat: Float32Array): void;
  /** What data-parallel replicas exchange (see ExchangeLayout). */
  readonly exchange: ExchangeLayout;
  /**
   * This shard's part of a data-parallel step, into `into` (exchange.length values) laid out as
   * `exchange` says: the gradients of (sum of the shard's cross-entropy) / denominator, and the
   * factored layers' rows at `rows.offset` (zeros in the other rows). Summed over the replicas of
   * the global batch it is what `applyExchanged` takes. With `onReady` each range is reported as soon
   * as it is written (a factor's x slot during the forward pass), for a job to send it at once.
   * Returns the shard's summed cross-entropy.
   */
  exchangeGradients(x: ClassifierImages, labels: Int32Array, count: number, denominator: number, rows: ShardRows, into: Float32Array, onReady?: GradientReady): { lossSum: number };
  /** One Adam step from the replicas' summed `exchangeGradients` vectors; `rows`: the global batch's row count. */
  applyExchanged(sum: Float32Array, rows: number): void;
  /**
   * A data-parallel step of one of TWO replicas (shards that cut the global batch in two) with
   * everything kept on the device: the shard's gradients (denominator the global batch), its own
   * rows of each factored layer's x and dz (`exchange.pairLength` floats at a whole batch) and its
   * loss sum go to the other replica through `swap` straight from the device's memory where it
   * allows (wasm: the heap), the other's come back into tensors on the device, and are merged
   * there: gradients added (a + b on one replica, b + a on the other: the same floats), a factored
   * layer's rows taken from each, its dW = x^T dz made from them (inside Adam's update on the
   * addon). Two swaps a step: the factored layers' rows as soon as the backward pass has made
   * them, and their update (Adam's first part) while the other replica finishes its pass; the
   * gradients and the loss after the pass, then Adam on the rest. The same weights as
   * `exchangeGradients` on both, summed on the host, then
   * `applyExchanged`, without the host copies and the host-side sum. Resolves with the global
   * batch's loss sum and both replicas' pass times (PairStepResult), which ride with the loss, for
   * a caller that balances the shards (PairBalance); rejects when the other replica's shard is not
   * the rest of the batch. An empty shard (count 0, x null: a global batch smaller than the
   * replicas) contributes zeros. `mark`, when given, is called at each of PAIR_STEP_POINTS as the
   * step reaches it.
   */
  pairStep(x: ClassifierImages | null, labels: Int32Array, count: number, denominator: number, rows: ShardRows, swap: VectorSwap, mark?: (point: PairStepPoint) => void): Promise<PairStepResult>;
  /**
   * One Adam step on the batch's mean loss with the gradients kept on the device: the same weights as
   * gradients(x, labels, count, count) then applyGradients, without the gradient's round trip; the
   * loss is the step's only read-back. Returns the batch's mean loss.
   */
  trainStep(x: ClassifierImages, labels: Int32Array, count: number): { loss: number };
  /** Class probabilities, count * numClasses, row-major; evaluated in batches (default config.batchSize). */
  predict(x: Float32Array, count: number, batchSize?: number): Promise<Float32Array>;
  /** Penultimate-layer activations, count * featureWidth. */
  features(x: Float32Array, count: number, batchSize?: number): Promise<Float32Array>;
  /** All trainable parameters, flattened in gradient order (a copy). */
  weightsFlat(): Float32Array;
  /** Overwrites all trainable parameters from a `weightsFlat` vector (replica sync). */
  setWeightsFlat(flat: Float32Array): void;
  checkpoint(): Promise<Uint8Array>;
  summary(): NetworkSummary[];
  dispose(): void;
}

class CnnClassifier implements Classifier {
  readonly paramCount: number;
  readonly featureWidth: number;
  private readonly net: ClassifierNetwork;
  private readonly opt: Adam;
  private readonly params: Array<{ name: string; v: tf.Variable }>;
  readonly exchange: ExchangeLayout;
  /** The factored layers (tapped in an exchange) and their weights (which the tape then leaves out). */
  private readonly tapLayers: ReadonlySet<string>;
  private readonly factoredWeights: ReadonlySet<string>;
  /** Where each variable's gradient goes (by variable name): in the flat gradient, and in the exchanged vector. */
  private readonly gradientSlots: ReadonlyMap<string, { offset: number; size: number }>;
  private readonly exchangeSlots: ReadonlyMap<string, { offset: number; size: number }>;
  /** Zeros for the rows of a factor slot that other replicas fill (host memory, never written). */
  private zeros: Float32Array | null = null;
  private disposed = false;

  constructor(
    readonly config: ClassifierConfig,
    private readonly store: ParamStore,
  ) {
    this.net = buildClassifier(config, store, PREFIX);
    const map = store.trainableMap(`${PREFIX}.`);
    this.params = Object.entries(map).map(([name, v]) => ({ name, v }));
    this.paramCount = store.count(`${PREFIX}.`);
    this.featureWidth = config.hidden[config.hidden.length - 1];
    this.opt = new Adam(map, { lr: config.lr, beta1: config.beta1, beta2: config.beta2, eps: config.eps });
    this.exchange = exchangeLayout(config.batchSize, this.net, this.params);
    this.tapLayers = new Set(this.exchange.factored.map((f) => f.layer));
    this.factoredWeights = new Set(this.exchange.factored.map((f) => weightOf(f.layer)));
    let offset = 0;
    this.gradientSlots = new Map(
      this.params.map((p) => {
        offset += p.v.size;
        return [p.v.name, { offset: offset - p.v.size, size: p.v.size }];
      }),
    );
    const varName = new Map(this.params.map((p) => [p.name, p.v.name]));
    this.exchangeSlots = new Map(this.exchange.gradients.map((g) => [varName.get(g.name)!, { offset: g.offset, size: g.size }]));
  }

  get step(): number {
    return this.opt.step;
  }

  gradients(x: ClassifierImages, labels: Int32Array, count: number, denominator: number, into?: Float32Array, onReady?: GradientReady): { lossSum: number; grads: Float32Array } {
    this.alive();
    this.checkBatch(x, labels, count, denominator);
    const n = this.paramCount;
    if (into !== undefined && (!(into instanceof Float32Array) || into.length !== n)) {
      throw new Error(`classifier gradients: 'into' must be a Float32Array of ${n} values, got ${into instanceof Float32Array ? into.length : typeof into}`);
    }
    if (onReady) return this.gradientsAsReady(x, labels, count, denominator, into ?? new Float32Array(n), onReady);
    const stacked = tf.tidy(() => {
      const { value, grads } = this.tape(x, labels, count, denominator);
      // Gradients first, so `grads` starts at byte 0 of the read-back buffer; the loss comes last.
      return tf.concat([...this.params.map((p) => tf.reshape(grads[p.name], [-1])), tf.reshape(value, [1])]);
    });
    try {
      // One read-back. On wasm straight from the heap into the caller's array: dataSync would make a
      // fresh copy (and `slice` another), and fresh memory costs ~4 ms per MB on the machines measured.
      const all = readBack(stacked);
      const grads = into ?? new Float32Array(n);
      grads.set(all.subarray(0, n));
      return { lossSum: all[n] * denominator, grads };
    } finally {
      stacked.dispose();
    }
  }

  /**
   * `gradients` with a hook on each parameter: an identity whose gradient function reads the
   * parameter's finished gradient into `grads` (on wasm from the heap, without a copy on the way)
   * and reports its range. A hook is placed where its parameter is used, after the layers before
   * it have run, so the backward pass reaches it as soon as that layer's gradient is done.
   */
  private gradientsAsReady(x: ClassifierImages, labels: Int32Array, count: number, denominator: number, grads: Float32Array, onReady: GradientReady): { lossSum: number; grads: Float32Array } {
    return { lossSum: this.hookedPass(x, labels, count, denominator, grads, this.gradientSlots, onReady), grads };
  }

  /**
   * One pass with a hook on each parameter in `at` (keyed by variable name): an identity whose
   * gradient function reads the parameter's finished gradient into `into` at its offset (on wasm from
   * the heap, without a copy on the way) and reports its range. A hook is placed where its parameter
   * is used, after the layers before it have run, so the backward pass reaches it as soon as that
   * layer's gradient is done. `tap` watches the factored layers (exchangeGradients). Returns the loss sum.
   */
  private hookedPass(x: ClassifierImages, labels: Int32Array, count: number, denominator: number, into: Float32Array, at: ReadonlyMap<string, { offset: number; size: number }>, onReady: GradientReady, tap?: DenseTap): number {
    const done = new Set<string>();
    const deliver = (name: string, g: tf.Tensor): void => {
      const slot = at.get(name);
      if (!slot || done.has(name)) throw new Error(`classifier gradient hook: '${name}' is ${slot ? 'delivered twice (a parameter used twice needs its gradients summed first)' : 'not a parameter'}`);
      into.set(readBack(g), slot.offset);
      done.add(name);
      onReady(slot.offset, slot.offset + slot.size);
    };
    const use: ParamUse = (v) => (at.has(v.name) ? onGradient(v, (dy) => deliver(v.name, dy)) : v);
    const loss = tf.tidy(() => {
      const { value, grads: byName } = this.tape(x, labels, count, denominator, use, tap);
      // A parameter the loss does not reach gets its (zero) gradient from the tape.
      for (const p of this.params) if (at.has(p.v.name) && !done.has(p.v.name)) deliver(p.v.name, byName[p.name]);
      return value;
    });
    try {
      const [value] = readBack(loss);
      return value * denominator;
    } finally {
      loss.dispose();
    }
  }

  exchangeGradients(x: ClassifierImages, labels: Int32Array, count: number, denominator: number, rows: ShardRows, into: Float32Array, onReady: GradientReady = () => {}): { lossSum: number } {
    this.alive();
    this.checkBatch(x, labels, count, denominator);
    this.checkRows(rows, count);
    const L = this.exchange;
    if (!(into instanceof Float32Array) || into.length !== L.length) {
      throw new Error(`classifier exchangeGradients: 'into' must be a Float32Array of ${L.length} values (exchange.length), got ${into instanceof Float32Array ? into.length : typeof into}`);
    }
    const slots = new Map(L.factored.map((f) => [f.layer, f]));
    // The rows other replicas fill are zeros here, so that the replicas' vectors sum to the whole batch's.
    for (const f of L.factored) {
      for (const [start, width] of [[f.x, f.nin], [f.dz, f.nout]] as const) {
        into.fill(0, start, start + rows.offset * width);
        into.fill(0, start + (rows.offset + count) * width, start + L.rows * width);
      }
    }
    const tap: DenseTap = {
      layers: this.tapLayers,
      input: (layer, t) => {
        const f = slots.get(layer)!;
        into.set(readBack(t), f.x + rows.offset * f.nin);
        onReady(f.x, f.x + L.rows * f.nin);
      },
      outputGrad: (layer, t) => {
        const f = slots.get(layer)!;
        into.set(readBack(t), f.dz + rows.offset * f.nout);
        onReady(f.dz, f.dz + L.rows * f.nout);
      },
    };
    return { lossSum: this.hookedPass(x, labels, count, denominator, into, this.exchangeSlots, onReady, tap) };
  }

  applyExchanged(sum: Float32Array, rows: number): void {
    this.alive();
    const L = this.exchange;
    if (!(sum instanceof Float32Array) || sum.length !== L.length) throw new Error(`classifier exchanged vector must be a Float32Array of ${L.length} values (exchange.length), got ${sum?.length}`);
    this.checkRows({ offset: 0, total: rows }, 0);
    const grads: Record<string, tf.Tensor> = {};
    const factors: Record<string, GradientFactors> = {};
    try {
      for (const g of L.gradients) grads[g.name] = tf.tensor(sum.subarray(g.offset, g.offset + g.size), [...g.shape], 'float32');
      for (const f of L.factored) {
        factors[weightOf(f.layer)] = { x: tf.tensor2d(sum.subarray(f.x, f.x + rows * f.nin), [rows, f.nin]), dz: tf.tensor2d(sum.subarray(f.dz, f.dz + rows * f.nout), [rows, f.nout]) };
      }
      this.opt.apply(grads, undefined, undefined, factors);
    } finally {
      tf.dispose([...Object.values(grads), ...Object.values(factors).flatMap((f) => [f.x, f.dz])]);
    }
  }

  applyGradients(flat: Float32Array): void {
    this.alive();
    if (!(flat instanceof Float32Array) || flat.length !== this.paramCount) {
      throw new Error(`classifier gradient must be a Float32Array of ${this.paramCount} values, got ${flat?.length}`);
    }
    const grads = this.unflatten(flat);
    try {
      this.opt.apply(grads);
    } finally {
      tf.dispose(Object.values(grads));
    }
  }

  async pairStep(x: ClassifierImages | null, labels: Int32Array, count: number, denominator: number, rows: ShardRows, swap: VectorSwap, mark?: (point: PairStepPoint) => void): Promise<PairStepResult> {
    const started = performance.now();
    this.alive();
    if (count !== 0 || x !== null) this.checkBatch(x ?? new Float32Array(0), labels, count, denominator);
    this.checkRows(rows, count);
    const L = this.exchange;
    // Each replica sends only its own rows of a factored layer's x and dz, in a slot of as many
    // rows as the larger of the two shards (zeros after a smaller shard's rows, so both vectors
    // have one length): the other's rows of the global batch are the other's business.
    const theirRows = otherShard(rows, count);
    const slot = Math.max(count, theirRows.count);
    const zeros = this.zeroRows();
    const rowsOf = (t: tf.Tensor | undefined, width: number): Float32Array[] => [...(t ? [readBack(t)] : []), zeros.subarray(0, (slot - count) * width)].filter((a) => a.length > 0);
    // The factored layers' x and dz rows of this shard, kept past the pass (disposed below).
    const kept = new Map<string, { x?: tf.Tensor; dz?: tf.Tensor }>(L.factored.map((f) => [f.layer, {}]));
    const keptOf = (f: { layer: string }) => kept.get(f.layer)!;
    // Two swaps a step. The first, the factored layers' rows, goes as soon as the backward pass has
    // made the last of them, while it goes on through the layers below (the convolutions: most of
    // the backward pass); the second, the gradients and the loss, after the pass. Then this replica
    // updates the factored layers from the other's rows, which have long come, while the other
    // finishes its pass: the wait for the slower of the two becomes work, up to that update's length.
    const sent: { first?: ReturnType<VectorSwap> } = {};
    const sendFactors = (): void => {
      if (sent.first || L.factored.length === 0) return;
      mark?.('rows-ready');
      // Views of the heap (readBack on wasm): read by `swap` before it returns, before anything allocates.
      sent.first = swap(L.factored.flatMap((f) => [...rowsOf(keptOf(f).x, f.nin), ...rowsOf(keptOf(f).dz, f.nout)]));
      sent.first.catch(() => undefined); // awaited after the pass; a pass that throws leaves it
      mark?.('rows-sent');
    };
    const tap = this.keepingTap(kept, () => {
      if (L.factored.every((f) => keptOf(f).dz !== undefined)) sendFactors();
    });
    // Zeros made on the device (tf.zeros would upload them).
    const ours = tf.tidy(() => {
      if (x === null) return { value: tf.fill([], 0), grads: L.gradients.map((g) => tf.fill([...g.shape], 0)) };
      const { value, grads } = this.tape(x, labels, count, denominator, undefined, tap);
      return { value, grads: L.gradients.map((g) => grads[g.name]) };
    });
    // The other's vectors as tensors: its gradients, then each factored layer's merged x and dz slots.
    const received: tf.Tensor[] = [];
    const factors: Record<string, GradientFactors> = {};
    try {
      // Rounded to float32 as it travels, so that both replicas hold the same two pass times.
      const passMs = Math.fround(performance.now() - started);
      mark?.('pass-done');
      // An empty shard (no pass) sends its zero rows now, before its gradients, as the other does.
      sendFactors();
      // The loss sum rides last, rounded to float32 as in the flat vector of `gradients`, then the
      // pass's time and the shard's rows (so that two replicas that cut the batch in different places
      // fail loudly, not with a batch that lost or doubled rows).
      const tail = Float32Array.of(readBack(ours.value)[0] * denominator, passMs, count);
      const second = swap([...ours.grads.map((g) => readBack(g)), tail]);
      second.catch(() => undefined); // awaited after the factored layers' update
      mark?.('gradients-sent');
      // Tensors of `shapes` that `fill` writes: on wasm straight on the heap (all allocated first,
      // then the views taken), elsewhere host arrays, uploaded after.
      const onHeap = onWasm();
      const receive = (shapes: number[][], fill: (views: Float32Array[]) => void): tf.Tensor[] => {
        const onDevice = onHeap ? shapes.map((shape) => allocF32(shape)) : [];
        received.push(...onDevice);
        const views = onHeap ? onDevice.map((t) => f32(t)) : shapes.map((shape) => new Float32Array(tf.util.sizeFromShape(shape)));
        fill(views);
        if (onHeap) return onDevice;
        const uploaded = views.map((v, i) => tf.tensor(v, shapes[i], 'float32'));
        received.push(...uploaded);
        return uploaded;
      };
      if (sent.first) {
        // A factored layer's merged x and dz are [batchSize, width]: the other's rows land at the
        // other's offset (its padding in a sink), this shard's own are copied to this one's; rows
        // past the global batch are never read (the factors are sliced to it).
        // At once when it has come (as it usually has: it went during the other's pass), else when it comes.
        const incoming = sent.first.now?.() ?? (await sent.first);
        this.alive();
        mark?.('rows-in');
        const sink = new Float32Array(Math.max(0, ...L.factored.map((f) => (slot - theirRows.count) * Math.max(f.nin, f.nout))));
        const merged = receive(
          L.factored.flatMap((f) => [[L.rows, f.nin], [L.rows, f.nout]]),
          (views) => {
            const into: Float32Array[] = [];
            L.factored.forEach((f, i) => {
              for (const [view, width] of [[views[2 * i], f.nin], [views[2 * i + 1], f.nout]] as const) {
                into.push(view.subarray(theirRows.offset * width, (theirRows.offset + theirRows.count) * width), sink.subarray(0, (slot - theirRows.count) * width));
              }
            });
            incoming.readInto(into);
            // This shard's rows copied in. Where the host-side sum has 0 + a, this has a: the same except a
            // zero's sign (-0 here, +0 there), which changes no weight (p - lr * (+-0) = p), at most the
            // sign of a zero moment.
            L.factored.forEach((f, i) => {
              const k = keptOf(f);
              if (k.x) views[2 * i].set(readBack(k.x), rows.offset * f.nin);
              if (k.dz) views[2 * i + 1].set(readBack(k.dz), rows.offset * f.nout);
            });
          },
        );
        mark?.('rows-merged');
        L.factored.forEach((f, i) => {
          const [xs, dz] = [merged[2 * i], merged[2 * i + 1]];
          factors[weightOf(f.layer)] = rows.total === L.rows ? { x: xs, dz } : { x: tf.slice(xs, 0, rows.total), dz: tf.slice(dz, 0, rows.total) };
        });
        // The factored layers' dW = x^T dz and their Adam update (on the addon: one pass).
        this.opt.applyPart(Object.keys(factors), {}, undefined, undefined, factors);
        mark?.('rows-applied');
      }
      const incoming = second.now?.() ?? (await second);
      this.alive();
      mark?.('gradients-in');
      const theirTail = new Float32Array(PAIR_TAIL);
      const theirs = receive(
        L.gradients.map((g) => [...g.shape]),
        (views) => incoming.readInto([...views, theirTail]),
      );
      if (theirTail[2] !== theirRows.count) {
        throw new Error(`classifier pairStep: this replica took ${count} rows at offset ${rows.offset} of a global batch of ${rows.total}, which leaves the other ${theirRows.count}, but the other took ${theirTail[2]}: the two cut the batch in different places`);
      }
      // Adam on ours + theirs (on wasm added inside the update's pass).
      const byName = (ts: tf.Tensor[]) => Object.fromEntries(L.gradients.map((g, i) => [g.name, ts[i]]));
      this.opt.applyPart(L.gradients.map((g) => g.name), byName(ours.grads), undefined, byName(theirs));
      mark?.('done');
      return { lossSum: Math.fround(tail[0] + theirTail[0]), passMs: { ours: passMs, theirs: theirTail[1] } };
    } finally {
      tf.dispose([ours.value, ...ours.grads, ...received, ...Object.values(factors).flatMap((f) => [f.x, f.dz])]);
      disposeKept(kept);
    }
  }

  trainStep(x: ClassifierImages, labels: Int32Array, count: number): { loss: number } {
    this.alive();
    this.checkBatch(x, labels, count, count);
    // Where Adam makes a large dense layer's dW inside its update (the addon on wasm), the layer is
    // tapped as in an exchange and its factors go to Adam: the tape skips dW, and the whole dW is
    // never written out. Elsewhere the tape makes every gradient.
    const tapped = this.tapLayers.size > 0 && this.opt.fusesFactors;
    const kept = new Map<string, { x?: tf.Tensor; dz?: tf.Tensor }>();
    const tap: DenseTap | undefined = tapped ? this.keepingTap(kept) : undefined;
    // The update runs after the pass's tensors are gone, so that a weight no other tensor shares is
    // updated in place.
    const { value, grads } = tf.tidy(() => this.tape(x, labels, count, count, undefined, tap));
    try {
      this.opt.apply(grads, undefined, undefined, this.factorsOf(kept));
      const [loss] = value.dataSync(); // the step's one read-back
      return { loss };
    } finally {
      tf.dispose([value, ...Object.values(grads)]);
      disposeKept(kept);
    }
  }

  /** A tap that keeps the tapped layers' x and dz past the pass (into `kept`; the caller disposes them). */
  private keepingTap(kept: Map<string, { x?: tf.Tensor; dz?: tf.Tensor }>, onOutputGrad?: () => void): DenseTap {
    const at = (layer: string) => kept.get(layer) ?? kept.set(layer, {}).get(layer)!;
    return {
      layers: this.tapLayers,
      // A reshape: a tensor of its own on the same memory, so the pass's disposals leave it alone.
      input: (layer, t) => void (at(layer).x = tf.keep(tf.reshape(t, t.shape))),
      outputGrad: (layer, t) => {
        at(layer).dz = tf.keep(tf.reshape(t, t.shape));
        onOutputGrad?.();
      },
    };
  }

  /** The factored weights' gradient factors from a keepingTap's tensors. */
  private factorsOf(kept: ReadonlyMap<string, { x?: tf.Tensor; dz?: tf.Tensor }>): Record<string, GradientFactors> {
    const factors: Record<string, GradientFactors> = {};
    for (const [layer, { x, dz }] of kept) {
      if (!x || !dz) throw new Error(`classifier: the pass tapped ${x ? 'no output gradient' : 'no input'} of layer ${layer}`);
      factors[weightOf(layer)] = { x, dz };
    }
    return factors;
  }

  predict(x: Float32Array, count: number, batchSize?: number): Promise<Float32Array> {
    return this.inBatches(x, count, batchSize, this.config.numClasses, (input) => tf.softmax(this.net.apply(input, { training: false })));
  }

  features(x: Float32Array, count: number, batchSize?: number): Promise<Float32Array> {
    return this.inBatches(x, count, batchSize, this.featureWidth, (input) => this.net.features(input));
  }

  weightsFlat(): Float32Array {
    this.alive();
    const t = tf.tidy(() => tf.concat(this.params.map((p) => tf.reshape(p.v, [-1]))));
    const out = (t.dataSync() as Float32Array).slice();
    t.dispose();
    return out;
  }

  setWeightsFlat(flat: Float32Array): void {
    this.alive();
    if (!(flat instanceof Float32Array) || flat.length !== this.paramCount) {
      throw new Error(`classifier weights must be a Float32Array of ${this.paramCount} values, got ${flat?.length}`);
    }
    const values = this.unflatten(flat);
    for (const p of this.params) p.v.assign(values[p.name]);
    tf.dispose(Object.values(values));
  }

  async checkpoint(): Promise<Uint8Array> {
    this.alive();
    const opt = await this.opt.snapshot('opt');
    return encodeCheckpoint({
      model: 'classifier',
      config: { ...this.config },
      step: opt.step,
      meta: {},
      rng: {},
      arrays: [...(await this.store.snapshot()), ...opt.arrays],
    });
  }

  summary(): NetworkSummary[] {
    return [traceClassifier(this.net, this.config, this.store.count(`${PREFIX}.`))];
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.opt.dispose();
    this.store.dispose();
  }

  /** Loads a checkpoint's arrays and optimizer state (used by restoreClassifier). */
  load(arrays: Parameters<ParamStore['load']>[0], step: number): void {
    this.store.load(arrays);
    this.opt.load('opt', step, arrays);
  }

  private alive(): void {
    if (this.disposed) throw new Error('classifier was disposed');
  }

  /** Validates a training batch before anything runs, naming the bad input. */
  private checkBatch(x: ClassifierImages, labels: Int32Array, count: number, denominator: number): void {
    if (x instanceof tf.Tensor) this.checkTensor(x, count);
    else this.checkImages(x, count);
    if (!(labels instanceof Int32Array) || labels.length < count) throw new Error(`classifier labels must be an Int32Array of at least ${count}, got length ${labels?.length}`);
    for (let i = 0; i < count; i++) {
      const l = labels[i];
      if (!(l >= 0 && l < this.config.numClasses)) throw new Error(`classifier label #${i} must be in [0, ${this.config.numClasses}), got ${l}`);
    }
    if (!(typeof denominator === 'number' && denominator > 0 && Number.isFinite(denominator))) throw new Error(`classifier gradient denominator must be a positive number, got ${denominator}`);
  }

  /**
   * Inside a tidy: (sum of the batch's cross-entropy) / denominator and its gradient per parameter,
   * keyed by store name (Adam's keys), all on the device.
   */
  private tape(x: ClassifierImages, labels: Int32Array, count: number, denominator: number, use?: ParamUse, tap?: DenseTap): { value: tf.Scalar; grads: Record<string, tf.Tensor> } {
    const { inputSize: S, channels, numClasses } = this.config;
    const input = x instanceof tf.Tensor ? x : tf.tensor4d(this.checkImages(x, count), [count, S, S, channels]);
    const oneHot = tf.oneHot(tf.tensor1d(labels.subarray(0, count), 'int32'), numClasses);
    // With a tap, the factored layers' weights get no gradient here: their factors are tapped instead
    // (and the tape then skips their dW product).
    const vars = tap ? this.params.filter((p) => !this.factoredWeights.has(p.name)) : this.params;
    const { value, grads } = tf.variableGrads(() => {
      const logits = this.net.apply(input, { training: true, use, tap });
      // log softmax as logits - logSumExp (plain ops; tf.logSoftmax's custom gradient trips tfjs's
      // kernel leak check on wasm when IS_TEST is set, as the test setup does).
      const logProbs = tf.sub(logits, tf.logSumExp(logits, 1, true));
      const lossSum = tf.neg(tf.sum(tf.mul(oneHot, logProbs)));
      return tf.div(lossSum, denominator) as tf.Scalar;
    }, vars.map((p) => p.v));
    const byName: Record<string, tf.Tensor> = {};
    for (const p of vars) byName[p.name] = grads[p.v.name];
    return { value, grads: byName };
  }

  /** Validates a shard's place in its global batch. */
  private checkRows(rows: ShardRows, count: number): void {
    const { offset, total } = rows ?? ({} as ShardRows);
    if (!(Number.isInteger(offset) && offset >= 0 && Number.isInteger(total) && total >= 1 && offset + count <= total && total <= this.exchange.rows)) {
      throw new Error(`classifier shard rows: ${count} rows at offset ${offset} must lie within a global batch of ${total} rows, at most batchSize ${this.exchange.rows}`);
    }
  }

  /** Zeros for the widest factor slot (made once). */
  private zeroRows(): Float32Array {
    if (!this.zeros) this.zeros = new Float32Array(this.exchange.rows * Math.max(0, ...this.exchange.factored.map((f) => Math.max(f.nin, f.nout))));
    return this.zeros;
  }

  private checkTensor(x: tf.Tensor, count: number): void {
    if (!isPositiveInt(count)) throw new Error(`classifier count must be a positive integer, got ${count}`);
    const { inputSize: S, channels } = this.config;
    const s = x.shape;
    if (x.isDisposed || x.dtype !== 'float32' || s.length !== 4 || s[0] !== count || s[1] !== S || s[2] !== S || s[3] !== channels) {
      throw new Error(`classifier input tensor must be float32 [${count}, ${S}, ${S}, ${channels}], got ${x.isDisposed ? 'a disposed tensor' : `${x.dtype} [${s.join(', ')}]`}`);
    }
  }

  private checkImages(x: Float32Array, count: number): Float32Array {
    if (!isPositiveInt(count)) throw new Error(`classifier count must be a positive integer, got ${count}`);
    const per = this.config.inputSize * this.config.inputSize * this.config.channels;
    if (!(x instanceof Float32Array) || x.length < count * per) {
      throw new Error(`classifier input must be a Float32Array of ${count} x ${this.config.inputSize}x${this.config.inputSize}x${this.config.channels} = ${count * per} values, got ${x?.length}`);
    }
    return x.subarray(0, count * per);
  }

  private unflatten(flat: Float32Array): Record<string, tf.Tensor> {
    const out: Record<string, tf.Tensor> = {};
    let offset = 0;
    for (const p of this.params) {
      out[p.name] = tf.tensor(flat.subarray(offset, offset + p.v.size), p.v.shape, 'float32');
      offset += p.v.size;
    }
    return out;
  }

  private async inBatches(x: Float32Array, count: number, batchSize: number | undefined, width: number, f: (input: tf.Tensor4D) => tf.Tensor): Promise<Float32Array> {
    this.alive();
    const xs = this.checkImages(x, count);
    const bs = batchSize ?? this.config.batchSize;
    if (!isPositiveInt(bs)) throw new Error(`classifier batchSize must be a positive integer, got ${bs}`);
    const { inputSize: S, channels } = this.config;
    const per = S * S * channels;
    const out = new Float32Array(count * width);
    for (let start = 0; start < count; start += bs) {
      const n = Math.min(bs, count - start);
      const y = tf.tidy(() => f(tf.tensor4d(xs.subarray(start * per, (start + n) * per), [n, S, S, channels])));
      out.set((await y.data()) as Float32Array, start * width);
      y.dispose();
    }
    return out;
  }
}

/** Disposes the tensors a keepingTap kept. */
function disposeKept(kept: ReadonlyMap<string, { x?: tf.Tensor; dz?: tf.Tensor }>): void {
  for (const k of kept.values()) tf.dispose([k.x, k.dz].filter((t): t is tf.Tensor => t !== undefined));
}

/** The other shard of a global batch cut in two: before this one, or after it. */
function otherShard(rows: ShardRows, count: number): { offset: number; count: number } {
  if (rows.offset === 0) return { offset: count, count: rows.total - count };
  if (rows.offset + count !== rows.total) throw new Error(`classifier pairStep: a shard of ${count} rows at offset ${rows.offset} leaves two pieces of a global batch of ${rows.total} rows (two replicas cut it in two)`);
  return { offset: 0, count: rows.offset };
}

/** The store name of a dense layer's weight. */
function weightOf(layer: string): string {
  return `${PREFIX}.${layer}.w`;
}

/** The exchange layout at batch size `batch` (see ExchangeLayout). */
function exchangeLayout(batch: number, net: ClassifierNetwork, params: ReadonlyArray<{ name: string; v: tf.Variable }>): ExchangeLayout {
  const factoredLayers = net.denseLayers.filter((l) => batch * (l.nin + l.nout) < l.nin * l.nout);
  const skip = new Set(factoredLayers.map((l) => weightOf(l.name)));
  let offset = 0;
  const gradients: Array<{ name: string; shape: readonly number[]; offset: number; size: number }> = [];
  for (const p of params) {
    if (skip.has(p.name)) continue;
    gradients.push({ name: p.name, shape: p.v.shape, offset, size: p.v.size });
    offset += p.v.size;
  }
  const factored = factoredLayers.map((l) => {
    const x = offset;
    offset += batch * l.nin;
    const dz = offset;
    offset += batch * l.nout;
    return { layer: l.name, nin: l.nin, nout: l.nout, x, dz };
  });
  const half = Math.ceil(batch / 2);
  const pairLength = gradients.reduce((n, g) => n + g.size, 0) + factored.reduce((n, f) => n + half * (f.nin + f.nout), 0) + PAIR_TAIL;
  return { length: offset, gradients, factored, rows: batch, pairLength };
}

function traceClassifier(net: ClassifierNetwork, cfg: ClassifierConfig, params: number): NetworkSummary {
  const { tracer, layers } = recordingTracer();
  tf.tidy(() => {
    net.apply(tf.zeros([1, cfg.inputSize, cfg.inputSize, cfg.channels]), { training: false, tracer });
  });
  return { name: 'classifier', params, layers };
}

/** A new classifier with PyTorch-default weights drawn from `seed`. */
export function createClassifier(overrides: Partial<ClassifierConfig> | Record<string, unknown>, seed: number): Classifier {
  const cfg = resolveClassifierConfig(overrides);
  return new CnnClassifier(cfg, new ParamStore(new Rng(seed).fork('classifier.init')));
}

/** A classifier exactly as `checkpoint()` saved it: weights, Adam moments and step. */
export function restoreClassifier(bytes: Uint8Array): Classifier {
  const c = decodeCheckpoint(bytes, 'classifier');
  const cfg = resolveClassifierConfig(c.config);
  assertSameConfig(c.config, cfg);
  const model = new CnnClassifier(cfg, new ParamStore(new Rng(0)));
  try {
    model.load(c.arrays, c.step);
  } catch (err) {
    model.dispose();
    throw err;
  }
  return model;
}

/** Layers, output shapes and trainable parameter counts, from a throwaway build traced on one image. */
export function describeClassifier(overrides: Partial<ClassifierConfig> | Record<string, unknown> = {}): NetworkSummary[] {
  const cfg = resolveClassifierConfig(overrides);
  const store = new ParamStore(new Rng(0));
  try {
    const net = buildClassifier(cfg, store, PREFIX);
    return [traceClassifier(net, cfg, store.count(`${PREFIX}.`))];
  } finally {
    store.dispose();
  }
}
