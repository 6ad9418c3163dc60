/**
 * The run directory's layout, in one place. The directory is the source of truth of a study:
 *
 *   DIR/config.json            the resolved config (with the sources of overridden keys)
 *   DIR/plan.json              the job graph
 *   DIR/journal.jsonl          finished/failed jobs, append-only, fsynced (see journal.ts)
 *   DIR/coordinator.log        JSON lines, one per event
 *   DIR/status.json            the latest status snapshot (rewritten every status tick)
 *   DIR/checkpoints/<job>.ckpt the latest full-state checkpoint of an unfinished job; <job>.json its step
 *                              and attempt (both removed once the job is journaled as done)
 *   DIR/jobs/<job>/result.json the job's result
 *   DIR/jobs/<job>/log.jsonl   the job's own log lines (from its trainer) and lifecycle events
 *   DIR/jobs/<job>/metrics.jsonl  progress records: step, total, losses, images/s
 *   DIR/jobs/<job>/<artifact>  generated images, grids, models, predictions
 *   DIR/results.json, results.csv  the study's results table
 */
import * as path from 'path';

export class RunDir {
  constructor(readonly root: string) {}

  get config(): string {
    return path.join(this.root, 'config.json');
  }
  get plan(): string {
    return path.join(this.root, 'plan.json');
  }
  get journal(): string {
    return path.join(this.root, 'journal.jsonl');
  }
  get log(): string {
    return path.join(this.root, 'coordinator.log');
  }
  get status(): string {
    return path.join(this.root, 'status.json');
  }
  get resultsJson(): string {
    return path.join(this.root, 'results.json');
  }
  get resultsCsv(): string {
    return path.join(this.root, 'results.csv');
  }
  checkpoint(job: string): string {
    return path.join(this.root, 'checkpoints', `${safeName(job)}.ckpt`);
  }
  checkpointMeta(job: string): string {
    return path.join(this.root, 'checkpoints', `${safeName(job)}.json`);
  }
  jobDir(job: string): string {
    return path.join(this.root, 'jobs', safeName(job));
  }
  jobResult(job: string): string {
    return path.join(this.jobDir(job), 'result.json');
  }
  jobLog(job: string): string {
    return path.join(this.jobDir(job), 'log.jsonl');
  }
  jobMetrics(job: string): string {
    return path.join(this.jobDir(job), 'metrics.jsonl');
  }
  /** An artifact of a job (the name comes off the wire: checked by artifactPath). */
  jobFile(job: string, name: string): string {
    return path.join(this.jobDir(job), artifactPath(name));
  }
}

/** A job id as a single path segment (plan ids are already safe; this guards against anything else). */
export function safeName(id: string): string {
  if (!/^[A-Za-z0-9._-]+$/.test(id) || id === '.' || id === '..') throw new Error(`job id '${id}' is not a safe file name`);
  return id;
}

/**
 * An artifact name as a relative path under the job's directory: '/'-separated segments of
 * letters, digits, '.', '_' and '-', no '..'. Anything else is refused (it comes off the wire).
 */
export function artifactPath(name: string): string {
  const parts = name.split('/');
  if (parts.length > 4 || parts.some((p) => !/^[A-Za-z0-9._-]+$/.test(p) || p === '.' || p === '..')) {
    throw new Error(`artifact name '${name}' is not a safe relative path`);
  }
  if (['result.json', 'log.jsonl', 'metrics.jsonl'].includes(name)) throw new Error(`artifact name '${name}' is reserved`);
  return path.join(...parts);
}
