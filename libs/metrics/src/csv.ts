/**
 * Predictions CSV, the input of `study metrics`:
 *
 *   label,score                 (two classes: score = probability of the second class)
 *   label,p_benign,p_malignant  (any number of classes: one probability column per class)
 *
 * A header line, then one row per example. Fields are separated by commas; a field may be quoted
 * ("a,b", "" for a quote); surrounding spaces are trimmed; blank lines are skipped. Columns other
 * than `label`, `score` and `p_<class>` are errors, as are both `score` and `p_` columns.
 *
 * Classes are sorted (numerically if every name is an integer, else by code unit, like numpy's
 * unique on ints or strings); the binary positive class is the second one. With `score` the
 * classes are the distinct labels (exactly two). With `p_` columns they are the column suffixes;
 * labels are class names if every label is one, otherwise every label must be a class index into
 * the sorted names. Probabilities must be finite numbers in [0, 1] (rows need not sum to 1).
 */
import { MetricsInputError } from './errors';

export interface PredictionsTable {
  /** Sorted class names. */
  classNames: string[];
  /** Class index of each row. */
  labels: number[];
  /** Per-row probabilities in classNames order ([1 - score, score] for a score column). */
  probs: number[][];
  /** Which layout the file used. */
  format: 'score' | 'per-class';
  /** 1-based file line of each row, for messages. */
  lines: number[];
}

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const NON_FINITE = /^[+-]?(nan|inf|infinity)$/i;
const INTEGER = /^[+-]?\d+$/;

/** Splits one CSV line into trimmed fields; `where` prefixes errors. */
export function splitCsvLine(line: string, where: string): string[] {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    while (line[i] === ' ' || line[i] === '\t') i++;
    let field = '';
    if (line[i] === '"') {
      const start = i;
      i++;
      for (;;) {
        if (i >= line.length) throw new MetricsInputError(`${where}: unterminated quoted field starting at character ${start + 1}`);
        if (line[i] === '"') {
          if (line[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += line[i++];
      }
      while (line[i] === ' ' || line[i] === '\t') i++;
      if (i < line.length && line[i] !== ',') {
        throw new MetricsInputError(`${where}: unexpected text after the quoted field at character ${i + 1}`);
      }
    } else {
      const end = line.indexOf(',', i);
      field = (end === -1 ? line.slice(i) : line.slice(i, end)).trim();
      i = end === -1 ? line.length : end;
    }
    fields.push(field);
    if (i >= line.length) return fields;
    i++; // the comma
  }
}

function sortClassNames(names: string[]): string[] {
  const numeric = names.every((n) => INTEGER.test(n));
  return [...names].sort(numeric ? (a, b) => Number(a) - Number(b) : (a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Parses a predictions CSV; every error names `fileName`, the line, and the column. */
export function parsePredictionsCsv(text: string, fileName: string): PredictionsTable {
  // A leading byte-order mark (spreadsheet exports) is not part of the first column's name.
  const rawLines = (text.startsWith('\uFEFF') ? text.slice(1) : text).split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  const rows: Array<{ line: number; fields: string[] }> = [];
  let header: string[] | null = null;
  rawLines.forEach((raw, idx) => {
    if (raw.trim() === '') return;
    const line = idx + 1;
    const fields = splitCsvLine(raw, `${fileName}:${line}`);
    if (header === null) header = fields;
    else rows.push({ line, fields });
  });
  if (header === null) throw new MetricsInputError(`${fileName}: empty file, expected a header line such as 'label,score'`);
  const head: string[] = header;
  const headerLine = rawLines.findIndex((l) => l.trim() !== '') + 1;
  const at = (line: number, col: number) => `${fileName}:${line}: column ${col + 1} (${head[col]})`;

  const seen = new Set<string>();
  head.forEach((name, col) => {
    if (name === '') throw new MetricsInputError(`${fileName}:${headerLine}: column ${col + 1} has an empty name`);
    if (seen.has(name)) throw new MetricsInputError(`${fileName}:${headerLine}: column '${name}' appears twice`);
    seen.add(name);
    if (name !== 'label' && name !== 'score' && !(name.startsWith('p_') && name.length > 2)) {
      throw new MetricsInputError(
        `${fileName}:${headerLine}: unknown column '${name}' (column ${col + 1}); expected 'label' then 'score' or 'p_<class>' columns`,
      );
    }
  });
  const labelCol = head.indexOf('label');
  if (labelCol === -1) throw new MetricsInputError(`${fileName}:${headerLine}: missing column 'label'`);
  const scoreCol = head.indexOf('score');
  const probCols = head.map((n, c) => (n.startsWith('p_') ? c : -1)).filter((c) => c >= 0);
  if (scoreCol !== -1 && probCols.length > 0) {
    throw new MetricsInputError(`${fileName}:${headerLine}: both 'score' and 'p_<class>' columns; use one or the other`);
  }
  if (scoreCol === -1 && probCols.length === 0) {
    throw new MetricsInputError(`${fileName}:${headerLine}: missing column 'score' (two classes) or 'p_<class>' columns (one per class)`);
  }
  if (scoreCol === -1 && probCols.length < 2) {
    throw new MetricsInputError(`${fileName}:${headerLine}: only one 'p_<class>' column (${head[probCols[0]]}); need one per class, at least two`);
  }
  if (rows.length === 0) throw new MetricsInputError(`${fileName}: no data rows after the header`);

  const probability = (line: number, col: number, field: string): number => {
    if (field === '') throw new MetricsInputError(`${at(line, col)}: empty value, expected a probability`);
    if (NON_FINITE.test(field)) throw new MetricsInputError(`${at(line, col)}: value '${field}' is not finite`);
    if (!NUMBER.test(field)) throw new MetricsInputError(`${at(line, col)}: non-numeric value '${field}'`);
    const v = Number(field);
    if (!Number.isFinite(v)) throw new MetricsInputError(`${at(line, col)}: value '${field}' is not finite`);
    if (v < 0 || v > 1) throw new MetricsInputError(`${at(line, col)}: probability ${field} is outside [0, 1]`);
    return v;
  };
  const rawLabels: string[] = [];
  const rawProbs: number[][] = [];
  for (const { line, fields } of rows) {
    if (fields.length !== head.length) {
      throw new MetricsInputError(`${fileName}:${line}: ${fields.length} columns, expected ${head.length} as in the header`);
    }
    const label = fields[labelCol];
    if (label === '') throw new MetricsInputError(`${at(line, labelCol)}: empty label`);
    rawLabels.push(label);
    rawProbs.push(scoreCol !== -1 ? [probability(line, scoreCol, fields[scoreCol])] : probCols.map((c) => probability(line, c, fields[c])));
  }
  const lines = rows.map((r) => r.line);

  if (scoreCol !== -1) {
    const classNames = sortClassNames([...new Set(rawLabels)]);
    if (classNames.length === 1) {
      throw new MetricsInputError(`${fileName}: column label has one class only ('${classNames[0]}'); AUC needs both classes`);
    }
    if (classNames.length > 2) {
      throw new MetricsInputError(
        `${fileName}: a 'score' column is for two classes, but column label has ${classNames.length} (${classNames.join(', ')}); use one p_<class> column per class`,
      );
    }
    const index = new Map(classNames.map((n, i) => [n, i]));
    return {
      classNames,
      labels: rawLabels.map((l) => index.get(l) as number),
      probs: rawProbs.map(([s]) => [1 - s, s]),
      format: 'score',
      lines,
    };
  }

  const columnClasses = probCols.map((c) => head[c].slice(2));
  const classNames = sortClassNames(columnClasses);
  const order = classNames.map((n) => columnClasses.indexOf(n));
  const index = new Map(classNames.map((n, i) => [n, i]));
  const K = classNames.length;
  const isIndex = (l: string) => INTEGER.test(l) && Number(l) >= 0 && Number(l) < K;
  let labels: number[];
  if (rawLabels.every((l) => index.has(l))) {
    labels = rawLabels.map((l) => index.get(l) as number);
  } else if (rawLabels.every(isIndex)) {
    labels = rawLabels.map(Number);
  } else {
    const choices = `a class name (${classNames.join(', ')}) nor a class index 0..${K - 1}`;
    let r = rawLabels.findIndex((l) => !index.has(l) && !isIndex(l));
    if (r !== -1) throw new MetricsInputError(`${at(lines[r], labelCol)}: label '${rawLabels[r]}' is neither ${choices}`);
    // Every label is one or the other, but they mix: report the first that differs from the first row's kind.
    const firstIsName = index.has(rawLabels[0]);
    r = rawLabels.findIndex((l) => index.has(l) !== firstIsName);
    throw new MetricsInputError(
      `${at(lines[r], labelCol)}: label '${rawLabels[r]}' is a class ${firstIsName ? 'index' : 'name'} but line ${lines[0]} ` +
        `uses a class ${firstIsName ? 'name' : 'index'}; labels must be all names or all indices`,
    );
  }
  return { classNames, labels, probs: rawProbs.map((p) => order.map((src) => p[src])), format: 'per-class', lines };
}
