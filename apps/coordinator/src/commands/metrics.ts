/**
 * `study metrics --input preds.csv [--json] [--bootstrap N] [--seed S]`: classification metrics of
 * one predictions CSV (format: libs/metrics/src/csv.ts), with bootstrap 95% confidence intervals.
 * Parsing and metrics live in @gan-study/metrics; this file reads the file, maps errors to
 * UserInputError (exit 2), and formats the output.
 */
import { readFileSync } from 'fs';
import { Command, Option } from 'commander';
import { UserInputError } from '@gan-study/core';
import {
  BOOTSTRAP_DEFAULTS,
  Evaluation,
  EvaluationCis,
  MetricsInputError,
  bootstrapEvaluation,
  evaluate,
  parsePredictionsCsv,
} from '@gan-study/metrics';

export interface MetricsCommandOptions {
  input: string;
  json: boolean;
  /** Bootstrap resamples for the confidence intervals. */
  bootstrap: number;
  /** Seed of the bootstrap resampling. */
  seed: number;
}

/** What `--json` prints: the evaluation, its intervals, and how they were drawn. */
export interface MetricsReport extends Evaluation {
  input: string;
  ci: EvaluationCis;
  bootstrap: { resamples: number; seed: number; confidence: number; method: 'percentile' };
}

function parseInteger(flag: string, min: number): (value: string) => number {
  return (value) => {
    if (!/^[+-]?\d+$/.test(value.trim()) || Number(value) < min) {
      throw new UserInputError(`${flag} must be an integer >= ${min}, got '${value}'`);
    }
    return Number(value);
  };
}

/** Reads, parses and evaluates a predictions file; throws UserInputError on bad input. */
export function computeMetrics(opts: MetricsCommandOptions): MetricsReport {
  let text: string;
  try {
    text = readFileSync(opts.input, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UserInputError(`cannot read --input ${opts.input}: ${code === 'ENOENT' ? 'no such file' : String(err)}`);
  }
  try {
    const table = parsePredictionsCsv(text, opts.input);
    const input = { labels: table.labels, classNames: table.classNames, probs: table.probs };
    const evaluation = evaluate(input);
    const ci = bootstrapEvaluation(input, { resamples: opts.bootstrap, seed: opts.seed });
    return {
      input: opts.input,
      ...evaluation,
      ci,
      bootstrap: { resamples: opts.bootstrap, seed: opts.seed, confidence: BOOTSTRAP_DEFAULTS.confidence, method: 'percentile' },
    };
  } catch (err) {
    if (err instanceof MetricsInputError) {
      throw new UserInputError(err.message.startsWith(opts.input) ? err.message : `${opts.input}: ${err.message}`);
    }
    throw err;
  }
}

const f4 = (v: number) => v.toFixed(4);

/** Human-readable report. */
export function formatMetrics(r: MetricsReport): string {
  const pct = Math.round(r.bootstrap.confidence * 100);
  const line = (name: string, value: number, key: keyof EvaluationCis) => {
    const ci = r.ci[key];
    const skipped = ci.skipped > 0 ? `  (${ci.skipped} of ${ci.resamples} resamples undefined, skipped)` : '';
    return `${name.padEnd(20)}${f4(value)}  ${pct}% CI [${f4(ci.lower)}, ${f4(ci.upper)}]${skipped}`;
  };
  const classes = r.classNames;
  const width = Math.max(9, ...classes.map((c) => c.length)) + 2;
  const out = [
    `predictions: ${r.input}  n=${r.n}  classes: ${classes.join(', ')}` + (r.positiveClass ? `  positive: ${r.positiveClass}` : ''),
    line('accuracy', r.accuracy, 'accuracy'),
    line(r.aucMethod === 'binary' ? 'auc' : 'auc (macro OvR)', r.auc, 'auc'),
    line('balanced accuracy', r.balancedAccuracy, 'balancedAccuracy'),
    line('macro F1', r.macroF1, 'macroF1'),
    `bootstrap: ${r.bootstrap.resamples} resamples, seed ${r.bootstrap.seed}, percentile method`,
    '',
    'confusion matrix (rows true, columns predicted):',
    ''.padEnd(width) + classes.map((c) => c.padStart(width)).join(''),
    ...r.confusionMatrix.map((row, i) => classes[i].padEnd(width) + row.map((v) => String(v).padStart(width)).join('')),
    '',
    'class'.padEnd(width) + ['precision', 'recall', 'f1', 'support'].map((h) => h.padStart(11)).join('') + (r.aucPerClass ? 'auc (OvR)'.padStart(11) : ''),
    ...classes.map((c) => {
      const m = r.perClass[c];
      const cells = [f4(m.precision), f4(m.recall), f4(m.f1), String(m.support)];
      if (r.aucPerClass) cells.push(f4(r.aucPerClass[c]));
      return c.padEnd(width) + cells.map((v) => v.padStart(11)).join('');
    }),
  ];
  return out.join('\n') + '\n';
}

/** The command's whole output for the given options. */
export function runMetrics(opts: MetricsCommandOptions): string {
  const report = computeMetrics(opts);
  // ROC thresholds start at +Infinity, which JSON writes as null.
  return opts.json ? JSON.stringify(report) + '\n' : formatMetrics(report);
}

export function register(program: Command): void {
  program
    .command('metrics')
    .description(
      'Classification metrics of a predictions CSV: accuracy, ROC AUC (macro one-vs-rest for >2 classes), balanced accuracy, ' +
        'confusion matrix, per-class precision/recall/F1, bootstrap 95% CIs. CSV header: label,score (two classes; score = ' +
        'probability of the second class in sorted order) or label,p_<class>,... (one column per class).',
    )
    .requiredOption('--input <file>', 'predictions CSV')
    .option('--json', 'print one JSON object instead of a table', false)
    .addOption(
      new Option('--bootstrap <n>', 'bootstrap resamples for the confidence intervals')
        .argParser(parseInteger('--bootstrap', 1))
        .default(BOOTSTRAP_DEFAULTS.resamples),
    )
    .addOption(new Option('--seed <s>', 'seed of the bootstrap resampling').argParser(parseInteger('--seed', 0)).default(BOOTSTRAP_DEFAULTS.seed))
    .action((opts: MetricsCommandOptions) => {
      process.stdout.write(runMetrics(opts));
    });
}
