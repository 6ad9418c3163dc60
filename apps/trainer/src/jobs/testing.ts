/**
 * An in-memory JobContext for tests and dry runs: datasets from a function, artifacts in a Map,
 * checkpoints, progress and logs recorded, and an in-process all-reduce for data-parallel replicas.
 * Also `runPlanInMemory`, which runs a whole plan job by job in this process (the dry-run path).
 */
import type { Dataset } from '@gan-study/data';
import { fakeImageSet } from '@gan-study/data/testing';
import type { IncomingVector, JobContext, JobProgress, JobResult, JobSpec, PairExchange, PendingReduce } from '@gan-study/protocol';
import type { Plan } from '@gan-study/protocol';
import { reduceAtFinish, topologicalOrder } from '@gan-study/protocol';
import { runJob } from './index';

/** Artifacts of every job, keyed `<job>/<name>`. */
export type ArtifactStore = Map<string, Uint8Array>;

export interface MemoryContextOptions {
  spec: JobSpec;
  dataset: (size: number) => Dataset | Promise<Dataset>;
  artifacts?: ArtifactStore;
  resumeFrom?: Uint8Array | null;
  rank?: number;
  worldSize?: number;
  allReduce?: (flat: Float32Array) => Promise<Float32Array>;
  /** JobContext.pairExchange (InProcessPairExchange.forRank); default null. */
  pairExchange?: PairExchange | null;
  /** Abort the job right after its N-th checkpoint (a trainer lost mid-job). */
  abortAfterCheckpoints?: number;
  backend?: string;
  /** Print log lines to the console. */
  verbose?: boolean;
}

export class MemoryJobContext implements JobContext {
  readonly spec: JobSpec;
  readonly rank: number;
  readonly worldSize: number;
  readonly resumeFrom: Uint8Array | null;
  readonly backend: string;
  readonly pairExchange: PairExchange | null;
  readonly artifacts: ArtifactStore;
  readonly checkpoints: { step: number; bytes: Uint8Array }[] = [];
  readonly progressEvents: JobProgress[] = [];
  readonly logs: { level: 'info' | 'warn'; msg: string; fields?: Record<string, unknown> }[] = [];
  /** The ranges readied in each beginAllReduce call, in order. */
  readonly readied: Array<Array<[number, number]>> = [];
  private readonly controller = new AbortController();
  private readonly datasets = new Map<number, Promise<Dataset>>();

  constructor(private readonly opts: MemoryContextOptions) {
    this.spec = opts.spec;
    this.rank = opts.rank ?? 0;
    this.worldSize = opts.worldSize ?? 1;
    this.resumeFrom = opts.resumeFrom ?? null;
    this.backend = opts.backend ?? 'memory-test';
    this.pairExchange = opts.pairExchange ?? null;
    this.artifacts = opts.artifacts ?? new Map();
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  abort(reason = 'aborted by the test'): void {
    this.controller.abort(new Error(reason));
  }

  dataset(size: number): Promise<Dataset> {
    let d = this.datasets.get(size);
    if (!d) {
      d = Promise.resolve(this.opts.dataset(size));
      this.datasets.set(size, d);
    }
    return d;
  }

  async artifact(job: string, name: string): Promise<Uint8Array> {
    if (!this.spec.dependsOn.includes(job)) throw new Error(`job ${this.spec.id} asked for an artifact of ${job}, which it does not depend on`);
    const bytes = this.artifacts.get(`${job}/${name}`);
    if (!bytes) throw new Error(`no artifact ${job}/${name}`);
    return bytes;
  }

  async putArtifact(name: string, bytes: Uint8Array): Promise<void> {
    if (this.rank !== 0) throw new Error(`rank ${this.rank} put artifact ${name}; only rank 0 may`);
    this.artifacts.set(`${this.spec.id}/${name}`, bytes.slice());
  }

  async checkpoint(step: number, bytes: Uint8Array): Promise<void> {
    if (this.rank !== 0) throw new Error(`rank ${this.rank} sent a checkpoint; only rank 0 may`);
    this.checkpoints.push({ step, bytes: bytes.slice() });
    if (this.opts.abortAfterCheckpoints !== undefined && this.checkpoints.length >= this.opts.abortAfterCheckpoints) this.abort(`lost after checkpoint ${step}`);
  }

  progress(p: JobProgress): void {
    this.progressEvents.push(p);
  }

  log(level: 'info' | 'warn', msg: string, fields?: Record<string, unknown>): void {
    this.logs.push({ level, msg, fields });
    if (this.opts.verbose) console.log(`[${level}] ${msg}`);
  }

  allReduce(flat: Float32Array): Promise<Float32Array> {
    if (this.worldSize === 1) return Promise.resolve(flat);
    if (!this.opts.allReduce) throw new Error(`job ${this.spec.id}: worldSize ${this.worldSize} but no allReduce given`);
    return this.opts.allReduce(flat);
  }

  /** Exchanges in finish (reduceAtFinish checks that every value was readied exactly once); the readied ranges are recorded. */
  beginAllReduce(flat: Float32Array): PendingReduce {
    const pending = reduceAtFinish(flat, (f) => this.allReduce(f));
    const ranges: Array<[number, number]> = [];
    this.readied.push(ranges);
    return {
      ready: (from, to) => {
        pending.ready(from, to);
        ranges.push([from, to]);
      },
      finish: () => pending.finish(),
    };
  }
}

/**
 * An all-reduce among `worldSize` replicas in one process: each rank's n-th call waits for every
 * rank's n-th call, then all get the elementwise sum (added in rank order).
 */
export class InProcessAllReduce {
  private readonly rounds = new Map<number, { parts: (Float32Array | undefined)[]; waiters: ((sum: Float32Array) => void)[]; arrived: number }>();
  private readonly next: number[];

  constructor(readonly worldSize: number) {
    this.next = new Array<number>(worldSize).fill(0);
  }

  forRank(rank: number): (flat: Float32Array) => Promise<Float32Array> {
    return (flat) => {
      const round = this.next[rank]++;
      let r = this.rounds.get(round);
      if (!r) {
        r = { parts: new Array(this.worldSize), waiters: [], arrived: 0 };
        this.rounds.set(round, r);
      }
      r.parts[rank] = flat.slice();
      r.arrived++;
      const entry = r;
      const done = new Promise<Float32Array>((resolve) => entry.waiters.push(resolve));
      if (entry.arrived === this.worldSize) {
        const len = entry.parts[0]!.length;
        const sum = new Float32Array(len);
        for (const part of entry.parts) {
          if (part!.length !== len) throw new Error(`all-reduce round ${round}: replicas sent ${len} and ${part!.length} values`);
          for (let i = 0; i < len; i++) sum[i] += part![i];
        }
        this.rounds.delete(round);
        for (const w of entry.waiters) w(sum.slice());
      }
      return done;
    };
  }
}

/**
 * JobContext.pairExchange between two replicas in one process: each rank's n-th call waits for the
 * other's n-th call, then reads a copy of the other's vector (taken when it was sent, as PeerLink.swap
 * reads `ours` before it returns). Counts every call.
 */
export class InProcessPairExchange {
  private readonly rounds = new Map<number, { parts: (Float32Array | undefined)[]; waiters: Array<() => void> }>();
  private readonly next = [0, 0];
  calls = 0;

  forRank(rank: number): PairExchange {
    if (rank !== 0 && rank !== 1) throw new Error(`InProcessPairExchange: rank ${rank} of 2`);
    return (ours) => {
      this.calls++;
      const round = this.next[rank]++;
      let r = this.rounds.get(round);
      if (!r) this.rounds.set(round, (r = { parts: [undefined, undefined], waiters: [] }));
      const entry = r;
      entry.parts[rank] = concat(ours);
      const done = new Promise<IncomingVector>((resolve) =>
        entry.waiters.push(() => {
          const theirs = entry.parts[1 - rank]!;
          resolve({
            readInto: (segments) => {
              let at = 0;
              for (const s of segments) {
                s.set(theirs.subarray(at, at + s.length));
                at += s.length;
              }
              if (at !== theirs.length) throw new Error(`pair exchange round ${round}: read ${at} of ${theirs.length} values`);
            },
          });
        }),
      );
      if (entry.parts[0] && entry.parts[1]) {
        if (entry.parts[0].length !== entry.parts[1].length) throw new Error(`pair exchange round ${round}: replicas sent ${entry.parts[0].length} and ${entry.parts[1].length} values`);
        this.rounds.delete(round);
        for (const w of entry.waiters) w();
      }
      return done;
    };
  }
}

function concat(segments: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(segments.reduce((n, s) => n + s.length, 0));
  let at = 0;
  for (const s of segments) {
    out.set(s, at);
    at += s.length;
  }
  return out;
}

/** A dataset provider over fakeImageSet (noise around a per-class colour), any size, same files at every size. */
export function fakeDataset(opts: { classes?: string[]; train: number[]; test: number[]; seed?: number }): (size: number) => Dataset {
  const classes = opts.classes ?? ['benign', 'malignant'];
  const cache = new Map<number, Dataset>();
  return (size) => {
    let d = cache.get(size);
    if (!d) {
      const train = fakeImageSet({ size, classes, perClass: opts.train, seed: opts.seed ?? 0, split: 'train' });
      const test = fakeImageSet({ size, classes, perClass: opts.test, seed: (opts.seed ?? 0) + 1, split: 'test' });
      d = { root: 'memory', classes, train, test, hash: 'memory', warnings: [] };
      cache.set(size, d);
    }
    return d;
  };
}

export interface InMemoryRun {
  results: JobResult[];
  artifacts: ArtifactStore;
  /** Wall time per job, ms. */
  wallMs: Record<string, number>;
}

/** Runs every job of a plan in dependency order in this process (one replica each). */
export async function runPlanInMemory(
  plan: Plan,
  dataset: (size: number) => Dataset | Promise<Dataset>,
  opts: { backend?: string; onJob?: (spec: JobSpec, result: JobResult, ms: number) => void; verbose?: boolean } = {},
): Promise<InMemoryRun> {
  const artifacts: ArtifactStore = new Map();
  const results: JobResult[] = [];
  const wallMs: Record<string, number> = {};
  const cache = new Map<number, Promise<Dataset>>();
  const shared = (size: number) => {
    let d = cache.get(size);
    if (!d) {
      d = Promise.resolve(dataset(size));
      cache.set(size, d);
    }
    return d;
  };
  for (const spec of topologicalOrder(plan.jobs)) {
    const t = Date.now();
    const ctx = new MemoryJobContext({ spec: { ...spec, replicas: 1 }, dataset: shared, artifacts, backend: opts.backend, verbose: opts.verbose });
    const result = await runJob(ctx);
    wallMs[spec.id] = Date.now() - t;
    results.push(result);
    opts.onJob?.(spec, result, wallMs[spec.id]);
  }
  return { results, artifacts, wallMs };
}
