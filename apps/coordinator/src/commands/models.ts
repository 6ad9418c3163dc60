/**
 * `study models [--model NAME[,NAME...]] [--size PX] [--json] [--backend auto]`: each network of the study's models, with its
 * layers, output shapes and trainable parameter count, built from the model code itself (a throwaway
 * build traced on one image, no training).
 *
 * Without --model: all four models (classifier, dcgan, pggan, cyclegan), each at its reference size
 * (classifier 224, DCGAN 64, CycleGAN 256, PGGAN its configured target) unless --size is given.
 *
 * --json prints, for one model (--model NAME), one object:
 *   {"model": "dcgan", "size": 64, "networks": {"generator": {"params": 3576704}, "discriminator": {"params": 2765568}}}
 * and without --model (or with a comma-separated list) an array of such objects, one per model, in
 * the order above (or the list's).
 *
 * --backend picks the tfjs backend the one-image trace runs on (default auto, as `study doctor` shows);
 * the numbers do not depend on it.
 */
import { Command, Option } from 'commander';
import { UserInputError } from '@gan-study/core';
import { BACKEND_CHOICES, CLASSIFIER_DEFAULTS, GANS, MODEL_NAMES, REFERENCE_SIZES, SIZE_KEY, describeModel, initBackend, isGanKind, resolveClassifierConfig } from '@gan-study/models';
import type { BackendChoice, ModelName, NetworkSummary } from '@gan-study/models';

export interface ModelsCommandOptions {
  /** One model (JSON: one object), several (JSON: an array), or none for all four (an array). */
  model?: ModelName | ModelName[];
  size?: number;
  json: boolean;
  /** Backend to initialize first; none keeps the current one. */
  backend?: BackendChoice;
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
export async function runModels(opts: ModelsCommandOptions, io: { write: (text: string) => void }): Promise<ModelDescription[]> {
  if (opts.backend !== undefined) await initBackend(opts.backend);
  const names = selectedModels(opts.model);
  const descriptions = names.map((m) => describeModelAt(m, opts.size));
  if (opts.json) {
    const json = typeof opts.model === 'string' ? toJson(descriptions[0]) : descriptions.map(toJson);
    io.write(JSON.stringify(json) + '\n');
  } else {
    io.write(formatText(descriptions));
  }
  return descriptions;
}

/** The models a --model value names: all four when absent, in MODEL_NAMES order. */
export function selectedModels(model: ModelsCommandOptions['model']): readonly ModelName[] {
  if (model === undefined) return MODEL_NAMES;
  return typeof model === 'string' ? [model] : model;
}

/** --model: one name, or a comma-separated list (which prints an array in --json). */
export function parseModelList(value: string): ModelName | ModelName[] {
  const names = value.split(',').map((s) => s.trim());
  const bad = names.find((n) => !(MODEL_NAMES as readonly string[]).includes(n));
  if (bad !== undefined || names.length === 0) {
    throw new UserInputError(`--model must name one or more of ${MODEL_NAMES.join(', ')} (comma-separated), got '${value}'`);
  }
  if (new Set(names).size !== names.length) throw new UserInputError(`--model names a model twice: '${value}'`);
  return names.length === 1 ? (names[0] as ModelName) : (names as ModelName[]);
}

function parseSize(value: string): number {
  if (!/^\d+$/.test(value.trim()) || Number(value) < 4 || Number(value) > 4096) throw new UserInputError(`--size must be an integer in [4, 4096] (pixels), got '${value}'`);
  return Number(value);
}

export function register(program: Command): void {
  program
    .command('models')
    .description("each model's networks: layers, output shapes, trainable parameter counts")
    .addOption(new Option('--model <names>', `one model, or a comma-separated list, of ${MODEL_NAMES.join(', ')} (default: all four)`).argParser(parseModelList))
    .addOption(new Option('--size <px>', `image size (default: each model's reference size: classifier ${CLASSIFIER_DEFAULTS.inputSize}, dcgan ${REFERENCE_SIZES.dcgan}, pggan ${REFERENCE_SIZES.pggan}, cyclegan ${REFERENCE_SIZES.cyclegan})`).argParser(parseSize))
    .option('--json', 'print {"model", "size", "networks": {"<name>": {"params": N}}}: one object for one --model, else an array', false)
    .addOption(new Option('--backend <name>', 'tfjs backend for the one-image trace (counts do not depend on it)').choices([...BACKEND_CHOICES]).default('auto'))
    .addHelpText('after', '\nExample: study models --model dcgan --json')
    .action(async (raw: { model?: ModelName | ModelName[]; size?: number; json: boolean; backend: BackendChoice }) => {
      await runModels({ model: raw.model, size: raw.size, json: raw.json, backend: raw.backend }, { write: (t) => process.stdout.write(t) });
    });
}
