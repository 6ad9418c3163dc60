/**
 * A fake but well-formed run directory for the report and status tests: the smoke profile's plan
 * (buildPlan), classifier results whose metrics come from @gan-study/metrics' evaluate() on seeded
 * fake predictions (better for the reference, better with larger budgets), GAN results with quality
 * numbers and real PNG sample grids, a journal in the format of the coordinator's Journal (read back by Journal.read), results.json
 * from the real builder, a coordinator.log with trainer joins, status.json and metrics.jsonl.
 * Used by specs only.
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import { Rng, writeFileAtomic, writeJsonAtomic } from '@gan-study/core';
import { encodePng } from '@gan-study/data';
import { evaluate } from '@gan-study/metrics';
import { buildPlan, buildResults, classifierResultHead, ganResultHead, profileDefaults, resultsCsv, type ClassifierJobResult, type GanJobResult, type JobResult, type JobSpec, type StudyConfig } from '@gan-study/protocol';
import type { JournalEntry } from '../coordinator/journal';

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
import { RunDir } from '../coordinator/rundir';
import type { JobStatus, StatusSnapshot } from '../coordinator/status';

export interface FixtureOptions {
  repeats?: number;
  /** Job ids left without a result (a partial run); by default every job has one. */
  missing?: string[];
  /** Job ids recorded as failed in the journal (implies missing). */
  failed?: string[];
  /** Write results.json and a `finished` journal entry (default true unless something is missing). */
  finished?: boolean;
}

const COUNTS = { classes: ['benign', 'malignant'], train: { benign: 144, malignant: 120 }, test: { benign: 36, malignant: 30 } };

/** How separable the fake predictions are for a job (higher: better classifier). */
function strength(spec: JobSpec): number {
  if (spec.kind !== 'classifier') return 0;
  if (spec.scenario === 'reference') return 2.2;
  const b = Math.log10(spec.budget ?? 1);
  return spec.scenario === 'baseline' ? 0.4 + 0.5 * b : 0.6 + 0.55 * b + (spec.gan === 'pggan' ? 0.15 : 0);
}

function classifierResult(spec: Extract<JobSpec, { kind: 'classifier' }>): ClassifierJobResult {
  const rng = new Rng(spec.seed);
  const labels: number[] = [];
  const probs: number[][] = [];
  const s = strength(spec);
  for (const [ci, c] of COUNTS.classes.entries()) {
    for (let i = 0; i < COUNTS.test[c as 'benign' | 'malignant']; i++) {
      const z = rng.normal(ci === 1 ? s / 2 : -s / 2, 1);
      const p = 1 / (1 + Math.exp(-z));
      labels.push(ci);
      probs.push([1 - p, p]);
    }
  }
  const metrics = evaluate({ labels, classNames: COUNTS.classes, probs });
  const real = spec.budget ?? COUNTS.train.malignant;
  const generated = spec.scenario === 'gan' ? COUNTS.train.malignant - real : 0;
  return {
    ...classifierResultHead(spec),
    counts: { benign: { real: COUNTS.train.benign, generated: 0 }, malignant: { real, generated } },
    testCounts: { ...COUNTS.test },
    epochs: 1,
    steps: 17,
    finalLoss: 0.5,
    metrics,
    cis: null,
    durations: { loadMs: 5, trainMs: 1200 + rng.int(500), evalMs: 30, totalMs: 1500 + rng.int(500) },
    backend: 'cpu',
    replicas: 1,
    resumed: false,
  };
}

function ganResult(spec: Extract<JobSpec, { kind: 'gan' }>): GanJobResult {
  return {
    ...ganResultHead(spec),
    steps: 3,
    finalLosses: { d: 0.69, g: 1.2 },
    generated: spec.generate,
    artifacts: ['generated.bin', 'grid.png'],
    budgetFiles: [],
    quality: { featureNetwork: 'classifier clf-reference-r0 (all real images), penultimate layer', fid: 100 / Math.sqrt(spec.budget), kid: 0.5 / spec.budget, precision: 0.4, recall: 0.3, realCount: spec.budget, generatedCount: spec.generate },
    durations: { loadMs: 3, trainMs: 2500, evalMs: 200, totalMs: 2800 },
    backend: 'cpu',
    resumed: false,
  };
}

/** A grid PNG: a few "real" reddish tiles on top, a blank row, then greenish "generated" tiles. */
async function gridPng(seed: number): Promise<Buffer> {
  const size = 16;
  const cols = 4;
  const pad = 2;
  const rows = 3;
  const w = cols * size + (cols + 1) * pad;
  const h = rows * size + (rows + 1) * pad;
  const px = new Float32Array(w * h * 3).fill(1);
  const rng = new Rng(seed);
  for (const row of [0, 2]) {
    for (let c = 0; c < cols; c++) {
      for (let y = 0; y < size; y++) {
        for (let x = 0; x < size; x++) {
          const o = ((pad + row * (size + pad) + y) * w + pad + c * (size + pad) + x) * 3;
          const v = rng.uniform(-0.6, 0.6);
          px[o] = row === 0 ? 0.6 + v * 0.3 : v * 0.3;
          px[o + 1] = row === 0 ? -0.2 + v * 0.3 : 0.5 + v * 0.3;
          px[o + 2] = -0.3 + v * 0.2;
        }
      }
    }
  }
  return encodePng(px, w, h);
}

export interface Fixture {
  dir: string;
  config: StudyConfig;
  jobs: JobSpec[];
}

/** Writes a fake run directory under `dir` (created). */
export async function writeFixtureRun(dir: string, opts: FixtureOptions = {}): Promise<Fixture> {
  const config: StudyConfig = { ...profileDefaults('smoke'), repeats: opts.repeats ?? 1, runDir: dir };
  const plan = buildPlan(config, COUNTS);
  const rd = new RunDir(dir);
  await fs.mkdir(dir, { recursive: true });
  await writeJsonAtomic(rd.config, { config, overrides: { repeats: 'flag' } });
  await writeJsonAtomic(rd.plan, plan);
  const failed = new Set(opts.failed ?? []);
  const missing = new Set([...(opts.missing ?? []), ...failed]);
  const finished = opts.finished ?? missing.size === 0;

  // Journal lines as Journal.append writes them (without one fsync per line: tests stay fast).
  const lines: string[] = [];
  let clock = Date.parse('2026-01-01T00:00:00.000Z');
  const journal = {
    append: (e: DistributiveOmit<JournalEntry, 't'>): void => void lines.push(JSON.stringify({ t: new Date((clock += 1000)).toISOString(), ...e })),
  };
  journal.append({ event: 'start', run: path.basename(dir), resumed: false });
  const results: JobResult[] = [];
  for (const spec of plan.jobs) {
    if (failed.has(spec.id)) {
      journal.append({ event: 'failed', job: spec.id, attempt: 3, error: 'out of memory (fixture)', permanent: false });
      continue;
    }
    if (missing.has(spec.id)) {
      // The running job has progress so far.
      if (!finished && spec.id === plan.jobs.find((j) => missing.has(j.id) && !failed.has(j.id))?.id) {
        await fs.mkdir(rd.jobDir(spec.id), { recursive: true });
        await fs.writeFile(rd.jobMetrics(spec.id), [1, 2, 3].map((step) => JSON.stringify({ step, total: 6, losses: { loss: 0.8 - step * 0.1 }, imagesPerSec: 300 })).join('\n') + '\n');
      }
      continue;
    }
    const r = spec.kind === 'gan' ? ganResult(spec) : classifierResult(spec);
    results.push(r);
    journal.append({ event: 'done', job: spec.id, attempt: 1, trainer: spec.kind === 'gan' ? 't1' : 't2', result: r });
    await fs.mkdir(rd.jobDir(spec.id), { recursive: true });
    await fs.writeFile(rd.jobResult(spec.id), JSON.stringify(r));
    if (spec.kind === 'gan') await fs.writeFile(rd.jobFile(spec.id, 'grid.png'), await gridPng(spec.seed));
    const metrics = Array.from({ length: 6 }, (_, i) => JSON.stringify(spec.kind === 'gan' ? { step: i + 1, total: 6, losses: { d: 0.7 - i * 0.02, g: 1.4 - i * 0.1 }, imagesPerSec: 40 } : { step: i + 1, total: 6, losses: { loss: 0.7 - i * 0.05 }, imagesPerSec: 300 }));
    await fs.writeFile(rd.jobMetrics(spec.id), metrics.join('\n') + '\n');
  }
  if (finished) journal.append({ event: 'finished', done: results.length, failed: failed.size });
  await fs.writeFile(rd.journal, lines.join('\n') + '\n');
  const built = buildResults(plan, results);
  if (finished) {
    await writeJsonAtomic(rd.resultsJson, built);
    await writeFileAtomic(rd.resultsCsv, resultsCsv(built));
  }

  const t = '2026-01-01T00:00:00.000Z';
  const log = [
    { level: 30, time: t, event: 'coordinator-start', job: null, trainer: null, host: null, device: null, msg: 'coordinator listening' },
    { level: 30, time: t, event: 'trainer-joined', job: null, trainer: 't1', host: 'node1', device: 'cpu (JavaScript)', backend: 'cpu', gpu: null, pid: 11, msg: 'trainer t1 joined' },
    { level: 30, time: t, event: 'trainer-joined', job: null, trainer: 't2', host: 'node2', device: 'GPU 0: Fake', backend: 'tensorflow-gpu', gpu: '0', pid: 12, msg: 'trainer t2 joined' },
  ];
  await fs.writeFile(rd.log, log.map((l) => JSON.stringify(l)).join('\n') + '\n');

  const done = plan.jobs.filter((j) => !missing.has(j.id));
  const runningId = finished ? null : (plan.jobs.find((j) => missing.has(j.id) && !failed.has(j.id))?.id ?? null);
  const snapshot: StatusSnapshot = {
    run: path.basename(dir),
    runDir: dir,
    time: new Date().toISOString(),
    startedAt: t,
    elapsedMs: 65_000,
    counts: { waiting: 0, queued: finished ? 0 : Math.max(0, missing.size - failed.size - 1), running: runningId ? 1 : 0, done: done.length, failed: failed.size, skipped: 0, total: plan.jobs.length },
    etaMs: finished ? 0 : 30_000,
    finished,
    trainers: [
      { id: 't1', host: 'node1', device: 'cpu (JavaScript)', backend: 'cpu', gpu: null, state: 'busy', job: runningId, rank: 0, utilization: 0.93, jobsDone: 5, joinedAt: t, lastSeenMsAgo: 100 },
      { id: 't2', host: 'node2', device: 'GPU 0: Fake', backend: 'tensorflow-gpu', gpu: '0', state: 'idle', job: null, rank: null, utilization: 0.5, jobsDone: 7, joinedAt: t, lastSeenMsAgo: 200 },
    ],
    jobs: plan.jobs.map((j, i): JobStatus => ({
      id: j.id,
      kind: j.kind,
      state: failed.has(j.id) ? 'failed' : missing.has(j.id) ? (j.id === runningId ? 'running' : 'queued') : 'done',
      attempt: 1,
      trainers: j.id === runningId ? ['t1'] : [],
      step: j.id === runningId ? 3 : missing.has(j.id) ? null : 6,
      total: j.id === runningId || !missing.has(j.id) ? 6 : null,
      losses: j.kind === 'gan' ? { d: 0.65, g: 1.1 } : { loss: 0.45 },
      imagesPerSec: 40,
      startedAt: t,
      finishedAt: missing.has(j.id) ? null : t,
      durationMs: missing.has(j.id) ? null : 1000 + i,
      error: failed.has(j.id) ? 'out of memory (fixture)' : null,
    })),
  };
  await writeJsonAtomic(rd.status, snapshot);
  return { dir, config, jobs: plan.jobs };
}
