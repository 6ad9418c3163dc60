/**
 * The study's live status: a plain-data snapshot (written to DIR/status.json on every tick, for
 * `study status DIR` and a status page) and the compact table the console shows every
 * `statusEverySec` seconds.
 */
import { formatDuration, formatLosses } from './log';

export type JobState = 'waiting' | 'queued' | 'running' | 'done' | 'failed' | 'skipped';

export interface JobStatus {
  id: string;
  kind: string;
  state: JobState;
  attempt: number;
  /** Trainers running it (one per replica), empty when not running. */
  trainers: string[];
  step: number | null;
  total: number | null;
  losses: Record<string, number>;
  imagesPerSec: number | null;
  startedAt: string | null;
  finishedAt: string | null;
  durationMs: number | null;
  error: string | null;
}

export interface TrainerStatus {
  id: string;
  host: string;
  device: string;
  backend: string;
  gpu: string | null;
  state: 'idle' | 'busy' | 'lost' | 'left';
  job: string | null;
  rank: number | null;
  /** Busy time / time connected. */
  utilization: number;
  jobsDone: number;
  joinedAt: string;
  lastSeenMsAgo: number;
}

export interface StatusSnapshot {
  run: string;
  runDir: string;
  time: string;
  startedAt: string;
  elapsedMs: number;
  counts: Record<JobState, number> & { total: number };
  /** Estimated time to finish, from the mean duration of finished jobs; null before the first. */
  etaMs: number | null;
  finished: boolean;
  trainers: TrainerStatus[];
  jobs: JobStatus[];
}

function pad(s: string, n: number): string {
  return s.length >= n ? s.slice(0, n) : s + ' '.repeat(n - s.length);
}

/** The console table: one summary line, one line per trainer, one per running job. */
export function formatStatusTable(s: StatusSnapshot): string {
  const c = s.counts;
  const lines = [
    `status ${s.run}: jobs ${c.done}/${c.total} done, ${c.running} running, ${c.queued} queued, ${c.waiting} waiting, ${c.failed} failed, ${c.skipped} skipped; ` +
      `elapsed ${formatDuration(s.elapsedMs)}, eta ${s.etaMs === null ? '?' : formatDuration(s.etaMs)}`,
  ];
  const live = s.trainers.filter((t) => t.state === 'idle' || t.state === 'busy');
  if (live.length === 0) lines.push('  (no trainers connected)');
  for (const t of live) {
    const job = s.jobs.find((j) => j.id === t.job);
    const prog = job && job.step !== null && job.total ? ` step ${job.step}/${job.total} ${formatLosses(job.losses)}` : '';
    lines.push(
      `  ${pad(t.id, 14)} ${pad(`${t.host}/${t.device}`, 28)} ${pad(t.state, 4)} util ${String(Math.round(t.utilization * 100)).padStart(3)}%  ` +
        `${t.job ? `${t.job}${t.rank !== null && t.rank > 0 ? ` (rank ${t.rank})` : ''}${prog}` : '-'}`,
    );
  }
  return lines.join('\n');
}
