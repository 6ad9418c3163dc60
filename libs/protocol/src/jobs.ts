/**
 * The seam between the coordinator and the job runners: what a job is (JobSpec), what a running job
 * may ask of the process that runs it (JobContext), and what it hands back (JobResult).
 *
 * Specs and results are plain JSON data: the coordinator writes them into the run directory
 * (plan.json, jobs/<id>/result.json) and sends them over the wire. The JobContext is the only way a
 * job touches the outside world, so the same runner works in a trainer process talking ZeroMQ and in
 * a test with an in-memory context (apps/trainer/src/jobs/testing.ts).
 *
 * Artifacts a GAN job puts (names are fixed, see GAN_ARTIFACTS):
 * - `generated.bin`: the generated images at the classifier's size, in the compact image format of
 *   encodeGenerated/decodeGenerated below (uint8 pixels + shape header); the classifier jobs that
 *   depend on the GAN job read it.
 * - `grid.png`: generated images next to real samples of the budget (the paper's Figure 2).
 * - `samples/000.png`...: a few generated images as PNG files.
 * A classifier job puts `model.bin` (its final weights, restoreClassifier bytes) and
 * `predictions.csv` (label + per-class probabilities on the test split).
 */
import type { Dataset } from '@gan-study/data';
import type { Evaluation } from '@gan-study/metrics';

/** The GANs of the study (the same names as the config's `gans`). */
export type JobGanKind = 'dcgan' | 'pggan' | 'cyclegan';
export const JOB_GAN_KINDS: readonly JobGanKind[] = ['dcgan', 'pggan', 'cyclegan'];

export type Scenario = 'baseline' | 'gan' | 'reference';
export const SCENARIOS: readonly Scenario[] = ['baseline', 'gan', 'reference'];

interface JobSpecBase {
  /** Deterministic, unique in the plan, safe as a directory name: `gan-dcgan-b50-malignant`, `clf-gan-dcgan-b50-r0`. */
  id: string;
  /** Jobs whose results/artifacts this one needs; all must have finished first. */
  dependsOn: string[];
  /** This job's seed: Rng(config.seed).fork(id) drawn as a uint32, so ids, not plan order, decide it. */
  seed: number;
  /** Training steps between checkpoints sent through JobContext.checkpoint. */
  checkpointEvery: number;
  /** Data-parallel replicas of this job (1 for GAN jobs; config.dataParallel for classifiers). */
  replicas: number;
}

export interface GanJobSpec extends JobSpecBase {
  kind: 'gan';
  gan: JobGanKind;
  /** The class this GAN learns and fills up (a minority class). */
  className: string;
  /** CycleGAN: the class it translates from (the largest class); null for the others. */
  sourceClass: string | null;
  /** Real training images of `className` the GAN sees (selectBudget(train, className, budget, budgetSeed)). */
  budget: number;
  /** Seed of the budget selection (config.seed): every job sees the same real images for a budget. */
  budgetSeed: number;
  /** Images to generate: fillTo - budget. */
  generate: number;
  /** Pixels the GAN trains at. */
  resolution: number;
  /** Pixels the classifier sees: generated images are resized to this before they are put. */
  imageSize: number;
  /** Model overrides (config.<gan>), validated by the model's resolve*Config. */
  overrides: Record<string, unknown>;
  /**
   * Where FID/KID/precision/recall features come from: the `model.bin` artifact of a classifier job
   * (the all-real reference; its penultimate layer), or null for a randomly initialised classifier
   * seeded by `seed` (named as such in the result).
   */
  featureJob: string | null;
}

/** A GAN job's generated images that a classifier job adds to its training set. */
export interface GeneratedInput {
  /** The GAN job that produced them (also in dependsOn). */
  job: string;
  /** Artifact name: GAN_ARTIFACTS.generated. */
  artifact: string;
  className: string;
  count: number;
}

export interface ClassifierJobSpec extends JobSpecBase {
  kind: 'classifier';
  scenario: Scenario;
  gan: JobGanKind | null;
  /** Real images kept per minority class; null for the reference (all real images). */
  budget: number | null;
  /** 0-based repeat of this scenario (different seeds). */
  repeat: number;
  /** Classes cut down to `budget` real training images (empty for the reference). */
  minorityClasses: string[];
  budgetSeed: number;
  generated: GeneratedInput[];
  imageSize: number;
  /** Classifier overrides (config.classifier), validated by resolveClassifierConfig. */
  overrides: Record<string, unknown>;
  /**
   * Two replicas that share memory cut each global batch where both passes take as long
   * (config.balanceShards; @gan-study/models PairBalance), not in halves. Absent: halves (the plan
   * carries the key only when it is set, so plans made before it stay as they were).
   */
  balanceShards?: true;
}

export type JobSpec = GanJobSpec | ClassifierJobSpec;
export type JobKind = JobSpec['kind'];

export const GAN_ARTIFACTS = {
  generated: 'generated.bin',
  grid: 'grid.png',
  samplePrefix: 'samples/',
} as const;
export const CLASSIFIER_ARTIFACTS = {
  model: 'model.bin',
  predictions: 'predictions.csv',
} as const;

export interface JobProgress {
  step: number;
  total: number;
  /** The latest losses (e.g. { d: 0.69, g: 1.2 } or { loss: 0.41 }). */
  losses: Record<string, number>;
  imagesPerSec: number;
  /** Classifier jobs: the epoch being trained (1-based). */
  epoch?: number;
}

/** Everything a running job may ask of the process that runs it. */
export interface JobContext {
  readonly spec: JobSpec;
  /** This replica's index among the job's data-parallel replicas, 0..worldSize-1. */
  readonly rank: number;
  readonly worldSize: number;
  /** The last checkpoint of this job (the bytes given to `checkpoint`), if it is being resumed. */
  readonly resumeFrom: Uint8Array | null;
  /** Aborted when the coordinator cancels the job; runners check it between steps and throw. */
  readonly signal: AbortSignal;
  /** The engine backend the trainer runs on (e.g. 'tensorflow', 'wasm', 'cpu'), for the result. */
  readonly backend: string;
  /** The dataset decoded at `size` px, from a shared path or sent by the coordinator. */
  dataset(size: number): Promise<Dataset>;
  /** An artifact put by a job this one depends on. */
  artifact(job: string, name: string): Promise<Uint8Array>;
  /** Stores an artifact of this job (the coordinator writes it atomically under jobs/<id>/). Rank 0 only. */
  putArtifact(name: string, bytes: Uint8Array): Promise<void>;
  /** Full training state after `step` steps. Rank 0 only; replicas hold identical state. */
  checkpoint(step: number, bytes: Uint8Array): Promise<void>;
  progress(p: JobProgress): void;
  log(level: 'info' | 'warn', msg: string, fields?: Record<string, unknown>): void;
  /**
   * Elementwise sum over the job's replicas, in the same order on every replica (identity when
   * worldSize is 1). The result may be `flat` itself, with the sum written in place (worldSize 1;
   * the trainer's ring all-reduce), or a new array (through the coordinator), so `flat`'s contents
   * are unspecified afterwards: read the sum from the result only. Until the promise resolves,
   * `flat` must not change (it may be on the wire without a copy); once it resolves, nothing reads
   * `flat` any more, so the caller may overwrite it for its next call (one array per job, not one
   * per step). The result stays valid until the caller's next call, which may write into it.
   */
  allReduce(flat: Float32Array): Promise<Float32Array>;
  /**
   * The same sum, for a vector that becomes final range by range (a gradient: the last layers'
   * first, during the backward pass). The caller says which ranges are final with `ready`, and the
   * transport may put them on the wire at once, while the rest is still being computed; `finish`,
   * called once every value is final, resolves as `allReduce` does. Between two replicas on the ring
   * transport the ranges travel as they are readied; otherwise the exchange happens in `finish`.
   * `flat` may still be read by the transport until the job's NEXT reduction resolves (a slow peer
   * may not have received all of it when this one's finish resolves): alternate two arrays.
   */
  beginAllReduce(flat: Float32Array): PendingReduce;
  /**
   * Between the two replicas of a job that share memory (on one host, the ring transport): swaps
   * their vectors instead of summing them, so the job adds on its device (no copy of its gradient to
   * the host and back, no sum on the host). Both replicas call it the same number of times, in the
   * same order as their other reductions. null for every other job: use `beginAllReduce`.
   */
  readonly pairExchange: PairExchange | null;
}

/** The other replica's vector of a pair exchange (JobContext.pairExchange), ready to be read. */
export interface IncomingVector {
  /**
   * Writes the other replica's vector into `segments`, laid end to end as the caller's own were
   * given (same total length), synchronously: into memory that a later allocation may move, such as
   * the wasm heap. Once per exchange, and before the job's exchange after next (a job may send its
   * next vector before it reads this one: Classifier.pairStep swaps twice a step).
   */
  readInto(segments: readonly Float32Array[]): void;
}

/**
 * A pair exchange under way: resolves with the other replica's vector; `now`, where the exchange
 * offers it, returns that vector at once when it has come already (no event-loop turn), else null.
 * Through shared memory the wait itself starts an event-loop turn after the call (PeerLink.swap):
 * a caller that takes the vector with `now` before it yields asks the other for no message.
 */
export type PendingVector = Promise<IncomingVector> & { now?: () => IncomingVector | null };

/**
 * Sends this replica's vector (`ours`: its segments laid end to end) to the other replica of a
 * two-replica job and resolves when the other's has come (JobContext.pairExchange). `ours` is read
 * before the call returns: the segments may be views that a later allocation invalidates.
 */
export type PairExchange = (ours: readonly Float32Array[]) => PendingVector;

/** An all-reduce begun with `beginAllReduce`. */
export interface PendingReduce {
  /** Values [from, to) are final and will not change. Every value must be readied exactly once before `finish`. */
  ready(from: number, to: number): void;
  /** Every value is final: resolves with the sum (see JobContext.allReduce). */
  finish(): Promise<Float32Array>;
}

/** A PendingReduce that does all the work in `finish`, with `allReduce` (for transports that cannot start early). */
export function reduceAtFinish(flat: Float32Array, allReduce: (flat: Float32Array) => Promise<Float32Array>): PendingReduce {
  const readied = new ReadyRanges(flat.length);
  return {
    ready: (from, to) => readied.add(from, to),
    finish: () => {
      readied.checkComplete();
      return allReduce(flat);
    },
  };
}

/**
 * Bookkeeping of a PendingReduce's `ready` calls: each range in bounds, none twice, all covered at
 * the end. A caller that readies less than everything would otherwise exchange stale values.
 */
export class ReadyRanges {
  private readonly done: Array<[number, number]> = [];
  private count = 0;

  constructor(readonly length: number) {}

  add(from: number, to: number): void {
    if (!Number.isInteger(from) || !Number.isInteger(to) || from < 0 || to > this.length || from >= to) {
      throw new RangeError(`ready(${from}, ${to}): expected 0 <= from < to <= ${this.length}`);
    }
    for (const [a, b] of this.done) if (from < b && a < to) throw new RangeError(`ready(${from}, ${to}) overlaps [${a}, ${b}), readied before`);
    this.done.push([from, to]);
    this.count += to - from;
  }

  checkComplete(): void {
    if (this.count !== this.length) throw new Error(`all-reduce finished with ${this.count} of ${this.length} values readied`);
  }
}

/** The test-split metrics of a classifier, as @gan-study/metrics' `evaluate` computes them. */
export type ClassifierMetrics = Evaluation;

export interface MetricInterval {
  lower: number;
  upper: number;
  confidence: number;
}

/** Image-quality numbers of a GAN's output against the budget's real images. */
export interface GanQuality {
  /** The network whose features were compared, e.g. 'classifier clf-reference-r0 penultimate layer (64-d)'. */
  featureNetwork: string;
  fid: number;
  kid: number;
  precision: number;
  recall: number;
  realCount: number;
  generatedCount: number;
}

export interface JobDurations {
  /** Loading the dataset and artifacts. */
  loadMs: number;
  trainMs: number;
  /** Generating (GAN) or evaluating (classifier). */
  evalMs: number;
  totalMs: number;
}

export interface GanJobResult {
  kind: 'gan';
  id: string;
  gan: JobGanKind;
  className: string;
  budget: number;
  resolution: number;
  steps: number;
  /** Mean losses over the last steps of training. */
  finalLosses: Record<string, number>;
  generated: number;
  /** Artifact names put. */
  artifacts: string[];
  /** Real training files the GAN saw (relative paths, sorted): the budget. */
  budgetFiles: string[];
  quality: GanQuality | null;
  durations: JobDurations;
  backend: string;
  /** True when the job started from a checkpoint. */
  resumed: boolean;
}

export interface ClassCount {
  real: number;
  generated: number;
}

export interface ClassifierJobResult {
  kind: 'classifier';
  id: string;
  scenario: Scenario;
  gan: JobGanKind | null;
  budget: number | null;
  repeat: number;
  seed: number;
  /** Training images per class. */
  counts: Record<string, ClassCount>;
  /** Test images per class. */
  testCounts: Record<string, number>;
  epochs: number;
  steps: number;
  /** Mean training loss of the last epoch. */
  finalLoss: number;
  metrics: ClassifierMetrics;
  /** Bootstrap 95% intervals over the test examples (@gan-study/metrics bootstrapEvaluation), or null. */
  cis: Record<'accuracy' | 'auc' | 'balancedAccuracy' | 'macroF1', MetricInterval> | null;
  durations: JobDurations;
  backend: string;
  replicas: number;
  resumed: boolean;
}

export type JobResult = GanJobResult | ClassifierJobResult;

// ---------------------------------------------------------------------------------------------
// Generated images on the wire: a compact binary format.
//
//   bytes 0..3   magic 'GIMG'
//   byte  4      format version (1)
//   byte  5      pixel format: 0 = uint8 (value v in [-1,1] stored as round((v+1)*127.5)), 1 = float32
//   bytes 6..7   reserved (0)
//   bytes 8..19  count, height, width as uint32 little-endian (3 channels, RGB, NHWC)
//   bytes 20..   pixels, NHWC (float32 little-endian when format 1)
//
// uint8 keeps the images PNG-exact at a quarter of the float32 size.
// ---------------------------------------------------------------------------------------------

const MAGIC = [0x47, 0x49, 0x4d, 0x47]; // 'GIMG'
const HEADER = 20;

export interface GeneratedImages {
  count: number;
  size: number;
  /** count*size*size*3 values, NHWC, in [-1, 1]. */
  images: Float32Array;
}

export function encodeGenerated(g: GeneratedImages, pixels: 'uint8' | 'float32' = 'uint8'): Uint8Array {
  const n = g.count * g.size * g.size * 3;
  if (g.images.length !== n) {
    throw new Error(`generated images: expected ${g.count}x${g.size}x${g.size}x3 = ${n} values, got ${g.images.length}`);
  }
  const bytesPer = pixels === 'uint8' ? 1 : 4;
  const out = new Uint8Array(HEADER + n * bytesPer);
  out.set(MAGIC, 0);
  out[4] = 1;
  out[5] = pixels === 'uint8' ? 0 : 1;
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  view.setUint32(8, g.count, true);
  view.setUint32(12, g.size, true);
  view.setUint32(16, g.size, true);
  if (pixels === 'uint8') {
    for (let i = 0; i < n; i++) {
      const v = Math.round((g.images[i] + 1) * 127.5);
      out[HEADER + i] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  } else {
    for (let i = 0; i < n; i++) view.setFloat32(HEADER + 4 * i, g.images[i], true);
  }
  return out;
}

export function decodeGenerated(bytes: Uint8Array, what = 'generated images'): GeneratedImages {
  if (bytes.length < HEADER || MAGIC.some((m, i) => bytes[i] !== m)) {
    throw new Error(`${what}: not a GIMG artifact (bad magic or ${bytes.length} bytes)`);
  }
  if (bytes[4] !== 1) throw new Error(`${what}: unsupported GIMG version ${bytes[4]}`);
  const format = bytes[5];
  if (format !== 0 && format !== 1) throw new Error(`${what}: unknown pixel format ${format}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = view.getUint32(8, true);
  const h = view.getUint32(12, true);
  const w = view.getUint32(16, true);
  if (h !== w) throw new Error(`${what}: images must be square, got ${h}x${w}`);
  const n = count * h * w * 3;
  const expected = HEADER + n * (format === 0 ? 1 : 4);
  if (bytes.length !== expected) throw new Error(`${what}: expected ${expected} bytes for ${count}x${h}x${w}x3, got ${bytes.length}`);
  const images = new Float32Array(n);
  if (format === 0) {
    for (let i = 0; i < n; i++) images[i] = bytes[HEADER + i] / 127.5 - 1;
  } else {
    for (let i = 0; i < n; i++) images[i] = view.getFloat32(HEADER + 4 * i, true);
  }
  return { count, size: h, images };
}

/** The fields a classifier job's result repeats from its spec. */
export function classifierResultHead(spec: ClassifierJobSpec): Pick<ClassifierJobResult, 'kind' | 'id' | 'scenario' | 'gan' | 'budget' | 'repeat' | 'seed'> {
  return { kind: 'classifier', id: spec.id, scenario: spec.scenario, gan: spec.gan, budget: spec.budget, repeat: spec.repeat, seed: spec.seed };
}

/** The fields a GAN job's result repeats from its spec. */
export function ganResultHead(spec: GanJobSpec): Pick<GanJobResult, 'kind' | 'id' | 'gan' | 'className' | 'budget' | 'resolution'> {
  return { kind: 'gan', id: spec.id, gan: spec.gan, className: spec.className, budget: spec.budget, resolution: spec.resolution };
}
