/**
 * The study config from the command line: `--profile`, `--config FILE`, named flags for the common
 * settings, and `--set key.path=value` for any other key. Used by `study run` and `study coordinator`.
 */
import { Command, Option } from 'commander';
import { readFileSync } from 'fs';
import * as path from 'path';
import { readJson, UserInputError, writeJsonAtomic } from '@gan-study/core';
import { configRecord, formatConfig, parseAssignment, PROFILES, resolveConfig, type ResolvedConfig, type StudyConfig } from '@gan-study/protocol';

export interface ConfigCliOptions {
  profile?: string;
  config?: string;
  set?: string[];
  data?: string;
  budgets?: string;
  gans?: string;
  repeats?: string;
  trainers?: string;
  gpus?: string;
  backend?: string;
  seed?: string;
  runDir?: string;
  dataParallel?: string;
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** Adds the config flags to a command. */
export function addConfigOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--profile <name>', 'config profile').choices([...PROFILES]))
    .option('--config <file>', 'JSON file of config overrides (applied after the profile, before flags)')
    .option('--set <key=value>', 'override any config key, e.g. --set classifier.epochs=4 (repeatable)', collect)
    .option('--data <dir>', 'image folder (ROOT/{train,test}/CLASS/*.jpg); default: the embedded synthetic set')
    .option('--budgets <list>', 'real minority images kept, e.g. 50,100,200,500')
    .option('--gans <list>', 'GANs to compare, e.g. dcgan,pggan,cyclegan')
    .option('--repeats <n>', 'classifier runs per scenario, with different seeds')
    .option('--trainers <n>', 'local trainer processes')
    .option('--gpus <list>', 'pin trainer i to GPU gpus[i], e.g. 0,1,2,3')
    .option('--backend <name>', 'auto, tensorflow-gpu, tensorflow, wasm or cpu')
    .option('--seed <n>', 'master seed')
    .option('--data-parallel <k>', 'trainers per classifier job')
    .option('--run-dir <dir>', 'run directory (default: runs/<profile>-<time>)');
}

function intList(flag: string, text: string): number[] {
  return text.split(',').map((part) => {
    const n = Number(part.trim());
    if (part.trim() === '' || !Number.isFinite(n)) throw new UserInputError(`${flag}: '${part}' in '${text}' is not a number`);
    return n;
  });
}

function number(flag: string, text: string): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n)) throw new UserInputError(`${flag}: '${text}' is not a number`);
  return n;
}

/** Resolves profile + file + flags; the run directory defaults to a fresh timestamped one. */
export function resolveFromCli(opts: ConfigCliOptions, now = new Date()): ResolvedConfig {
  const flags: Array<Record<string, unknown>> = [];
  if (opts.data !== undefined) flags.push({ dataset: { path: path.resolve(opts.data) } });
  if (opts.budgets !== undefined) flags.push({ budgets: intList('--budgets', opts.budgets) });
  if (opts.gans !== undefined) flags.push({ gans: opts.gans.split(',').map((s) => s.trim()).filter(Boolean) });
  if (opts.repeats !== undefined) flags.push({ repeats: number('--repeats', opts.repeats) });
  if (opts.trainers !== undefined) flags.push({ trainers: number('--trainers', opts.trainers) });
  if (opts.gpus !== undefined) flags.push({ gpus: intList('--gpus', opts.gpus) });
  if (opts.backend !== undefined) flags.push({ backend: opts.backend });
  if (opts.seed !== undefined) flags.push({ seed: number('--seed', opts.seed) });
  if (opts.dataParallel !== undefined) flags.push({ dataParallel: number('--data-parallel', opts.dataParallel) });
  for (const assignment of opts.set ?? []) flags.push(parseAssignment(assignment));
  // --gpus without --trainers: one trainer per GPU.
  if (opts.gpus !== undefined && opts.trainers === undefined) flags.push({ trainers: intList('--gpus', opts.gpus).length });

  let file: { path: string; contents: unknown } | undefined;
  if (opts.config !== undefined) {
    let text: string;
    try {
      text = readFileSync(opts.config, 'utf8');
    } catch (err) {
      throw new UserInputError(`--config ${opts.config}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    try {
      file = { path: opts.config, contents: JSON.parse(text) };
    } catch (err) {
      throw new UserInputError(`--config ${opts.config}: not valid JSON: ${(err as Error).message}`);
    }
  }
  const resolved = resolveConfig({ profile: opts.profile, file, flags });
  // Every profile's own model settings are valid (config-cli.spec checks them); only an override can break them.
  if (overridesModels(resolved.sources)) validateModelOverrides(resolved.config);
  if (opts.runDir !== undefined) {
    resolved.config.runDir = path.resolve(opts.runDir);
    resolved.sources.runDir = 'flag';
  } else if (!resolved.sources.runDir) {
    const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');
    resolved.config.runDir = path.resolve('runs', `${resolved.config.profile}-${stamp}`);
  }
  return resolved;
}

/** Config keys the models' validation reads (validateModelOverrides). */
const MODEL_KEYS = ['classifier', 'dcgan', 'pggan', 'cyclegan', 'imageSize', 'ganResolution'];

/** Whether a file or flag set any key the models' validation reads. */
export function overridesModels(sources: Record<string, unknown>): boolean {
  return Object.keys(sources).some((key) => MODEL_KEYS.some((m) => key === m || key.startsWith(`${m}.`)));
}

/**
 * Checks the model sections with the models' own validation, as the jobs will compose them (the
 * classifier at imageSize, each GAN at its ganResolution), so a bad override fails here, naming the
 * key, instead of in every job of a started study.
 */
export function validateModelOverrides(config: StudyConfig): void {
  // The models library brings TensorFlow.js (most of a second to load): only loaded when there is something to check.
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- a synchronous on-demand load, also under Jest
  const { GANS, resolveClassifierConfig } = require('@gan-study/models') as typeof import('@gan-study/models');
  const check = (section: string, resolve: () => unknown) => {
    try {
      resolve();
    } catch (err) {
      throw new UserInputError(`config key '${section}': ${(err as Error).message}`);
    }
  };
  check('classifier', () => resolveClassifierConfig({ ...config.classifier, inputSize: config.imageSize, numClasses: 2 }));
  for (const gan of config.gans) {
    check(gan, () => GANS[gan].resolve({ ...config[gan], resolution: config.ganResolution[gan] }));
  }
}

/** Prints the resolved config (overrides marked) and saves it as DIR/config.json. */
export async function announceConfig(resolved: ResolvedConfig, print: (text: string) => void = (t) => process.stdout.write(t + '\n')): Promise<string> {
  print(`study config (profile ${resolved.config.profile}):\n${formatConfig(resolved)}`);
  const file = path.join(resolved.config.runDir, 'config.json');
  await writeJsonAtomic(file, configRecord(resolved));
  return file;
}

/** Reads DIR/config.json of an earlier run, for --resume. */
export async function readRunConfig(runDir: string): Promise<unknown> {
  return readJson(path.join(runDir, 'config.json'));
}
