/**
 * The coordinator: runs a study's job graph on whatever trainers connect, over ZeroMQ.
 *
 * A ROUTER socket; each trainer is a DEALER whose routing id is its trainer id. Messages are the
 * versioned protocol of @gan-study/protocol, decoded and validated here at the socket edge; a
 * malformed, unknown or stale message is logged (one line, with the reason) and dropped.
 *
 * Scheduling: a job is queued once every job it depends on is done; a queued job goes to idle
 * trainers (a data-parallel classifier job to up to `replicas` of them at once; fewer when fewer
 * trainers exist, which gives the same result since the global batch is the same). Trainers that
 * join mid-study get work at once; trainers that leave or stop answering (no heartbeat within
 * `trainerTimeoutMs`) are dropped and their jobs go back to the queue, resuming from their last
 * checkpoint. A job that fails with a permanent error is not retried and its dependents are skipped;
 * others are retried up to `maxAttempts` attempts.
 *
 * The run directory is the source of truth (see rundir.ts): a finished job is journaled (fsynced)
 * before its trainer is acknowledged, and a coordinator started on the same directory with
 * `resume` skips every journaled job.
 *
 * Service shape after zeromq.js `examples/majordomo`: constructor(opts), start(), stop() (safe to
 * call twice), `finished` resolving with the study's outcome.
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import * as zmq from 'zeromq';
import { z } from 'zod';
import { readJson, writeFileAtomic, writeJsonAtomic } from '@gan-study/core';
import type { Dataset } from '@gan-study/data';
import {
  CoordinatorReducer,
  SendQueue,
  buildResults,
  bytesToF32,
  decodeTrainerMessage,
  encodeCoordinatorFrames,
  encodeDataset,
  f32ToBytes,
  resultsCsv,
  type Body,
  type CoordinatorMessage,
  type JobResult,
  type JobSpec,
  type Plan,
  type StudyConfig,
  type SyntheticSetRef,
  type TrainerInfo,
  type TrainerMessage,
} from '@gan-study/protocol';
import { Journal } from './journal';
import { formatDuration, formatLosses, type CoordinatorLogger, type EventFields } from './log';
import { RunDir } from './rundir';
import { formatStatusTable, type JobState, type JobStatus, type StatusSnapshot, type TrainerStatus } from './status';

export type CoordinatorSettings = Pick<StudyConfig, 'heartbeatMs' | 'trainerTimeoutMs' | 'maxAttempts' | 'allReduce' | 'checkpointEvery' | 'statusEverySec'>;

export interface CoordinatorOptions {
  /** ZeroMQ endpoint to bind, e.g. 'tcp://0.0.0.0:5555' or 'tcp://127.0.0.1:*' (any free port). */
  bind: string;
  runDir: string;
  plan: Plan;
  settings: CoordinatorSettings;
  /** The dataset decoded at a size (cached here per size), sent to trainers that ask for it. */
  dataset: (size: number) => Promise<Dataset>;
  /** The synthetic set's recipe, in every welcome, for trainers that make the set themselves; null/absent: a folder. */
  syntheticSet?: SyntheticSetRef | null;
  log: CoordinatorLogger;
  /** Skip the jobs the run directory's journal records as done. */
  resume?: boolean;
  /** Start scheduling only once this many trainers have joined (default 1). */
  minTrainers?: number;
  /** Tell trainers to exit when the study is over (default true: they were started for it). */
  shutdownTrainers?: boolean;
  /** Where the status table goes every statusEverySec (default: the log, as a `status` event). */
  onStatus?: (table: string, snapshot: StatusSnapshot) => void;
  /** A run name for logs and status (default: the run directory's base name). */
  run?: string;
  /**
   * A trainer whose heartbeats say its main thread has not run for this long is dropped as hung
   * (default max(12 x trainerTimeoutMs, 60 s): a training step may legitimately hold it for seconds).
   */
  hangTimeoutMs?: number;
  /**
   * Every event as it is logged (the same fields as coordinator.log), for a live status page;
   * `snapshot()` gives the current state at any time.
   */
  onEvent?: (e: CoordinatorEvent) => void;
  /** Extra fields on the `coordinator-start` event (e.g. software versions, for the report). */
  startFields?: Record<string, unknown>;
}

/** One coordinator event, as written to coordinator.log. */
export type CoordinatorEvent = EventFields & { level: 'info' | 'warn' | 'debug' | 'error'; time: string; msg: string };

export interface StudyOutcome {
  done: string[];
  failed: Array<{ job: string; error: string }>;
  skipped: string[];
  resultsFile: string | null;
}

interface TrainerRec {
  id: string;
  info: TrainerInfo;
  joinedAt: number;
  lastSeen: number;
  state: 'idle' | 'busy' | 'lost' | 'left';
  assignment: { job: string; attempt: number; rank: number } | null;
  busyMs: number;
  busySince: number | null;
  jobsDone: number;
  /** Silent past the timeout at the last tick (dropped if still silent at the next). */
  suspect: boolean;
}

interface JobRec {
  spec: JobSpec;
  state: JobState;
  /** Attempt number of the current/last attempt (unique within this coordinator's life and its journal). */
  attempt: number;
  attemptsUsed: number;
  /** Trainer id per rank of the current attempt. */
  replicas: string[];
  step: number | null;
  total: number | null;
  losses: Record<string, number>;
  imagesPerSec: number | null;
  startedAt: number | null;
  finishedAt: number | null;
  error: string | null;
  result: JobResult | null;
  lastProgressLog: number;
}

interface LineQueue {
  lines: string[];
  writing: Promise<void> | null;
  dirMade: boolean;
}

/** The minimal check of a result off the wire; the results builder checks kinds against the plan. */
const resultShape = z.looseObject({ kind: z.enum(['gan', 'classifier']), id: z.string() });

const PROGRESS_LOG_EVERY_MS = 10_000;
/** Routing-id suffix of a trainer's heartbeat thread (apps/trainer/src/heartbeat-thread.ts). */
const HEARTBEAT_SUFFIX = '#hb';

export class Coordinator {
  private router: zmq.Router | null = null;
  private queue: SendQueue | null = null;
  private journal: Journal | null = null;
  private readonly dir: RunDir;
  private readonly trainers = new Map<string, TrainerRec>();
  private readonly jobs = new Map<string, JobRec>();
  private readonly reducer = new CoordinatorReducer();
  private readonly datasets = new Map<number, Promise<Uint8Array>>();
  /** Job log and metrics lines waiting to be appended, per file (appendLine). */
  private readonly appends = new Map<string, LineQueue>();
  private readonly log: CoordinatorLogger;
  private readonly settings: CoordinatorSettings;
  private readonly runName: string;
  private readonly hangTimeoutMs: number;
  private ticker: NodeJS.Timeout | null = null;
  /** When the liveness tick last ran; a late tick means our own event loop was blocked. */
  private lastTick: number | null = null;
  private lastStatus = 0;
  private loop: Promise<void> | null = null;
  private stopped = false;
  private finishing = false;
  private attemptBase = 0;
  private scheduling = false;
  private readonly startedAt = Date.now();
  private resolveFinished!: (o: StudyOutcome) => void;
  private rejectFinished!: (err: Error) => void;
  /** Resolves when every job is done, failed or skipped (and results are written). */
  readonly finished: Promise<StudyOutcome>;
  private _address = '';

  constructor(private readonly opts: CoordinatorOptions) {
    this.dir = new RunDir(opts.runDir);
    this.log = opts.log;
    this.settings = opts.settings;
    this.hangTimeoutMs = opts.hangTimeoutMs ?? Math.max(12 * opts.settings.trainerTimeoutMs, 60_000);
    this.runName = opts.run ?? opts.runDir.split(/[\\/]/).filter(Boolean).pop() ?? 'study';
    this.finished = new Promise<StudyOutcome>((resolve, reject) => {
      this.resolveFinished = resolve;
      this.rejectFinished = reject;
    });
    this.finished.catch(() => undefined);
    for (const spec of opts.plan.jobs) {
      if (this.jobs.has(spec.id)) throw new Error(`plan has job ${spec.id} twice`);
      this.jobs.set(spec.id, {
        spec,
        state: 'waiting',
        attempt: 0,
        attemptsUsed: 0,
        replicas: [],
        step: null,
        total: null,
        losses: {},
        imagesPerSec: null,
        startedAt: null,
        finishedAt: null,
        error: null,
        result: null,
        lastProgressLog: 0,
      });
    }
    for (const spec of opts.plan.jobs) for (const dep of spec.dependsOn) if (!this.jobs.has(dep)) throw new Error(`job ${spec.id} depends on ${dep}, which is not in the plan`);
  }

  /** The bound endpoint (after start), with the real port when the bind asked for any ('*'). */
  get address(): string {
    return this._address;
  }

  async start(): Promise<void> {
    await fs.mkdir(this.dir.root, { recursive: true });
    const previous = this.opts.resume ? await Journal.read(this.dir.journal, (msg) => this.event('warn', { event: 'journal-torn' }, msg)) : [];
    this.attemptBase = previous.filter((e) => e.event === 'start').length * 1000;
    let restored = 0;
    for (const e of previous) {
      if (e.event !== 'done') continue;
      const job = this.jobs.get(e.job);
      const shape = resultShape.safeParse(e.result);
      if (!job || !shape.success || shape.data.id !== e.job) {
        this.event('warn', { event: 'journal-skip', job: e.job }, `journal entry for job ${e.job} does not match the plan; the job runs again`);
        continue;
      }
      job.state = 'done';
      job.result = e.result as JobResult;
      job.finishedAt = Date.parse(e.t);
      restored++;
    }
    this.journal = new Journal(this.dir.journal);
    await this.journal.open();
    await this.journal.append({ event: 'start', run: this.runName, resumed: Boolean(this.opts.resume) });

    const router = new zmq.Router({ linger: 0, mandatory: true, sendTimeout: 5000 });
    await router.bind(this.opts.bind);
    this.router = router;
    this.queue = new SendQueue(router);
    this._address = router.lastEndpoint ?? this.opts.bind;
    this.event(
      'info',
      { ...this.opts.startFields, event: 'coordinator-start', address: this._address, jobs: this.jobs.size, restored, pid: process.pid },
      `coordinator listening on ${this._address}: ${this.jobs.size} jobs` + (this.opts.resume ? `, ${restored} already done (journal)` : ''),
    );
    this.updateReadiness();
    this.loop = this.receive(router);
    this.ticker = setInterval(() => this.tick(), this.settings.heartbeatMs);
    this.ticker.unref?.();
    void this.maybeFinish();
  }

  /** Closes the socket and timers; safe to call twice. Does not resolve `finished` if the study is not over. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.ticker) clearInterval(this.ticker);
    this.queue?.close();
    this.router?.close();
    await this.loop;
    await this.linesWritten();
    await this.journal?.close();
  }

  // ---- events ---------------------------------------------------------------------------------

  /** Logs one event with the fields every event carries (job, trainer, host, device). */
  private event(level: 'info' | 'warn' | 'debug' | 'error', fields: Partial<EventFields> & { event: string }, msg: string, trainer?: TrainerRec | null): void {
    const t = trainer ?? (fields.trainer ? this.trainers.get(fields.trainer) : undefined);
    const full: EventFields = {
      job: null,
      trainer: t?.id ?? null,
      host: t?.info.host ?? null,
      device: t?.info.device ?? null,
      ...fields,
    };
    this.log[level](full, msg);
    if (this.opts.onEvent) {
      try {
        this.opts.onEvent({ level, time: new Date().toISOString(), ...full, msg });
      } catch (err) {
        this.log.warn({ event: 'hook-error', job: null, trainer: null, host: null, device: null }, `onEvent hook failed: ${(err as Error).message}`);
      }
    }
  }

  private who(t: TrainerRec): string {
    return `${t.id} on ${t.info.host}/${t.info.device}`;
  }

  // ---- the socket -----------------------------------------------------------------------------

  /**
   * Sends as header + payload frames (protocol 2): bulk bytes go out straight from their memory,
   * not copied, and ZeroMQ may still be writing them after `send` resolves, so nothing may change
   * them afterwards. Nothing does: a `reduced` sum lives in rank 0's received frame, which the
   * reducer forgets once it has summed into it (onReduce); data sets are encoded once per size and
   * the cached bytes are only ever read; artifacts and checkpoints (`assign.resumeFrom`) are read
   * from disk into a fresh buffer for each message. The same bytes may go to several trainers.
   */
  private send(trainer: string, body: Body<CoordinatorMessage>): void {
    if (!this.queue || this.stopped) return;
    this.queue.send([trainer, ...encodeCoordinatorFrames(body)]).catch((err: Error) => {
      if (!this.stopped) this.event('debug', { event: 'send-failed', trainer, kind: body.kind, err: err.message }, `could not send ${body.kind} to ${trainer}: ${err.message}`);
    });
  }

  private async receive(router: zmq.Router): Promise<void> {
    try {
      for await (const [idFrame, ...frames] of router) {
        const trainerId = idFrame.toString('utf8');
        const decoded = decodeTrainerMessage(frames);
        if (trainerId.endsWith(HEARTBEAT_SUFFIX)) {
          // A trainer's heartbeat thread: heartbeats only.
          this.onHeartbeatThread(trainerId.slice(0, -HEARTBEAT_SUFFIX.length), decoded);
          continue;
        }
        if (!decoded.ok) {
          this.event('warn', { event: 'rejected', trainer: trainerId, kind: decoded.kind, reason: decoded.reason }, `rejected message from ${trainerId}: ${decoded.reason}; dropped`);
          continue;
        }
        try {
          await this.handle(trainerId, decoded.msg);
        } catch (err) {
          this.event('error', { event: 'handler-error', trainer: trainerId, kind: decoded.msg.kind, err: { message: (err as Error).message, stack: (err as Error).stack } }, `error handling ${decoded.msg.kind} from ${trainerId}: ${(err as Error).message}`);
        }
      }
    } catch (err) {
      if (!this.stopped) {
        this.event('error', { event: 'socket-error', err: { message: (err as Error).message } }, `coordinator socket failed: ${(err as Error).message}`);
        this.rejectFinished(err as Error);
      }
    }
  }

  private async handle(id: string, m: TrainerMessage): Promise<void> {
    if (m.kind === 'hello') return this.onHello(id, m.info);
    const t = this.trainers.get(id);
    if (!t || t.state === 'lost' || t.state === 'left') {
      // A trainer we dropped (or from before a coordinator restart): it says hello again once it notices our silence.
      this.event('debug', { event: 'unknown-trainer', trainer: id, kind: m.kind }, `${m.kind} from unknown trainer ${id}; dropped`);
      return;
    }
    t.lastSeen = Date.now();
    switch (m.kind) {
      case 'heartbeat':
        return this.onHeartbeat(t, m.running, m.lagMs);
      case 'progress':
        return this.onProgress(t, m);
      case 'log':
        return this.onJobLog(t, m);
      case 'checkpoint':
        return this.onCheckpoint(t, m);
      case 'put-artifact':
        return this.onPutArtifact(t, m);
      case 'get-artifact':
        return this.onGetArtifact(t, m);
      case 'get-dataset':
        // Preparing a data set can take seconds (decoding a folder on a cold cache): answered when
        // ready, while this loop goes on reading heartbeats and other trainers' messages.
        void this.onGetDataset(t, m).catch((err: Error) => this.event('error', { event: 'handler-error', trainer: id, kind: m.kind, err: { message: err.message, stack: err.stack } }, `error handling ${m.kind} from ${id}: ${err.message}`));
        return;
      case 'job-done':
        return this.onJobDone(t, m);
      case 'job-failed':
        return this.onJobFailed(t, m);
      case 'reduce':
        return this.onReduce(t, m);
      case 'bye':
        this.dropTrainer(t, 'left', `said bye (${m.reason})`);
        return;
    }
  }

  // ---- trainers -------------------------------------------------------------------------------

  private onHello(id: string, info: TrainerInfo): void {
    const old = this.trainers.get(id);
    if (old && (old.state === 'idle' || old.state === 'busy')) {
      // The same trainer again: it lost us and abandoned what it was running.
      this.dropTrainer(old, 'left', 'reconnected (it abandoned its job)');
    }
    const now = Date.now();
    const t: TrainerRec = { id, info, joinedAt: now, lastSeen: now, state: 'idle', assignment: null, busyMs: 0, busySince: null, jobsDone: 0, suspect: false };
    this.trainers.set(id, t);
    this.send(id, { kind: 'welcome', heartbeatMs: this.settings.heartbeatMs, trainerTimeoutMs: this.settings.trainerTimeoutMs, run: this.runName, syntheticSet: this.opts.syntheticSet ?? null });
    this.event(
      'info',
      { event: 'trainer-joined', trainer: id, backend: info.backend, gpu: info.gpu, pid: info.pid, peerAddress: info.peerAddress },
      `trainer ${this.who(t)} joined (backend ${info.backend}${info.gpu !== null ? `, CUDA_VISIBLE_DEVICES=${info.gpu}` : ''}, pid ${info.pid}); ${this.liveTrainers().length} trainers`,
      t,
    );
    this.schedule();
  }

  private onHeartbeatThread(id: string, decoded: ReturnType<typeof decodeTrainerMessage>): void {
    if (!decoded.ok || decoded.msg.kind !== 'heartbeat') {
      const reason = decoded.ok ? `${decoded.msg.kind} on a heartbeat socket` : decoded.reason;
      this.event('warn', { event: 'rejected', trainer: id, kind: decoded.ok ? decoded.msg.kind : decoded.kind, reason }, `rejected message from ${id}${HEARTBEAT_SUFFIX}: ${reason}; dropped`);
      return;
    }
    const t = this.trainers.get(id);
    if (!t || (t.state !== 'idle' && t.state !== 'busy')) return; // not (or no longer) joined: it says hello again
    t.lastSeen = Date.now();
    this.onHeartbeat(t, decoded.msg.running, decoded.msg.lagMs);
  }

  private onHeartbeat(t: TrainerRec, running: string[], lagMs: number): void {
    if (lagMs > this.hangTimeoutMs) {
      this.dropTrainer(t, 'lost', `its main thread has not run for ${(lagMs / 1000).toFixed(1)} s (hang timeout ${this.hangTimeoutMs} ms)`);
      return;
    }
    // A trainer still running an attempt we ended (cancel lost in flight): cancel it again.
    for (const ref of running) {
      const [job, attemptText] = ref.split('#');
      const attempt = Number(attemptText);
      const rec = this.jobs.get(job);
      const ours = t.assignment && t.assignment.job === job && t.assignment.attempt === attempt;
      if (!ours && rec) this.send(t.id, { kind: 'cancel', job, attempt, reason: 'attempt no longer assigned to this trainer' });
    }
  }

  private liveTrainers(): TrainerRec[] {
    return [...this.trainers.values()].filter((t) => t.state === 'idle' || t.state === 'busy');
  }

  private setBusy(t: TrainerRec, assignment: TrainerRec['assignment']): void {
    const now = Date.now();
    if (t.busySince !== null) t.busyMs += now - t.busySince;
    t.busySince = assignment ? now : null;
    t.assignment = assignment;
    if (t.state === 'idle' || t.state === 'busy') t.state = assignment ? 'busy' : 'idle';
  }

  /** A trainer is gone: its attempt ends and the job goes back to the queue (from its last checkpoint). */
  private dropTrainer(t: TrainerRec, state: 'lost' | 'left', why: string): void {
    const a = t.assignment;
    this.setBusy(t, null);
    t.state = state;
    const next = a ? this.endAttempt(a.job, a.attempt, `trainer ${t.id} ${state === 'lost' ? 'was lost' : 'left'}`, false, t) : null;
    this.event(
      'warn',
      { event: state === 'lost' ? 'trainer-lost' : 'trainer-left', trainer: t.id, job: a?.job ?? null, reason: why },
      `trainer ${this.who(t)} ${state === 'lost' ? 'lost' : 'left'}: ${why}` + (a ? `; job ${a.job}: ${next}` : '') + `; ${this.liveTrainers().length} trainers left`,
      t,
    );
    this.schedule();
  }

  private tick(): void {
    if (this.stopped) return;
    const now = Date.now();
    // Our own event loop was blocked (decoding or encoding a data set, a slow disk): the trainers'
    // messages queued up unread, so their silence says nothing. Give every trainer a fresh window.
    const stalled = this.lastTick !== null && now - this.lastTick > this.settings.trainerTimeoutMs / 2;
    this.lastTick = now;
    if (stalled) {
      for (const t of this.liveTrainers()) {
        t.lastSeen = Math.max(t.lastSeen, now);
        t.suspect = false;
      }
    }
    for (const t of this.liveTrainers()) {
      // Silent past the timeout on two ticks in a row: if only our own event loop was blocked,
      // the messages that queued up meanwhile are read between the two ticks.
      const silent = now - t.lastSeen > this.settings.trainerTimeoutMs;
      const confirmed = silent && t.suspect;
      t.suspect = silent;
      if (confirmed) {
        this.dropTrainer(t, 'lost', `no message for ${((now - t.lastSeen) / 1000).toFixed(1)} s (timeout ${this.settings.trainerTimeoutMs} ms)`);
        continue;
      }
      this.send(t.id, { kind: 'heartbeat' });
    }
    if (now - this.lastStatus >= this.settings.statusEverySec * 1000) {
      this.lastStatus = now;
      void this.writeStatus(true);
    }
  }

  // ---- jobs -----------------------------------------------------------------------------------

  /** Moves waiting jobs whose dependencies are done to the queue, and skips those whose dependency failed. */
  private updateReadiness(): void {
    let changed = true;
    while (changed) {
      changed = false;
      for (const job of this.jobs.values()) {
        if (job.state !== 'waiting') continue;
        const deps = job.spec.dependsOn.map((d) => this.jobs.get(d) as JobRec);
        const blocker = deps.find((d) => d.state === 'failed' || d.state === 'skipped');
        if (blocker) {
          job.state = 'skipped';
          job.error = `dependency ${blocker.spec.id} ${blocker.state}`;
          this.event('warn', { event: 'job-skipped', job: job.spec.id, reason: job.error }, `job ${job.spec.id} skipped: ${job.error}`);
          changed = true;
        } else if (deps.every((d) => d.state === 'done')) {
          job.state = 'queued';
          changed = true;
        }
      }
    }
  }

  private schedule(): void {
    if (this.scheduling || this.stopped || this.finishing) return;
    if ([...this.trainers.values()].length < (this.opts.minTrainers ?? 1)) return;
    this.scheduling = true;
    try {
      for (const job of this.jobs.values()) {
        if (job.state !== 'queued') continue;
        const idle = this.liveTrainers().filter((t) => t.state === 'idle');
        if (idle.length === 0) break;
        const want = job.spec.kind === 'classifier' ? Math.max(1, Math.min(job.spec.replicas, this.liveTrainers().length)) : 1;
        if (idle.length < want) continue; // wait for enough trainers; others may backfill
        void this.assign(job, idle.slice(0, want));
      }
    } finally {
      this.scheduling = false;
    }
  }

  private async assign(job: JobRec, trainers: TrainerRec[]): Promise<void> {
    job.attemptsUsed++;
    job.attempt = this.attemptBase + job.attemptsUsed;
    job.state = 'running';
    job.replicas = trainers.map((t) => t.id);
    job.startedAt = Date.now();
    job.step = null;
    job.total = null;
    const attempt = job.attempt;
    trainers.forEach((t, rank) => this.setBusy(t, { job: job.spec.id, attempt, rank }));
    const resume = await this.readCheckpoint(job.spec.id);
    if (job.attempt !== attempt || job.state !== 'running') return; // ended while we read the checkpoint
    const peers = trainers.map((t) => t.info.peerAddress ?? '');
    const ring = this.settings.allReduce === 'ring' && peers.every((p) => p !== '');
    if (trainers.length > 1 && this.settings.allReduce === 'ring' && !ring) {
      this.event('warn', { event: 'allreduce-fallback', job: job.spec.id }, `job ${job.spec.id}: a replica has no peer address; all-reduce goes through the coordinator`);
    }
    trainers.forEach((t, rank) => {
      this.send(t.id, {
        kind: 'assign',
        job: job.spec.id,
        attempt,
        spec: job.spec as unknown as Record<string, unknown>,
        rank,
        worldSize: trainers.length,
        peers: trainers.length > 1 ? peers : [],
        allReduce: ring ? 'ring' : 'coordinator',
        checkpointEvery: this.settings.checkpointEvery,
        resumeFrom: resume?.data ?? null,
        resumeStep: resume?.step ?? null,
      });
    });
    const where = trainers.map((t) => this.who(t)).join(', ');
    this.event(
      'info',
      { event: 'job-start', job: job.spec.id, trainer: trainers[0].id, attempt, replicas: job.replicas, resumeStep: resume?.step ?? null },
      `job ${job.spec.id} attempt ${job.attemptsUsed}/${this.settings.maxAttempts} on ${where}` +
        (trainers.length > 1 ? ` (${trainers.length} replicas, ${ring ? 'ring' : 'coordinator'} all-reduce)` : '') +
        (resume ? `, resuming from step ${resume.step}` : ''),
      trainers[0],
    );
    void this.jobLog(job.spec.id, { event: 'start', attempt, trainers: job.replicas, resumeStep: resume?.step ?? null });
  }

  /**
   * Ends the current attempt of a job (trainer lost, replica failed): cancels the other replicas and
   * requeues the job, or fails it for good. Returns what happens next, for the log line.
   */
  private endAttempt(jobId: string, attempt: number, reason: string, permanent: boolean, culprit: TrainerRec | null): string {
    const job = this.jobs.get(jobId);
    if (!job || job.attempt !== attempt || job.state !== 'running') return 'already ended';
    for (const tid of job.replicas) {
      const t = this.trainers.get(tid);
      if (!t || t === culprit) continue;
      if (t.assignment?.job === jobId && t.assignment.attempt === attempt) this.send(t.id, { kind: 'cancel', job: jobId, attempt, reason });
      // The replica stays busy until it reports the attempt over (or is itself lost).
    }
    this.reducer.endAttempt(jobId, attempt);
    job.replicas = [];
    job.error = reason;
    let next: string;
    if (permanent || job.attemptsUsed >= this.settings.maxAttempts) {
      job.state = 'failed';
      job.finishedAt = Date.now();
      next = permanent ? 'failed permanently, not retried' : `failed after ${job.attemptsUsed} attempts`;
      void this.journal?.append({ event: 'failed', job: jobId, attempt, error: reason, permanent }).catch((err: Error) => this.event('error', { event: 'journal-error', job: jobId }, `journal write failed: ${err.message}`));
      this.updateReadiness();
    } else {
      job.state = 'queued';
      next = `back to the queue (attempt ${job.attemptsUsed + 1}/${this.settings.maxAttempts} next)`;
    }
    void this.jobLog(jobId, { event: 'attempt-ended', attempt, reason, next });
    queueMicrotask(() => {
      this.schedule();
      void this.maybeFinish();
    });
    return next;
  }

  private current(t: TrainerRec, m: { job: string; attempt: number; kind: string }): JobRec | null {
    const job = this.jobs.get(m.job);
    if (!job) {
      this.event('warn', { event: 'rejected', trainer: t.id, job: m.job, kind: m.kind, reason: 'unknown job' }, `rejected ${m.kind} from ${t.id}: job ${m.job} is not in the plan; dropped`, t);
      return null;
    }
    if (job.attempt !== m.attempt || job.state !== 'running' || !job.replicas.includes(t.id)) {
      this.event('debug', { event: 'stale', trainer: t.id, job: m.job, kind: m.kind, attempt: m.attempt }, `stale ${m.kind} for ${m.job} attempt ${m.attempt} from ${t.id}; dropped`, t);
      return null;
    }
    return job;
  }

  private onProgress(t: TrainerRec, m: Extract<TrainerMessage, { kind: 'progress' }>): void {
    const job = this.current(t, m);
    if (!job || m.rank !== 0) return;
    job.step = m.step;
    job.total = m.total;
    job.losses = m.losses;
    job.imagesPerSec = m.imagesPerSec;
    void this.jobMetrics(m.job, { step: m.step, total: m.total, losses: m.losses, imagesPerSec: m.imagesPerSec, attempt: m.attempt });
    const now = Date.now();
    if (now - job.lastProgressLog >= PROGRESS_LOG_EVERY_MS || m.step === m.total) {
      job.lastProgressLog = now;
      const elapsed = now - (job.startedAt ?? now);
      const eta = m.step > 0 && m.total > m.step ? ` eta ${formatDuration((elapsed / m.step) * (m.total - m.step))}` : '';
      this.event(
        'info',
        { event: 'job-progress', job: m.job, trainer: t.id, step: m.step, total: m.total, losses: m.losses, imagesPerSec: m.imagesPerSec },
        `job ${m.job} step ${m.step}/${m.total} ${formatLosses(m.losses)} ${m.imagesPerSec.toFixed(0)} img/s${eta}`,
        t,
      );
    }
  }

  private onJobLog(t: TrainerRec, m: Extract<TrainerMessage, { kind: 'log' }>): void {
    if (!this.jobs.has(m.job)) return;
    void this.jobLog(m.job, { event: 'log', level: m.level, msg: m.msg, trainer: t.id, attempt: m.attempt, ...m.fields });
    this.event(m.level === 'warn' ? 'warn' : 'info', { event: 'job-log', job: m.job, trainer: t.id, fields: m.fields }, `job ${m.job}: ${m.msg}`, t);
  }

  private reply(t: TrainerRec, req: number, result: { data?: Uint8Array; error?: string }): void {
    this.send(t.id, { kind: 'reply', req, ok: result.error === undefined, error: result.error ?? null, data: result.data ?? null });
  }

  private async onCheckpoint(t: TrainerRec, m: Extract<TrainerMessage, { kind: 'checkpoint' }>): Promise<void> {
    const job = this.current(t, m);
    if (!job) return this.reply(t, m.req, { error: 'stale attempt' });
    try {
      await writeFileAtomic(this.dir.checkpoint(m.job), m.data);
      await writeJsonAtomic(this.dir.checkpointMeta(m.job), { job: m.job, attempt: m.attempt, step: m.step, bytes: m.data.byteLength, trainer: t.id, t: new Date().toISOString() });
      this.event('debug', { event: 'checkpoint', job: m.job, trainer: t.id, step: m.step, bytes: m.data.byteLength }, `job ${m.job} checkpoint at step ${m.step} (${m.data.byteLength} bytes)`, t);
      this.reply(t, m.req, {});
    } catch (err) {
      this.event('error', { event: 'checkpoint-error', job: m.job, trainer: t.id }, `job ${m.job}: writing checkpoint failed: ${(err as Error).message}`, t);
      this.reply(t, m.req, { error: `coordinator could not write the checkpoint: ${(err as Error).message}` });
    }
  }

  private async readCheckpoint(job: string): Promise<{ step: number; data: Uint8Array } | null> {
    try {
      const meta = z.looseObject({ step: z.number().int().nonnegative() }).parse(await readJson(this.dir.checkpointMeta(job)));
      const data = await fs.readFile(this.dir.checkpoint(job));
      return { step: meta.step, data };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.event('warn', { event: 'checkpoint-unreadable', job }, `job ${job}: checkpoint unreadable (${(err as Error).message}); starting from scratch`);
      return null;
    }
  }

  private async onPutArtifact(t: TrainerRec, m: Extract<TrainerMessage, { kind: 'put-artifact' }>): Promise<void> {
    const job = this.current(t, m);
    if (!job) return this.reply(t, m.req, { error: 'stale attempt' });
    try {
      await writeFileAtomic(this.dir.jobFile(m.job, m.name), m.data);
      this.event('debug', { event: 'artifact', job: m.job, trainer: t.id, name: m.name, bytes: m.data.byteLength }, `job ${m.job} artifact ${m.name} (${m.data.byteLength} bytes)`, t);
      this.reply(t, m.req, {});
    } catch (err) {
      this.event('warn', { event: 'artifact-error', job: m.job, trainer: t.id, name: m.name }, `job ${m.job}: artifact ${m.name} refused: ${(err as Error).message}`, t);
      this.reply(t, m.req, { error: (err as Error).message });
    }
  }

  private async onGetArtifact(t: TrainerRec, m: Extract<TrainerMessage, { kind: 'get-artifact' }>): Promise<void> {
    const job = this.current(t, m);
    if (!job) return this.reply(t, m.req, { error: 'stale attempt' });
    if (!job.spec.dependsOn.includes(m.source)) return this.reply(t, m.req, { error: `job ${m.job} does not depend on ${m.source}` });
    try {
      this.reply(t, m.req, { data: await fs.readFile(this.dir.jobFile(m.source, m.name)) });
    } catch (err) {
      this.reply(t, m.req, { error: `artifact ${m.source}/${m.name}: ${(err as Error).message}` });
    }
  }

  private async onGetDataset(t: TrainerRec, m: Extract<TrainerMessage, { kind: 'get-dataset' }>): Promise<void> {
    const job = this.current(t, m);
    if (!job) return this.reply(t, m.req, { error: 'stale attempt' });
    let bytes = this.datasets.get(m.size);
    if (!bytes) {
      bytes = this.opts.dataset(m.size).then(encodeDataset);
      this.datasets.set(m.size, bytes);
      bytes.catch(() => this.datasets.delete(m.size));
    }
    try {
      const data = await bytes;
      this.event('debug', { event: 'dataset-sent', job: m.job, trainer: t.id, size: m.size, bytes: data.byteLength }, `dataset at ${m.size}px to ${t.id} (${data.byteLength} bytes)`, t);
      this.reply(t, m.req, { data });
    } catch (err) {
      this.event('error', { event: 'dataset-error', job: m.job, trainer: t.id, size: m.size }, `dataset at ${m.size}px failed: ${(err as Error).message}`, t);
      this.reply(t, m.req, { error: `dataset at ${m.size}px: ${(err as Error).message}` });
    }
  }

  private releaseIfOurs(t: TrainerRec, job: string, attempt: number): void {
    if (t.assignment && t.assignment.job === job && t.assignment.attempt === attempt) {
      this.setBusy(t, null);
      queueMicrotask(() => this.schedule());
    }
  }

  private async onJobDone(t: TrainerRec, m: Extract<TrainerMessage, { kind: 'job-done' }>): Promise<void> {
    const job = this.current(t, m);
    if (!job || m.rank !== 0) {
      // Other replicas report done too; rank 0's result is the job's. Free the trainer either way.
      this.releaseIfOurs(t, m.job, m.attempt);
      if (job) this.send(t.id, { kind: 'ack', job: m.job, attempt: m.attempt });
      return;
    }
    const shape = resultShape.safeParse(m.result);
    if (!shape.success || shape.data.id !== m.job || shape.data.kind !== job.spec.kind) {
      const why = shape.success ? `result is for ${shape.data.kind} job ${shape.data.id}` : `result is not a job result (${shape.error.issues[0].message})`;
      this.releaseIfOurs(t, m.job, m.attempt);
      const next = this.endAttempt(m.job, m.attempt, why, false, t);
      this.event('warn', { event: 'rejected', job: m.job, trainer: t.id, kind: m.kind, reason: why }, `job ${m.job}: ${why}; ${next}`, t);
      return;
    }
    const result = m.result as JobResult;
    // Journal first (fsynced), then the result file, then the acknowledgement.
    await this.journal?.append({ event: 'done', job: m.job, attempt: m.attempt, trainer: t.id, result });
    await writeJsonAtomic(this.dir.jobResult(m.job), result);
    job.state = 'done';
    job.result = result;
    job.finishedAt = Date.now();
    job.error = null;
    t.jobsDone++;
    const replicas = job.replicas;
    job.replicas = [];
    this.reducer.endAttempt(m.job, m.attempt);
    for (const tid of replicas) {
      const rt = this.trainers.get(tid);
      if (!rt) continue;
      if (rt === t) this.releaseIfOurs(t, m.job, m.attempt);
      this.send(tid, { kind: 'ack', job: m.job, attempt: m.attempt });
    }
    // The job is journaled: its checkpoint is no longer needed (paper-size checkpoints are large).
    await Promise.all([fs.rm(this.dir.checkpoint(m.job), { force: true }), fs.rm(this.dir.checkpointMeta(m.job), { force: true })]).catch(() => undefined);
    const took = job.startedAt ? formatDuration(job.finishedAt - job.startedAt) : '?';
    this.event('info', { event: 'job-done', job: m.job, trainer: t.id, attempt: m.attempt, durationMs: job.startedAt ? job.finishedAt - job.startedAt : null, summary: summarize(result) }, `job ${m.job} done in ${took}: ${summarize(result)}`, t);
    void this.jobLog(m.job, { event: 'done', attempt: m.attempt, trainer: t.id });
    this.updateReadiness();
    this.schedule();
    await this.maybeFinish();
  }

  private onJobFailed(t: TrainerRec, m: Extract<TrainerMessage, { kind: 'job-failed' }>): void {
    const job = this.current(t, m);
    this.releaseIfOurs(t, m.job, m.attempt);
    if (!job) return; // a cancelled replica reporting its abort
    const next = this.endAttempt(m.job, m.attempt, `rank ${m.rank} on ${t.id}: ${m.error}`, m.permanent, t);
    this.event('warn', { event: 'job-failed', job: m.job, trainer: t.id, attempt: m.attempt, error: m.error, permanent: m.permanent }, `job ${m.job} failed on ${this.who(t)}: ${m.error}; ${next}`, t);
  }

  private onReduce(t: TrainerRec, m: Extract<TrainerMessage, { kind: 'reduce' }>): void {
    const job = this.current(t, m);
    if (!job) return;
    let sum: Float32Array | null;
    try {
      sum = this.reducer.add({ job: m.job, attempt: m.attempt, seq: m.seq, rank: m.rank, worldSize: job.replicas.length, data: bytesToF32(m.data) });
    } catch (err) {
      const next = this.endAttempt(m.job, m.attempt, `all-reduce: ${(err as Error).message}`, false, null);
      this.event('warn', { event: 'rejected', job: m.job, trainer: t.id, kind: 'reduce', reason: (err as Error).message }, `job ${m.job}: bad all-reduce contribution from ${t.id}: ${(err as Error).message}; ${next}`, t);
      return;
    }
    if (!sum) return;
    // The sum is rank 0's received frame, summed into in place; the reducer has let go of it and
    // nobody writes to it again, so every replica's `reduced` can send these bytes without a copy.
    const data = f32ToBytes(sum);
    for (const tid of job.replicas) this.send(tid, { kind: 'reduced', job: m.job, attempt: m.attempt, seq: m.seq, data });
  }

  // ---- the run directory ----------------------------------------------------------------------

  private async jobLog(job: string, rec: Record<string, unknown>): Promise<void> {
    await this.appendLine(this.dir.jobLog(job), rec);
  }

  private async jobMetrics(job: string, rec: Record<string, unknown>): Promise<void> {
    await this.appendLine(this.dir.jobMetrics(job), rec);
  }

  /**
   * Appends one JSON line to a job's log or metrics file. Lines of one file are written in order by
   * one writer at a time, those that arrive meanwhile together in the next write, and its folder is
   * made once: progress comes several times a second per job, and a separate mkdir + append for
   * each line cost more than the rest of handling it (and let two appends race).
   */
  private appendLine(file: string, rec: Record<string, unknown>): Promise<void> {
    let q = this.appends.get(file);
    if (!q) {
      q = { lines: [], writing: null, dirMade: false };
      this.appends.set(file, q);
    }
    q.lines.push(JSON.stringify({ t: new Date().toISOString(), ...rec }) + '\n');
    q.writing ??= this.writeLines(file, q);
    return q.writing;
  }

  private async writeLines(file: string, q: LineQueue): Promise<void> {
    try {
      while (q.lines.length > 0) {
        const text = q.lines.join('');
        q.lines = [];
        try {
          if (!q.dirMade) {
            await fs.mkdir(path.dirname(file), { recursive: true });
            q.dirMade = true;
          }
          await fs.appendFile(file, text);
        } catch (err) {
          this.event('warn', { event: 'write-error', file }, `could not append to ${file}: ${(err as Error).message}`);
        }
      }
    } finally {
      q.writing = null;
    }
  }

  /** Resolves once every job log and metrics line so far is written. */
  private async linesWritten(): Promise<void> {
    for (;;) {
      const pending = [...this.appends.values()].map((q) => q.writing).filter((w): w is Promise<void> => w !== null);
      if (pending.length === 0) return;
      await Promise.all(pending);
    }
  }

  /** The live status, as plain data. */
  snapshot(): StatusSnapshot {
    const now = Date.now();
    const counts = { waiting: 0, queued: 0, running: 0, done: 0, failed: 0, skipped: 0, total: this.jobs.size };
    const jobs: JobStatus[] = [];
    const durations: number[] = [];
    for (const j of this.jobs.values()) {
      counts[j.state]++;
      if (j.state === 'done' && j.startedAt && j.finishedAt) durations.push(j.finishedAt - j.startedAt);
      jobs.push({
        id: j.spec.id,
        kind: j.spec.kind,
        state: j.state,
        attempt: j.attemptsUsed,
        trainers: [...j.replicas],
        step: j.step,
        total: j.total,
        losses: j.losses,
        imagesPerSec: j.imagesPerSec,
        startedAt: j.startedAt ? new Date(j.startedAt).toISOString() : null,
        finishedAt: j.finishedAt ? new Date(j.finishedAt).toISOString() : null,
        durationMs: j.startedAt && j.finishedAt ? j.finishedAt - j.startedAt : null,
        error: j.error,
      });
    }
    const trainers: TrainerStatus[] = [...this.trainers.values()].map((t) => {
      const connected = Math.max(1, (t.state === 'idle' || t.state === 'busy' ? now : t.lastSeen) - t.joinedAt);
      const busy = t.busyMs + (t.busySince !== null ? now - t.busySince : 0);
      return {
        id: t.id,
        host: t.info.host,
        device: t.info.device,
        backend: t.info.backend,
        gpu: t.info.gpu,
        state: t.state,
        job: t.assignment?.job ?? null,
        rank: t.assignment?.rank ?? null,
        utilization: Math.min(1, busy / connected),
        jobsDone: t.jobsDone,
        joinedAt: new Date(t.joinedAt).toISOString(),
        lastSeenMsAgo: now - t.lastSeen,
      };
    });
    const remaining = counts.waiting + counts.queued + counts.running;
    const live = Math.max(1, trainers.filter((t) => t.state === 'idle' || t.state === 'busy').length);
    const mean = durations.length ? durations.reduce((a, b) => a + b, 0) / durations.length : null;
    return {
      run: this.runName,
      runDir: this.dir.root,
      time: new Date(now).toISOString(),
      startedAt: new Date(this.startedAt).toISOString(),
      elapsedMs: now - this.startedAt,
      counts,
      etaMs: mean === null ? null : (mean * remaining) / live,
      finished: remaining === 0,
      trainers,
      jobs,
    };
  }

  private async writeStatus(print: boolean): Promise<void> {
    const s = this.snapshot();
    if (print) {
      const table = formatStatusTable(s);
      if (this.opts.onStatus) this.opts.onStatus(table, s);
      else this.event('info', { event: 'status', counts: s.counts, etaMs: s.etaMs }, table);
    }
    try {
      await writeJsonAtomic(this.dir.status, s);
    } catch (err) {
      this.event('warn', { event: 'write-error', file: this.dir.status }, `could not write ${this.dir.status}: ${(err as Error).message}`);
    }
  }

  private async maybeFinish(): Promise<void> {
    if (this.finishing || this.stopped) return;
    const open = [...this.jobs.values()].some((j) => j.state === 'waiting' || j.state === 'queued' || j.state === 'running');
    if (open) return;
    this.finishing = true;
    try {
      const all = [...this.jobs.values()];
      const outcome: StudyOutcome = {
        done: all.filter((j) => j.state === 'done').map((j) => j.spec.id),
        failed: all.filter((j) => j.state === 'failed').map((j) => ({ job: j.spec.id, error: j.error ?? '' })),
        skipped: all.filter((j) => j.state === 'skipped').map((j) => j.spec.id),
        resultsFile: null,
      };
      const results = buildResults(
        this.opts.plan,
        all.filter((j) => j.result).map((j) => j.result as JobResult),
      );
      await writeJsonAtomic(this.dir.resultsJson, results);
      await writeFileAtomic(this.dir.resultsCsv, resultsCsv(results));
      outcome.resultsFile = this.dir.resultsJson;
      await this.journal?.append({ event: 'finished', done: outcome.done.length, failed: outcome.failed.length });
      // The report reads the jobs' logs and metrics as soon as `finished` resolves.
      await this.linesWritten();
      await this.writeStatus(true);
      this.event(
        outcome.failed.length ? 'warn' : 'info',
        { event: 'study-finished', done: outcome.done.length, failed: outcome.failed.length, skipped: outcome.skipped.length },
        `study finished in ${formatDuration(Date.now() - this.startedAt)}: ${outcome.done.length} done, ${outcome.failed.length} failed, ${outcome.skipped.length} skipped; results in ${this.dir.resultsJson}` +
          (outcome.failed.length ? `; failed: ${outcome.failed.map((f) => `${f.job} (${f.error})`).join('; ')}` : ''),
      );
      if (this.opts.shutdownTrainers ?? true) for (const t of this.liveTrainers()) this.send(t.id, { kind: 'shutdown', reason: 'study finished' });
      this.resolveFinished(outcome);
    } catch (err) {
      this.event('error', { event: 'finish-error', err: { message: (err as Error).message } }, `writing the results failed: ${(err as Error).message}`);
      this.rejectFinished(err as Error);
    }
  }
}

/** One short phrase about a result for the job-done line. */
function summarize(r: JobResult): string {
  if (r.kind === 'classifier') return `accuracy ${r.metrics.accuracy.toFixed(3)} auc ${r.metrics.auc.toFixed(3)}`;
  return `${r.generated} images generated` + (r.quality ? `, fid ${r.quality.fid.toFixed(1)}` : '');
}
