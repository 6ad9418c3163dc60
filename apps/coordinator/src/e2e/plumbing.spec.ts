/**
 * End to end, with dry-run jobs (no model, see apps/trainer/src/dry-run.ts) so the tests measure
 * the plumbing, not training: real `study coordinator`, `study trainer` and `study run` processes
 * on tcp loopback; a trainer killed with SIGKILL mid-job; a trainer joining mid-study; a
 * coordinator killed mid-study and resumed from its run directory.
 */
import { promises as fs } from 'fs';
import * as os from 'os';
import * as path from 'path';
import { finish, killAll, readLog, readPlanJobs, readResults, study, trainer, waitForLog, type LogRecord } from './harness';

jest.setTimeout(150_000);

// A smaller plan (2 budgets x 2 GANs: 11 jobs) and fast liveness settings.
const FAST = ['--budgets', '5,20', '--gans', 'dcgan,cyclegan', '--set', 'heartbeatMs=100', '--set', 'trainerTimeoutMs=2000', '--set', 'statusEverySec=5', '--set', 'checkpointEvery=2'];

describe('study end to end (dry-run jobs)', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'study-e2e-'));
  });
  afterEach(async () => {
    await killAll();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('multi-host commands: a trainer killed with SIGKILL mid-job, one hung, another joining mid-study, every row in the results', async () => {
    const coordinator = study(['coordinator', '--profile', 'smoke', '--bind', 'tcp://127.0.0.1:*', '--run-dir', dir, '--min-trainers', '2', ...FAST]);
    const address = await waitForLog(dir, (log) => log.find((l) => l.event === 'coordinator-start')?.address as string | undefined, 60_000, 'the coordinator to listen', coordinator);
    const trainerArgs = (id: string): string[] => ['--connect', address, '--id', id, '--dry-run', '--dry-run-steps', '6', '--dry-run-step-ms', '80', '--peer-bind', 'tcp://127.0.0.1:*', '--exit-with-parent', '--give-up-after', '30'];
    const t1 = trainer(trainerArgs('t1'));
    trainer(trainerArgs('t2'));
    // Once t2 has checkpointed a job, kill its process (the trainer itself, not the `study trainer` wrapper).
    const victim = await waitForLog(
      dir,
      (log) => {
        const pid = log.find((l) => l.event === 'trainer-joined' && l.trainer === 't2')?.pid as number | undefined;
        const started = log.filter((l) => l.event === 'job-start' && l.trainer === 't2').at(-1);
        const ckpt = started && log.find((l) => l.event === 'checkpoint' && l.trainer === 't2' && l.job === started.job && Number(l.step) >= 2);
        return pid && ckpt ? { pid, job: String(started.job) } : undefined;
      },
      60_000,
      't2 to checkpoint a job',
      coordinator,
    );
    process.kill(victim.pid, 'SIGKILL');
    const lost = await waitForLog(dir, (log) => log.find((l) => l.event === 'trainer-lost' && l.trainer === 't2'), 20_000, 't2 to be declared lost', coordinator);
    expect(lost).toMatchObject({ job: victim.job, host: os.hostname(), device: 'none (dry run)' });
    expect(String(lost.msg)).toMatch(new RegExp(`job ${victim.job}: back to the queue`));
    // t1 hangs (SIGSTOP): it must be declared lost too, so the study cannot finish without t3,
    // which joins mid-study through `study trainer`, as on another host.
    t1.child.kill('SIGSTOP');
    study(['trainer', ...trainerArgs('t3')]);
    const hung = await waitForLog(dir, (log) => log.find((l) => l.event === 'trainer-lost' && l.trainer === 't1'), 20_000, 't1 (hung) to be declared lost', coordinator);
    expect(String(hung.msg)).toMatch(/no message for \d+\.\d s/);
    const { code } = await finish(coordinator, 120_000);
    expect(code).toBe(0);

    const log = await readLog(dir);
    const detectedMs = Date.parse(String(lost.time)) - Date.parse(String(log.find((l) => l.event === 'checkpoint' && l.trainer === 't2' && l.job === victim.job)?.time));
    expect(detectedMs).toBeLessThan(10_000);
    const rerun = log.find((l) => l.event === 'job-start' && l.job === victim.job && l.trainer !== 't2');
    expect(rerun).toBeDefined();
    expect(Number(rerun?.resumeStep)).toBeGreaterThanOrEqual(2);
    expect(log.some((l) => l.event === 'job-start' && l.trainer === 't3')).toBe(true);
    const jobs = await readPlanJobs(dir);
    const results = await readResults(dir);
    expect(results.missing).toEqual([]);
    expect(results.rows.map((r) => r.id).sort()).toEqual(jobs.filter((j) => j.kind === 'classifier').map((j) => j.id).sort());
    // Every event names its job, trainer, host and device.
    for (const l of log) for (const k of ['event', 'job', 'trainer', 'host', 'device']) expect(l).toHaveProperty(k);
  });

  it('study run: the coordinator killed mid-study, then --resume finishes without re-running finished jobs', async () => {
    const args = ['--dry-run', '--dry-run-steps', '4', '--dry-run-step-ms', '60'];
    // --gpus 0,1: two local trainers, each pinned through CUDA_VISIBLE_DEVICES (dry-run jobs never load a backend).
    const first = study(['run', '--profile', 'smoke', '--gpus', '0,1', '--run-dir', dir, ...FAST, ...args]);
    const joined = await waitForLog(dir, (log) => log.filter((l) => l.event === 'job-done').length >= 4 && log.filter((l) => l.event === 'trainer-joined'), 90_000, 'four finished jobs', first);
    expect(joined.map((l) => [l.trainer, l.gpu]).sort()).toEqual([
      ['t1', '0'],
      ['t2', '1'],
    ]);
    first.child.kill('SIGKILL');
    await first.exited;
    const journal = (await fs.readFile(path.join(dir, 'journal.jsonl'), 'utf8'))
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l) as { event: string; job?: string });
    const doneBefore = new Set(journal.filter((e) => e.event === 'done').map((e) => e.job));
    expect(doneBefore.size).toBeGreaterThanOrEqual(4);

    const second = study(['run', '--resume', dir, '--http', '0', ...args]);
    const { code } = await finish(second, 120_000);
    expect(code).toBe(0);
    const log = await readLog(dir);
    const restart = log.map((l, i) => [l, i] as [LogRecord, number]).filter(([l]) => l.event === 'coordinator-start')[1][1];
    expect(log[restart].msg).toMatch(/already done \(journal\)/);
    const rerun = log.slice(restart).filter((l) => l.event === 'job-start' && doneBefore.has(String(l.job)));
    expect(rerun).toEqual([]);
    const jobs = await readPlanJobs(dir);
    const results = await readResults(dir);
    expect(results.missing).toEqual([]);
    expect(results.rows).toHaveLength(jobs.filter((j) => j.kind === 'classifier').length);
    // The end of `study run`: the report; --http served the live page meanwhile.
    expect(log.find((l) => l.event === 'status-page')?.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect(log.find((l) => l.event === 'report')?.html).toBe(path.join(dir, 'report.html'));
    await expect(fs.stat(path.join(dir, 'report.html'))).resolves.toBeTruthy();
  });
});
