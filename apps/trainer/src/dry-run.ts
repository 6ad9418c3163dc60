/**
 * The dry-run job runner (pytorch/examples' `--dry-run`): exercises everything between the
 * coordinator and a job — dataset transfer, artifacts of dependencies, checkpoints and resume,
 * progress, data-parallel all-reduce, cancellation — without a model. Each job counts `steps`
 * steps of `stepMs` each, checkpoints its step every `spec.checkpointEvery` steps, all-reduces a
 * small vector every step when it has replicas (and checks the sum), and returns a result of the
 * right shape whose metrics are drawn from the job's seed and marked as a dry run (backend
 * 'dry-run'). `study run --dry-run` uses it to check a cluster's plumbing in seconds; the tests use
 * it as the fake job runner.
 */
import { Rng } from '@gan-study/core';
import { GAN_ARTIFACTS, CLASSIFIER_ARTIFACTS, classifierResultHead, encodeGenerated, ganResultHead, type ClassifierJobResult, type GanJobResult, type JobContext, type JobResult } from '@gan-study/protocol';
import type { JobRunner } from './service';

export interface DryRunOptions {
  /** Steps per job. */
  steps: number;
  /** Wall time per step (ms). */
  stepMs: number;
  /** Hook after each step (tests: note which trainer ran which step). */
  onStep?: (ctx: JobContext, step: number) => void;
}

const DRY_BACKEND = 'dry-run';

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function decodeStep(bytes: Uint8Array | null): number {
  if (!bytes) return 0;
  const parsed: unknown = JSON.parse(Buffer.from(bytes).toString('utf8'));
  const step = (parsed as { step?: unknown }).step;
  if (typeof step !== 'number' || !Number.isInteger(step) || step < 0) throw new Error(`dry-run checkpoint holds no step: ${JSON.stringify(parsed)}`);
  return step;
}

export function dryRunRunner(opts: DryRunOptions): JobRunner {
  return async (ctx: JobContext): Promise<JobResult> => {
    const spec = ctx.spec;
    const t0 = Date.now();
    const dataset = await ctx.dataset(spec.imageSize);
    const counts: Record<string, number> = {};
    for (const c of dataset.classes) counts[c] = 0;
    for (const l of dataset.train.labels) counts[dataset.classes[l]]++;
    if (spec.kind === 'classifier') {
      for (const g of spec.generated) {
        const bytes = await ctx.artifact(g.job, g.artifact);
        if (bytes.length === 0) throw new Error(`artifact ${g.job}/${g.artifact} is empty`);
      }
    }
    const loadMs = Date.now() - t0;
    const start = decodeStep(ctx.resumeFrom);
    if (start > 0) ctx.log('info', `resuming at step ${start}`, { step: start });
    for (let step = start + 1; step <= opts.steps; step++) {
      await sleep(opts.stepMs, ctx.signal);
      if (ctx.worldSize > 1) {
        const sum = await ctx.allReduce(new Float32Array([ctx.rank + 1, step]));
        const want = (ctx.worldSize * (ctx.worldSize + 1)) / 2;
        if (sum[0] !== want || sum[1] !== step * ctx.worldSize) throw new Error(`all-reduce gave [${Array.from(sum)}], expected [${want}, ${step * ctx.worldSize}]`);
      }
      opts.onStep?.(ctx, step);
      ctx.progress({ step, total: opts.steps, losses: { loss: 1 / step }, imagesPerSec: 1000 / Math.max(1, opts.stepMs) });
      if (step % spec.checkpointEvery === 0 && step < opts.steps) await ctx.checkpoint(step, Buffer.from(JSON.stringify({ step })));
    }
    const trainMs = Date.now() - t0 - loadMs;
    const rng = new Rng(spec.seed);
    const durations = { loadMs, trainMs, evalMs: 0, totalMs: Date.now() - t0 };
    if (spec.kind === 'gan') {
      const size = spec.imageSize;
      await ctx.putArtifact(GAN_ARTIFACTS.generated, encodeGenerated({ count: spec.generate, size, images: new Float32Array(spec.generate * size * size * 3) }));
      const result: GanJobResult = {
        ...ganResultHead(spec),
        steps: opts.steps,
        finalLosses: { d: rng.next(), g: rng.next() },
        generated: spec.generate,
        artifacts: [GAN_ARTIFACTS.generated],
        budgetFiles: [],
        quality: null,
        durations,
        backend: DRY_BACKEND,
        resumed: start > 0,
      };
      return result;
    }
    await ctx.putArtifact(CLASSIFIER_ARTIFACTS.model, Buffer.from(`dry-run model of ${spec.id}`));
    const accuracy = 0.5 + 0.5 * rng.next();
    const auc = 0.5 + 0.5 * rng.next();
    const perClass: ClassifierJobResult['metrics']['perClass'] = {};
    const testCounts: Record<string, number> = {};
    for (const c of dataset.classes) testCounts[c] = 0;
    for (const l of dataset.test.labels) testCounts[dataset.classes[l]]++;
    for (const c of dataset.classes) perClass[c] = { precision: accuracy, recall: accuracy, f1: accuracy, support: testCounts[c] };
    const result: ClassifierJobResult = {
      ...classifierResultHead(spec),
      counts: Object.fromEntries(
        dataset.classes.map((c) => [c, { real: spec.minorityClasses.includes(c) && spec.budget !== null ? spec.budget : counts[c], generated: spec.generated.filter((g) => g.className === c).reduce((a, g) => a + g.count, 0) }]),
      ),
      testCounts,
      epochs: 1,
      steps: opts.steps,
      finalLoss: 1 / opts.steps,
      metrics: {
        classNames: dataset.classes,
        n: dataset.test.labels.length,
        positiveClass: dataset.classes.length === 2 ? dataset.classes[1] : null,
        aucMethod: dataset.classes.length === 2 ? 'binary' : 'macro-ovr',
        accuracy,
        auc,
        balancedAccuracy: accuracy,
        macroF1: accuracy,
        confusionMatrix: dataset.classes.map(() => dataset.classes.map(() => 0)),
        perClass,
        aucPerClass: null,
        rocCurves: {},
      },
      cis: null,
      durations,
      backend: DRY_BACKEND,
      replicas: ctx.worldSize,
      resumed: start > 0,
    };
    return result;
  };
}
