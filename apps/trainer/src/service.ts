/**
 * The trainer service: one DEALER connected to the coordinator, one peer socket for ring all-reduce,
 * and the jobs the coordinator assigns, each run by the job runner against a JobContext whose every
 * method is a message to the coordinator (or to peers). No shared filesystem is needed: the
 * synthetic set is made here from the recipe in the welcome (makeSyntheticSet); an image folder, the
 * artifacts of dependencies and the checkpoint to resume from arrive over the wire, and
 * checkpoints, artifacts, progress and results go back the same way.
 *
 * Liveness: the trainer heartbeats every `heartbeatMs`; when the coordinator has been silent for
 * `trainerTimeoutMs` it aborts its jobs (the coordinator will have requeued them) and says hello
 * again until a coordinator answers, so a restarted (`--resume`) coordinator gets its trainers back.
 *
 * Service shape after zeromq.js `examples/majordomo`: constructor(opts), start(), stop() (safe to
 * call twice); every incoming message is validated, a bad one is logged and dropped.
 */
import * as zmq from 'zeromq';
import { z } from 'zod';
import { HeartbeatThread } from './heartbeat-thread';
import { PermanentJobError, UserInputError } from '@gan-study/core';
import type { Dataset } from '@gan-study/data';
import {
  Mailbox,
  PeerLink,
  SendQueue,
  bytesToF32,
  decodeCoordinatorMessage,
  decodeDataset,
  encodeTrainerFrames,
  encodeTrainerMessage,
  f32ToBytes,
  reduceAtFinish,
  type Body,
  type CoordinatorMessage,
  type EventLog,
  type PendingVector,
  type JobContext,
  type JobProgress,
  type JobResult,
  type JobSpec,
  type PendingReduce,
  type SyntheticSetRef,
  type TrainerInfo,
  type TrainerMessage,
} from '@gan-study/protocol';

export type JobRunner = (ctx: JobContext) => Promise<JobResult>;

export interface TrainerOptions {
  /** The coordinator's endpoint, e.g. 'tcp://node1:5555'. */
  connect: string;
  /** This trainer's id (its DEALER routing id); unique among the study's trainers. */
  id: string;
  /** Host, device, backend, gpu; `peerAddress` is filled in by start(). */
  info: Omit<TrainerInfo, 'peerAddress'>;
  runner: JobRunner;
  log: EventLog;
  /** Where the peer socket binds (ring all-reduce), e.g. 'tcp://0.0.0.0:*'; null: no ring, all-reduce via the coordinator. */
  peerBind: string | null;
  /** The host name peers reach this trainer at (default: the bound host). */
  peerHost?: string;
  /** Heartbeat period and coordinator timeout until the coordinator's welcome says otherwise. */
  heartbeatMs?: number;
  trainerTimeoutMs?: number;
  /** Loads the dataset locally (a shared path) instead of asking the coordinator; null: ask. `note` reaches the coordinator's log. */
  localDataset?: ((size: number, note: DatasetNote) => Promise<Dataset>) | null;
  /**
   * Makes the synthetic set a welcome describes, here, and decodes it at a size; `unavailable` says
   * why it cannot (its key differs here). Then, or when it fails, the trainer asks the coordinator
   * for the images instead, with a warning. Null: always ask.
   */
  makeSyntheticSet?: ((set: SyntheticSetRef, size: number, note: DatasetNote) => Promise<Dataset | { unavailable: string }>) | null;
  /** Called when the trainer decides to end (shutdown message, stop()). */
  onExit?: (reason: string) => void;
  /** Gives up when no coordinator answered for this long (ms); null: keep trying forever. */
  giveUpAfterMs?: number | null;
}

/** A line about the data set (decoding, cache, skipped files), logged here and, for the job's first replica or a warning, by the coordinator. */
export type DatasetNote = (line: string, level?: 'info' | 'warn') => void;

interface Running {
  job: string;
  attempt: number;
  rank: number;
  controller: AbortController;
  reduceSeq: number;
  /** Where beginAllReduce's exchange between two replicas writes the sum (one array per job run). */
  sum?: Float32Array;
}

/** Minimal structural check of a spec off the wire; the runner validates the rest of it. */
const specShape = z.looseObject({
  id: z.string(),
  kind: z.enum(['gan', 'classifier']),
  dependsOn: z.array(z.string()),
  seed: z.number().int(),
  checkpointEvery: z.number().int().positive(),
  replicas: z.number().int().positive(),
});

const PROGRESS_EVERY_MS = 250;
const REQUEST_TIMEOUT_MS = 120_000;

export class TrainerService {
  private dealer: zmq.Dealer | null = null;
  private queue: SendQueue | null = null;
  private peers: PeerLink | null = null;
  private readonly running = new Map<string, Running>();
  private readonly pending = new Map<number, { resolve(d: Uint8Array | null): void; reject(e: Error): void }>();
  private readonly reduced = new Mailbox<Float32Array>();
  private readonly datasets = new Map<number, Promise<Dataset>>();
  private nextReq = 1;
  private heartbeatMs: number;
  private timeoutMs: number;
  private lastHeard = 0;
  private lastHello = 0;
  private welcomed = false;
  /** The study's synthetic set, as the last welcome described it (null: an image folder). */
  private syntheticSet: SyntheticSetRef | null = null;
  /** The run and synthetic set of the last welcome, as a string to compare. */
  private welcomedStudy: string | null = null;
  private silentSince: number | null = null;
  private suspect = false;
  private heartbeat: HeartbeatThread | null = null;
  private ticker: NodeJS.Timeout | null = null;
  private loop: Promise<void> | null = null;
  private stopped = false;
  private peerAddress: string | null = null;
  private resolveDone!: (reason: string) => void;
  /** Resolves with the reason the trainer ended (shutdown, stop, gave up). */
  readonly done: Promise<string>;

  constructor(private readonly opts: TrainerOptions) {
    this.heartbeatMs = opts.heartbeatMs ?? 500;
    this.timeoutMs = opts.trainerTimeoutMs ?? 5000;
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
  }

  get id(): string {
    return this.opts.id;
  }

  async start(): Promise<void> {
    if (this.opts.peerBind) {
      this.peers = new PeerLink({ bind: this.opts.peerBind, advertiseHost: this.opts.peerHost, log: this.opts.log });
      await this.peers.start();
      this.peerAddress = this.peers.address;
    }
    const dealer = new zmq.Dealer({ routingId: this.opts.id, linger: 1000, sendTimeout: 30_000 });
    dealer.connect(this.opts.connect);
    this.dealer = dealer;
    this.queue = new SendQueue(dealer);
    this.lastHeard = Date.now();
    this.heartbeat = new HeartbeatThread({ connect: this.opts.connect, id: this.opts.id, heartbeatMs: this.heartbeatMs });
    this.heartbeat.start();
    this.hello();
    this.loop = this.receive(dealer);
    this.ticker = setInterval(() => this.tick(), this.heartbeatMs);
    this.opts.log.info(
      { event: 'trainer-start', trainer: this.opts.id, host: this.opts.info.host, device: this.opts.info.device, job: null, coordinator: this.opts.connect, peerAddress: this.peerAddress },
      `trainer ${this.opts.id} on ${this.opts.info.host}/${this.opts.info.device} (backend ${this.opts.info.backend}) connecting to ${this.opts.connect}`,
    );
  }

  /** Aborts running jobs and closes every socket; safe to call twice. */
  async stop(reason = 'stopped'): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.ticker) clearInterval(this.ticker);
    for (const r of this.running.values()) r.controller.abort(new Error(`trainer ${reason}`));
    for (const p of this.pending.values()) p.reject(new Error(`trainer ${reason}`));
    this.pending.clear();
    if (this.queue && this.welcomed && reason !== 'shutdown') {
      await Promise.race([this.queue.send([encodeTrainerMessage({ kind: 'bye', reason })]).catch(() => undefined), new Promise((r) => setTimeout(r, 200))]);
    }
    this.queue?.close();
    this.dealer?.close();
    await this.heartbeat?.stop();
    await this.loop;
    await this.peers?.stop();
    this.resolveDone(reason);
    this.opts.onExit?.(reason);
  }

  private fields(job: string | null = null): Record<string, unknown> {
    return { trainer: this.opts.id, host: this.opts.info.host, device: this.opts.info.device, job };
  }

  /**
   * Sends as header + payload frames (protocol 2): the bytes of a `reduce`, `checkpoint` or
   * `put-artifact` go out straight from the caller's memory, not copied, so they must stay
   * unchanged until the coordinator has them. Each holds: a `reduce` is answered by `reduced`
   * only once the coordinator has every replica's contribution, this one included, and allReduce
   * waits for that before it gives `flat` back to the job (see allReduce below); a checkpoint or
   * an artifact is a request whose reply comes after the coordinator has written the bytes, and
   * the jobs build those bytes fresh for each call (encodeEnvelope, model.checkpoint(),
   * TextEncoder) and never write to them afterwards, so even a request that timed out or was
   * aborted leaves nothing behind that changes under ZeroMQ.
   */
  private send(body: Body<TrainerMessage>): void {
    if (!this.queue || this.stopped) return;
    this.queue.send(encodeTrainerFrames(body)).catch((err: Error) => {
      if (!this.stopped) this.opts.log.warn({ ...this.fields(), event: 'send-failed', kind: body.kind }, `could not send ${body.kind}: ${err.message}`);
    });
  }

  private hello(): void {
    this.lastHello = Date.now();
    this.send({ kind: 'hello', trainer: this.opts.id, info: { ...this.opts.info, peerAddress: this.peerAddress } });
  }

  private tick(): void {
    if (this.stopped) return;
    this.heartbeat?.markAlive();
    const now = Date.now();
    const silent = now - this.lastHeard;
    // Silent past the timeout on two ticks in a row: if only our own event loop was blocked (a
    // long synchronous step), the coordinator's messages that queued up are read in between.
    const suspect = this.suspect;
    this.suspect = silent > this.timeoutMs;
    if (silent > this.timeoutMs && (suspect || this.silentSince !== null)) {
      if (this.silentSince === null) {
        this.silentSince = this.lastHeard;
        this.welcomed = false;
        const jobs = [...this.running.keys()];
        this.opts.log.warn(
          { ...this.fields(), event: 'coordinator-silent', silentMs: silent, jobs },
          `coordinator silent for ${(silent / 1000).toFixed(1)} s` + (jobs.length ? `; abandoning ${jobs.join(', ')} (the coordinator requeues them)` : '') + '; saying hello until it answers',
        );
        for (const r of this.running.values()) r.controller.abort(new Error('coordinator lost'));
      }
      if (this.opts.giveUpAfterMs != null && now - this.silentSince > this.opts.giveUpAfterMs) {
        this.opts.log.warn({ ...this.fields(), event: 'trainer-give-up' }, `no coordinator for ${((now - this.silentSince) / 1000).toFixed(0)} s; exiting`);
        void this.stop('gave up: no coordinator');
        return;
      }
      if (now - this.lastHello >= this.timeoutMs) this.hello();
      return;
    }
    // Heartbeats themselves come from the heartbeat thread (see heartbeat-thread.ts).
  }

  private runningChanged(): void {
    this.heartbeat?.setRunning([...this.running.values()].map((r) => `${r.job}#${r.attempt}`));
  }

  private async receive(dealer: zmq.Dealer): Promise<void> {
    try {
      for await (const frames of dealer) {
        const decoded = decodeCoordinatorMessage(frames);
        if (!decoded.ok) {
          this.opts.log.warn({ ...this.fields(), event: 'rejected', kind: decoded.kind, reason: decoded.reason }, `rejected message from the coordinator: ${decoded.reason}; dropped`);
          continue;
        }
        this.lastHeard = Date.now();
        this.handle(decoded.msg);
      }
    } catch (err) {
      if (!this.stopped) this.opts.log.warn({ ...this.fields(), event: 'socket-error' }, `trainer socket failed: ${(err as Error).message}`);
    }
  }

  private handle(m: CoordinatorMessage): void {
    switch (m.kind) {
      case 'welcome':
        this.heartbeatMs = m.heartbeatMs;
        this.timeoutMs = m.trainerTimeoutMs;
        if (this.ticker) clearInterval(this.ticker);
        this.ticker = setInterval(() => this.tick(), this.heartbeatMs);
        this.heartbeat?.setPeriod(this.heartbeatMs);
        this.welcomed = true;
        this.joinStudy(m);
        this.silentSince = null;
        this.opts.log.info({ ...this.fields(), event: 'welcomed', run: m.run }, `trainer ${this.opts.id} joined run ${m.run} (heartbeat ${m.heartbeatMs} ms, timeout ${m.trainerTimeoutMs} ms)`);
        return;
      case 'heartbeat':
        if (!this.welcomed) this.hello(); // a coordinator that does not know us (restarted)
        return;
      case 'assign':
        return this.onAssign(m);
      case 'cancel': {
        const r = this.running.get(`${m.job}#${m.attempt}`);
        if (r) {
          this.opts.log.info({ ...this.fields(m.job), event: 'job-cancel', reason: m.reason }, `job ${m.job} cancelled: ${m.reason}`);
          r.controller.abort(new Error(`cancelled by the coordinator: ${m.reason}`));
        }
        return;
      }
      case 'reply': {
        const p = this.pending.get(m.req);
        if (!p) return;
        this.pending.delete(m.req);
        if (m.ok) p.resolve(m.data);
        else p.reject(new Error(m.error ?? 'request refused'));
        return;
      }
      case 'reduced':
        this.reduced.put(`${m.job}#${m.attempt}:${m.seq}`, bytesToF32(m.data));
        return;
      case 'ack':
        return;
      case 'shutdown':
        this.opts.log.info({ ...this.fields(), event: 'shutdown', reason: m.reason }, `coordinator says shut down: ${m.reason}`);
        void this.stop('shutdown');
        return;
    }
  }

  /** Sends a request and waits for its reply (rejects on refusal, timeout or abort). */
  private request(body: Body<TrainerMessage> & { req: number }, signal: AbortSignal): Promise<Uint8Array | null> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => fail(new Error(`no reply to ${body.kind} within ${REQUEST_TIMEOUT_MS / 1000} s`)), REQUEST_TIMEOUT_MS);
      const onAbort = (): void => fail(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
      const cleanup = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        this.pending.delete(body.req);
      };
      const fail = (e: Error): void => {
        cleanup();
        reject(e);
      };
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      this.pending.set(body.req, {
        resolve: (d) => {
          cleanup();
          resolve(d);
        },
        reject: fail,
      });
      this.send(body);
    });
  }

  private onAssign(m: Extract<CoordinatorMessage, { kind: 'assign' }>): void {
    const key = `${m.job}#${m.attempt}`;
    if (this.running.has(key)) return;
    const shape = specShape.safeParse(m.spec);
    if (!shape.success || shape.data.id !== m.job) {
      const why = shape.success ? `spec id ${shape.data.id} is not job ${m.job}` : `bad job spec: ${shape.error.issues[0].path.join('.')}: ${shape.error.issues[0].message}`;
      this.opts.log.warn({ ...this.fields(m.job), event: 'rejected', kind: 'assign', reason: why }, `rejected assignment of ${m.job}: ${why}`);
      this.send({ kind: 'job-failed', job: m.job, attempt: m.attempt, rank: m.rank, error: why, permanent: true });
      return;
    }
    const spec = m.spec as unknown as JobSpec; // structurally checked above; the runner checks the rest
    const run: Running = { job: m.job, attempt: m.attempt, rank: m.rank, controller: new AbortController(), reduceSeq: 0 };
    this.running.set(key, run);
    this.runningChanged();
    this.opts.log.info(
      { ...this.fields(m.job), event: 'job-start', attempt: m.attempt, rank: m.rank, worldSize: m.worldSize, resumeStep: m.resumeStep },
      `job ${m.job} attempt ${m.attempt}` + (m.worldSize > 1 ? ` rank ${m.rank}/${m.worldSize} (${m.allReduce} all-reduce)` : '') + (m.resumeStep !== null ? ` resuming from step ${m.resumeStep}` : ''),
    );
    const ctx = this.context(spec, m, run);
    const started = Date.now();
    this.opts
      .runner(ctx)
      .then((result) => {
        if (run.controller.signal.aborted) throw run.controller.signal.reason instanceof Error ? run.controller.signal.reason : new Error('aborted');
        this.send({ kind: 'job-done', job: m.job, attempt: m.attempt, rank: m.rank, result });
        this.opts.log.info({ ...this.fields(m.job), event: 'job-done', durationMs: Date.now() - started }, `job ${m.job} done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      })
      .catch((err: unknown) => {
        const e = err instanceof Error ? err : new Error(String(err));
        const permanent = e instanceof PermanentJobError || e instanceof UserInputError || e.name === 'PermanentJobError' || e.name === 'UserInputError';
        const aborted = run.controller.signal.aborted;
        this.send({ kind: 'job-failed', job: m.job, attempt: m.attempt, rank: m.rank, error: aborted ? `aborted: ${e.message}` : e.message, permanent: permanent && !aborted });
        this.opts.log.warn(
          { ...this.fields(m.job), event: aborted ? 'job-aborted' : 'job-failed', error: e.message, permanent, stack: aborted ? undefined : e.stack },
          aborted ? `job ${m.job} aborted: ${e.message}` : `job ${m.job} failed${permanent ? ' (permanent)' : ''}: ${e.message}`,
        );
      })
      .finally(() => {
        this.running.delete(key);
        this.runningChanged();
        this.peers?.endAttempt(m.job, m.attempt);
        this.reduced.drop(`${key}:`, 'attempt ended');
      });
  }

  /** Another study (a new coordinator at the same address) or another set: the data sets held are dropped. */
  private joinStudy(m: Extract<CoordinatorMessage, { kind: 'welcome' }>): void {
    const study = JSON.stringify([m.run, m.syntheticSet]);
    if (this.welcomedStudy !== null && this.welcomedStudy !== study) this.datasets.clear();
    this.welcomedStudy = study;
    this.syntheticSet = m.syntheticSet;
  }

  /** The dataset at `size`: from --data, made here from the synthetic set's recipe, or from the coordinator. */
  private async datasetAt(size: number, ref: { job: string; attempt: number }, signal: AbortSignal, note: DatasetNote): Promise<Dataset> {
    if (this.opts.localDataset) return this.opts.localDataset(size, note);
    const set = this.syntheticSet;
    const make = this.opts.makeSyntheticSet;
    if (set && make) {
      try {
        const made = await make(set, size, note);
        if (!('unavailable' in made)) return made;
        note(`not making the synthetic set here: ${made.unavailable}; asking the coordinator for its images`, 'warn');
      } catch (err) {
        if (signal.aborted) throw err;
        note(`could not make the synthetic set here (${(err as Error).message}); asking the coordinator for its images`, 'warn');
      }
    }
    const bytes = await this.request({ kind: 'get-dataset', ...ref, req: this.nextReq++, size }, signal);
    if (!bytes) throw new Error('the coordinator sent no dataset bytes');
    return decodeDataset(bytes, `dataset at ${size}px from the coordinator`);
  }

  private context(spec: JobSpec, m: Extract<CoordinatorMessage, { kind: 'assign' }>, run: Running): JobContext {
    const signal = run.controller.signal;
    const ref = { job: m.job, attempt: m.attempt };
    const rank0 = m.rank === 0;
    let lastProgress = 0;
    const context: JobContext = {
      spec,
      rank: m.rank,
      worldSize: m.worldSize,
      resumeFrom: m.resumeFrom,
      signal,
      backend: this.opts.info.backend,
      dataset: (size: number): Promise<Dataset> => {
        let d = this.datasets.get(size);
        if (!d) {
          d = this.datasetAt(size, ref, signal, (line: string, level: 'info' | 'warn' = 'info') => context.log(level, line));
          this.datasets.set(size, d);
          d.catch(() => this.datasets.delete(size));
        }
        return d;
      },
      artifact: async (source: string, name: string): Promise<Uint8Array> => {
        const bytes = await this.request({ kind: 'get-artifact', ...ref, req: this.nextReq++, source, name }, signal);
        if (!bytes) throw new Error(`the coordinator sent no bytes for artifact ${source}/${name}`);
        return bytes;
      },
      putArtifact: async (name: string, bytes: Uint8Array): Promise<void> => {
        if (!rank0) return;
        await this.request({ kind: 'put-artifact', ...ref, req: this.nextReq++, name, data: bytes }, signal);
      },
      checkpoint: async (step: number, bytes: Uint8Array): Promise<void> => {
        if (!rank0) return;
        await this.request({ kind: 'checkpoint', ...ref, req: this.nextReq++, step, data: bytes }, signal);
      },
      progress: (p: JobProgress): void => {
        if (!rank0) return;
        const now = Date.now();
        if (now - lastProgress < PROGRESS_EVERY_MS && p.step !== p.total) return;
        lastProgress = now;
        const losses: Record<string, number> = {};
        for (const [k, v] of Object.entries(p.losses)) losses[k] = Number.isFinite(v) ? v : NaN;
        this.send({ kind: 'progress', ...ref, rank: m.rank, step: p.step, total: p.total, losses, imagesPerSec: Number.isFinite(p.imagesPerSec) && p.imagesPerSec >= 0 ? p.imagesPerSec : 0 });
      },
      log: (level: 'info' | 'warn', msg: string, fields: Record<string, unknown> = {}): void => {
        this.opts.log[level]({ ...this.fields(m.job), event: 'job-log', ...fields }, `job ${m.job}: ${msg}`);
        if (rank0 || level === 'warn') this.send({ kind: 'log', ...ref, level, msg, fields });
      },
      // JobContext.allReduce: the result may be `flat` itself, and `flat` is the job's again (to
      // overwrite for the next step) as soon as the promise resolves. Alone: flat is the sum.
      // Ring: the sum is written into flat (ReduceCall.into: no fresh 4 B/parameter array, and
      // none of its page faults, per step); the only sends from flat are the ring's first step,
      // and each of those pieces has reached the next replica before its finished sum can come
      // back around, which it must before the call resolves. Coordinator: flat goes out as a
      // payload frame without a copy, and the `reduced` answer (a new array: ZeroMQ's received
      // buffer, used in place) comes only after the coordinator has received it.
      allReduce: async (flat: Float32Array): Promise<Float32Array> => {
        if (m.worldSize <= 1) return flat;
        const seq = run.reduceSeq++;
        if (m.allReduce === 'ring' && this.peers) {
          return this.peers.allReduce(flat, { ...ref, seq, rank: m.rank, peers: m.peers, timeoutMs: REQUEST_TIMEOUT_MS, signal, into: flat });
        }
        const waiting = this.reduced.take(`${m.job}#${m.attempt}:${seq}`, REQUEST_TIMEOUT_MS, signal);
        this.send({ kind: 'reduce', ...ref, seq, rank: m.rank, data: f32ToBytes(flat) });
        return waiting;
      },
      // JobContext.beginAllReduce. Two replicas on the ring transport exchange ranges as the job
      // readies them (PeerLink.beginExchange). The sum cannot go into `flat` (its ranges may still be
      // on the wire), so it goes into one array per job run, reused: the result is the caller's only
      // until its next call, as with allReduce. Everything else reduces in finish, as allReduce does.
      beginAllReduce: (flat: Float32Array): PendingReduce => {
        if (m.worldSize === 2 && m.allReduce === 'ring' && this.peers) {
          const seq = run.reduceSeq++;
          if (run.sum?.length !== flat.length) run.sum = new Float32Array(flat.length);
          return this.peers.beginExchange(flat, { ...ref, seq, rank: m.rank, peers: m.peers, timeoutMs: REQUEST_TIMEOUT_MS, signal, into: run.sum });
        }
        return reduceAtFinish(flat, (f) => context.allReduce(f));
      },
      // JobContext.pairExchange: only where the two replicas share memory (PeerLink.swap). It counts
      // its calls with the reductions, so both replicas agree on every call's number.
      pairExchange:
        m.worldSize === 2 && m.allReduce === 'ring' && this.peers?.sharesMemory(m.rank, m.peers)
          ? (ours: readonly Float32Array[]): PendingVector => this.peers!.swap(ours, { ...ref, seq: run.reduceSeq++, rank: m.rank, peers: m.peers, timeoutMs: REQUEST_TIMEOUT_MS, signal })
          : null,
    };
    return context;
  }
}
