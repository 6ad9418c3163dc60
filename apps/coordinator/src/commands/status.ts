/**
 * `study status DIR [--json] [--http PORT]`: the status table of a study from its run directory,
 * during and after a run: jobs done/running/queued/failed, each trainer's job and utilization, the
 * study's ETA (the coordinator's DIR/status.json snapshot; see ../status-page/run-status.ts).
 * `--json` prints the snapshot for scripts; `--http PORT` serves the live status page from the
 * run directory until interrupted (the coordinator's own `--http` serves the same page live).
 */
import { Command } from 'commander';
import { UserInputError } from '@gan-study/core';
import { formatStatusTable } from '../coordinator/status';
import { readRunStatus, type RunStatus } from '../status-page/run-status';
import { startStatusServer } from '../status-page/server';

export interface StatusJson extends Record<string, unknown> {
  snapshotSource: RunStatus['source'];
  snapshotAgeMs: number | null;
  stale: boolean;
}

/** The lines `study status DIR` prints. */
export function formatRunStatus(s: RunStatus): string {
  const lines = [formatStatusTable(s.snapshot)];
  for (const j of s.snapshot.jobs) if (j.state === 'failed') lines.push(`  FAILED ${j.id} (attempt ${j.attempt}): ${j.error ?? 'no reason recorded'}`);
  if (s.snapshot.finished) lines.push(`  study finished; report: study report ${s.snapshot.runDir}`);
  if (s.note) lines.push(`  note: ${s.note}`);
  return lines.join('\n');
}

export function register(program: Command): void {
  program
    .command('status')
    .description('print the status table of a study from its run directory (during or after a run)')
    .argument('<dir>', 'the run directory')
    .option('--json', 'print the status snapshot as JSON')
    .option('--http <port>', 'serve the live status page (JSON at /status) from the run directory until interrupted')
    .action(async (dir: string, opts: { json?: boolean; http?: string }) => {
      const status = await readRunStatus(dir);
      if (opts.json) {
        const out: StatusJson = { ...status.snapshot, snapshotSource: status.source, snapshotAgeMs: status.ageMs, stale: status.stale };
        process.stdout.write(JSON.stringify(out, null, 2) + '\n');
      } else {
        process.stdout.write(formatRunStatus(status) + '\n');
      }
      if (opts.http !== undefined) {
        const port = Number(opts.http);
        if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UserInputError(`--http: expected a port number 0-65535, got '${opts.http}'`);
        const server = await startStatusServer({ port, runDir: dir });
        process.stderr.write(`status page of ${dir} at ${server.url} (Ctrl-C to stop)\n`);
        await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
        await server.close();
      }
    });
}
