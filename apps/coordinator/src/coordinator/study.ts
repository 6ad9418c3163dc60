/**
 * One study from the command line: the resolved config (or a run directory to resume), the dataset,
 * the plan, the coordinator, and (for `study run`) the local trainer processes.
 */
import type { ChildProcess } from 'child_process';
import { promises as fs } from 'fs';
import * as path from 'path';
import { UserInputError, readJson, writeJsonAtomic } from '@gan-study/core';
import { buildPlan, parseConfigRecord, type Plan, type StudyConfig } from '@gan-study/protocol';
import { createCoordinatorLog, type CoordinatorLogger } from './log';
import { prepareDataset } from './dataset';
import { RunDir } from './rundir';
import { Coordinator, type CoordinatorEvent, type StudyOutcome } from './service';
import { spawnTrainer } from './trainer-process';
import { softwareVersions, writeReport } from '../report';
import { startStatusServer, type StatusServer } from '../status-page';

export interface LocalTrainers {
  count: number;
  /** GPU per trainer (CUDA_VISIBLE_DEVICES), or null. */
  gpus: number[] | null;
  backend: string;
  dryRun: { steps: number; stepMs: number } | null;
}

export interface StudyRunOptions {
  config: StudyConfig;
  resume: boolean;
  bind: string;
  /** Local trainer processes to start (study run), or null (study coordinator: trainers connect on their own). */
  local: LocalTrainers | null;
  /** Scheduling starts when this many trainers joined. */
  minTrainers: number;
  shutdownTrainers: boolean;
  console: { write(s: string): unknown } | null;
  /** Called once the coordinator listens (tests read the endpoint from the log instead). */
  onListening?: (address: string) => void;
  /** The coordinator, once started: `snapshot()` for a live status page (the --http server of issue 6). */
  onCoordinator?: (coordinator: Coordinator) => void;
  /** Every coordinator event as it is logged. */
  onEvent?: (e: CoordinatorEvent) => void;
  /** Synthetic and decoded data sets shared by studies (studyCacheDir); null or absent: inside the run directory. */
  cacheDir?: string | null;
}

/** Reads a run directory's saved config for --resume. */
export async function readSavedConfig(runDir: string): Promise<StudyConfig> {
  const file = new RunDir(runDir).config;
  let contents: unknown;
  try {
    contents = await readJson(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new UserInputError(`--resume ${runDir}: no config.json there; is it a run directory?`);
    throw err;
  }
  const config = parseConfigRecord(contents, file);
  config.runDir = path.resolve(runDir);
  return config;
}

async function planFor(config: StudyConfig, counts: Plan['counts'], dir: RunDir, resume: boolean): Promise<Plan> {
  const plan = buildPlan(config, counts);
  if (resume) {
    let saved: unknown = null;
    try {
      saved = await readJson(dir.plan);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (saved !== null && JSON.stringify(saved) !== JSON.stringify(plan)) {
      throw new UserInputError(`--resume ${dir.root}: ${dir.plan} differs from the plan its config.json gives now (was the dataset or the code changed?); start a new run`);
    }
  }
  await writeJsonAtomic(dir.plan, plan);
  return plan;
}

/** Listening on 0.0.0.0 is reached locally at 127.0.0.1. */
export function connectAddress(bound: string): string {
  return bound.replace('://0.0.0.0:', '://127.0.0.1:').replace('://*:', '://127.0.0.1:');
}

export async function runStudy(opts: StudyRunOptions): Promise<StudyOutcome> {
  const config = opts.config;
  const dir = new RunDir(config.runDir);
  await fs.mkdir(dir.root, { recursive: true });
  const log: CoordinatorLogger = await createCoordinatorLog({ file: dir.log, console: opts.console });
  const note = (line: string): void => log.info({ event: 'note', job: null, trainer: null, host: null, device: null }, line);
  const dataset = await prepareDataset(config, dir.root, note, { cacheDir: opts.cacheDir ?? null });
  const plan = await planFor(config, dataset.counts, dir, opts.resume);
  note(
    `plan: ${plan.jobs.length} jobs (${plan.jobs.filter((j) => j.kind === 'gan').length} GAN, ${plan.jobs.filter((j) => j.kind === 'classifier').length} classifier) ` +
      `on ${dataset.syntheticSet !== null ? 'the synthetic set' : dataset.root}; classes ${plan.classes.join(', ')}, minority ${plan.minorityClasses.join(', ')}`,
  );

  const coordinator = new Coordinator({
    bind: opts.bind,
    runDir: dir.root,
    plan,
    settings: config,
    dataset: dataset.load,
    syntheticSet: dataset.syntheticSet,
    log,
    resume: opts.resume,
    minTrainers: opts.minTrainers,
    shutdownTrainers: opts.shutdownTrainers,
    onEvent: opts.onEvent,
    startFields: { versions: softwareVersions() },
  });
  await coordinator.start();
  opts.onListening?.(coordinator.address);
  opts.onCoordinator?.(coordinator);
  const who = { job: null, trainer: null, host: null, device: null };

  // --http PORT: the live status page, reachable from other hosts when the coordinator is.
  let statusServer: StatusServer | null = null;
  if (config.http !== null) {
    const loopback = /:\/\/(127\.0\.0\.1|localhost)[:/]/.test(opts.bind);
    statusServer = await startStatusServer({
      port: config.http,
      host: loopback ? '127.0.0.1' : '0.0.0.0',
      runDir: dir.root,
      snapshot: () => coordinator.snapshot(),
      onError: (err) => log.warn({ ...who, event: 'status-page-error' }, `status page request failed: ${err.message}`),
    });
    log.info({ ...who, event: 'status-page', url: statusServer.url }, `live status page at ${statusServer.url}`);
  }

  const children: ChildProcess[] = [];
  let stopping = false;
  const exited: Promise<void>[] = [];
  let allGone: () => void = () => undefined;
  const allGonePromise = new Promise<void>((resolve) => (allGone = resolve));
  if (opts.local) {
    const l = opts.local;
    for (let i = 0; i < l.count; i++) {
      const id = `t${i + 1}`;
      const args = ['--connect', connectAddress(coordinator.address), '--id', id, '--backend', l.backend, '--peer-bind', 'tcp://127.0.0.1:*', '--exit-with-parent', '--quiet', '--give-up-after', String(Math.ceil((config.trainerTimeoutMs * 6) / 1000))];
      // The coordinator's own cache: local trainers make the synthetic set where this study's link
      // points, or decode the study's image folder themselves (they see it: same host). Without
      // a shared cache, a folder's decoded sets stay in the run directory, as the coordinator's do.
      if (dataset.syntheticSet !== null) args.push('--cache-dir', opts.cacheDir ?? 'off');
      else args.push('--data', dataset.root, '--cache-dir', opts.cacheDir ?? path.join(dir.root, '.cache'));
      if (l.dryRun) args.push('--dry-run', '--dry-run-steps', String(l.dryRun.steps), '--dry-run-step-ms', String(l.dryRun.stepMs));
      const env: Record<string, string> = {};
      if (l.gpus) env.CUDA_VISIBLE_DEVICES = String(l.gpus[i]);
      const child = spawnTrainer({ args, env });
      children.push(child);
      log.info({ event: 'trainer-spawned', job: null, trainer: id, host: null, device: l.gpus ? `GPU ${l.gpus[i]}` : null, pid: child.pid }, `started local trainer ${id} (pid ${child.pid}${l.gpus ? `, CUDA_VISIBLE_DEVICES=${l.gpus[i]}` : ''})`);
      exited.push(
        new Promise<void>((resolve) =>
          child.once('exit', (code, signal) => {
            if (!stopping) {
              log.warn({ event: 'trainer-exited', job: null, trainer: id, host: null, device: null, code, signal }, `local trainer ${id} (pid ${child.pid}) exited (${signal ?? `code ${code}`}) while the study runs; the coordinator requeues its job`);
            }
            resolve();
          }),
        ),
      );
    }
    void Promise.all(exited).then(() => allGone());
  }

  const stopOnSignal = (signal: NodeJS.Signals): void => {
    process.once(signal, () => {
      log.warn({ event: 'interrupted', job: null, trainer: null, host: null, device: null, signal }, `got ${signal}: stopping; resume with: study run --resume ${dir.root}`);
      stopping = true;
      for (const c of children) c.kill('SIGTERM');
      void coordinator.stop().then(() => process.exit(130));
    });
  };
  stopOnSignal('SIGINT');
  stopOnSignal('SIGTERM');

  try {
    const outcome = await Promise.race([
      coordinator.finished,
      opts.local ? allGonePromise.then(() => Promise.race([coordinator.finished, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('every local trainer exited before the study finished; see the log above')), 2000))])) : new Promise<never>(() => undefined),
    ]);
    stopping = true; // the trainers were told to exit: their exits are expected from here on
    // The report (report.md, report.html), as `study report DIR` writes it; a failure here does not undo the study.
    try {
      const report = await writeReport(dir.root);
      log.info({ ...who, event: 'report', html: report.html, markdown: report.markdown }, `report: ${report.html}`);
    } catch (err) {
      log.warn({ ...who, event: 'report-error', err: { message: (err as Error).message } }, `writing the report failed: ${(err as Error).message}; run \`study report ${dir.root}\` to retry`);
    }
    return outcome;
  } finally {
    await statusServer?.close();
    stopping = true;
    // Trainers were told to shut down; give them a moment, then make sure.
    await Promise.race([Promise.all(exited), new Promise((r) => setTimeout(r, 3000))]);
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await coordinator.stop();
    log.flush?.();
  }
}
