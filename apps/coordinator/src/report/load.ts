/**
 * Reads a run directory into the report's inputs (the only I/O of the report besides writing it).
 *
 * results.json is used when the run finished (the journal's last entry is `finished`, or there is
 * no journal); otherwise the results are rebuilt from plan.json and the journal's `done` entries
 * with the same builder (buildResults), so a report of a run in progress or of a crashed run shows
 * what exists and lists what is missing.
 */
import { promises as fs, readFileSync } from 'fs';
import * as path from 'path';
import { UserInputError, readJson } from '@gan-study/core';
import { GAN_ARTIFACTS, buildResults, parseConfigRecord, type ConfigSource, type JobResult, type Plan, type StudyConfig, type StudyResults } from '@gan-study/protocol';
import { Journal, type JournalEntry } from '../coordinator/journal';
import { RunDir } from '../coordinator/rundir';
import type { ReportInputs, SoftwareFacts, TrainerFact } from './model';

async function readOptional<T>(file: string): Promise<T | null> {
  try {
    return (await readJson(file)) as T;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new UserInputError(`${file}: ${(err as Error).message}`);
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await fs.access(file);
    return true;
  } catch {
    return false;
  }
}

/** Trainers that joined, from coordinator.log's `trainer-joined` events (the last join per id wins). */
export function trainersFromLog(text: string): TrainerFact[] {
  const byId = new Map<string, TrainerFact>();
  for (const line of text.split('\n')) {
    if (!line.includes('"trainer-joined"')) continue;
    let rec: Record<string, unknown>;
    try {
      rec = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue;
    }
    if (rec.event !== 'trainer-joined' || typeof rec.trainer !== 'string') continue;
    byId.set(rec.trainer, {
      id: rec.trainer,
      host: String(rec.host ?? '?'),
      device: String(rec.device ?? '?'),
      backend: String(rec.backend ?? '?'),
      gpu: typeof rec.gpu === 'string' ? rec.gpu : null,
      pid: typeof rec.pid === 'number' ? rec.pid : null,
    });
  }
  return [...byId.values()].sort((a, b) => a.id.localeCompare(b.id, undefined, { numeric: true }));
}

/** The versions that matter for reproducing numbers, of this process. */
export interface SoftwareVersions {
  node: string;
  platform: string;
  study: string;
  tfjs: string | null;
}

/**
 * This process's versions. The coordinator should log them once per session, as
 * `versions: softwareVersions()` on its `coordinator-start` event; the report then names the
 * versions the run used (versionsFromLog) instead of its own.
 */
export function softwareVersions(): SoftwareVersions {
  const version = (file: string): string | null => {
    try {
      return (JSON.parse(readFileSync(file, 'utf8')) as { version?: string }).version ?? null;
    } catch {
      return null;
    }
  };
  let tfjs: string | null = null;
  try {
    tfjs = version(require.resolve('@tensorflow/tfjs/package.json'));
  } catch {
    tfjs = null;
  }
  return { node: process.version, platform: `${process.platform}/${process.arch}`, study: version(path.join(__dirname, '..', '..', 'package.json')) ?? '?', tfjs };
}

/** The versions of the run's last session, from coordinator.log's `coordinator-start` events, or null. */
export function versionsFromLog(text: string): SoftwareVersions | null {
  let found: SoftwareVersions | null = null;
  for (const line of text.split('\n')) {
    if (!line.includes('"coordinator-start"')) continue;
    try {
      const v = (JSON.parse(line) as { versions?: Partial<SoftwareVersions> }).versions;
      if (v && typeof v.node === 'string') found = { node: v.node, platform: String(v.platform ?? '?'), study: String(v.study ?? '?'), tfjs: typeof v.tfjs === 'string' ? v.tfjs : null };
    } catch {
      /* a torn line */
    }
  }
  return found;
}

/** The software facts of the report: the run's versions when it logged them, else this process's (said so). */
export function softwareFacts(logText = ''): SoftwareFacts {
  const run = versionsFromLog(logText);
  if (run) return { ...run, source: 'versions the run logged at its last start' };
  return { ...softwareVersions(), source: 'versions of the process that wrote this report; the run did not log its own' };
}

export interface LoadedRun {
  inputs: ReportInputs;
  /** Grid PNG bytes by relative path, for inlining. */
  images: Map<string, Uint8Array>;
}

export interface LoadOptions {
  /** Read the grid PNGs for inlining (default true; the live page does without). */
  images?: boolean;
  now?: Date;
}

export async function loadRun(runDir: string, opts: LoadOptions = {}): Promise<LoadedRun> {
  const now = opts.now ?? new Date();
  const dir = new RunDir(path.resolve(runDir));
  let stat;
  try {
    stat = await fs.stat(dir.root);
  } catch {
    throw new UserInputError(`run directory ${runDir} does not exist`);
  }
  if (!stat.isDirectory()) throw new UserInputError(`${runDir} is not a directory`);

  const configRecord = await readOptional<{ config: unknown; overrides?: Record<string, ConfigSource> }>(dir.config);
  const config: StudyConfig | null = configRecord ? parseConfigRecord(configRecord, dir.config) : null;
  const plan = await readOptional<Plan>(dir.plan);
  const journal: JournalEntry[] = await Journal.read(dir.journal, () => undefined);
  const finished = journal.length === 0 || journal[journal.length - 1].event === 'finished';
  let results = finished ? await readOptional<StudyResults>(dir.resultsJson) : null;
  let resultsSource: ReportInputs['resultsSource'] = 'results.json';
  if (!results) {
    if (!plan) throw new UserInputError(`${runDir}: neither results.json nor plan.json; is it a run directory?`);
    const done = new Map<string, JobResult>();
    for (const e of journal) if (e.event === 'done') done.set(e.job, e.result as JobResult);
    results = buildResults(plan, done.values());
    resultsSource = 'journal';
  } else if (!Array.isArray(results.rows) || !Array.isArray(results.aggregates) || !Array.isArray(results.gans) || !Array.isArray(results.missing)) {
    throw new UserInputError(`${dir.resultsJson}: not a results file (expected rows, aggregates, gans and missing arrays)`);
  }

  let logText = '';
  try {
    logText = await fs.readFile(dir.log, 'utf8');
  } catch {
    logText = '';
  }

  const grids: Record<string, string> = {};
  const images = new Map<string, Uint8Array>();
  const ganIds = plan ? plan.jobs.filter((j) => j.kind === 'gan').map((j) => j.id) : results.gans.map((g) => g.id);
  for (const id of ganIds) {
    const abs = dir.jobFile(id, GAN_ARTIFACTS.grid);
    if (!(await exists(abs))) continue;
    const rel = path.relative(dir.root, abs).split(path.sep).join('/');
    grids[id] = rel;
    if (opts.images ?? true) images.set(rel, await fs.readFile(abs));
  }

  return {
    inputs: {
      runDir: dir.root,
      generatedAt: now.toISOString(),
      config,
      overrides: configRecord?.overrides ?? {},
      plan,
      results,
      resultsSource,
      journal,
      trainers: trainersFromLog(logText),
      grids,
      software: softwareFacts(logText),
    },
    images,
  };
}
