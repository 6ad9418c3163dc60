/**
 * `study models [--model NAME] [--size PX] [--json]`: each network of the study's models, with its
 * layers, output shapes and trainable parameter count, built from the model code itself (a throwaway
 * build traced on one image, no training).
 *
 * Without --model: all four models (classifier, dcgan, pggan, cyclegan), each at its reference size
 * (classifier 224, DCGAN 64, CycleGAN 256, PGGAN its configured target) unless --size is given.
 *
 * --json prints, for one model (--model given), one object:
 *   {"model": "dcgan", "size": 64, "networks": {"generator": {"params": 3576704}, "discriminator": {"params": 2765568}}}
 * and without --model an array of such objects, one per model in the order above.
 */
import { Command, Option } from 'commander';
import { UserInputError } from '@gan-study/core';
import { CLASSIFIER_DEFAULTS, GANS, MODEL_NAMES, REFERENCE_SIZES, SIZE_KEY, describeModel, isGanKind, resolveClassifierConfig } from '@gan-study/models';
import type { ModelName, NetworkSummary } from '@gan-study/models';

export interface ModelsCommandOptions {
  model?: ModelName;
  size?: number;
  json: boolean;
}

export interface ModelDescription {
  model: ModelName;
  size: number;
  networks: NetworkSummary[];
}

/** The JSON form of one model: {"model", "size", "networks": {"<name>": {"params": N}}}. */
export interface ModelJson {
  model: ModelName;
  size: number;
  networks: Record<string, { params: number }>;
}

/** Describes one model at `size` (default: its reference size); a size the model cannot take is a UserInputError. */
export function describeModelAt(model: ModelName, size = REFERENCE_SIZES[model]): ModelDescription {
  const overrides = { [SIZE_KEY[model]]: size };
  try {
    // Validate first, so a bad size reads as bad input rather than a crash inside a builder.
    if (model === 'classifier') resolveClassifierConfig(overrides);
    else if (isGanKind(model)) GANS[model].resolve(overrides);
  } catch (err) {
    throw new UserInputError(`--size ${size} does not fit ${model}: ${(err as Error).message}`);
  }
  return { model, size, networks: describeModel(model, overrides) };
}

export function toJson(d: ModelDescription): ModelJson {
  return { model: d.model, size: d.size, networks: Object.fromEntries(d.networks.map((n) => [n.name, { params: n.params }])) };
}

const num = (n: number) => n.toLocaleString('en-US');
const shape = (s: number[]) => `[${['-1', ...s.slice(1).map(String)].join(', ')}]`;

/** A readable table per network: layer, output shape (batch as -1), parameters. */
export function formatText(descriptions: ModelDescription[]): string {
  const lines: string[] = [];
  for (const d of descriptions) {
    const total = d.networks.reduce((s, n) => s + n.params, 0);
    lines.push(`${d.model} at ${d.size}x${d.size} px: ${num(total)} trainable parameters`);
    for (const net of d.networks) {
      lines.push(`  ${net.name}: ${num(net.params)} trainable parameters`);
      const nameWidth = Math.max(5, ...net.layers.map((l) => l.name.length));
      const shapeWidth = Math.max(12, ...net.layers.map((l) => shape(l.outputShape).length));
      lines.push(`    ${'layer'.padEnd(nameWidth)}  ${'output shape'.padEnd(shapeWidth)}  ${'params'.padStart(11)}`);
      for (const l of net.layers) lines.push(`    ${l.name.padEnd(nameWidth)}  ${shape(l.outputShape).padEnd(shapeWidth)}  ${num(l.params).padStart(11)}`);
    }
    lines.push('');
  }
  return lines.join('\n');
}

/** Runs the command: text or JSON to `write`. Returns what it described. */
export function runModels(opts: ModelsCommandOptions, io: { write: (text: string) => void }): ModelDescription[] {
  const names = opts.model === undefined ? MODEL_NAMES : [opts.model];
  const descriptions = names.map((m) => describeModelAt(m, opts.size));
  if (opts.json) {
    const json = opts.model === undefined ? descriptions.map(toJson) : toJson(descriptions[0]);
    io.write(JSON.stringify(json) + '\n');
  } else {
    io.write(formatText(descriptions));
  }
  return descriptions;
}

function parseSize(value: string): number {
  if (!/^\d+$/.test(value.trim()) || Number(value) < 4 || Number(value) > 4096) throw new UserInputError(`--size must be an integer in [4, 4096] (pixels), got '${value}'`);
  return Number(value);
}

export function register(program: Command): void {
  program
    .command('models')
    .description("each model's networks: layers, output shapes, trainable parameter counts")
    .addOption(new Option('--model <name>', 'one model (default: all four)').choices([...MODEL_NAMES]))
    .addOption(new Option('--size <px>', `image size (default: each model's reference size: classifier ${CLASSIFIER_DEFAULTS.inputSize}, dcgan ${REFERENCE_SIZES.dcgan}, pggan ${REFERENCE_SIZES.pggan}, cyclegan ${REFERENCE_SIZES.cyclegan})`).argParser(parseSize))
    .option('--json', 'print {"model", "size", "networks": {"<name>": {"params": N}}}: one object with --model, else an array', false)
    .addHelpText('after', '\nExample: study models --model dcgan --json')
    .action((raw: { model?: ModelName; size?: number; json: boolean }) => {
      runModels({ model: raw.model, size: raw.size, json: raw.json }, { write: (t) => process.stdout.write(t) });
    });
}
