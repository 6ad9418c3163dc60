/**
 * Starting trainer processes. The trainer app is never imported by the coordinator: it runs as its
 * own process, `node --import tsx apps/trainer/src/main.ts ...`, with the workspace's path map (as
 * bin/study.js does for the `study` command). `--import` installs tsx's hooks for both require() and
 * import(); `--require tsx/cjs` alone would leave dynamic import() of workspace modules unresolved.
 */
import { spawn, type ChildProcess, type StdioOptions } from 'child_process';
import * as path from 'path';
import { pathToFileURL } from 'url';

/** The repository root (this file is apps/coordinator/src/coordinator/trainer-process.ts). */
export const REPO_ROOT = path.resolve(__dirname, '..', '..', '..', '..');
export const TRAINER_MAIN = path.join(REPO_ROOT, 'apps', 'trainer', 'src', 'main.ts');

/**
 * glibc malloc settings for trainers (read once, when a process starts; bin/study.js sets the same
 * for the `study` process itself). By default glibc serves an allocation of 128 KiB or more with a
 * fresh mmap (a threshold it raises, up to 32 MiB, only as such blocks are freed) and trims a free
 * heap top beyond 128 KiB, so the few-MB buffers of every step (a gradient read back from the
 * backend, a received ZeroMQ frame, a V8 ArrayBuffer) tend to be fresh memory, page-faulted in
 * 4 KiB at a time. On our VMs that is expensive: touching 10 MB of fresh memory costs ~41 ms, of
 * reused memory 0.6 ms. A fixed mmap threshold of 32 MiB serves such buffers from the heap, and a
 * trim threshold of 256 MiB keeps freed memory for the next step. Measured on a 2-trainer,
 * 64 px classifier step with a fresh gradient array per step: 2000-4000 page faults per step down
 * to under 10, CPU per trainer ~300 to ~250 ms; with the job's one array per job and in-place ring
 * it is within the noise (~5%). The price: a resident set that does not shrink by up to 256 MiB
 * after a peak. A value the user set (in the environment or `env`) wins.
 */
export const TRAINER_MALLOC_ENV: Readonly<Record<string, string>> = {
  MALLOC_MMAP_THRESHOLD_: '33554432',
  MALLOC_TRIM_THRESHOLD_: '268435456',
};

export interface SpawnTrainerOptions {
  args: string[];
  /** Extra environment (e.g. CUDA_VISIBLE_DEVICES). */
  env?: Record<string, string | undefined>;
  stdio?: StdioOptions;
}

/** A trainer's environment: ours, the malloc settings unless set, tsx's path map, then `extra`. */
export function trainerEnv(base: NodeJS.ProcessEnv, extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  return { ...TRAINER_MALLOC_ENV, ...base, TSX_TSCONFIG_PATH: path.join(REPO_ROOT, 'tsconfig.base.json'), ...extra };
}

export function spawnTrainer(opts: SpawnTrainerOptions): ChildProcess {
  return spawn(process.execPath, ['--import', pathToFileURL(require.resolve('tsx')).href, TRAINER_MAIN, ...opts.args], {
    env: trainerEnv(process.env, opts.env),
    stdio: opts.stdio ?? ['ignore', 'inherit', 'inherit'],
  });
}
