/**
 * The trainer process's command line (`study trainer ...` and `study run` start it):
 *
 *   trainer --connect tcp://HOST:PORT [--gpu K] [--id NAME] [--backend auto] [--peer-host HOST]
 *           [--peer-bind tcp://0.0.0.0:*] [--data DIR] [--cache-dir DIR|off] [--dry-run] [--exit-with-parent]
 *
 * A study on the synthetic set: the trainer makes the set itself from the recipe in the
 * coordinator's welcome, in its cache (--cache-dir, default as `study run`'s: $STUDY_CACHE_DIR, else
 * $XDG_CACHE_HOME/gan-study, else ~/.cache/gan-study), one process per host at a time, and decodes
 * it there; with `--cache-dir off`, or when its sharp build would encode other bytes, it asks the
 * coordinator for the images instead.
 *
 * `--gpu K` sets CUDA_VISIBLE_DEVICES=K before the engine (and so TensorFlow) loads; the trainer
 * then logs the device it actually got. Only this app and the coordinator app read argv and env.
 */
import { Command, InvalidArgumentError } from 'commander';
import * as os from 'os';
import { studyCacheDir } from '@gan-study/core';
import { createTrainerLog } from './log';
import { TrainerService, type JobRunner, type TrainerOptions } from './service';
import { dryRunRunner } from './dry-run';

export interface TrainerCliOptions {
  connect: string;
  id?: string;
  gpu?: string;
  backend: string;
  peerBind: string;
  peerHost?: string;
  noPeer?: boolean;
  data?: string;
  cacheDir?: string;
  dryRun?: boolean;
  dryRunSteps: number;
  dryRunStepMs: number;
  exitWithParent?: boolean;
  giveUpAfter?: number;
  logJson?: boolean;
  quiet?: boolean;
}

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`expected a non-negative integer, got '${v}'`);
  return n;
}

export function trainerProgram(): Command {
  return new Command('study trainer')
    .description('a trainer process: connects to a coordinator and runs the jobs it is given')
    .requiredOption('--connect <endpoint>', 'the coordinator, e.g. tcp://node1:5555')
    .option('--id <name>', 'trainer id (default: HOST-PID)')
    .option('--gpu <k>', 'pin this trainer to GPU k (sets CUDA_VISIBLE_DEVICES before the backend loads)')
    .option('--backend <name>', 'auto, tensorflow-gpu, tensorflow, wasm or cpu', 'auto')
    .option('--peer-bind <endpoint>', 'where the ring all-reduce socket binds', 'tcp://0.0.0.0:*')
    .option('--peer-host <host>', 'host name other trainers reach this one at (default: this host name)')
    .option('--no-peer', 'no peer socket: data-parallel all-reduce goes through the coordinator')
    .option('--data <dir>', 'read the dataset from this (shared) folder instead of receiving it from the coordinator (decoded sets kept in --cache-dir)')
    .option('--cache-dir <dir>', "where this trainer makes the synthetic set and keeps decoded sets; 'off': ask the coordinator for the images (default: $STUDY_CACHE_DIR, else $XDG_CACHE_HOME/gan-study, else ~/.cache/gan-study)")
    .option('--dry-run', 'run fake jobs (no model): checks the plumbing')
    .option('--dry-run-steps <n>', 'steps per dry-run job', positiveInt, 6)
    .option('--dry-run-step-ms <ms>', 'time per dry-run step', positiveInt, 50)
    .option('--exit-with-parent', 'exit when the process that started this one dies (local trainers of `study run`)')
    .option('--give-up-after <s>', 'exit when no coordinator answered for this many seconds', positiveInt)
    .option('--log-json', 'JSON log lines instead of the compact form')
    .option('--quiet', 'after the device line, log only warnings (local trainers: the coordinator logs their jobs)')
    .exitOverride();
}

/** Makes the welcome's synthetic set in the trainer's cache (null without one: the trainer asks the coordinator). */
export function syntheticSetMaker(cacheOpt: string | undefined, env: NodeJS.ProcessEnv = process.env): TrainerOptions['makeSyntheticSet'] {
  const cacheDir = trainerCacheDir(cacheOpt, env);
  if (cacheDir === null) return null;
  return async (set, size, note) => {
    const data = await import('@gan-study/data');
    const own = data.synthKey(set.recipe);
    if (own !== set.key) return { unavailable: `the recipe's key here is ${own}, the coordinator's ${set.key} (another generator or sharp build, which would write other bytes)` };
    const out = data.cachedSynthPath(cacheDir, set.key);
    const started = Date.now();
    const made = await data.ensureSynthSet(out, set.recipe, { cached: true, log: (line) => note(line) });
    if (!made.reused) note(`synthetic dataset (seed ${made.seed}, ${made.size}px) written at ${out} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return data.loadImageFolder(out, { size, cacheDir, log: note });
  };
}

/** The trainer's cache: the same rules as `study run`'s, --cache-dir standing for $STUDY_CACHE_DIR. */
function trainerCacheDir(cacheOpt: string | undefined, env: NodeJS.ProcessEnv): string | null {
  return studyCacheDir(cacheOpt !== undefined ? { ...env, STUDY_CACHE_DIR: cacheOpt } : env);
}

/**
 * Reads the data set from a folder this trainer sees (--data), decoded sets kept in its cache
 * (`study run` gives its local trainers the study's folder: the coordinator then decodes nothing).
 */
export function folderLoader(root: string, cacheOpt: string | undefined, env: NodeJS.ProcessEnv = process.env): NonNullable<TrainerOptions['localDataset']> {
  const cacheDir = trainerCacheDir(cacheOpt, env);
  return async (size, note) => {
    const data = await import('@gan-study/data');
    return data.loadImageFolder(root, { size, ...(cacheDir !== null ? { cacheDir } : {}), log: note });
  };
}

export async function runTrainer(opts: TrainerCliOptions): Promise<string> {
  // Before anything loads TensorFlow: the GPU this trainer may see.
  if (opts.gpu !== undefined) {
    if (!/^\d+$/.test(opts.gpu)) throw new InvalidArgumentError(`--gpu expects a GPU index, got '${opts.gpu}'`);
    process.env.CUDA_VISIBLE_DEVICES = opts.gpu;
  }
  const host = os.hostname();
  const id = opts.id ?? `${host}-${process.pid}`;
  const log = createTrainerLog({ id, json: Boolean(opts.logJson) });
  let runner: JobRunner;
  let backend: string;
  let device: string;
  if (opts.dryRun) {
    runner = dryRunRunner({ steps: opts.dryRunSteps, stepMs: opts.dryRunStepMs });
    backend = 'dry-run';
    device = 'none (dry run)';
  } else {
    // Loaded only now, after CUDA_VISIBLE_DEVICES is set.
    const models = await import('@gan-study/models');
    const info = await models.initBackend(opts.backend as Parameters<typeof models.initBackend>[0], { log: (line: string) => log.info({ event: 'backend', trainer: id, host, job: null }, line) });
    backend = info.backend;
    device = info.devices.join('; ') || info.backend;
    runner = (await import('./jobs')).runJob;
  }
  log.info(
    { event: 'device', trainer: id, host, device, backend, job: null, cudaVisibleDevices: process.env.CUDA_VISIBLE_DEVICES ?? null },
    `trainer ${id} on ${host}: backend ${backend}, device ${device}` + (process.env.CUDA_VISIBLE_DEVICES !== undefined ? ` (CUDA_VISIBLE_DEVICES=${process.env.CUDA_VISIBLE_DEVICES})` : ''),
  );
  if (opts.quiet) log.level = 'warn';
  const service = new TrainerService({
    connect: opts.connect,
    id,
    info: { host, pid: process.pid, device, backend, gpu: process.env.CUDA_VISIBLE_DEVICES ?? null },
    runner,
    log,
    peerBind: opts.noPeer === true ? null : opts.peerBind,
    peerHost: opts.peerHost ?? (opts.peerBind.includes('127.0.0.1') ? '127.0.0.1' : host),
    localDataset: opts.data ? folderLoader(opts.data, opts.cacheDir) : null,
    makeSyntheticSet: syntheticSetMaker(opts.cacheDir),
    giveUpAfterMs: opts.giveUpAfter !== undefined ? opts.giveUpAfter * 1000 : null,
  });
  const stopOn = (signal: NodeJS.Signals): void => {
    process.once(signal, () => void service.stop(`got ${signal}`));
  };
  stopOn('SIGINT');
  stopOn('SIGTERM');
  let watch: NodeJS.Timeout | null = null;
  if (opts.exitWithParent) {
    const parent = process.ppid;
    watch = setInterval(() => {
      if (process.ppid !== parent) void service.stop('parent process gone');
    }, 500);
  }
  await service.start();
  const reason = await service.done;
  if (watch) clearInterval(watch);
  return reason;
}

export async function main(argv: string[]): Promise<void> {
  const program = trainerProgram();
  program.parse(argv, { from: 'user' });
  const o = program.opts<TrainerCliOptions & { peer?: boolean }>();
  await runTrainer({ ...o, noPeer: o.peer === false });
}
