/**
 * @gan-study/metrics: pure TypeScript metrics for the study (no tfjs, no other project).
 * Classification metrics agree with scikit-learn to 1e-9 (see fixtures/sklearn-reference.json and
 * tools/metrics/make_sklearn_fixtures.py).
 */
export { MetricsInputError } from './errors';
export {
  type ClassMetrics,
  accuracy,
  argmaxPredictions,
  balancedAccuracy,
  balancedAccuracyFromConfusion,
  confusionMatrix,
  perClassFromConfusion,
  perClassMetrics,
} from './classification';
export { type RocCurve, macroOvrAuc, oneVsRest, ovrAucPerClass, rocAuc, rocCurve } from './roc';
export {
  BOOTSTRAP_DEFAULTS,
  type BootstrapOptions,
  type ConfidenceInterval,
  type RepeatSummary,
  type UniformRng,
  bootstrapCi,
  bootstrapResamples,
  incompleteBeta,
  logGamma,
  mulberry32,
  percentileCi,
  percentileSorted,
  studentTCdf,
  studentTQuantile,
  summarizeRepeats,
} from './stats';
export { type Evaluation, type EvaluationCis, type EvaluationInput, bootstrapEvaluation, evaluate } from './evaluate';
export { type SymmetricEigen, matmul, sqrtPsd, symmetricEigen, traceSqrtPsd } from './linalg';
export {
  type FeatureRows,
  type FeatureSetInfo,
  type FidResult,
  KID_DEFAULTS,
  type KidOptions,
  type KidResult,
  type PrecisionRecallResult,
  fid,
  frechetDistance,
  kid,
  meanAndCovariance,
  polynomialKernel,
  precisionRecall,
} from './gan-quality';
export { type PredictionsTable, parsePredictionsCsv, splitCsvLine } from './csv';
