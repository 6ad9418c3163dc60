/**
 * A study's status read from its run directory (for `study status DIR` and the status page when no
 * coordinator is attached): the coordinator's latest snapshot, DIR/status.json (rewritten every
 * status tick), with how old it is; or, when there is no snapshot, counts rebuilt from plan.json
 * and the journal. A snapshot of an unfinished study that is much older than the status period
 * means the coordinator stopped (crashed or was killed): the status says so, and how to resume.
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import { UserInputError, readJson } from '@gan-study/core';
import type { Plan } from '@gan-study/protocol';
import { Journal } from '../coordinator/journal';
import { RunDir } from '../coordinator/rundir';
import type { JobState, JobStatus, StatusSnapshot } from '../coordinator/status';

export interface RunStatus {
  snapshot: StatusSnapshot;
  /** 'status.json': the coordinator's own snapshot; 'journal': rebuilt (no live details). */
  source: 'status.json' | 'journal';
  /** Age of the snapshot (now - its time), or null when rebuilt. */
  ageMs: number | null;
  /** The study is not finished and its snapshot is too old for a live coordinator. */
  stale: boolean;
  /** A line for people about the two above, or null when the snapshot is fresh or final. */
  note: string | null;
}

function isSnapshot(v: unknown): v is StatusSnapshot {
  if (!v || typeof v !== 'object') return false;
  const s = v as Record<string, unknown>;
  return typeof s.time === 'string' && typeof s.counts === 'object' && s.counts !== null && Array.isArray(s.trainers) && Array.isArray(s.jobs);
}

/** A snapshot from plan.json and the journal: done and failed jobs; the rest waiting. */
export function snapshotFromJournal(runDir: string, plan: Plan, entries: Awaited<ReturnType<typeof Journal.read>>): StatusSnapshot {
  const state = new Map<string, { state: JobState; error: string | null; t: string | null; attempt: number }>();
  let startedAt: string | null = null;
  let last: string | null = null;
  let finished = false;
  for (const e of entries) {
    last = e.t;
    if (e.event === 'start') {
      startedAt ??= e.t;
      finished = false;
    } else if (e.event === 'done') state.set(e.job, { state: 'done', error: null, t: e.t, attempt: e.attempt });
    else if (e.event === 'failed' && state.get(e.job)?.state !== 'done') state.set(e.job, { state: 'failed', error: e.error, t: e.t, attempt: e.attempt });
    else if (e.event === 'finished') finished = true;
  }
  const counts = { waiting: 0, queued: 0, running: 0, done: 0, failed: 0, skipped: 0, total: plan.jobs.length };
  const jobs: JobStatus[] = plan.jobs.map((j) => {
    const s = state.get(j.id);
    // A failed journal entry that is not permanent may have been retried; without a snapshot only
    // the study's end tells a final failure from a retry in flight.
    const st: JobState = s?.state === 'done' ? 'done' : s?.state === 'failed' && finished ? 'failed' : 'waiting';
    counts[st]++;
    return { id: j.id, kind: j.kind, state: st, attempt: s?.attempt ?? 0, trainers: [], step: null, total: null, losses: {}, imagesPerSec: null, startedAt: null, finishedAt: st === 'done' ? s?.t ?? null : null, durationMs: null, error: s?.error ?? null };
  });
  const start = startedAt ? Date.parse(startedAt) : NaN;
  const end = last ? Date.parse(last) : NaN;
  return {
    run: path.basename(runDir),
    runDir,
    time: last ?? new Date(0).toISOString(),
    startedAt: startedAt ?? new Date(0).toISOString(),
    elapsedMs: Number.isFinite(start) && Number.isFinite(end) ? end - start : 0,
    counts,
    etaMs: null,
    finished,
    trainers: [],
    jobs,
  };
}

async function statusPeriodMs(dir: RunDir): Promise<number> {
  try {
    const rec = (await readJson(dir.config)) as { config?: { statusEverySec?: unknown } };
    const s = rec.config?.statusEverySec;
    if (typeof s === 'number' && s > 0) return s * 1000;
  } catch {
    /* default below */
  }
  return 30_000;
}

/** Reads a run directory's status; `now` for tests. */
export async function readRunStatus(runDir: string, now: number = Date.now()): Promise<RunStatus> {
  const dir = new RunDir(path.resolve(runDir));
  try {
    if (!(await fs.stat(dir.root)).isDirectory()) throw new Error('not a directory');
  } catch {
    throw new UserInputError(`run directory ${runDir} does not exist`);
  }
  const entries = await Journal.read(dir.journal, () => undefined);
  const journalFinished = entries.length > 0 && entries[entries.length - 1].event === 'finished';
  let raw: unknown = null;
  try {
    raw = await readJson(dir.status);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new UserInputError(`${dir.status}: ${(err as Error).message}`);
  }
  if (raw !== null) {
    if (!isSnapshot(raw)) throw new UserInputError(`${dir.status}: not a status snapshot (expected time, counts, trainers and jobs)`);
    const snapshot = raw;
    const ageMs = now - Date.parse(snapshot.time);
    const period = await statusPeriodMs(dir);
    const stale = !snapshot.finished && !journalFinished && ageMs > 3 * period + 5000;
    const note = stale
      ? `the last status snapshot is ${Math.round(ageMs / 1000)} s old (the coordinator writes one every ${period / 1000} s): the coordinator is not running; continue with: study run --resume ${dir.root}`
      : null;
    return { snapshot, source: 'status.json', ageMs, stale, note };
  }
  let plan: Plan;
  try {
    plan = (await readJson(dir.plan)) as Plan;
  } catch {
    throw new UserInputError(`${runDir}: neither status.json nor plan.json; is it a run directory?`);
  }
  const snapshot = snapshotFromJournal(dir.root, plan, entries);
  return {
    snapshot,
    source: 'journal',
    ageMs: null,
    stale: !snapshot.finished,
    note: `no status.json: counts rebuilt from the journal${snapshot.finished ? '' : ' (no live details; the coordinator is not running or has not written a snapshot yet)'}`,
  };
}
