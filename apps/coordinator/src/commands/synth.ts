/**
 * `study synth --out DIR [--size 224] [--seed 0] [--classes a,b,...] [--counts SPEC] [--format jpg|png]`:
 * writes the synthetic lesion set (libs/data/src/synth) as an image folder, DIR/{train,test}/CLASS/NNNN.jpg
 * plus DIR/synth.json. Synthetic images: results on them are not medical results.
 */
import { terminalProgress } from '../progress';
import { Command, Option } from 'commander';
import { UserInputError } from '@gan-study/core';
import { SYNTH_DEFAULTS, synthImageSet, synthesize, writeGrid, type SynthFormat, type SynthResult } from '@gan-study/data';

export interface SynthCommandOptions {
  out: string;
  size: number;
  seed: number;
  classes?: string[];
  counts?: { train: number[]; test: number[] };
  format: SynthFormat;
  overlap: number;
  preview?: string;
}

const COUNTS_HELP = `per-class image counts, in --classes order: 'train:1440,1197/test:360,300', or '1440,1197/360,300', or 'N/M' (N train and M test images for every class)`;

function parseCountList(text: string, what: string, nClasses: number): number[] {
  const parts = text.split(',').map((s) => s.trim());
  const values = parts.map((s) => (/^\d+$/.test(s) ? Number(s) : NaN));
  if (values.some((v) => !Number.isInteger(v) || v < 1)) throw new UserInputError(`--counts: ${what} counts must be positive integers, got '${text}'`);
  if (values.length === 1) return Array.from({ length: nClasses }, () => values[0]);
  if (values.length !== nClasses) throw new UserInputError(`--counts: ${what} has ${values.length} counts for ${nClasses} classes, got '${text}'`);
  return values;
}

/** Parses a --counts spec (see COUNTS_HELP) for `nClasses` classes. */
export function parseCounts(spec: string, nClasses: number): { train: number[]; test: number[] } {
  const halves = spec.split('/');
  if (halves.length !== 2) throw new UserInputError(`--counts must look like 'train:1440,1197/test:360,300' or 'N/M', got '${spec}'`);
  const named = halves.map((h) => /^\s*(train|test)\s*:(.*)$/.exec(h));
  let trainText = halves[0];
  let testText = halves[1];
  if (named[0] !== null || named[1] !== null) {
    if (named[0] === null || named[1] === null || named[0][1] === named[1][1]) throw new UserInputError(`--counts: name both halves, 'train:...' and 'test:...', got '${spec}'`);
    const byName = Object.fromEntries(named.map((m) => [(m as RegExpExecArray)[1], (m as RegExpExecArray)[2]]));
    trainText = byName.train;
    testText = byName.test;
  }
  return { train: parseCountList(trainText, 'train', nClasses), test: parseCountList(testText, 'test', nClasses) };
}

function parseInteger(flag: string, min: number, max: number): (value: string) => number {
  return (value) => {
    if (!/^[+-]?\d+$/.test(value.trim()) || Number(value) < min || Number(value) > max) throw new UserInputError(`${flag} must be an integer in [${min}, ${max}], got '${value}'`);
    return Number(value);
  };
}

function parseClasses(value: string): string[] {
  const list = value.split(',').map((s) => s.trim());
  if (list.some((s) => s === '')) throw new UserInputError(`--classes must be a comma-separated list of names, got '${value}'`);
  return list;
}

function summary(res: SynthResult, preview: string | undefined): string {
  const width = Math.max(5, ...res.classes.map((c) => c.length));
  const total = res.classes.reduce((s, c) => s + res.counts.train[c] + res.counts.test[c], 0);
  const lines = [
    res.reused
      ? `study synth: ${res.out} already holds this set (synth.json matches); nothing written`
      : `study synth: wrote ${total} images to ${res.out} (${res.size}x${res.size} ${res.format}, seed ${res.seed}, overlap ${res.overlap})`,
    `  ${'class'.padEnd(width)}  ${'train'.padStart(6)}  ${'test'.padStart(6)}`,
    ...res.classes.map((c) => `  ${c.padEnd(width)}  ${String(res.counts.train[c]).padStart(6)}  ${String(res.counts.test[c]).padStart(6)}`),
  ];
  if (preview !== undefined) lines.push(`  preview grid: ${preview}`);
  lines.push('  Synthetic images drawn by a program: results on them are not medical results.');
  return lines.join('\n') + '\n';
}

/** Runs the command; `write` gets the summary, `progress` a bar (on a TTY only). */
export async function runSynth(opts: SynthCommandOptions, io: { write: (text: string) => void; tty: boolean }): Promise<SynthResult> {
  const bar = terminalProgress('synth', 'images', io.tty);
  const res = await synthesize({
    out: opts.out,
    size: opts.size,
    seed: opts.seed,
    classes: opts.classes,
    counts: opts.counts,
    format: opts.format,
    overlap: opts.overlap,
    onProgress: (done, total) => bar.update(done, total),
  }).finally(() => bar.stop());
  if (opts.preview !== undefined) {
    // The same pixels as the first 8 training images of each class (before JPEG compression).
    const per = 8;
    const set = synthImageSet({ size: res.size, seed: res.seed, classes: res.classes, counts: res.classes.map((c) => Math.min(per, res.counts.train[c])), overlap: res.overlap });
    await writeGrid(opts.preview, set.images, res.size, { cols: per });
  }
  io.write(summary(res, opts.preview));
  return res;
}

export function register(program: Command): void {
  program
    .command('synth')
    .description('write the synthetic skin-lesion image set (a stand-in for the public set; not medical data)')
    .requiredOption('--out <dir>', 'output folder (must not exist, or hold the same synthetic set)')
    .addOption(new Option('--size <px>', 'image height = width').default(SYNTH_DEFAULTS.size).argParser(parseInteger('--size', 8, 1024)))
    .addOption(new Option('--seed <n>', 'random seed; same seed, same bytes').default(SYNTH_DEFAULTS.seed).argParser(parseInteger('--seed', 0, 2 ** 32 - 1)))
    .addOption(new Option('--classes <names>', 'comma-separated class names with a lesion profile: benign|nevus|nv, malignant|melanoma|mel, bcc, keratosis|bkl, dermatofibroma|df, vascular|vasc, actinic|akiec').default(SYNTH_DEFAULTS.classes, SYNTH_DEFAULTS.classes.join(',')).argParser(parseClasses))
    .addOption(new Option('--counts <spec>', `${COUNTS_HELP}; default: the public set's 1440,1197/360,300 for benign,malignant, 1000/250 per class otherwise`))
    .addOption(new Option('--format <fmt>', 'image file format').choices(['jpg', 'png']).default(SYNTH_DEFAULTS.format))
    .addOption(new Option('--overlap <x>', 'scale of the class mixing (0 = cleanly separated classes; larger = more overlap)').default(SYNTH_DEFAULTS.overlap).argParser((v) => {
      const x = Number(v);
      if (v.trim() === '' || !(x >= 0 && x <= 2)) throw new UserInputError(`--overlap must be a number in [0, 2], got '${v}'`);
      return x;
    }))
    .option('--preview <file.png>', 'also write a grid of the first 8 training images of each class')
    .addHelpText('after', '\nResults on the synthetic set are not medical results.\nExample: study synth --out data/synth-64 --size 64 --counts 300/100')
    .action(async (raw: { out: string; size: number; seed: number; classes: string[]; counts?: string; format: SynthFormat; overlap: number; preview?: string }) => {
      await runSynth(
        {
          out: raw.out,
          size: raw.size,
          seed: raw.seed,
          classes: raw.classes,
          counts: raw.counts === undefined ? undefined : parseCounts(raw.counts, raw.classes.length),
          format: raw.format,
          overlap: raw.overlap,
          preview: raw.preview,
        },
        { write: (t) => process.stdout.write(t), tty: process.stderr.isTTY === true },
      );
    });
}
