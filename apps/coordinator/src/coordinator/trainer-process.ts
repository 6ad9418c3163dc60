/**
 * Starting trainer processes. The trainer app is never imported by the coordinator: it runs as its
 * own process, `node --import tsx apps/trainer/src/main.ts ...`, with the workspace's path map (as
 * bin/study.js does for the `study` command). `--import` installs tsx's hooks for both require() and
 * import(); `--require tsx/cjs` alone would leave dynamic import() of workspace modules unresolved.
 */
import { spawn, type ChildProcess, type StdioOptions } from 'child_process';
import * as path from 'path';
import { pathToFileURL } from 'url';
import { TRAINER_MALLOC_ENV } from '@gan-study/core';

/** The repository root (this file is apps/coordinator/src/coordinator/trainer-process.ts). */
export const REPO_ROOT = path.resolve(__dirname, '..', '..', '..', '..');
export const TRAINER_MAIN = path.join(REPO_ROOT, 'apps', 'trainer', 'src', 'main.ts');

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
