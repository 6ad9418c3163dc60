/**
 * `npm run bench` (issue 7): how fast the study trains on this machine, against what users would
 * otherwise run (PyTorch), and what the distributed parts cost. Not a test; writes
 * docs/benchmarks.json and docs/benchmarks.md with the machine's facts.
 *
 *   npm run bench -- [--only throughput,profile,exchange,parallel,study,memory] [--quick] [--out DIR] [--rounds N]
 *                    [--backends wasm,cpu] [--models classifier,dcgan,cyclegan] [--child-timeout-min 30]
 *                    [--study-timeout-min 120]
 *
 * Sections (each in its own child processes, so one tfjs state does not leak into the next):
 * 1. throughput: one training step (batch 32, 64 px) of the classifier, DCGAN (D and G) and CycleGAN
 *    on each available backend, and the same models in PyTorch (tools/bench/torch_step.py,
 *    /usr/bin/python3; Debian's python3-torch is installed with apt-get when missing) with 1 thread
 *    and all threads. Median of several steps after warm-up; wall and process CPU time. wasm rows
 *    name what ran the convolutions: 'tfjs-wasm + oneDNN' (the native kernels, libs/native), then
 *    'tfjs-wasm (XNNPACK)' with them off (GAN_STUDY_NATIVE_KERNELS=0) for comparison.
 * 2. exchange: ring all-reduce (PeerLink, the trainers' own) of 1 MB and 10 MB between 2 processes
 *    over ZeroMQ tcp loopback, against a plain node `net` loopback echo of the same bytes.
 *    tools/bench/allreduce.ts compares ring and coordinator reduction for more replicas.
 * 3. parallel: classifier steps as the classifier job runs them with 1 trainer (trainStep, gradients
 *    kept on the device) and 2 (shards of the global batch, the flat gradient read into one array per
 *    job, ring all-reduce in place, then applied).
 * 4. study: `study run --profile quick` end to end: wall time, peak memory of the process tree
 *    (sampled from /proc), and the coordinator's CPU time / wall time.
 * 5. memory: the `paper` profile's memory per GPU, computed from the models' traced layer shapes.
 * profile: where a wasm step's time goes, by kernel (tf.profile over one step after warm-up, profileWarmup).
 *
 * When a run leaves some sections out, the previous results of those sections are kept (read back
 * from the JSON), so the report always shows the latest measurement of each.
 */
import { spawn, spawnSync, fork, type ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { TRAINER_MALLOC_ENV, writeFileAtomic, writeJsonAtomic } from '@gan-study/core';
import { createClassifier, createGan, cycleganMicroBatch, initBackend, PairBalance, PAIR_STEP_POINTS } from '@gan-study/models';
import type { BackendChoice, CycleganConfig, Gan, PairStepPoint } from '@gan-study/models';
import { PeerLink, type IncomingVector } from '@gan-study/protocol';
import { paperMemory } from './memory';
import { BATCH, MODELS, SIZE, cpuMs, jitWarmup, median, pct, profileWarmup, quantile, report, repsFor, round, type CoreScaling, type ExchangeRow, type KernelTime, type ModelKind, type PairTimeline, type ParallelRow, type ProfileModel, type Results, type StudyResult, type ThroughputResult, type ThroughputRow } from './report';

const ROOT = path.resolve(__dirname, '..', '..');
const PYTHON = '/usr/bin/python3';
const SECTIONS = ['throughput', 'profile', 'exchange', 'parallel', 'study', 'memory'] as const;
type Section = (typeof SECTIONS)[number];

interface Args {
  only: Section[];
  quick: boolean;
  out: string;
  backends: string[];
  models: ModelKind[];
  /** A throughput child (one engine, one model) is stopped after this many minutes and reported as not measured. */
  childTimeoutMin: number;
  /** The study section stops the study after this many minutes and reports how far it got. */
  studyTimeoutMin: number;
  /** Rounds of the parallel section (each runs every configuration once); default 3, 1 with --quick. */
  rounds: number | null;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { only: [...SECTIONS], quick: false, out: path.join(ROOT, 'docs'), backends: ['wasm', 'cpu', 'tensorflow'], models: [...MODELS], childTimeoutMin: 30, studyTimeoutMin: 120, rounds: null };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    const list = <T extends string>(known: readonly T[]): T[] =>
      value()
        .split(',')
        .map((s) => {
          if (!(known as readonly string[]).includes(s)) throw new Error(`${flag}: unknown '${s}' (known: ${known.join(', ')})`);
          return s as T;
        });
    if (flag === '--only') a.only = list(SECTIONS);
    else if (flag === '--quick') a.quick = true;
    else if (flag === '--out') a.out = path.resolve(value());
    else if (flag === '--backends') a.backends = list(['wasm', 'cpu', 'tensorflow'] as const);
    else if (flag === '--models') a.models = list(MODELS);
    else if (flag === '--study-timeout-min') {
      a.studyTimeoutMin = Number(value());
      if (!(a.studyTimeoutMin > 0)) throw new Error(`--study-timeout-min must be a positive number of minutes, got '${argv[i]}'`);
    } else if (flag === '--child-timeout-min') {
      a.childTimeoutMin = Number(value());
      if (!(a.childTimeoutMin > 0)) throw new Error(`--child-timeout-min must be a positive number of minutes, got '${argv[i]}'`);
    } else if (flag === '--rounds') {
      a.rounds = Number(value());
      if (!Number.isInteger(a.rounds) || a.rounds < 1) throw new Error(`--rounds must be a positive integer, got '${argv[i]}'`);
    } else throw new Error(`unknown argument '${flag}' (known: --only, --quick, --out, --backends, --models, --child-timeout-min, --study-timeout-min, --rounds)`);
  }
  return a;
}

// ---------------------------------------------------------------------------------------------
// Child processes: every measurement runs in a fresh process started from this file.

interface ChildResult {
  [key: string]: unknown;
}

/** Runs this file with `--child <args>` and returns the JSON object it prints on its last stdout line. */
function runChild(args: string[], timeoutMs: number, env: NodeJS.ProcessEnv = process.env): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const nodeArgs = [...process.execArgv, __filename, '--child', ...args];
    const [cmd, argv] = args[0] === 'step' ? pinnedToOneCore(process.execPath, nodeArgs) : [process.execPath, nodeArgs];
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], env });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      const last = out.trim().split('\n').pop() ?? '';
      if (code === 0 && last.startsWith('{')) resolve(JSON.parse(last) as ChildResult);
      else reject(new Error(`child ${args.join(' ')} exited ${code ?? signal}${signal === 'SIGKILL' ? ` (timeout ${timeoutMs / 1000}s)` : ''}: ${err.trim().split('\n').slice(-3).join(' | ')}`));
    });
  });
}

/** A step function for one model, on random data (speed does not depend on the values); `note` goes into the result row. */
function makeStep(model: ModelKind): { step: () => void; dispose: () => void; note?: string } {
  const per = SIZE * SIZE * 3;
  const images = (n: number) => Float32Array.from({ length: n * per }, () => Math.random() * 2 - 1);
  if (model === 'classifier') {
    const c = createClassifier({ inputSize: SIZE, batchSize: BATCH }, 1);
    const x = images(BATCH);
    const labels = Int32Array.from({ length: BATCH }, (_, i) => i % 2);
    return { step: () => void c.trainStep(x, labels, BATCH), dispose: () => c.dispose() };
  }
  const n = 64;
  let gan: Gan;
  let note: string | undefined;
  if (model === 'dcgan') gan = createGan('dcgan', { resolution: SIZE, batchSize: BATCH }, { target: images(n), targetCount: n }, 1);
  else {
    // microBatch 'auto' (the default): where the whole batch does not fit (the wasm heap), the step
    // runs in passes of fewer images and accumulates their gradients (cyclegan.ts).
    gan = createGan('cyclegan', { resolution: SIZE, batchSize: BATCH }, { target: images(n), targetCount: n, source: images(n), sourceCount: n }, 1);
    const params = gan.summary().reduce((sum, net) => sum + net.params, 0);
    const m = cycleganMicroBatch(gan.config as CycleganConfig, tf.getBackend(), params, 2 * n);
    if (m < BATCH) note = `microBatch ${m} (${BATCH / m} passes, gradients accumulated)`;
  }
  return { step: () => void gan.trainStep(), dispose: () => gan.dispose(), note };
}

/** Child: times `reps` steps of `model` on `backend` after `warmup` steps. */
async function childStep(model: ModelKind, backend: string, warmup: number, reps: number): Promise<ChildResult> {
  const info = await initBackend(backend as BackendChoice);
  // Leaks are counted once the model is disposed: during the steps CycleGAN's image pools still fill up.
  const before = tf.memory().numTensors;
  const { step, dispose, note } = makeStep(model);
  for (let i = 0; i < warmup; i++) step();
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    const c0 = cpuMs();
    step();
    wall.push(performance.now() - t0);
    cpu.push(cpuMs() - c0);
  }
  dispose();
  const leaked = tf.memory().numTensors - before;
  return { backend: info.backend, kernels: info.kernels?.engine ?? null, device: info.devices.join('; '), wall_ms: wall, cpu_ms: cpu, leaked_tensors: leaked, ...(note ? { note } : {}) };
}

/**
 * Child: one step of `model` under tf.profile after warm-up steps; time per kernel name, largest
 * first. At least three warm-ups (profileWarmup): the wasm heap grows over the first two steps, and
 * a kernel whose output lands in fresh memory pays for faulting it in (the classifier's first pool
 * gradient took 16.5 ms in the second step, 2.2-2.4 ms from the third on).
 */
async function childProfile(model: ModelKind, backend: string, warmup: number): Promise<ChildResult> {
  await initBackend(backend as BackendChoice);
  const { step, dispose } = makeStep(model);
  for (let i = 0; i < warmup; i++) step();
  const t0 = performance.now();
  const info = await tf.profile(() => {
    step();
  });
  const wall = performance.now() - t0;
  dispose();
  const by = new Map<string, { ms: number; calls: number }>();
  for (const k of info.kernels) {
    const ms = await k.kernelTimeMs;
    const ms1 = typeof ms === 'number' ? ms : 0;
    const e = by.get(k.name) ?? { ms: 0, calls: 0 };
    by.set(k.name, { ms: e.ms + ms1, calls: e.calls + 1 });
  }
  const total = [...by.values()].reduce((acc, e) => acc + e.ms, 0);
  const kernels: KernelTime[] = [...by.entries()]
    .map(([kernel, e]) => ({ kernel, ms: round(e.ms), calls: e.calls, share: round(e.ms / total) }))
    .sort((x, y) => y.ms - x.ms);
  return { wall_ms: round(wall), kernel_ms: round(total), kernels };
}

async function profile(a: Args, log: (s: string) => void): Promise<ProfileModel[]> {
  const out = [];
  for (const model of a.models) {
    const warmup = profileWarmup(model, a.quick);
    const r = await runChild(['profile', model, 'wasm', String(warmup)], a.childTimeoutMin * 60_000);
    const kernels = r.kernels as KernelTime[];
    out.push({ model, backend: 'wasm', warmup, wall_ms: r.wall_ms as number, kernel_ms: r.kernel_ms as number, kernels });
    log(`profile ${model} wasm: ${kernels.slice(0, 5).map((k) => `${k.kernel} ${(100 * k.share).toFixed(0)}%`).join(', ')}`);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Section 1: throughput

/** Where the BLAS that Debian's PyTorch loads (libblas.so.3, chosen by update-alternatives) resolves to. */
const BLAS_LINK = '/usr/lib/x86_64-linux-gnu/libblas.so.3';
/**
 * Debian's PyTorch does its matrix products through whichever libblas.so.3 the system has. With only
 * the reference BLAS (libblas3, what `apt-get install --no-install-recommends python3-torch` leaves)
 * its classifier step took 141-172 ms here, against 76 ms with OpenBLAS: a baseline that slow would
 * flatter us. So the bench installs OpenBLAS, and the report names the BLAS it measured with.
 */
const OPENBLAS = 'libopenblas0-pthread';

function blasLibrary(): string {
  try {
    return fs.realpathSync(BLAS_LINK);
  } catch {
    return 'none found';
  }
}

const isReferenceBlas = (lib: string) => /\/blas\/libblas\.so/.test(lib);

function ensureTorch(log: (s: string) => void): string {
  const probe = spawnSync(PYTHON, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
  if (probe.status === 0) {
    if (isReferenceBlas(blasLibrary())) {
      log(`PyTorch would use the reference BLAS (${blasLibrary()}); installing ${OPENBLAS} with apt-get`);
      const apt = spawnSync('apt-get', ['install', '-y', OPENBLAS], { stdio: 'inherit' });
      if (apt.status !== 0 || isReferenceBlas(blasLibrary())) log(`WARNING: PyTorch runs on the reference BLAS (${blasLibrary()}): its numbers understate it; install ${OPENBLAS}`);
    }
    return probe.stdout.trim();
  }
  log(`PyTorch not importable by ${PYTHON}; installing Debian's python3-torch and ${OPENBLAS} with apt-get`);
  const apt = spawnSync('apt-get', ['install', '-y', 'python3-torch', OPENBLAS], { stdio: 'inherit' });
  if (apt.status !== 0) throw new Error(`apt-get install python3-torch failed (exit ${apt.status}); install it by hand or run the bench with --only exchange,parallel,study,memory`);
  const again = spawnSync(PYTHON, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
  if (again.status !== 0) throw new Error(`python3-torch installed but ${PYTHON} cannot import torch: ${again.stderr}`);
  return again.stdout.trim();
}

/**
 * `taskset -c 0` before a command, when taskset exists: the one-thread runs (PyTorch with
 * set_num_threads(1), our wasm engine) are pinned to one core. Unpinned, PyTorch's "1 thread"
 * step used 1.5-1.7 cores here (classifier: 312 ms of CPU in a 180 ms step; its helper threads),
 * so its wall time was not single-core throughput.
 */
let tasksetWorks: boolean | undefined;
function pinnedToOneCore(cmd: string, args: string[]): [string, string[]] {
  tasksetWorks ??= spawnSync('taskset', ['-c', '0', 'true']).status === 0;
  return tasksetWorks ? ['taskset', ['-c', '0', cmd, ...args]] : [cmd, args];
}

function torchStep(model: ModelKind, threads: number, warmup: number, reps: number): ThroughputRow {
  const torchArgs = [path.join(__dirname, 'torch_step.py'), '--model', model, '--threads', String(threads), '--batch', String(BATCH), '--size', String(SIZE), '--warmup', String(warmup), '--reps', String(reps)];
  const [cmd, args] = threads === 1 ? pinnedToOneCore(PYTHON, torchArgs) : [PYTHON, torchArgs];
  const r = spawnSync(cmd, args, {
    encoding: 'utf8',
    timeout: 3_600_000,
  });
  if (r.status !== 0) throw new Error(`torch_step.py ${model} --threads ${threads} failed: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  const j = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { median_ms: number; median_cpu_ms: number; threads: number };
  return {
    model,
    engine: 'pytorch',
    threads: j.threads,
    median_ms: round(j.median_ms),
    median_cpu_ms: round(j.median_cpu_ms),
    images_per_s: round(BATCH / (j.median_ms / 1000)),
    images_per_cpu_s: round((BATCH * j.threads) / (j.median_cpu_ms / 1000)),
    reps,
  };
}

/** 'tfjs-wasm + oneDNN' / 'tfjs-wasm (XNNPACK)' on wasm (what ran its convolutions and matmuls), else 'tfjs-<backend>'. */
function engineLabel(backend: string, kernels: string | null): string {
  if (backend !== 'wasm' || !kernels) return `tfjs-${backend}`;
  return kernels === 'oneDNN' ? 'tfjs-wasm + oneDNN' : `tfjs-wasm (${kernels})`;
}

/** `progress` is called with the results so far after each measurement (the caller saves them). */
async function throughput(a: Args, log: (s: string) => void, progress: (r: ThroughputResult) => Promise<void>): Promise<ThroughputResult> {
  const rows: ThroughputRow[] = [];
  const unavailable: Record<string, string> = {};
  if (!a.backends.includes('cpu')) {
    unavailable.cpu = 'left out with --backends: the plain-JavaScript cpu backend did not finish 2 classifier steps in 12 min in an earlier run, and the GAN steps are 10-150x the classifier\'s work';
  }
  if (a.backends.includes('tensorflow')) {
    try {
      require.resolve('@tensorflow/tfjs-node');
    } catch {
      unavailable.tensorflow = '@tensorflow/tfjs-node is not installed (optional)';
      log(`throughput: backend tensorflow unavailable: ${unavailable.tensorflow}`);
    }
  }
  for (const model of a.models) {
    for (const threads of [1, os.cpus().length]) {
      const { warmup, reps } = repsFor('pytorch', model, a.quick);
      const row = torchStep(model, threads, warmup, reps);
      log(`throughput ${model} pytorch threads=${threads}: ${row.median_ms} ms/step ${row.images_per_s} img/s (cpu ${row.median_cpu_ms} ms)`);
      rows.push(row);
      await progress({ rows, unavailable });
    }
    // wasm runs as it would in a study (oneDNN kernels when the addon is built), then, when that was
    // oneDNN, once more with XNNPACK only (GAN_STUDY_NATIVE_KERNELS=0), for the comparison.
    const runs: Array<{ backend: string; env?: NodeJS.ProcessEnv }> = a.backends.map((backend) => ({ backend }));
    for (let i = 0; i < runs.length; i++) {
      const { backend, env } = runs[i];
      if (unavailable[backend]) continue;
      const { warmup, reps } = repsFor(backend, model, a.quick);
      try {
        const r = await runChild(['step', model, backend, String(warmup), String(reps)], a.childTimeoutMin * 60_000, env);
        if (r.kernels === 'oneDNN' && !env) runs.splice(i + 1, 0, { backend, env: { ...process.env, GAN_STUDY_NATIVE_KERNELS: '0' } });
        const wall = r.wall_ms as number[];
        const cpu = r.cpu_ms as number[];
        const row: ThroughputRow = {
          model,
          engine: engineLabel(r.backend as string, r.kernels as string | null),
          threads: 1,
          median_ms: round(median(wall)),
          median_cpu_ms: round(median(cpu)),
          images_per_s: round(BATCH / (median(wall) / 1000)),
          images_per_cpu_s: round(BATCH / (median(cpu) / 1000)),
          reps,
          note: `${r.device as string}${r.note ? `; ${r.note as string}` : ''}${(r.leaked_tensors as number) !== 0 ? `; ${r.leaked_tensors as number} tensors left after the model was disposed` : ''}`,
        };
        log(`throughput ${model} ${row.engine}: ${row.median_ms} ms/step ${row.images_per_s} img/s (cpu ${row.median_cpu_ms} ms)`);
        rows.push(row);
        await progress({ rows, unavailable });
      } catch (err) {
        const msg = (err as Error).message;
        if (/not installed|could not be activated|failed to load/.test(msg)) {
          unavailable[backend] = msg.replace(/^child .*?: /, '').slice(0, 200);
          log(`throughput: backend ${backend} unavailable: ${unavailable[backend]}`);
        } else if (/\(timeout/.test(msg)) {
          unavailable[`${backend} ${model}`] = `${warmup + reps} steps did not finish in ${a.childTimeoutMin} min (--child-timeout-min)`;
          log(`throughput ${model} ${backend}: ${unavailable[`${backend} ${model}`]}`);
        } else throw err;
      }
    }
  }
  return { rows, unavailable };
}

// ---------------------------------------------------------------------------------------------
// Sections 2 and 3: processes that all-reduce with PeerLink

interface PeerGo {
  type: 'go';
  what: 'exchange' | 'parallel';
  /**
   * exchange: 'ring' (allReduce), 'pair' (beginExchange, as a 2-replica classifier job exchanges
   * across hosts) or 'swap' (PeerLink.swap into a second array, then the sum: what the job's
   * pairStep does on one host, the sum there on the device);
   * parallel: 'pair' (the job's step), 'alone' (each trainer steps on its shard, no exchange), or
   * 'solo' (the first trainer steps on the whole batch, as one trainer does; the others idle).
   */
  how: 'ring' | 'pair' | 'swap' | 'alone' | 'solo';
  size: number;
  reps: number;
  warmup: number;
  /** parallel: the global batch (default BATCH), cut into the replicas' shards. */
  batch?: number;
  /** parallel, two that share memory: cut each batch where both passes take as long (PairBalance), not in halves. */
  balance?: boolean;
  /** Over the processes' links without shared memory (tcp, as between hosts); `peers` are their addresses. */
  tcp?: boolean;
  peers: string[];
  round: number;
}

/** A trainer-like process: a PeerLink, commands over Node IPC. */
async function peerWorker(): Promise<void> {
  const rank = Number(process.env.BENCH_RANK);
  const world = Number(process.env.BENCH_WORLD);
  const shmLink = new PeerLink({ bind: 'tcp://127.0.0.1:*' });
  // The same process as a trainer without shared memory (over tcp, as on different hosts).
  const tcpLink = new PeerLink({ bind: 'tcp://127.0.0.1:*', sharedDir: null });
  await shmLink.start();
  await tcpLink.start();
  let backendReady = false;
  // A balanced pair's PairBalance lives as long as the process, through the rounds, as a job's does
  // through its steps (the even pair's steps on the same processes do not feed it).
  let balanceOf: PairBalance | null = null;
  process.send?.({ type: 'ready', address: shmLink.address, tcpAddress: tcpLink.address });
  process.on('message', (m: PeerGo | { type: 'exit' }) => {
    if (m.type === 'exit') {
      void Promise.all([shmLink.stop(), tcpLink.stop()]).then(() => process.exit(0));
      return;
    }
    const link = m.tcp ? tcpLink : shmLink;
    void (async () => {
      const call = (seq: number) => ({ job: 'bench', attempt: 1, seq, rank, peers: m.peers, timeoutMs: 600_000 });
      const into = new Float32Array(m.size);
      const reduce = async (data: Float32Array, seq: number): Promise<Float32Array> => {
        if (m.how === 'ring') return link.allReduce(data, call(seq));
        if (m.how === 'swap') {
          (await link.swap([data], call(seq))).readInto([into]);
          return into; // the other's vector
        }
        const pending = link.beginExchange(data, { ...call(seq), into });
        pending.ready(0, data.length);
        return pending.finish();
      };
      if (m.what === 'exchange') {
        const data = new Float32Array(m.size).fill(rank + 1);
        const ms: number[] = [];
        for (let i = 0; i < m.warmup + m.reps; i++) {
          const t0 = performance.now();
          const sum = await reduce(data, m.round * 100_000 + i);
          if (i >= m.warmup) ms.push(performance.now() - t0);
          const want = m.how === 'swap' ? world - rank : (world * (world + 1)) / 2;
          if (sum[0] !== want || sum[sum.length - 1] !== want) throw new Error(`wrong sum ${sum[0]}, expected ${want}`);
        }
        process.send?.({ type: 'done', ms });
        return;
      }
      // parallel: the classifier job's data-parallel step (classifier-job.ts): this rank's shard of the
      // global batch, gradients with the global denominator, all-reduced, then applied.
      if (!backendReady) {
        await initBackend('wasm');
        backendReady = true;
      }
      if (m.how === 'solo' && rank !== 0) {
        process.send?.({ type: 'done', step: [], exchange: [], pass: [], update: [], cpu: [], paramCount: 0, exchangeLength: 0, timeline: null, notesPerStep: 0, cuts: [] });
        return;
      }
      // Trainers that take part in the step.
      const trainers = m.how === 'solo' ? 1 : world;
      const G = m.batch ?? BATCH;
      const model = createClassifier({ inputSize: SIZE, batchSize: G }, 1);
      const per = SIZE * SIZE * 3;
      // The whole global batch; each step takes this rank's shard of it.
      const xAll = Float32Array.from({ length: G * per }, () => Math.random() * 2 - 1);
      const yAll = Int32Array.from({ length: G }, (_, i) => i % 2);
      const balance = m.balance ? (balanceOf ??= new PairBalance(G)) : null;
      // Where the batch is cut at each timed step (rows of rank 0), and the floats this trainer swapped.
      const cuts: number[] = [];
      let swapped = 0;
      const step: number[] = [];
      const exchange: number[] = [];
      // Two that exchange: the pass (forward, backward, the vector made) before the exchange, and the update after it.
      const pass: number[] = [];
      const update: number[] = [];
      const cpu: number[] = [];
      // Two that share memory: when each of the pair step's points came, in ms from the step's start.
      const points = new Map<PairStepPoint, number[]>(PAIR_STEP_POINTS.map((p) => [p, []]));
      // As the job runs it: one replica trains on the device (trainStep, the gradient never leaves it);
      // replicas read each parameter's gradient into one of two arrays kept for the job (used in turn)
      // as the backward pass finishes it, and each range goes to the other replica at once
      // (beginExchange, as the trainer's beginAllReduce does for two replicas); the sum goes to a third.
      // "Exchange" is what is left of it after the backward pass: waiting for the rest, and the sum.
      // The exchanged vector: the gradients, and fc1 as its factors (Classifier.exchange).
      const flats = [new Float32Array(model.exchange.length + 1), new Float32Array(model.exchange.length + 1)];
      const sum = new Float32Array(model.exchange.length + 1);
      // The pair's swaps, numbered as the job numbers them (both trainers make the same calls in the same order).
      let seq = m.round * 100_000;
      // Notes this trainer sent over the timed steps (a pair that shares memory: only to a waiting other).
      let notesBefore = 0;
      for (let i = 0; i < m.warmup + m.reps; i++) {
        if (i === m.warmup) notesBefore = link.sharedNotesSent;
        const t0 = performance.now();
        const c0 = cpuMs();
        let t1 = t0;
        let t2 = t0;
        const at: Partial<Record<PairStepPoint, number>> = {};
        const cut = trainers === 1 ? 0 : (balance?.first(G) ?? Math.floor(G / trainers));
        const [lo, hi] = trainers === 1 ? [0, G] : rank === 0 ? [0, cut] : [cut, G];
        const x = xAll.subarray(lo * per, hi * per);
        const y = yAll.subarray(lo, hi);
        const rows = { offset: lo, total: G };
        if (trainers === 1 || m.how === 'alone') {
          model.trainStep(x, y, hi - lo);
          t1 = t2 = performance.now();
        } else if (link.sharesMemory(rank, m.peers)) {
          // As the job runs two replicas that share memory (JobContext.pairExchange): gradients from
          // the heap to the other's file and back into tensors, added and applied on the device.
          // Two swaps a step (fc1's factor rows during the backward pass, the rest after it). "Exchange":
          // from the end of the pass (the second swap) to the other's second vector read onto the heap,
          // fc1's update included (it runs in between, from the first vector).
          // The swap as the job's (its `now` too), with the time the other's vector is read.
          const timed = (incoming: IncomingVector): IncomingVector => ({
            readInto: (segments) => {
              incoming.readInto(segments);
              t2 = performance.now();
            },
          });
          const { passMs } = await model.pairStep(x, y, hi - lo, G, rows, (ours) => {
            t1 = performance.now();
            if (i >= m.warmup) swapped += ours.reduce((n, a) => n + a.length, 0);
            const pending = link.swap(ours, { job: 'bench', attempt: 1, seq: seq++, rank, peers: m.peers, timeoutMs: 600_000 });
            const now = pending.now;
            return Object.assign(pending.then(timed), {
              now: now && ((): IncomingVector | null => {
                const incoming = now();
                return incoming && timed(incoming);
              }),
            });
          }, (p) => (at[p] = performance.now() - t0));
          balance?.observe(cut, rank === 0 ? passMs.ours : passMs.theirs, rank === 0 ? passMs.theirs : passMs.ours);
        } else {
          const flat = flats[i % 2];
          const last = flat.length - 1;
          const pending = link.beginExchange(flat, { job: 'bench', attempt: 1, seq: m.round * 100_000 + i, rank, peers: m.peers, timeoutMs: 600_000, into: sum });
          const { lossSum } = model.exchangeGradients(x, y, hi - lo, G, rows, flat.subarray(0, last), (from, to) => pending.ready(from, to));
          flat[last] = lossSum;
          pending.ready(last, last + 1);
          t1 = performance.now();
          const reduced = await pending.finish();
          t2 = performance.now();
          model.applyExchanged(reduced.subarray(0, reduced.length - 1), G);
        }
        if (i >= m.warmup) {
          const t3 = performance.now();
          step.push(t3 - t0);
          exchange.push(t2 - t1);
          if (trainers > 1 && m.how !== 'alone') {
            pass.push(t1 - t0);
            update.push(t3 - t2);
          }
          cpu.push(cpuMs() - c0);
          cuts.push(cut);
          for (const [p, ms] of points) if (at[p] !== undefined) ms.push(at[p]);
        }
      }
      const timeline = [...points].every(([, ms]) => ms.length > 0) ? PAIR_STEP_POINTS.map((p) => median(points.get(p)!)) : null;
      const paramCount = model.paramCount;
      // What this trainer sent per step: a pair sharing memory sends its own factor rows only (as
      // many as the larger shard's), its loss, pass time and row count; otherwise the vector and the loss.
      const exchangeLength = trainers > 1 && m.how !== 'alone' && link.sharesMemory(rank, m.peers) ? swapped / m.reps : model.exchange.length + 1;
      model.dispose();
      const notesPerStep = (link.sharedNotesSent - notesBefore) / m.reps;
      process.send?.({ type: 'done', step, exchange, pass, update, cpu, paramCount, exchangeLength, timeline, notesPerStep, cuts });
    })().catch((err: unknown) => {
      console.error(err);
      process.exit(1);
    });
  });
}

type PeerCommand = Omit<PeerGo, 'type' | 'peers' | 'round'>;

/** `world` peer processes, ready: `go` runs one command on all and returns each rank's reply; `stop` ends them. */
interface PeerGroup<T> {
  go: (cmd: PeerCommand) => Promise<T[]>;
  stop: () => Promise<void>;
}

async function startPeers<T>(world: number, env: NodeJS.ProcessEnv = {}): Promise<PeerGroup<T>> {
  const workers: ChildProcess[] = [];
  const addresses: string[] = [];
  const tcpAddresses: string[] = [];
  const stop = async (): Promise<void> => {
    for (const w of workers) if (w.exitCode === null) w.send({ type: 'exit' });
    await Promise.all(workers.map((w) => new Promise((r) => (w.exitCode !== null ? r(null) : w.once('exit', r)))));
  };
  try {
    for (let r = 0; r < world; r++) {
      const w = fork(__filename, ['--child', 'peer'], { env: { ...process.env, ...env, BENCH_RANK: String(r), BENCH_WORLD: String(world) }, execArgv: process.execArgv });
      workers.push(w);
      const ready = await new Promise<{ address: string; tcpAddress: string }>((resolve, reject) => {
        w.once('message', (m: { address: string; tcpAddress: string }) => resolve(m));
        w.once('exit', (code) => reject(new Error(`peer ${r} exited ${code} before it was ready`)));
      });
      addresses.push(ready.address);
      tcpAddresses.push(ready.tcpAddress);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  let round = 0;
  const go = async (cmd: PeerCommand): Promise<T[]> => {
    round++;
    const done = workers.map(
      (w, r) =>
        new Promise<T>((resolve, reject) => {
          const onExit = (code: number | null) => reject(new Error(`peer ${r} exited ${code} during ${cmd.what}`));
          w.once('exit', onExit);
          w.once('message', (m: T) => {
            w.off('exit', onExit);
            resolve(m);
          });
        }),
    );
    for (const w of workers) w.send({ type: 'go', peers: cmd.tcp ? tcpAddresses : addresses, round, ...cmd } satisfies PeerGo);
    return Promise.all(done);
  };
  return { go, stop };
}

/** Starts `world` peer processes, runs `run` with them, stops them. */
async function withPeers<T>(world: number, run: (go: PeerGroup<T>['go']) => Promise<void>, env: NodeJS.ProcessEnv = {}): Promise<void> {
  const peers = await startPeers<T>(world, env);
  try {
    await run(peers.go);
  } finally {
    await peers.stop();
  }
}

/** A loop of 8 independent multiply-adds per turn in registers (no memory traffic); returns a value so it is not optimised away. */
function spin(turns: number): number {
  let [a0, a1, a2, a3, a4, a5, a6, a7] = [1, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7];
  const m = 0.9999999;
  const c = 1e-7;
  for (let i = 0; i < turns; i++) {
    a0 = a0 * m + c;
    a1 = a1 * m + c;
    a2 = a2 * m + c;
    a3 = a3 * m + c;
    a4 = a4 * m + c;
    a5 = a5 * m + c;
    a6 = a6 * m + c;
    a7 = a7 * m + c;
  }
  return a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
}

/** Child: warms up, says ready, and on 'go' times the loop and reports it. */
function childSpin(): void {
  spin(1e6);
  process.on('message', () => {
    const t0 = performance.now();
    const r = spin(3e8);
    process.send?.({ ms: performance.now() - t0, r });
    process.exit(0);
  });
  process.send?.({ ready: true });
}

/**
 * What two processes that touch no memory get from the two cores: the register-only loop alone,
 * then two at once. The host may place the VM's two vCPUs on one physical core (SMT siblings), and
 * moves them: here two such loops ran at 98-100% of their speed alone in one hour and at 66% an
 * hour later. No two trainers can do better than that at the time, before memory comes in.
 */
async function coreScaling(): Promise<CoreScaling> {
  const run = async (n: number): Promise<number[]> => {
    const kids = Array.from({ length: n }, () => fork(__filename, ['--child', 'spin'], { execArgv: process.execArgv }));
    const reply = (k: ChildProcess) =>
      new Promise<{ ms?: number; ready?: boolean }>((resolve, reject) => {
        k.once('message', resolve);
        k.once('exit', (code) => reject(new Error(`spin child exited ${code} before replying`)));
      });
    await Promise.all(kids.map(reply)); // all loaded and warm
    const done = kids.map(reply);
    for (const k of kids) k.send('go');
    return (await Promise.all(done)).map((m) => m.ms ?? NaN);
  };
  const alone = (await run(1))[0];
  const together = Math.max(...(await run(2)));
  return { alone_ms: round(alone), together_ms: round(together) };
}

/** Round trips of `bytes` over a plain node net loopback socket to an echo process: the floor for moving the bytes. */
async function netEcho(bytes: number, warmup: number, reps: number): Promise<number[]> {
  const echo = fork(__filename, ['--child', 'echo'], { execArgv: process.execArgv });
  const port = await new Promise<number>((resolve) => echo.once('message', (m: { port: number }) => resolve(m.port)));
  const sock = net.connect(port, '127.0.0.1');
  sock.setNoDelay(true);
  await new Promise((r) => sock.once('connect', r));
  const payload = Buffer.alloc(bytes, 7);
  const ms: number[] = [];
  let got = 0;
  let waiting: (() => void) | null = null;
  sock.on('data', (d: Buffer) => {
    got += d.length;
    if (got >= bytes && waiting) {
      got -= bytes;
      const w = waiting;
      waiting = null;
      w();
    }
  });
  for (let i = 0; i < warmup + reps; i++) {
    const t0 = performance.now();
    await new Promise<void>((resolve) => {
      waiting = resolve;
      sock.write(payload);
    });
    if (i >= warmup) ms.push(performance.now() - t0);
  }
  sock.destroy();
  echo.kill();
  return ms;
}

function childEcho(): void {
  const server = net.createServer((s) => {
    s.setNoDelay(true);
    s.on('data', (d) => s.write(d));
  });
  server.listen(0, '127.0.0.1', () => process.send?.({ port: (server.address() as net.AddressInfo).port }));
}

async function exchange(a: Args, log: (s: string) => void): Promise<ExchangeRow[]> {
  const rows: ExchangeRow[] = [];
  const reps = a.quick ? 10 : 40;
  const sizes = [1_000_000, 10_000_000];
  const ways: Array<{ how: 'ring' | 'pair' | 'swap'; shared: boolean; transport: string }> = [
    { how: 'ring', shared: false, transport: 'zeromq tcp, ring all-reduce (PeerLink.allReduce)' },
    { how: 'pair', shared: false, transport: 'zeromq tcp, pair exchange (PeerLink.beginExchange, GAN_STUDY_PEER_SHM=0)' },
    { how: 'pair', shared: true, transport: 'shared memory, pair exchange (PeerLink.beginExchange on one host: /dev/shm)' },
    { how: 'swap', shared: true, transport: 'shared memory, swap (PeerLink.swap: the other\'s vector, which the job adds on its device)' },
  ];
  for (const way of ways) {
    await withPeers<{ ms: number[] }>(
      2,
      async (go) => {
        for (const bytes of sizes) {
          const replies = await go({ what: 'exchange', how: way.how, size: bytes / 4, reps, warmup: 3 });
          // An all-reduce ends when the slower rank has its sum: per call, the max over ranks.
          const ms = replies[0].ms.map((_, i) => Math.max(...replies.map((r) => r.ms[i])));
          rows.push({ bytes, transport: way.transport, p50_ms: round(median(ms)), p95_ms: round(quantile(ms, 0.95)), gb_per_s: round(bytes / 1e9 / (median(ms) / 1000)), reps });
          log(`exchange ${bytes} B ${way.transport} p50 ${rows[rows.length - 1].p50_ms} ms`);
        }
      },
      { GAN_STUDY_PEER_SHM: way.shared ? '/dev/shm' : '0' },
    );
  }
  for (const bytes of sizes) {
    const ms = await netEcho(bytes, 3, reps);
    rows.push({ bytes, transport: 'node net loopback echo (same bytes out and back)', p50_ms: round(median(ms)), p95_ms: round(quantile(ms, 0.95)), gb_per_s: round(bytes / 1e9 / (median(ms) / 1000)), reps });
    log(`exchange ${bytes} B net echo p50 ${rows[rows.length - 1].p50_ms} ms`);
  }
  return rows;
}

async function parallel(a: Args, log: (s: string) => void): Promise<{ rows: ParallelRow[]; cores: CoreScaling[]; timeline?: PairTimeline }> {
  const reps = a.quick ? 6 : 30;
  // The machine's speed drifts by the minute (a 2-trainer step took 42-55 ms within an hour here),
  // so every configuration runs once per round, the rounds one after another, and each figure is
  // the median over the rounds; the report gives the range of the rounds' efficiencies too.
  const rounds = a.rounds ?? (a.quick ? 1 : 3);
  // One trainer; one on half the batch (what a step costs that does not shrink with the batch); two
  // as a study runs them (shared memory on one host); two over zeromq tcp, as
  // trainers on different hosts would exchange; two that do not exchange at all (each steps on its
  // half of the batch): what the two cores give two trainers at all, the ceiling for the others.
  // Last, two with a whole batch each (global batch 2B): the per-replica work of one trainer, as
  // data parallelism is usually scaled (more replicas, larger global batch), for comparison.
  // All run on the same two processes (one trainer: the first of them, the other idle; tcp: over
  // their second links, which have no shared memory): two process pairs running the same code
  // differed here by 5-7% in their steps, for as long as they lived (12 of 12 rounds), which would
  // swamp the differences between configurations.
  const runs: Array<{ world: number; how: 'pair' | 'alone' | 'solo'; exchange: string; batch?: number; balance?: boolean; tcp?: boolean }> = [
    { world: 1, how: 'solo', exchange: 'none' },
    { world: 1, how: 'solo', exchange: 'none, half the batch', batch: BATCH / 2 },
    { world: 2, how: 'pair', exchange: 'shared memory' },
    { world: 2, how: 'pair', exchange: 'shared memory, shards balanced', balance: true },
    { world: 2, how: 'pair', exchange: 'zeromq tcp', tcp: true },
    { world: 2, how: 'alone', exchange: 'none (each trainer alone on its half)' },
    { world: 2, how: 'pair', exchange: `shared memory, ${BATCH} images each`, batch: 2 * BATCH },
  ];
  type Round = { step: number; exchange: number; pass: number | null; update: number | null; cpu: number; paramCount: number; exchangeLength: number; cuts: [number, number] };
  type Reply = { step: number[]; exchange: number[]; pass: number[]; update: number[]; cpu: number[]; paramCount: number; exchangeLength: number; timeline: number[] | null; notesPerStep: number; cuts: number[] };
  const measured: Round[][] = runs.map(() => []);
  const cores: CoreScaling[] = [];
  // The pair step's timeline of the study's configuration (shared memory, global batch BATCH): per round, each rank's medians and notes per step.
  const timelineRun = runs.findIndex((x) => x.exchange === 'shared memory');
  const timelines: Array<Array<{ ms: number[]; notes: number }>> = [];
  // The processes live through all rounds, so only each configuration's first round warms it up
  // (jitWarmup), as a study's trainers are warm after their first job. V8's compiling runs on
  // worker threads: one trainer has the idle core for it, two take it from each other. Later
  // rounds build a new model on the warm process; a few steps suffice.
  const peers = await startPeers<Reply>(2, { GAN_STUDY_PEER_SHM: '/dev/shm' });
  try {
    for (let r = 0; r < rounds; r++) {
      const c = await coreScaling();
      cores.push(c);
      log(`parallel round ${r + 1}/${rounds} cores: a register-only loop ${c.alone_ms} ms alone, ${c.together_ms} ms two at once (${pct(c.alone_ms / c.together_ms)})`);
      for (const [k, { world, how, exchange, batch = BATCH, balance, tcp }] of runs.entries()) {
        const all = await peers.go({ what: 'parallel', how, size: 0, reps, warmup: r === 0 ? jitWarmup(a.quick) : 5, batch, balance, tcp });
        // One trainer: the first process's steps (the other idled).
        const replies = how === 'solo' ? all.slice(0, 1) : all;
        const step = replies[0].step.map((_, i) => Math.max(...replies.map((x) => x.step[i])));
        const part = (name: 'pass' | 'update') => (replies[0][name].length ? median(replies[0][name]) : null);
        const m: Round = { step: median(step), exchange: median(replies[0].exchange), pass: part('pass'), update: part('update'), cpu: median(replies.map((x) => median(x.cpu))), paramCount: replies[0].paramCount, exchangeLength: replies[0].exchangeLength, cuts: [Math.min(...replies[0].cuts), Math.max(...replies[0].cuts)] };
        measured[k].push(m);
        if (k === timelineRun && replies.every((x) => x.timeline)) timelines.push(replies.map((x) => ({ ms: x.timeline!, notes: x.notesPerStep })));
        const cut = balance ? `, rank 0 took ${m.cuts[0] === m.cuts[1] ? m.cuts[0] : `${m.cuts[0]}-${m.cuts[1]}`} of ${batch} rows` : '';
        log(`parallel round ${r + 1}/${rounds} trainers=${world} (${exchange}): ${round(m.step)} ms/step (exchange ${round(m.exchange)} ms) ${round(batch / (m.step / 1000))} img/s, cpu ${round(m.cpu)} ms per trainer${cut}`);
      }
    }
  } finally {
    await peers.stop();
  }
  const rows = runs.map(({ world, how, exchange, batch = BATCH }, k) => {
    const ms = measured[k];
    const step = median(ms.map((m) => m.step));
    // A part of the step over the rounds; none where a configuration does not exchange.
    const partMs = (name: 'pass' | 'update'): number | undefined => {
      const xs = ms.flatMap((m) => (m[name] === null ? [] : [m[name]]));
      return xs.length ? round(median(xs)) : undefined;
    };
    return {
      trainers: world,
      exchange,
      global_batch: batch,
      step_ms: round(step),
      step_ms_by_round: ms.map((m) => round(m.step)),
      exchange_ms: round(median(ms.map((m) => m.exchange))),
      pass_ms: partMs('pass'),
      update_ms: partMs('update'),
      images_per_s: round(batch / (step / 1000)),
      cpu_ms_per_trainer: round(median(ms.map((m) => m.cpu))),
      gradient_bytes: (ms[0].paramCount + 1) * 4,
      exchanged_bytes: world === 1 || how === 'alone' ? 0 : Math.round(ms[0].exchangeLength * 4),
      reps: reps * rounds,
      ...(runs[k].balance ? { first_rows_by_round: ms.map((m) => m.cuts) } : {}),
    };
  });
  // Each point's median over the rounds, per rank.
  const timeline: PairTimeline | undefined = timelines.length
    ? {
        points: [...PAIR_STEP_POINTS],
        ms_by_rank: timelines[0].map((_, rank) => PAIR_STEP_POINTS.map((_, i) => round(median(timelines.map((t) => t[rank].ms[i])), 4))),
        rounds: timelines.length,
        notes_per_step: timelines[0].map((_, rank) => round(median(timelines.map((t) => t[rank].notes)), 3)),
      }
    : undefined;
  return { rows, cores, timeline };
}

// ---------------------------------------------------------------------------------------------
// Section 4: the quick study, end to end

interface ProcSample {
  pid: number;
  ppid: number;
  rssKiB: number;
  cpuTicks: number;
}

function readProc(pid: number): ProcSample | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = /VmRSS:\s+(\d+)/.exec(status);
    return { pid, ppid: Number(fields[1]), cpuTicks: Number(fields[11]) + Number(fields[12]), rssKiB: rss ? Number(rss[1]) : 0 };
  } catch {
    return null;
  }
}

/** The process tree under `root` (inclusive). */
function tree(root: number): ProcSample[] {
  const all = fs
    .readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map((d) => readProc(Number(d)))
    .filter((p): p is ProcSample => p !== null);
  const children = new Map<number, ProcSample[]>();
  for (const p of all) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p]);
  const out: ProcSample[] = [];
  const self = all.find((p) => p.pid === root);
  const stack = self ? [self] : [];
  while (stack.length) {
    const p = stack.pop()!;
    out.push(p);
    stack.push(...(children.get(p.pid) ?? []));
  }
  return out;
}

/** Runs the quick study with its data-set cache in `cacheDir` (empty: the first study on a machine; filled: every later one). */
async function study(a: Args, log: (s: string) => void, cacheDir: string): Promise<StudyResult> {
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-study-'));
  const bin = path.join(ROOT, 'node_modules', '@gan-study', 'coordinator', 'bin', 'study.js');
  const extra = a.quick ? ['--budgets', '50', '--gans', 'dcgan', '--repeats', '1'] : [];
  const args = ['run', '--profile', 'quick', '--run-dir', path.join(runDir, 'run'), ...extra];
  log(`study: ${['study', ...args].join(' ')}`);
  const t0 = Date.now();
  // The study process is the coordinator (study run hosts it and forks the trainers).
  const child = spawn(process.execPath, [...process.execArgv, bin, ...args], {
    cwd: ROOT,
    stdio: ['ignore', fs.openSync(path.join(runDir, 'stdout.log'), 'w'), fs.openSync(path.join(runDir, 'stderr.log'), 'w')],
    env: { ...process.env, STUDY_CACHE_DIR: cacheDir, STUDY_TSX_LOADED: '1', TSX_TSCONFIG_PATH: process.env.TSX_TSCONFIG_PATH ?? path.join(ROOT, 'tsconfig.base.json') },
  });
  const pid = child.pid!;
  const hz = 100; // USER_HZ on Linux
  let peak = 0;
  let peakProcs = 0;
  let coordTicks = 0;
  /** The last CPU ticks seen of each other process of the study (trainers), by pid. */
  const otherTicks = new Map<number, number>();
  // The coordinator's CPU after its first minute (start-up: tsx compiling the sources, dataset synthesis).
  const STARTUP_MS = 60_000;
  let startTicks: number | null = null;
  /** [time (ms since the epoch), the study process's CPU ticks], every sample. */
  const cpuSamples: Array<[number, number]> = [];
  const sample = () => {
    const t = tree(pid);
    const rss = t.reduce((s, p) => s + p.rssKiB, 0);
    if (rss > peak) peak = rss;
    peakProcs = Math.max(peakProcs, t.length);
    for (const p of t) if (p.pid !== pid) otherTicks.set(p.pid, p.cpuTicks);
    const me = t.find((p) => p.pid === pid);
    if (me) {
      coordTicks = me.cpuTicks;
      cpuSamples.push([Date.now(), me.cpuTicks]);
    }
    if (me && startTicks === null && Date.now() - t0 >= STARTUP_MS) startTicks = me.cpuTicks;
  };
  let known = new Set<number>();
  const timer = setInterval(() => {
    sample();
    known = new Set([...known, ...tree(pid).map((p) => p.pid)]);
  }, 500);
  let timedOut = false;
  const deadline = setTimeout(() => {
    timedOut = true;
    log(`study: still running after ${a.studyTimeoutMin} min (--study-timeout-min); stopping it`);
    child.kill('SIGTERM');
  }, a.studyTimeoutMin * 60_000);
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c, sig) => resolve(c ?? (sig ? 128 + (os.constants.signals[sig] ?? 0) : null))));
  clearInterval(timer);
  clearTimeout(deadline);
  // Trainers the study started and left behind (they outlive a killed coordinator): stop them by pid.
  await new Promise((r) => setTimeout(r, 3000));
  // Only processes that are still this study's (pids can be reused): a trainer or study command line.
  const ours = (p: number) => {
    try {
      return /apps\/trainer|coordinator\/bin\/study/.test(fs.readFileSync(`/proc/${p}/cmdline`, 'utf8'));
    } catch {
      return false;
    }
  };
  const orphans = [...known].filter((p) => p !== pid && readProc(p) !== null && ours(p));
  for (const p of orphans) {
    try {
      process.kill(p, 'SIGTERM');
    } catch {
      // already gone
    }
  }
  let counts: Record<string, number> = {};
  try {
    counts = (JSON.parse(fs.readFileSync(path.join(runDir, 'run', 'status.json'), 'utf8')) as { counts: Record<string, number> }).counts;
  } catch {
    // no status written
  }
  const wall = (Date.now() - t0) / 1000;
  const { split, dataCache } = coordinatorPhases(path.join(runDir, 'run', 'coordinator.log'), cpuSamples, coordTicks, hz);
  const out = fs.readFileSync(path.join(runDir, 'stdout.log'), 'utf8') + fs.readFileSync(path.join(runDir, 'stderr.log'), 'utf8');
  const jobs = /(\d+)\s+jobs?/.exec(out)?.[0] ?? 'see the run directory';
  const r: StudyResult = {
    profile: a.quick ? `quick (${extra.join(' ')})` : 'quick',
    exit_code: code,
    wall_s: round(wall, 4),
    peak_rss_mib: round(peak / 1024, 4),
    peak_processes: peakProcs,
    coordinator_cpu_s: round(coordTicks / hz, 4),
    trainers_cpu_s: round([...otherTicks.values()].reduce((x, y) => x + y, 0) / hz, 4),
    coordinator_cpu_fraction: round(coordTicks / hz / wall),
    coordinator_cpu_fraction_after_start: startTicks === null ? null : round((coordTicks - startTicks) / hz / (wall - STARTUP_MS / 1000)),
    coordinator_cpu_split: split,
    data_cache: dataCache,
    run_dir: runDir,
    jobs,
    timed_out: timedOut,
    job_counts: counts,
    orphans_left: orphans.length,
  };
  log(`study: exit ${code}, ${r.wall_s} s wall, peak ${r.peak_rss_mib} MiB over ${peakProcs} processes, coordinator ${r.coordinator_cpu_s} s CPU (${(100 * r.coordinator_cpu_fraction).toFixed(1)}% of a core)`);
  if (split) log(`study: coordinator CPU start-up ${split.startup_s} s, steady ${split.steady_s} s (${(100 * split.steady_fraction).toFixed(1)}% of a core), results and report ${split.report_s} s; data set cache ${dataCache}`);
  return r;
}

/** Splits the coordinator's CPU at its log's first job start and the study's end (see StudyResult.coordinator_cpu_split). */
function coordinatorPhases(logFile: string, samples: Array<[number, number]>, totalTicks: number, hz: number): { split: StudyResult['coordinator_cpu_split']; dataCache: string } {
  let events: Array<{ time?: string; event?: string; msg?: string }> = [];
  try {
    events = fs
      .readFileSync(logFile, 'utf8')
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l) as { time?: string; event?: string; msg?: string });
  } catch {
    // no log: nothing to split by
  }
  // The coordinator's own notes, and what trainers log of the data set they make (job-log lines, 'job ID: ...').
  const notes = events.filter((e) => e.event === 'note' || e.event === 'job-log').map((e) => (e.msg ?? '').replace(/^job \S+: /, ''));
  const reused = notes.some((m) => /^synthetic dataset .* reused at /.test(m));
  const made = notes.some((m) => /^synthetic dataset .* written at /.test(m));
  const hit = notes.some((m) => /^data cache hit /.test(m));
  const wrote = notes.some((m) => /^data cache write /.test(m));
  // Cold: this run made the set and decoded it (a second trainer then reads what the first wrote,
  // a hit that does not make it warmer); warm: it made and decoded nothing.
  const dataCache = made && wrote ? 'cold' : !made && !wrote && hit ? 'warm' : made || wrote || hit || reused ? 'partly' : 'unknown';
  // Start-up ends when the first job has started and the data set is ready (first sent: on a cold
  // cache it is decoded when the first job asks for it).
  const jobStart = events.find((e) => e.event === 'job-start')?.time;
  const dataSent = events.find((e) => e.event === 'dataset-sent')?.time;
  const firstJob = jobStart && dataSent && Date.parse(dataSent) > Date.parse(jobStart) ? dataSent : jobStart;
  const finished = events.find((e) => e.event === 'study-finished')?.time;
  if (!firstJob || !finished || samples.length === 0) return { split: null, dataCache };
  const ticksAt = (iso: string): number => {
    const t = Date.parse(iso);
    let ticks = 0;
    for (const [when, v] of samples) if (when <= t) ticks = v;
    return ticks;
  };
  const a = ticksAt(firstJob);
  const b = ticksAt(finished);
  const steadyWall = (Date.parse(finished) - Date.parse(firstJob)) / 1000;
  return {
    split: { startup_s: round(a / hz, 4), steady_s: round((b - a) / hz, 4), steady_fraction: steadyWall > 0 ? round((b - a) / hz / steadyWall) : 0, report_s: round((totalTicks - b) / hz, 4) },
    dataCache,
  };
}

// ---------------------------------------------------------------------------------------------
// Machine facts and the report

function machine(): Record<string, unknown> {
  const torch = spawnSync(PYTHON, ['-c', 'import torch; print(torch.__version__, torch.get_num_threads())'], { encoding: 'utf8' });
  return {
    date: new Date().toISOString(),
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memory_gib: round(os.totalmem() / 2 ** 30),
    load_average_at_start: os.loadavg().map((x) => round(x)),
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    tfjs: tf.version.tfjs,
    torch: torch.status === 0 ? torch.stdout.trim().split(' ')[0] : 'not installed',
    torch_default_threads: torch.status === 0 ? Number(torch.stdout.trim().split(' ')[1]) : null,
    torch_blas: `${blasLibrary()}${isReferenceBlas(blasLibrary()) ? ' (the reference BLAS: PyTorch is slower than it should be)' : ''}`,
  };
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const log = (s: string) => console.log(`bench ${s}`);
  // Children (engine steps, peers) run with the trainers' malloc settings, as `study` starts them;
  // glibc reads them at start-up, so they are set for the children, not for this process.
  for (const [k, v] of Object.entries(TRAINER_MALLOC_ENV)) process.env[k] ??= v;
  const jsonPath = path.join(a.out, 'benchmarks.json');

  // PyTorch (and its BLAS) first: the machine's facts name them.
  if (a.only.includes('throughput')) ensureTorch(log);
  const facts = machine();
  log(`machine ${JSON.stringify(facts)}`);
  const results: Results = { machine: facts, quick: a.quick };
  // Re-read before each write and replace only this run's sections, so runs of other sections at the
  // same time (e.g. the long study section) keep theirs.
  const mine = new Set<string>();
  const save = async () => {
    fs.mkdirSync(a.out, { recursive: true });
    const onDisk: Partial<Results> = fs.existsSync(jsonPath) ? (JSON.parse(fs.readFileSync(jsonPath, 'utf8')) as Partial<Results>) : {};
    // PyTorch's facts are those of the run that measured it (a run without the throughput section
    // does not install it, and would report it missing).
    const torchRun = mine.has('throughput') ? facts : (onDisk.throughput?.machine ?? facts);
    const torchFacts = Object.fromEntries(['torch', 'torch_default_threads', 'torch_blas'].map((k) => [k, torchRun[k]]));
    const merged = { ...onDisk, machine: { ...facts, ...torchFacts }, quick: a.quick, commit: spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).stdout.trim() } as Results;
    for (const key of mine) (merged as Record<string, unknown>)[key] = (results as Record<string, unknown>)[key];
    // Per-model sections keep the rows of models this run did not measure (--models).
    if (mine.has('throughput') && results.throughput && onDisk.throughput) {
      const kept = onDisk.throughput.rows.filter((x) => !a.models.includes(x.model));
      const keptWhy = Object.fromEntries(Object.entries(onDisk.throughput.unavailable).filter(([k]) => !a.models.some((m) => k.endsWith(` ${m}`))));
      merged.throughput = { ...results.throughput, rows: [...kept, ...results.throughput.rows], unavailable: { ...keptWhy, ...results.throughput.unavailable } };
    }
    if (mine.has('profile') && results.profile && onDisk.profile) {
      merged.profile = { ...results.profile, models: [...onDisk.profile.models.filter((x) => !a.models.includes(x.model)), ...results.profile.models] };
    }
    await writeJsonAtomic(jsonPath, merged);
    await writeFileAtomic(path.join(a.out, 'benchmarks.md'), report(merged) + '\n');
  };
  const stamp = { ...facts };
  if (a.only.includes('memory')) {
    await initBackend('wasm');
    mine.add('memory');
    results.memory = { models: paperMemory() };
    await save();
  }
  if (a.only.includes('throughput')) {
    mine.add('throughput');
    results.throughput = {
      ...(await throughput(a, log, async (partial) => {
        results.throughput = { ...partial, machine: stamp };
        await save();
      })),
      machine: stamp,
    };
    await save();
  }
  if (a.only.includes('profile')) {
    mine.add('profile');
    results.profile = { models: await profile(a, log), machine: stamp };
    await save();
  }
  if (a.only.includes('exchange')) {
    mine.add('exchange');
    results.exchange = { rows: await exchange(a, log), machine: stamp };
    await save();
  }
  if (a.only.includes('parallel')) {
    mine.add('parallel');
    results.parallel = { ...(await parallel(a, log)), machine: stamp };
    await save();
  }
  if (a.only.includes('study')) {
    mine.add('study');
    mine.add('study_warm');
    const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-data-cache-'));
    try {
      results.study = { ...(await study(a, log, cache)), machine: stamp };
      await save();
      results.study_warm = { ...(await study(a, log, cache)), machine: stamp };
      await save();
    } finally {
      fs.rmSync(cache, { recursive: true, force: true });
    }
  }
  log(`wrote ${jsonPath} and benchmarks.md`);
}

async function child(args: string[]): Promise<void> {
  const [kind, ...rest] = args;
  if (kind === 'profile') {
    const [model, backend, warmup] = rest;
    console.log(JSON.stringify(await childProfile(model as ModelKind, backend, Number(warmup))));
  } else if (kind === 'step') {
    const [model, backend, warmup, reps] = rest;
    console.log(JSON.stringify(await childStep(model as ModelKind, backend, Number(warmup), Number(reps))));
  } else if (kind === 'peer') await peerWorker();
  else if (kind === 'echo') childEcho();
  else if (kind === 'spin') childSpin();
  else throw new Error(`unknown child '${kind}'`);
}

const i = process.argv.indexOf('--child');
(i >= 0 ? child(process.argv.slice(i + 1)) : main()).catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
