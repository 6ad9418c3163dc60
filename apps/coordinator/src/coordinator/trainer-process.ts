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

export interface SpawnTrainerOptions {
  args: string[];
  /** Extra environment (e.g. CUDA_VISIBLE_DEVICES). */
  env?: Record<string, string | undefined>;
  stdio?: StdioOptions;
}

export function spawnTrainer(opts: SpawnTrainerOptions): ChildProcess {
  return spawn(process.execPath, ['--import', pathToFileURL(require.resolve('tsx')).href, TRAINER_MAIN, ...opts.args], {
    env: { ...process.env, TSX_TSCONFIG_PATH: path.join(REPO_ROOT, 'tsconfig.base.json'), ...opts.env },
    stdio: opts.stdio ?? ['ignore', 'inherit', 'inherit'],
  });
}
