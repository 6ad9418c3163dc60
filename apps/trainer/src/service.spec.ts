/**
 * The trainer service against a scripted coordinator: a real ROUTER on tcp loopback speaking the
 * protocol by hand. The jobs are the dry-run runner's.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zmq from 'zeromq';
import { Packr } from 'msgpackr';
import { loadImageFolder, synthKey, synthesize, type Dataset } from '@gan-study/data';
import { fakeImageSet, writeImageFolder } from '@gan-study/data/testing';
import {
  CoordinatorReducer,
  PROTOCOL_VERSION,
  buildPlan,
  bytesToF32,
  decodeDataset,
  decodeTrainerMessage,
  encodeCoordinatorFrames,
  encodeCoordinatorMessage,
  encodeDataset,
  f32ToBytes,
  profileDefaults,
  type Body,
  type CoordinatorMessage,
  type EventLog,
  type JobResult,
  type JobSpec,
  type TrainerMessage,
} from '@gan-study/protocol';
import { dryRunRunner } from './dry-run';
import { folderLoader, syntheticSetMaker } from './cli';
import { TrainerService, type JobRunner, type TrainerOptions } from './service';

jest.setTimeout(20_000);

type Msg<K extends TrainerMessage['kind']> = Extract<TrainerMessage, { kind: K }>;

const plan = buildPlan({ ...profileDefaults('smoke'), budgets: [5], gans: ['dcgan'] }, { classes: ['benign', 'malignant'], train: { benign: 12, malignant: 8 }, test: { benign: 4, malignant: 4 } });
const reference = plan.jobs.find((j) => j.id === 'clf-reference-r0') as JobSpec;
const dataset = encodeDataset({
  root: '/fake',
  classes: ['benign', 'malignant'],
  train: fakeImageSet({ size: 16, perClass: [12, 8] }),
  test: fakeImageSet({ size: 16, perClass: [4, 4], split: 'test' }),
  hash: 'x',
  warnings: [],
});

class ScriptedCoordinator {
  readonly router = new zmq.Router({ linger: 0 });
  readonly inbox: Array<{ from: string; msg: TrainerMessage; frames: number }> = [];
  /** Replicas of a job whose all-reduce this coordinator does (as the real one: sum in rank order, sent back as payload frames). */
  reduceWorld: number | null = null;
  private readonly reducer = new CoordinatorReducer();
  private readonly contributors = new Map<string, string[]>();
  private loop: Promise<void> | null = null;
  address = '';
  /** When set, the coordinator answers nothing (a hung or dead coordinator). */
  silent = false;
  async start(): Promise<void> {
    await this.router.bind('tcp://127.0.0.1:*');
    this.address = this.router.lastEndpoint ?? '';
    this.loop = (async () => {
      try {
        for await (const [id, ...frames] of this.router) {
          const d = decodeTrainerMessage(frames);
          if (!d.ok) throw new Error(`trainer sent a bad message: ${d.reason}`);
          this.inbox.push({ from: id.toString(), msg: d.msg, frames: frames.length });
          if (this.silent) continue;
          if (d.msg.kind === 'reduce' && this.reduceWorld !== null) await this.reduce(id.toString(), d.msg);
          if (d.msg.kind === 'get-dataset') await this.send(id.toString(), { kind: 'reply', req: d.msg.req, ok: true, error: null, data: dataset });
          if (d.msg.kind === 'checkpoint' || d.msg.kind === 'put-artifact') await this.send(id.toString(), { kind: 'reply', req: d.msg.req, ok: true, error: null, data: null });
        }
      } catch {
        // closed
      }
    })();
  }
  send(to: string, body: Body<CoordinatorMessage>): Promise<void> {
    return this.router.send([to, encodeCoordinatorMessage(body)]);
  }
  private async reduce(from: string, m: Msg<'reduce'>): Promise<void> {
    const key = `${m.job}#${m.attempt}:${m.seq}`;
    const ids = [...(this.contributors.get(key) ?? []), from];
    this.contributors.set(key, ids);
    const sum = this.reducer.add({ job: m.job, attempt: m.attempt, seq: m.seq, rank: m.rank, worldSize: this.reduceWorld ?? 1, data: bytesToF32(m.data) });
    if (!sum) return;
    this.contributors.delete(key);
    for (const id of ids) await this.router.send([id, ...encodeCoordinatorFrames({ kind: 'reduced', job: m.job, attempt: m.attempt, seq: m.seq, data: f32ToBytes(sum) })]);
  }
  async next<K extends TrainerMessage['kind']>(kind: K, where: (m: Msg<K>) => boolean = () => true, timeoutMs = 8000): Promise<Msg<K>> {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      const i = this.inbox.findIndex((e) => e.msg.kind === kind && where(e.msg as Msg<K>));
      if (i >= 0) return this.inbox.splice(i, 1)[0].msg as Msg<K>;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`no ${kind} within ${timeoutMs} ms (inbox: ${this.inbox.map((e) => e.msg.kind).join(', ')})`);
  }
  async close(): Promise<void> {
    this.router.close();
    await this.loop;
  }
}

function recordingLog(): EventLog & { lines: Array<{ fields: Record<string, unknown>; msg: string }> } {
  const lines: Array<{ fields: Record<string, unknown>; msg: string }> = [];
  const rec = (fields: object, msg: string): void => void lines.push({ fields: fields as Record<string, unknown>, msg });
  return { lines, info: rec, warn: rec, debug: rec };
}

function assign(spec: JobSpec, over: Partial<Extract<CoordinatorMessage, { kind: 'assign' }>> = {}): Body<CoordinatorMessage> {
  return { kind: 'assign', job: spec.id, attempt: 1, spec: spec as unknown as Record<string, unknown>, rank: 0, worldSize: 1, peers: [], allReduce: 'ring', checkpointEvery: 2, resumeFrom: null, resumeStep: null, ...over };
}

describe('TrainerService', () => {
  let coordinator: ScriptedCoordinator;
  let trainers: TrainerService[] = [];

  beforeEach(async () => {
    coordinator = new ScriptedCoordinator();
    await coordinator.start();
  });
  afterEach(async () => {
    await Promise.all(trainers.map((t) => t.stop()));
    trainers = [];
    await coordinator.close();
  });

  async function startTrainer(
    id: string,
    opts: { steps?: number; stepMs?: number; timeoutMs?: number; log?: EventLog; peer?: boolean; runner?: JobRunner; makeSyntheticSet?: TrainerOptions['makeSyntheticSet']; localDataset?: TrainerOptions['localDataset'] } = {},
  ): Promise<TrainerService> {
    const t = new TrainerService({
      connect: coordinator.address,
      id,
      info: { host: 'testhost', pid: process.pid, device: 'cpu', backend: 'dry-run', gpu: null },
      runner: opts.runner ?? dryRunRunner({ steps: opts.steps ?? 4, stepMs: opts.stepMs ?? 5 }),
      log: opts.log ?? recordingLog(),
      peerBind: opts.peer ? 'tcp://127.0.0.1:*' : null,
      heartbeatMs: 50,
      trainerTimeoutMs: opts.timeoutMs ?? 5000,
      makeSyntheticSet: opts.makeSyntheticSet ?? null,
      localDataset: opts.localDataset ?? null,
    });
    trainers.push(t);
    await t.start();
    return t;
  }

  it('says hello, runs an assigned job over the wire and reports the result', async () => {
    await startTrainer('t1');
    const hello = await coordinator.next('hello');
    expect(hello).toMatchObject({ trainer: 't1', info: { host: 'testhost', device: 'cpu', peerAddress: null } });
    await coordinator.send('t1', { kind: 'welcome', heartbeatMs: 50, trainerTimeoutMs: 5000, run: 'spec', syntheticSet: null });
    await coordinator.send('t1', assign(reference));
    const ckpt = await coordinator.next('checkpoint');
    expect(ckpt).toMatchObject({ job: reference.id, attempt: 1, step: 2 });
    const done = await coordinator.next('job-done');
    expect(done).toMatchObject({ job: reference.id, attempt: 1, rank: 0, result: { kind: 'classifier', id: reference.id, replicas: 1 } });
    const progress = await coordinator.next('progress', (m) => m.step === 4);
    expect(progress.total).toBe(4);
    const hb = await coordinator.next('heartbeat');
    expect(Array.isArray(hb.running)).toBe(true);
  });

  describe('on the synthetic set', () => {
    const recipe = { size: 16, seed: 3, counts: { train: [6, 4], test: [2, 2] } };
    let tmp: string;
    beforeEach(() => {
      tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'trainer-synth-'));
    });
    afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

    /** A job that takes the dataset at 16 px, then runs as the dry-run runner. */
    function datasetJob(got: Dataset[]): JobRunner {
      return async (ctx) => {
        got.push(await ctx.dataset(16));
        return dryRunRunner({ steps: 2, stepMs: 1 })(ctx);
      };
    }

    it("makes the set from the welcome's recipe in its cache, the same data the coordinator would send, without asking for images", async () => {
      expect(syntheticSetMaker('off', {})).toBeNull();
      const got: Dataset[] = [];
      await startTrainer('t1', { runner: datasetJob(got), makeSyntheticSet: syntheticSetMaker(path.join(tmp, 'cache'), {}) });
      await coordinator.next('hello');
      await coordinator.send('t1', { kind: 'welcome', heartbeatMs: 50, trainerTimeoutMs: 5000, run: 'spec', syntheticSet: { key: synthKey(recipe), recipe } });
      await coordinator.send('t1', assign(reference));
      await coordinator.next('job-done');
      expect(coordinator.inbox.filter((e) => e.msg.kind === 'get-dataset')).toEqual([]);
      const made = await coordinator.next('log', (m) => /synthetic dataset \(seed 3, 16px\) written at .*cache.synth-[0-9a-f]{16} in /.test(m.msg));
      expect(made.level).toBe('info');
      // What the coordinator sends a trainer that asks: its own copy, decoded, over the wire.
      const own = path.join(tmp, 'coordinator-copy');
      await synthesize({ ...recipe, out: own });
      const sent = decodeDataset(encodeDataset(await loadImageFolder(own, { size: 16 })));
      const [here] = got;
      expect(here.classes).toEqual(sent.classes);
      expect(here.hash).toBe(sent.hash);
      for (const split of ['train', 'test'] as const) {
        expect(here[split].files).toEqual(sent[split].files);
        expect(Array.from(here[split].labels)).toEqual(Array.from(sent[split].labels));
        expect(Buffer.from(here[split].images.buffer, here[split].images.byteOffset, here[split].images.byteLength).equals(Buffer.from(sent[split].images.buffer, sent[split].images.byteOffset, sent[split].images.byteLength))).toBe(true);
      }
    });

    it('asks the coordinator for the images, with a warning the coordinator sees, when its key for the recipe differs', async () => {
      const got: Dataset[] = [];
      await startTrainer('t1', { runner: datasetJob(got), makeSyntheticSet: syntheticSetMaker(path.join(tmp, 'cache'), {}) });
      await coordinator.next('hello');
      await coordinator.send('t1', { kind: 'welcome', heartbeatMs: 50, trainerTimeoutMs: 5000, run: 'spec', syntheticSet: { key: '0123456789abcdef', recipe } });
      await coordinator.send('t1', assign(reference));
      await coordinator.next('get-dataset');
      await coordinator.next('job-done');
      const warned = await coordinator.next('log', (m) => m.level === 'warn');
      expect(warned.msg).toMatch(/not making the synthetic set here: the recipe's key here is [0-9a-f]{16}, the coordinator's 0123456789abcdef .*asking the coordinator for its images/);
      expect(got[0].root).toBe('/fake');
      expect(fs.existsSync(path.join(tmp, 'cache'))).toBe(false);
    });

    it('reads a folder it sees (--data) itself, decoded sets in its cache, and the coordinator logs what was skipped as a warning', async () => {
      const root = await writeImageFolder(path.join(tmp, 'folder'), [
        ...['a', 'b', 'c'].map((n) => ({ rel: `train/benign/${n}.png` })),
        ...['a', 'b'].map((n) => ({ rel: `train/malignant/${n}.png` })),
        { rel: 'train/malignant/broken.jpg', bytes: 'not a jpeg' },
        { rel: 'test/benign/a.png' },
        { rel: 'test/malignant/a.png' },
      ]);
      const got: Dataset[] = [];
      await startTrainer('t1', { runner: datasetJob(got), localDataset: folderLoader(root, path.join(tmp, 'cache'), {}) });
      await coordinator.next('hello');
      await coordinator.send('t1', assign(reference));
      await coordinator.next('job-done');
      expect(coordinator.inbox.filter((e) => e.msg.kind === 'get-dataset')).toEqual([]);
      expect(got[0].root).toBe(root);
      expect(got[0].train.labels.length).toBe(5);
      expect((await coordinator.next('log', (m) => /^data skip train\/malignant\/broken\.jpg: corrupt or truncated image/.test(m.msg))).level).toBe('warn');
      expect((await coordinator.next('log', (m) => /^data warning: skipped 1 corrupt or truncated image: /.test(m.msg))).level).toBe('warn');
      expect((await coordinator.next('log', (m) => /^data cache write /.test(m.msg))).level).toBe('info');
      expect(fs.readdirSync(path.join(tmp, 'cache')).filter((n) => n.endsWith('.gsdc'))).toHaveLength(1);
    });

    it('forgets the data sets it holds when a welcome names another study or another set', async () => {
      const got: Dataset[] = [];
      const made: string[] = [];
      const make: TrainerOptions['makeSyntheticSet'] = async (set) => {
        made.push(set.key);
        return { root: `/made/${set.key}`, classes: ['benign', 'malignant'], train: fakeImageSet({ size: 16, perClass: [12, 8] }), test: fakeImageSet({ size: 16, perClass: [4, 4], split: 'test' }), hash: set.key, warnings: [] };
      };
      await startTrainer('t1', { runner: datasetJob(got), makeSyntheticSet: make });
      await coordinator.next('hello');
      const welcome = (run: string, key: string): Body<CoordinatorMessage> => ({ kind: 'welcome', heartbeatMs: 50, trainerTimeoutMs: 5000, run, syntheticSet: { key, recipe } });
      const runJob = async (attempt: number): Promise<void> => {
        await coordinator.send('t1', assign(reference, { attempt }));
        await coordinator.next('job-done', (m) => m.attempt === attempt);
      };
      await coordinator.send('t1', welcome('a', 'aaaaaaaaaaaaaaaa'));
      await runJob(1);
      await coordinator.send('t1', welcome('a', 'aaaaaaaaaaaaaaaa')); // the same study again (a resumed coordinator): kept
      await runJob(2);
      await coordinator.send('t1', welcome('b', 'bbbbbbbbbbbbbbbb'));
      await runJob(3);
      expect(made).toEqual(['aaaaaaaaaaaaaaaa', 'bbbbbbbbbbbbbbbb']);
      expect(got.map((d) => d.root)).toEqual(['/made/aaaaaaaaaaaaaaaa', '/made/aaaaaaaaaaaaaaaa', '/made/bbbbbbbbbbbbbbbb']);
    });

    it('asks the coordinator when making the set fails (a cache it cannot write), and says why', async () => {
      const got: Dataset[] = [];
      const file = path.join(tmp, 'a-file');
      fs.writeFileSync(file, 'not a folder');
      await startTrainer('t1', { runner: datasetJob(got), makeSyntheticSet: syntheticSetMaker(file, {}) });
      await coordinator.next('hello');
      await coordinator.send('t1', { kind: 'welcome', heartbeatMs: 50, trainerTimeoutMs: 5000, run: 'spec', syntheticSet: { key: synthKey(recipe), recipe } });
      await coordinator.send('t1', assign(reference));
      await coordinator.next('get-dataset');
      await coordinator.next('job-done');
      const warned = await coordinator.next('log', (m) => m.level === 'warn');
      expect(warned.msg).toMatch(/could not make the synthetic set here \(.*a-file.*\); asking the coordinator for its images/);
      expect(got[0].root).toBe('/fake');
    });
  });

  it('resumes from the checkpoint it is given', async () => {
    await startTrainer('t1', { steps: 6 });
    await coordinator.next('hello');
    await coordinator.send('t1', assign(reference, { resumeFrom: Buffer.from(JSON.stringify({ step: 4 })), resumeStep: 4 }));
    const done = await coordinator.next('job-done');
    expect(done.result).toMatchObject({ resumed: true });
    // Only steps 5 and 6 ran: the first progress it reports is step 5.
    expect((await coordinator.next('progress')).step).toBe(5);
  });

  it('aborts a job the coordinator cancels, and reports the abort as not permanent', async () => {
    await startTrainer('t1', { steps: 200, stepMs: 20 });
    await coordinator.next('hello');
    await coordinator.send('t1', assign(reference));
    await coordinator.next('progress');
    await coordinator.send('t1', { kind: 'cancel', job: reference.id, attempt: 1, reason: 'replica lost' });
    const failed = await coordinator.next('job-failed');
    expect(failed).toMatchObject({ job: reference.id, permanent: false, error: expect.stringMatching(/aborted: cancelled by the coordinator: replica lost/) });
  });

  it('reports a bad spec as a permanent failure', async () => {
    await startTrainer('t1');
    await coordinator.next('hello');
    await coordinator.send('t1', assign(reference, { spec: { id: reference.id, kind: 'quantum' } }));
    const failed = await coordinator.next('job-failed');
    expect(failed).toMatchObject({ permanent: true, error: expect.stringMatching(/bad job spec: kind/) });
  });

  it('logs and drops malformed coordinator messages and keeps working', async () => {
    const log = recordingLog();
    await startTrainer('t1', { log });
    await coordinator.next('hello');
    const packr = new Packr({ useRecords: false });
    await coordinator.router.send(['t1', Buffer.from([0x82, 0xa1])]);
    await coordinator.router.send(['t1', packr.pack({ v: PROTOCOL_VERSION, kind: 'self-destruct' })]);
    await coordinator.router.send(['t1', packr.pack({ v: 0, kind: 'assign' })]);
    await coordinator.send('t1', assign(reference));
    await coordinator.next('job-done');
    const rejected = log.lines.filter((l) => l.fields.event === 'rejected').map((l) => String(l.fields.reason));
    expect(rejected).toEqual([expect.stringMatching(/not msgpack/), 'unknown kind "self-destruct"', `protocol version 0, expected ${PROTOCOL_VERSION}`]);
    for (const l of log.lines) expect(l.fields).toMatchObject({ trainer: 't1', host: 'testhost', device: 'cpu' });
  });

  it('abandons its job when the coordinator goes silent, and says hello again', async () => {
    const log = recordingLog();
    await startTrainer('t1', { steps: 500, stepMs: 20, timeoutMs: 300, log });
    await coordinator.next('hello');
    await coordinator.send('t1', assign(reference));
    await coordinator.next('progress');
    coordinator.silent = true;
    // The coordinator says nothing more: within the timeout the job is abandoned and hello repeated.
    const failed = await coordinator.next('job-failed', () => true, 5000);
    expect(failed.error).toMatch(/coordinator lost/);
    await coordinator.next('hello', () => true, 5000);
    expect(log.lines.some((l) => l.fields.event === 'coordinator-silent')).toBe(true);
  });

  it('keeps heartbeating from its heartbeat thread while the main thread is blocked, reporting the lag', async () => {
    await startTrainer('t1');
    await coordinator.next('hello');
    // A long synchronous step: the main thread (this one) does nothing else for 1.2 s.
    const until = Date.now() + 1200;
    while (Date.now() < until) {
      // busy
    }
    const found = await coordinator.next('heartbeat', (m) => m.lagMs >= 800);
    expect(found.lagMs).toBeLessThan(5000);
    expect(coordinator.inbox.some((e) => e.from === 't1#hb')).toBe(true);
  });

  it('sends checkpoints and all-reduce contributions as payload frames, and runs a data-parallel job through the coordinator', async () => {
    coordinator.reduceWorld = 2;
    await startTrainer('a');
    await startTrainer('b');
    await coordinator.next('hello', (m) => m.trainer === 'a');
    await coordinator.next('hello', (m) => m.trainer === 'b');
    const spec = { ...reference, replicas: 2 };
    await coordinator.send('a', assign(spec, { rank: 0, worldSize: 2, allReduce: 'coordinator' }));
    await coordinator.send('b', assign(spec, { rank: 1, worldSize: 2, allReduce: 'coordinator' }));
    // The dry-run job checks every all-reduced sum; both replicas finish.
    await coordinator.next('job-done', (m) => m.rank === 0);
    await coordinator.next('job-done', (m) => m.rank === 1);
    const frames = (kind: TrainerMessage['kind']) => coordinator.inbox.filter((e) => e.msg.kind === kind).map((e) => e.frames);
    // 4 steps on each replica, each a header + the vector's bytes; the checkpoint (step 2, rank 0) likewise.
    expect(frames('reduce')).toEqual([2, 2, 2, 2, 2, 2, 2, 2]);
    expect(frames('checkpoint')).toEqual([2]);
    // Messages without bytes stay one frame.
    expect(new Set(frames('progress'))).toEqual(new Set([1]));
  });

  /**
   * A job that all-reduces one array over and over, writing the next call's values into it as soon
   * as a call resolves (as the classifier job does with its one `flat` per job). Every sum must be
   * right: a transport still reading the array after resolving would send the next call's values.
   */
  function reuseRunner(calls: number, results: Array<{ rank: number; inPlace: boolean }>): JobRunner {
    return async (ctx) => {
      const n = 300_001; // over a MB: many ring pieces, and payload frames ZeroMQ sends without a copy
      const flat = new Float32Array(n);
      for (let c = 0; c < calls; c++) {
        for (let i = 0; i < n; i++) flat[i] = (ctx.rank + 1) * (c + 1) + i;
        const sum = await ctx.allReduce(flat);
        results.push({ rank: ctx.rank, inPlace: sum === flat });
        // sum over ranks r of (r+1)(c+1) + i: exact in float32 (integers below 2^24).
        const W = ctx.worldSize;
        for (let i = 0; i < n; i++) {
          const want = ((W * (W + 1)) / 2) * (c + 1) + W * i;
          if (sum[i] !== want) throw new Error(`call ${c}: sum[${i}] = ${sum[i]}, expected ${want}`);
        }
      }
      return { kind: 'classifier', id: ctx.spec.id } as unknown as JobResult;
    };
  }

  it.each([
    ['ring', true],
    ['coordinator', false],
  ] as const)('a job may overwrite its all-reduce array once a call resolves (%s all-reduce)', async (mode, inPlace) => {
    if (mode === 'coordinator') coordinator.reduceWorld = 2;
    const results: Array<{ rank: number; inPlace: boolean }> = [];
    await startTrainer('a', { peer: mode === 'ring', runner: reuseRunner(6, results) });
    await startTrainer('b', { peer: mode === 'ring', runner: reuseRunner(6, results) });
    const ha = await coordinator.next('hello', (m) => m.trainer === 'a');
    const hb = await coordinator.next('hello', (m) => m.trainer === 'b');
    const peers = mode === 'ring' ? [ha.info.peerAddress ?? '', hb.info.peerAddress ?? ''] : [];
    const spec = { ...reference, replicas: 2 };
    await coordinator.send('a', assign(spec, { rank: 0, worldSize: 2, peers, allReduce: mode }));
    await coordinator.send('b', assign(spec, { rank: 1, worldSize: 2, peers, allReduce: mode }));
    await coordinator.next('job-done', (m) => m.rank === 0, 15_000);
    await coordinator.next('job-done', (m) => m.rank === 1, 15_000);
    expect(coordinator.inbox.filter((e) => e.msg.kind === 'job-failed')).toEqual([]);
    expect(results).toHaveLength(12);
    // The ring writes the sum into the caller's array; through the coordinator it is the received frame.
    expect(new Set(results.map((r) => r.inPlace))).toEqual(new Set([inPlace]));
  });

  /** A job that swaps one vector with its peer when the context offers pairExchange, and records what it saw. */
  function swapRunner(seen: Array<{ rank: number; offered: boolean; got?: number[] }>): JobRunner {
    return async (ctx) => {
      const entry: { rank: number; offered: boolean; got?: number[] } = { rank: ctx.rank, offered: ctx.pairExchange !== null };
      if (ctx.pairExchange) {
        const incoming = await ctx.pairExchange([Float32Array.of(ctx.rank + 1, 10), Float32Array.of(100 * (ctx.rank + 1))]);
        const out = new Float32Array(3);
        incoming.readInto([out]);
        entry.got = Array.from(out);
      }
      // Counted with the reductions: this call is number 1 on both.
      const sum = await ctx.allReduce(Float32Array.of(1));
      if (sum[0] !== 2) throw new Error(`all-reduce after the swap gave ${sum[0]}`);
      seen.push(entry);
      return { kind: 'classifier', id: ctx.spec.id } as unknown as JobResult;
    };
  }

  it.each([
    ['ring, one shared folder', 'ring', true],
    ['ring, no shared folder', 'ring', false],
    ['coordinator', 'coordinator', false],
  ] as const)('offers two replicas pairExchange only where they share memory (%s)', async (_what, mode, shared) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'svc-shm-'));
    const before = process.env.GAN_STUDY_PEER_SHM;
    process.env.GAN_STUDY_PEER_SHM = shared ? dir : '0';
    try {
      if (mode === 'coordinator') coordinator.reduceWorld = 2;
      const seen: Array<{ rank: number; offered: boolean; got?: number[] }> = [];
      await startTrainer('a', { peer: true, runner: swapRunner(seen) });
      await startTrainer('b', { peer: true, runner: swapRunner(seen) });
      const ha = await coordinator.next('hello', (m) => m.trainer === 'a');
      const hb = await coordinator.next('hello', (m) => m.trainer === 'b');
      const peers = [ha.info.peerAddress ?? '', hb.info.peerAddress ?? ''];
      const spec = { ...reference, replicas: 2 };
      await coordinator.send('a', assign(spec, { rank: 0, worldSize: 2, peers, allReduce: mode }));
      await coordinator.send('b', assign(spec, { rank: 1, worldSize: 2, peers, allReduce: mode }));
      await coordinator.next('job-done', (m) => m.rank === 0, 15_000);
      await coordinator.next('job-done', (m) => m.rank === 1, 15_000);
      expect(coordinator.inbox.filter((e) => e.msg.kind === 'job-failed')).toEqual([]);
      const byRank = [...seen].sort((x, y) => x.rank - y.rank);
      if (shared) {
        expect(byRank).toEqual([
          { rank: 0, offered: true, got: [2, 10, 200] },
          { rank: 1, offered: true, got: [1, 10, 100] },
        ]);
      } else {
        expect(byRank).toEqual([
          { rank: 0, offered: false },
          { rank: 1, offered: false },
        ]);
      }
    } finally {
      if (before === undefined) delete process.env.GAN_STUDY_PEER_SHM;
      else process.env.GAN_STUDY_PEER_SHM = before;
      await Promise.all(trainers.map((t) => t.stop()));
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs a data-parallel job with a peer over the ring', async () => {
    await startTrainer('a', { peer: true });
    await startTrainer('b', { peer: true });
    const ha = await coordinator.next('hello', (m) => m.trainer === 'a');
    const hb = await coordinator.next('hello', (m) => m.trainer === 'b');
    const peers = [ha.info.peerAddress ?? '', hb.info.peerAddress ?? ''];
    expect(peers.every((p) => p.startsWith('tcp://127.0.0.1:'))).toBe(true);
    const spec = { ...reference, replicas: 2 };
    await coordinator.send('a', assign(spec, { rank: 0, worldSize: 2, peers }));
    await coordinator.send('b', assign(spec, { rank: 1, worldSize: 2, peers }));
    // The dry-run job checks every all-reduced sum; both replicas finish.
    const d0 = await coordinator.next('job-done', (m) => m.rank === 0);
    const d1 = await coordinator.next('job-done', (m) => m.rank === 1);
    expect(d0.result).toMatchObject({ replicas: 2 });
    expect(d1.result).toMatchObject({ replicas: 2 });
  });
});
