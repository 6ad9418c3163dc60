/**
 * `study run`: the whole study on this host — the coordinator plus N local trainer processes.
 *
 *   npx study run [--profile smoke|quick|paper] [--trainers N] [--gpus 0,1] [--data DIR] [--set k=v]...
 *   npx study run --resume DIR          continue a run after a crash, without re-running finished jobs
 *   npx study run --dry-run             fake jobs (no model): checks the plumbing in seconds
 *
 * The synthetic set and decoded data sets are cached between studies (STUDY_CACHE_DIR, default
 * ~/.cache/gan-study; see coordinator/dataset.ts), so only the first study of a recipe makes them.
 */
import { Command, Option } from 'commander';
import { UserInputError, studyCacheDir } from '@gan-study/core';
import type { StudyConfig } from '@gan-study/protocol';
import { addConfigOptions, announceConfig, resolveFromCli, type ConfigCliOptions } from '../config-cli';
import { readSavedConfig, runStudy } from '../coordinator/study';

export interface RunOptions extends ConfigCliOptions {
  resume?: string;
  bind: string;
  allReduce?: string;
  dryRun?: boolean;
  dryRunSteps: string;
  dryRunStepMs: string;
  http?: string;
}

function int(flag: string, v: string, min: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new UserInputError(`${flag}: expected an integer >= ${min}, got '${v}'`);
  return n;
}

/** The config for this invocation: a fresh resolved one, or the saved one of the run to resume (with --trainers/--gpus applied). */
export async function configFor(opts: RunOptions, print: (s: string) => void): Promise<StudyConfig> {
  if (opts.resume) {
    const config = await readSavedConfig(opts.resume);
    if (opts.trainers !== undefined) config.trainers = int('--trainers', opts.trainers, 1);
    if (opts.gpus !== undefined) {
      config.gpus = opts.gpus.split(',').map((g) => int('--gpus', g.trim(), 0));
      if (opts.trainers === undefined) config.trainers = config.gpus.length;
    }
    if (opts.http !== undefined) config.http = int('--http', opts.http, 0);
    print(`resuming the run in ${config.runDir} (profile ${config.profile}, its saved config)`);
    return config;
  }
  const resolved = resolveFromCli(opts);
  if (opts.http !== undefined) {
    resolved.config.http = int('--http', opts.http, 0);
    resolved.sources.http = 'flag';
  }
  if (opts.allReduce !== undefined) {
    resolved.config.allReduce = opts.allReduce as StudyConfig['allReduce'];
    resolved.sources.allReduce = 'flag';
  }
  await announceConfig(resolved, print);
  return resolved.config;
}

/** The environment variable of the data-set cache, for the commands that run a study. */
export const DATA_CACHE_HELP = `
Environment:
  STUDY_CACHE_DIR  where synthetic and decoded data sets are kept between studies
                   (default $XDG_CACHE_HOME/gan-study or ~/.cache/gan-study; 'off':
                   inside each run directory)`;

export function register(program: Command): void {
  addConfigOptions(
    program
      .command('run')
      .description('run the whole study: a coordinator and local trainer processes (one per core or GPU)')
      .option('--resume <dir>', 'continue the run in DIR without re-running its finished jobs')
      .option('--bind <endpoint>', 'coordinator endpoint (trainers on other hosts may join when it is not loopback)', 'tcp://127.0.0.1:*')
      .addOption(new Option('--all-reduce <how>', 'data-parallel gradient all-reduce').choices(['ring', 'coordinator']))
      .option('--http <port>', 'serve the live status page (and /status JSON) on this port; 0: any free port')
      .option('--dry-run', 'fake jobs (no model), to check the plumbing')
      .option('--dry-run-steps <n>', 'steps per dry-run job', '6')
      .option('--dry-run-step-ms <ms>', 'time per dry-run step', '50')
      .addHelpText('after', DATA_CACHE_HELP),
  ).action(async (opts: RunOptions) => {
    const print = (s: string): void => void process.stdout.write(s + '\n');
    const config = await configFor(opts, print);
    const outcome = await runStudy({
      config,
      resume: Boolean(opts.resume),
      bind: opts.bind,
      local: {
        count: config.trainers,
        gpus: config.gpus,
        backend: config.backend,
        dryRun: opts.dryRun ? { steps: int('--dry-run-steps', opts.dryRunSteps, 1), stepMs: int('--dry-run-step-ms', opts.dryRunStepMs, 0) } : null,
      },
      minTrainers: config.trainers,
      shutdownTrainers: true,
      console: process.stderr,
      cacheDir: studyCacheDir(process.env),
    });
    print(`results: ${outcome.resultsFile ?? '(none)'}`);
    if (outcome.failed.length > 0) {
      process.stderr.write(`study: ${outcome.failed.length} job(s) failed: ${outcome.failed.map((f) => f.job).join(', ')}; see ${config.runDir}/coordinator.log\n`);
      process.exitCode = 1;
    }
  });
}
