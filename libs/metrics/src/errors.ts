/**
 * Input errors of the metrics library. metrics imports no other project, so it cannot throw core's
 * UserInputError; callers that face users (the `study metrics` command) translate this one.
 */

/** Bad input to a metric: wrong lengths, one class only, a non-finite score, a malformed CSV. */
export class MetricsInputError extends Error {
  override name = 'MetricsInputError';
}

/** Throws unless `values` are all finite numbers, naming the first bad index. */
export function assertFinite(values: ArrayLike<number>, what: string): void {
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new MetricsInputError(`${what} must be finite numbers; index ${i} is ${String(v)}`);
    }
  }
}

/** Throws unless two sequences have the same length. */
export function assertSameLength(a: ArrayLike<unknown>, b: ArrayLike<unknown>, aName: string, bName: string): void {
  if (a.length !== b.length) {
    throw new MetricsInputError(`${aName} and ${bName} differ in length: ${a.length} vs ${b.length}`);
  }
}

/** Throws unless labels are integers in [0, nClasses), naming the first bad index. */
export function assertLabels(labels: ArrayLike<number>, nClasses: number, what = 'labels'): void {
  if (!Number.isInteger(nClasses) || nClasses < 2) {
    throw new MetricsInputError(`the number of classes must be an integer >= 2, got ${nClasses}`);
  }
  if (labels.length === 0) throw new MetricsInputError(`${what} are empty`);
  for (let i = 0; i < labels.length; i++) {
    const v = labels[i];
    if (!Number.isInteger(v) || v < 0 || v >= nClasses) {
      throw new MetricsInputError(`${what} must be class indices in 0..${nClasses - 1}; index ${i} is ${String(v)}`);
    }
  }
}

/** Throws if every label is the same class: ROC AUC and friends are undefined then. */
export function assertTwoClassesPresent(labels: ArrayLike<number>, what = 'labels'): void {
  if (labels.length === 0) throw new MetricsInputError(`${what} are empty`);
  const first = labels[0];
  for (let i = 1; i < labels.length; i++) if (labels[i] !== first) return;
  throw new MetricsInputError(`${what} contain one class only (every label is ${first}); the metric is undefined`);
}
