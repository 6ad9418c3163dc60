/**
 * The coordinator against scripted trainers: real DEALER sockets on tcp loopback speaking the
 * protocol by hand, so each test controls exactly what a trainer says (or fails to say).
 */
import { promises as fs } from 'fs';
import * as os from 'os';
import * as path from 'path';
import pino from 'pino';
import * as zmq from 'zeromq';
import { Packr } from 'msgpackr';
import { fakeImageSet } from '@gan-study/data/testing';
import type { Dataset } from '@gan-study/data';
import {
  PROTOCOL_VERSION,
  buildPlan,
  decodeCoordinatorMessage,
  bytesToF32,
  decodeDataset,
  encodeTrainerFrames,
  encodeTrainerMessage,
  f32ToBytes,
  classifierResultHead,
  ganResultHead,
  profileDefaults,
  type Body,
  type ClassifierJobResult,
  type CoordinatorMessage,
  type GanJobResult,
  type JobSpec,
  type Plan,
  type TrainerMessage,
} from '@gan-study/protocol';
import { Journal } from './journal';
import { Coordinator } from './service';

type Msg<K extends CoordinatorMessage['kind']> = Extract<CoordinatorMessage, { kind: K }>;

/** A trainer played by the test. */
class ScriptedTrainer {
  readonly socket: zmq.Dealer;
  private readonly inbox: CoordinatorMessage[] = [];
  /** How many ZeroMQ frames each received message came in (header + payload frames). */
  readonly frameCount = new Map<CoordinatorMessage, number>();
  private readonly loop: Promise<void>;
  constructor(
    readonly id: string,
    endpoint: string,
  ) {
    const socket = new zmq.Dealer({ routingId: id, linger: 0 });
    socket.connect(endpoint);
    this.socket = socket;
    this.loop = (async () => {
      try {
        for await (const frames of socket) {
          const d = decodeCoordinatorMessage(frames);
          if (!d.ok) throw new Error(`coordinator sent a bad message: ${d.reason}`);
          this.frameCount.set(d.msg, frames.length);
          this.inbox.push(d.msg);
        }
      } catch {
        // closed
      }
    })();
  }
  send(body: Body<TrainerMessage>): Promise<void> {
    return this.socket.send(encodeTrainerMessage(body));
  }
  /** As a trainer sends: bytes fields as payload frames of their own. */
  sendFrames(body: Body<TrainerMessage>): Promise<void> {
    return this.socket.send(encodeTrainerFrames(body));
  }
  hello(): Promise<void> {
    return this.send({ kind: 'hello', trainer: this.id, info: { host: 'testhost', pid: 1, device: 'cpu', backend: 'cpu', gpu: null, peerAddress: null } });
  }
  /** The next message of a kind (others are discarded), within a bounded wait. */
  async next<K extends CoordinatorMessage['kind']>(kind: K, timeoutMs = 5000): Promise<Msg<K>> {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      const i = this.inbox.findIndex((m) => m.kind === kind);
      if (i >= 0) return this.inbox.splice(i, 1)[0] as Msg<K>;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`${this.id}: no ${kind} within ${timeoutMs} ms (inbox: ${this.inbox.map((m) => m.kind).join(', ')})`);
  }
  /** The next assignment, or null once `done()` says the study is over. */
  async nextAssign(done: () => boolean, timeoutMs = 5000): Promise<Msg<'assign'> | null> {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      const i = this.inbox.findIndex((m) => m.kind === 'assign');
      if (i >= 0) return this.inbox.splice(i, 1)[0] as Msg<'assign'>;
      if (done()) return null;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`${this.id}: no assignment within ${timeoutMs} ms`);
  }
  has(kind: CoordinatorMessage['kind']): boolean {
    return this.inbox.some((m) => m.kind === kind);
  }
  async close(): Promise<void> {
    this.socket.close();
    await this.loop;
  }
}

function fakeDataset(size: number): Dataset {
  return {
    root: '/fake',
    classes: ['benign', 'malignant'],
    train: fakeImageSet({ size, perClass: [12, 8], split: 'train' }),
    test: fakeImageSet({ size, perClass: [4, 4], split: 'test', seed: 1 }),
    hash: 'f'.repeat(64),
    warnings: [],
  };
}

/** A 4-job plan: the reference, one DCGAN at budget 5, the baseline, and the GAN-filled classifier. */
function smallPlan(): Plan {
  const config = { ...profileDefaults('smoke'), budgets: [5], gans: ['dcgan' as const], repeats: 1 };
  return buildPlan(config, { classes: ['benign', 'malignant'], train: { benign: 12, malignant: 8 }, test: { benign: 4, malignant: 4 } });
}

/** A result of the right shape for a spec (numbers are arbitrary but fixed). */
function resultFor(spec: JobSpec): GanJobResult | ClassifierJobResult {
  const durations = { loadMs: 1, trainMs: 1, evalMs: 1, totalMs: 3 };
  if (spec.kind === 'gan') {
    return { ...ganResultHead(spec), steps: 3, finalLosses: { d: 0.5 }, generated: spec.generate, artifacts: [], budgetFiles: [], quality: null, durations, backend: 'cpu', resumed: false };
  }
  return {
    ...classifierResultHead(spec),
    counts: { benign: { real: 12, generated: 0 }, malignant: { real: 5, generated: 3 } },
    testCounts: { benign: 4, malignant: 4 },
    epochs: 1,
    steps: 2,
    finalLoss: 0.6,
    metrics: {
      classNames: ['benign', 'malignant'],
      n: 8,
      positiveClass: 'malignant',
      aucMethod: 'binary',
      accuracy: 0.75,
      auc: 0.8,
      balancedAccuracy: 0.75,
      macroF1: 0.74,
      confusionMatrix: [
        [3, 1],
        [1, 3],
      ],
      perClass: { benign: { precision: 0.75, recall: 0.75, f1: 0.75, support: 4 }, malignant: { precision: 0.75, recall: 0.75, f1: 0.75, support: 4 } },
      aucPerClass: null,
      rocCurves: {},
    },
    cis: null,
    durations,
    backend: 'cpu',
    replicas: 1,
    resumed: false,
  };
}

jest.setTimeout(20_000);

describe('Coordinator', () => {
  let dir: string;
  let coordinator: Coordinator | null = null;
  let trainers: ScriptedTrainer[] = [];
  let logLines: Array<Record<string, unknown>> = [];
  let hooked: string[] = [];

  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'coordinator-spec-'));
    logLines = [];
    hooked = [];
  });
  afterEach(async () => {
    await Promise.all(trainers.map((t) => t.close()));
    trainers = [];
    await coordinator?.stop();
    coordinator = null;
    await fs.rm(dir, { recursive: true, force: true });
  });

  async function start(opts: { resume?: boolean; maxAttempts?: number; plan?: Plan; hangTimeoutMs?: number; minTrainers?: number; dataset?: (size: number) => Promise<Dataset> } = {}): Promise<Coordinator> {
    const log = pino({ level: 'debug', base: undefined }, { write: (line: string) => void logLines.push(JSON.parse(line) as Record<string, unknown>) });
    coordinator = new Coordinator({
      bind: 'tcp://127.0.0.1:*',
      runDir: dir,
      plan: opts.plan ?? smallPlan(),
      settings: { heartbeatMs: 50, trainerTimeoutMs: 400, maxAttempts: opts.maxAttempts ?? 3, allReduce: 'ring', checkpointEvery: 2, statusEverySec: 60 },
      dataset: opts.dataset ?? (async (size) => fakeDataset(size)),
      log,
      resume: opts.resume,
      hangTimeoutMs: opts.hangTimeoutMs,
      minTrainers: opts.minTrainers,
      onEvent: (e) => hooked.push(e.event),
    });
    await coordinator.start();
    return coordinator;
  }

  const finished = (): boolean => coordinator?.snapshot().finished ?? true;

  async function trainer(id: string): Promise<ScriptedTrainer> {
    const t = new ScriptedTrainer(id, coordinator?.address ?? '');
    trainers.push(t);
    await t.hello();
    await t.next('welcome');
    return t;
  }

  /** Runs assignments to completion on one trainer until the study finishes. */
  async function finishAll(t: ScriptedTrainer, plan: Plan, seen: (a: Msg<'assign'>) => void = () => undefined): Promise<string[]> {
    const ran: string[] = [];
    for (;;) {
      const a = await t.nextAssign(finished);
      if (!a) break;
      seen(a);
      ran.push(a.job);
      const spec = plan.jobs.find((j) => j.id === a.job) as JobSpec;
      await t.send({ kind: 'job-done', job: a.job, attempt: a.attempt, rank: 0, result: resultFor(spec) });
      await t.next('ack');
    }
    return ran;
  }

  it('logs and drops malformed, unknown and wrong-version messages, and keeps serving', async () => {
    await start();
    const rogue = new zmq.Dealer({ routingId: 'rogue', linger: 0 });
    try {
      rogue.connect(coordinator?.address ?? '');
      const packr = new Packr({ useRecords: false });
      await rogue.send(Buffer.from([0x82, 0xa1]));
      await rogue.send(packr.pack({ v: PROTOCOL_VERSION + 1, kind: 'hello' }));
      await rogue.send(packr.pack({ v: PROTOCOL_VERSION, kind: 'format-disk' }));
      await rogue.send(packr.pack({ v: PROTOCOL_VERSION, kind: 'hello', trainer: 'x', info: { host: 1 } }));
      const t = await trainer('t1');
      const a = await t.next('assign');
      expect(a.job).toBe('clf-reference-r0');
      const rejected = logLines.filter((l) => l.event === 'rejected');
      expect(rejected.map((l) => l.reason)).toEqual([expect.stringMatching(/not msgpack/), `protocol version ${PROTOCOL_VERSION + 1}, expected ${PROTOCOL_VERSION}`, 'unknown kind "format-disk"', expect.stringMatching(/^info\.host/)]);
      for (const l of rejected) expect(l).toMatchObject({ trainer: 'rogue', level: 40 });
      // Every event names job, trainer, host and device (null where they do not apply), and reaches the hook.
      for (const l of logLines) for (const k of ['event', 'job', 'trainer', 'host', 'device']) expect(l).toHaveProperty(k);
      expect(hooked).toEqual(logLines.map((l) => l.event));
    } finally {
      rogue.close();
    }
  });

  it('runs the graph in dependency order, journals each result before acknowledging it, and writes results', async () => {
    const plan = smallPlan();
    await start({ plan });
    const t = await trainer('t1');
    const first = await t.next('assign');
    expect(first.job).toBe('clf-reference-r0');
    // Dataset and artifacts come over the wire.
    await t.send({ kind: 'get-dataset', job: first.job, attempt: first.attempt, req: 1, size: 8 });
    const reply = await t.next('reply');
    const ds = decodeDataset(reply.data as Uint8Array);
    expect(ds.train.labels.length).toBe(20);
    await t.send({ kind: 'put-artifact', job: first.job, attempt: first.attempt, req: 2, name: 'model.bin', data: Buffer.from('weights') });
    expect((await t.next('reply')).ok).toBe(true);
    await t.send({ kind: 'put-artifact', job: first.job, attempt: first.attempt, req: 3, name: '../escape', data: Buffer.from('x') });
    expect(await t.next('reply')).toMatchObject({ ok: false, error: expect.stringMatching(/not a safe relative path/) });
    await t.send({ kind: 'job-done', job: first.job, attempt: first.attempt, rank: 0, result: resultFor(plan.jobs.find((j) => j.id === first.job) as JobSpec) });
    await t.next('ack');
    const journal = await Journal.read(path.join(dir, 'journal.jsonl'));
    expect(journal.filter((e) => e.event === 'done').map((e) => (e as { job: string }).job)).toEqual(['clf-reference-r0']);

    const second = await t.next('assign');
    expect(['gan-dcgan-b5-malignant', 'clf-baseline-b5-r0']).toContain(second.job);
    // The GAN job may read the reference's model (a dependency), not an unrelated job's.
    if (second.job.startsWith('gan-')) {
      await t.send({ kind: 'get-artifact', job: second.job, attempt: second.attempt, req: 4, source: 'clf-reference-r0', name: 'model.bin' });
      expect(Buffer.from((await t.next('reply')).data as Uint8Array).toString()).toBe('weights');
      await t.send({ kind: 'get-artifact', job: second.job, attempt: second.attempt, req: 5, source: 'clf-baseline-b5-r0', name: 'model.bin' });
      expect(await t.next('reply')).toMatchObject({ ok: false, error: expect.stringMatching(/does not depend on/) });
    }
    await t.send({ kind: 'job-done', job: second.job, attempt: second.attempt, rank: 0, result: resultFor(plan.jobs.find((j) => j.id === second.job) as JobSpec) });
    await t.next('ack');
    const rest = await finishAll(t, plan);
    expect(rest.length).toBe(2);
    const outcome = await coordinator?.finished;
    expect(outcome?.done.length).toBe(4);
    expect(t.has('shutdown') || (await t.next('shutdown'))).toBeTruthy();
    const results = JSON.parse(await fs.readFile(path.join(dir, 'results.json'), 'utf8')) as { rows: unknown[]; missing: string[] };
    expect(results.rows).toHaveLength(3);
    expect(results.missing).toEqual([]);
    expect(await fs.readFile(path.join(dir, 'results.csv'), 'utf8')).toMatch(/^id,scenario,gan,budget/);
    expect(JSON.parse(await fs.readFile(path.join(dir, 'jobs', 'clf-reference-r0', 'result.json'), 'utf8'))).toMatchObject({ id: 'clf-reference-r0' });
  });

  it("writes each job's progress and log lines in the order they came, all of them by the time the study is finished", async () => {
    const plan = smallPlan();
    await start({ plan });
    const t = await trainer('t1');
    const a = await t.next('assign');
    const steps = Array.from({ length: 60 }, (_, i) => i + 1);
    for (const step of steps) await t.send({ kind: 'progress', job: a.job, attempt: a.attempt, rank: 0, step, total: 60, losses: { loss: 1 / step }, imagesPerSec: 10 });
    await t.send({ kind: 'log', job: a.job, attempt: a.attempt, level: 'info', msg: 'last words', fields: { n: 1 } });
    await t.send({ kind: 'job-done', job: a.job, attempt: a.attempt, rank: 0, result: resultFor(plan.jobs.find((j) => j.id === a.job) as JobSpec) });
    await t.next('ack');
    await finishAll(t, plan);
    await coordinator?.finished;
    const lines = (file: string) => fs.readFile(path.join(dir, 'jobs', a.job, file), 'utf8').then((text) => text.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>));
    expect((await lines('metrics.jsonl')).map((l) => l.step)).toEqual(steps);
    expect((await lines('log.jsonl')).map((l) => l.msg ?? l.event)).toEqual(['start', 'last words', 'done']);
  });

  it('all-reduces through itself with payload frames: contributions in, the rank-order sum out, bytes as frames of their own', async () => {
    const base = smallPlan();
    // The reference on two replicas; the scripted trainers advertise no peer address, so the
    // all-reduce goes through the coordinator (the allReduce setting here is 'ring').
    const plan: Plan = { ...base, jobs: base.jobs.map((j) => (j.id === 'clf-reference-r0' ? { ...j, replicas: 2 } : j)) };
    await start({ plan, minTrainers: 2 });
    const t1 = await trainer('t1');
    const t2 = await trainer('t2');
    const [a1, a2] = [await t1.next('assign'), await t2.next('assign')];
    expect([a1.job, a2.job, a1.worldSize, a1.allReduce]).toEqual(['clf-reference-r0', 'clf-reference-r0', 2, 'coordinator']);
    const ranks = new Map([
      [a1.rank, t1],
      [a2.rank, t2],
    ]);
    const n = 100_003; // odd-sized, larger than ZeroMQ's 128-byte copy limit
    const vec = (rank: number, seq: number) => Float32Array.from({ length: n }, (_, i) => (rank + 1) * 0.1 + i * 1e-3 + seq);
    for (const seq of [0, 1]) {
      for (const rank of [1, 0]) {
        await (ranks.get(rank) as ScriptedTrainer).sendFrames({ kind: 'reduce', job: a1.job, attempt: a1.attempt, seq, rank, data: f32ToBytes(vec(rank, seq)) });
      }
      const want = vec(0, seq);
      const one = vec(1, seq);
      for (let i = 0; i < n; i++) want[i] = want[i] + one[i];
      for (const t of [t1, t2]) {
        const r = await t.next('reduced');
        expect(t.frameCount.get(r)).toBe(2); // header + the sum
        expect(r.seq).toBe(seq);
        expect(bytesToF32(r.data)).toEqual(want);
      }
    }
    // A checkpoint from rank 0 as payload frames lands on disk byte for byte; the data set comes back as a frame too.
    const rank0 = ranks.get(0) as ScriptedTrainer;
    const state = Buffer.alloc(5000, 7);
    await rank0.sendFrames({ kind: 'checkpoint', job: a1.job, attempt: a1.attempt, req: 1, step: 2, data: state });
    expect((await rank0.next('reply')).ok).toBe(true);
    expect(await fs.readFile(path.join(dir, 'checkpoints', `${a1.job}.ckpt`))).toEqual(state);
    await rank0.sendFrames({ kind: 'get-dataset', job: a1.job, attempt: a1.attempt, req: 2, size: 8 });
    const reply = await rank0.next('reply');
    expect(rank0.frameCount.get(reply)).toBe(2);
    expect(decodeDataset(reply.data as Uint8Array).train.labels.length).toBe(20);
  });

  it('detects a silent trainer and resumes its job elsewhere from the last checkpoint', async () => {
    const plan = smallPlan();
    await start({ plan });
    const t1 = await trainer('t1');
    const a = await t1.next('assign');
    await t1.send({ kind: 'checkpoint', job: a.job, attempt: a.attempt, req: 1, step: 4, data: Buffer.from('state-at-4') });
    expect((await t1.next('reply')).ok).toBe(true);
    // t1 goes silent (a hang, or kill -9): no heartbeats. t2 joins and must get the job with the checkpoint.
    const t2 = await trainer('t2');
    const heartbeat = setInterval(() => void t2.send({ kind: 'heartbeat', running: [], lagMs: 0 }).catch(() => undefined), 50);
    try {
      const assigned: Array<Msg<'assign'>> = [];
      for (let i = 0; i < 100 && !logLines.some((l) => l.event === 'trainer-lost'); i++) await new Promise((r) => setTimeout(r, 20));
      // A late result from the lost attempt is stale: dropped, not journaled.
      await t1.send({ kind: 'job-done', job: a.job, attempt: a.attempt, rank: 0, result: resultFor(plan.jobs[0]) });
      await finishAll(t2, plan, (b) => assigned.push(b));
      const b = assigned.find((x) => x.job === a.job);
      expect(b?.attempt).toBeGreaterThan(a.attempt);
      expect(b?.resumeStep).toBe(4);
      expect(Buffer.from(b?.resumeFrom as Uint8Array).toString()).toBe('state-at-4');
      const lost = logLines.find((l) => l.event === 'trainer-lost');
      expect(lost).toMatchObject({ trainer: 't1', job: a.job, host: 'testhost', device: 'cpu' });
      expect(String(lost?.msg)).toMatch(/back to the queue/);
      const done = (await Journal.read(path.join(dir, 'journal.jsonl'))).filter((e) => e.event === 'done');
      expect(done.map((e) => (e as { job: string }).job).sort()).toEqual(plan.jobs.map((j) => j.id).sort());
      expect(done.find((e) => (e as { job: string }).job === a.job)).toMatchObject({ trainer: 't2' });
    } finally {
      clearInterval(heartbeat);
    }
  });

  it('does not blame trainers for its own blocked event loop', async () => {
    await start({ plan: smallPlan() });
    const t1 = await trainer('t1');
    const heartbeat = setInterval(() => void t1.send({ kind: 'heartbeat', running: [], lagMs: 0 }).catch(() => undefined), 50);
    try {
      await t1.next('assign');
      const block = (ms: number) => {
        const until = Date.now() + ms;
        while (Date.now() < until) {
          // busy: as when the coordinator decodes or encodes a large data set
        }
      };
      // Two long stalls in a row, each past the trainer timeout (400 ms), with barely a turn between.
      for (let i = 0; i < 3; i++) {
        block(700);
        await new Promise((r) => setImmediate(r));
      }
      await new Promise((r) => setTimeout(r, 300));
      expect(logLines.filter((l) => l.event === 'trainer-lost')).toEqual([]);
    } finally {
      clearInterval(heartbeat);
    }
  });

  it('goes on reading messages while a data set is being prepared, and answers when it is ready', async () => {
    let ready: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (ready = resolve));
    await start({ plan: smallPlan(), dataset: async (size) => gate.then(() => fakeDataset(size)) });
    const t1 = await trainer('t1');
    const heartbeat = setInterval(() => void t1.send({ kind: 'heartbeat', running: [], lagMs: 0 }).catch(() => undefined), 50);
    try {
      const a = await t1.next('assign');
      await t1.send({ kind: 'get-dataset', job: a.job, attempt: a.attempt, req: 1, size: 8 });
      // Longer than two trainer timeouts (400 ms) while the data set is not ready: heartbeats are read.
      await new Promise((r) => setTimeout(r, 1000));
      await t1.send({ kind: 'progress', job: a.job, attempt: a.attempt, rank: 0, step: 1, total: 4, losses: { loss: 1 }, imagesPerSec: 10 });
      for (let i = 0; i < 100 && coordinator?.snapshot().jobs.find((j) => j.id === a.job)?.step !== 1; i++) await new Promise((r) => setTimeout(r, 10));
      expect(coordinator?.snapshot().jobs.find((j) => j.id === a.job)?.step).toBe(1);
      expect(t1.has('reply')).toBe(false);
      ready();
      const reply = await t1.next('reply');
      expect(reply).toMatchObject({ req: 1, ok: true });
      expect(decodeDataset(reply.data as Uint8Array).train.labels.length).toBe(20);
      expect(logLines.filter((l) => l.event === 'trainer-lost')).toEqual([]);
    } finally {
      clearInterval(heartbeat);
    }
  });

  it('keeps a trainer whose heartbeat thread reports a busy main thread, and drops it as hung past the hang timeout', async () => {
    const plan = smallPlan();
    await start({ plan, hangTimeoutMs: 1500 });
    const t1 = await trainer('t1');
    const a = await t1.next('assign');
    const hb = new ScriptedTrainer('t1#hb', coordinator?.address ?? '');
    trainers.push(hb);
    let lag = 0;
    const beating = setInterval(() => {
      lag += 50;
      void hb.send({ kind: 'heartbeat', running: [`${a.job}#${a.attempt}`], lagMs: lag }).catch(() => undefined);
    }, 50);
    try {
      // Only the heartbeat thread speaks; the main thread is "in a long step" (lag grows).
      await new Promise((r) => setTimeout(r, 900));
      expect(logLines.some((l) => l.event === 'trainer-lost')).toBe(false);
      for (let i = 0; i < 100 && !logLines.some((l) => l.event === 'trainer-lost'); i++) await new Promise((r) => setTimeout(r, 20));
      const lost = logLines.find((l) => l.event === 'trainer-lost');
      expect(String(lost?.msg)).toMatch(/main thread has not run for 1\.\d s \(hang timeout 1500 ms\); job clf-reference-r0: back to the queue/);
    } finally {
      clearInterval(beating);
    }
    // Anything else on a heartbeat socket is rejected.
    await hb.send({ kind: 'bye', reason: 'x' });
    for (let i = 0; i < 100 && !logLines.some((l) => l.event === 'rejected'); i++) await new Promise((r) => setTimeout(r, 20));
    expect(logLines.find((l) => l.event === 'rejected')).toMatchObject({ trainer: 't1', reason: 'bye on a heartbeat socket' });
  });

  it('does not retry a permanent failure and skips its dependents; retries others up to maxAttempts', async () => {
    const plan = smallPlan();
    await start({ plan, maxAttempts: 2 });
    const t = await trainer('t1');
    const ref = await t.next('assign');
    await t.send({ kind: 'job-done', job: ref.job, attempt: ref.attempt, rank: 0, result: resultFor(plan.jobs.find((j) => j.id === ref.job) as JobSpec) });
    const failures: Record<string, number> = {};
    for (;;) {
      const a = await t.nextAssign(finished);
      if (!a) break;
      if (a.job.startsWith('gan-')) {
        await t.send({ kind: 'job-failed', job: a.job, attempt: a.attempt, rank: 0, error: 'no images of class malignant', permanent: true });
      } else if (a.job.startsWith('clf-baseline')) {
        failures[a.job] = (failures[a.job] ?? 0) + 1;
        await t.send({ kind: 'job-failed', job: a.job, attempt: a.attempt, rank: 0, error: 'out of memory', permanent: false });
      } else {
        throw new Error(`unexpected assignment ${a.job}`);
      }
    }
    const outcome = await coordinator?.finished;
    expect(failures).toEqual({ 'clf-baseline-b5-r0': 2 });
    expect(outcome?.failed.map((f) => f.job).sort()).toEqual(['clf-baseline-b5-r0', 'gan-dcgan-b5-malignant']);
    expect(outcome?.skipped).toEqual(['clf-gan-dcgan-b5-r0']);
    const lines = logLines.filter((l) => l.event === 'job-failed').map((l) => String(l.msg));
    expect(lines).toHaveLength(3);
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/gan-dcgan-b5-malignant failed .*failed permanently, not retried/),
        expect.stringMatching(/clf-baseline-b5-r0 failed .*back to the queue \(attempt 2\/2 next\)/),
        expect.stringMatching(/clf-baseline-b5-r0 failed .*failed after 2 attempts/),
      ]),
    );
  });

  it('resumes from the journal without re-running finished jobs', async () => {
    const plan = smallPlan();
    await start({ plan });
    const t = await trainer('t1');
    const a = await t.next('assign');
    await t.send({ kind: 'job-done', job: a.job, attempt: a.attempt, rank: 0, result: resultFor(plan.jobs.find((j) => j.id === a.job) as JobSpec) });
    await t.next('ack');
    // The coordinator "crashes" (stops without finishing); a new one resumes from the directory.
    await t.close();
    trainers = [];
    await coordinator?.stop();
    await start({ plan, resume: true });
    const t2 = await trainer('t2');
    const ran = await finishAll(t2, plan);
    expect(ran).not.toContain(a.job);
    expect(ran.sort()).toEqual(plan.jobs.map((j) => j.id).filter((id) => id !== a.job).sort());
    await coordinator?.finished;
    const results = JSON.parse(await fs.readFile(path.join(dir, 'results.json'), 'utf8')) as { rows: Array<{ id: string }> };
    expect(results.rows.map((r) => r.id)).toContain('clf-reference-r0');
  });
});
