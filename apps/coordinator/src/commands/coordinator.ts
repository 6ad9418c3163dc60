/**
 * `study coordinator`: the coordinator alone, for several hosts; trainers join with `study trainer`.
 *
 *   npx study coordinator --bind tcp://0.0.0.0:5555 --profile quick [--min-trainers 4] [--run-dir DIR]
 *   npx study coordinator --bind tcp://0.0.0.0:5555 --resume DIR
 */
import { Command, Option } from 'commander';
import { UserInputError, studyCacheDir } from '@gan-study/core';
import { addConfigOptions } from '../config-cli';
import { runStudy } from '../coordinator/study';
import { DATA_CACHE_HELP, configFor, type RunOptions } from './run';

interface CoordinatorCliOptions extends RunOptions {
  minTrainers: string;
  keepTrainers?: boolean;
}

export function register(program: Command): void {
  addConfigOptions(
    program
      .command('coordinator')
      .description('run the coordinator alone; trainers on any host join with `study trainer --connect`')
      .option('--bind <endpoint>', 'endpoint to listen on, e.g. tcp://0.0.0.0:5555', 'tcp://0.0.0.0:5555')
      .option('--resume <dir>', 'continue the run in DIR without re-running its finished jobs')
      .option('--min-trainers <n>', 'start scheduling once this many trainers joined', '1')
      .option('--keep-trainers', 'do not tell trainers to exit when the study is over')
      .option('--http <port>', 'serve the live status page (and /status JSON) on this port; 0: any free port')
      .addOption(new Option('--all-reduce <how>', 'data-parallel gradient all-reduce').choices(['ring', 'coordinator']))
      .addHelpText('after', DATA_CACHE_HELP),
  ).action(async (opts: CoordinatorCliOptions) => {
    const print = (s: string): void => void process.stdout.write(s + '\n');
    const minTrainers = Number(opts.minTrainers);
    if (!Number.isInteger(minTrainers) || minTrainers < 1) throw new UserInputError(`--min-trainers: expected a positive integer, got '${opts.minTrainers}'`);
    const config = await configFor({ ...opts, dryRunSteps: '0', dryRunStepMs: '0' }, print);
    const outcome = await runStudy({
      config,
      resume: Boolean(opts.resume),
      bind: opts.bind,
      local: null,
      minTrainers,
      shutdownTrainers: !opts.keepTrainers,
      console: process.stderr,
      cacheDir: studyCacheDir(process.env),
      onListening: (address) => print(`coordinator listening on ${address}; start trainers with: npx study trainer --connect tcp://<this host>:${address.split(':').pop()}`),
    });
    print(`results: ${outcome.resultsFile ?? '(none)'}`);
    if (outcome.failed.length > 0) process.exitCode = 1;
  });
}
