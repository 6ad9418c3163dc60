/**
 * The job runners: `runJob(ctx)` runs the job `ctx.spec` describes against its JobContext (see
 * libs/protocol/src/jobs.ts) and returns its result. The trainer process builds the context (ZeroMQ
 * to the coordinator); tests use the in-memory one in ./testing.
 */
import type { JobContext, JobResult } from '@gan-study/protocol';
import { runClassifierJob } from './classifier-job';
import { runGanJob } from './gan-job';

export async function runJob(ctx: JobContext): Promise<JobResult> {
  const spec = ctx.spec;
  switch (spec.kind) {
    case 'gan':
      return runGanJob(ctx, spec);
    case 'classifier':
      return runClassifierJob(ctx, spec);
    default:
      throw new Error(`unknown job kind ${JSON.stringify((spec as { kind: unknown }).kind)}`);
  }
}

export { runClassifierJob, assembleTrainingSet, epochOrder, classifierConfigFor, predictionsCsv } from './classifier-job';
export { runGanJob, ganTrainingData, generateImages } from './gan-job';
export { encodeEnvelope, decodeEnvelope } from './envelope';
export { JobAbortedError } from './util';
