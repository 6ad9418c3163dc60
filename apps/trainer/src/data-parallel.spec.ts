/**
 * Data-parallel equivalence over the real transport: the classifier job run by K replicas whose
 * gradients are all-reduced over ZeroMQ (ring among peers, or through a coordinator ROUTER) ends
 * with the weights of the same job run by one replica with the whole global batch, to 1e-5: with
 * the ring's result in a new array or in place (ReduceCall.into), in one piece or many, and with
 * the coordinator's messages in one frame or as header + payload frames. Two replicas that swap
 * their gradients (JobContext.pairExchange, summed on the device) end with the ring's bits.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zmq from 'zeromq';
import { initBackend, restoreClassifier } from '@gan-study/models';
import {
  CoordinatorReducer,
  PeerLink,
  buildPlan,
  bytesToF32,
  decodeCoordinatorMessage,
  decodeTrainerMessage,
  encodeCoordinatorFrames,
  encodeCoordinatorMessage,
  encodeTrainerFrames,
  encodeTrainerMessage,
  f32ToBytes,
  profileDefaults,
  type ClassifierJobResult,
  type ClassifierJobSpec,
  type StudyConfig,
} from '@gan-study/protocol';
import { runJob } from './jobs';
import { MemoryJobContext, fakeDataset } from './jobs/testing';

jest.setTimeout(30_000);

const SIZE = 8;
const dataset = fakeDataset({ train: [20, 16], test: [6, 6] });
const config: StudyConfig = {
  ...profileDefaults('smoke'),
  imageSize: SIZE,
  budgets: [4],
  gans: ['dcgan'],
  ganResolution: { dcgan: SIZE, pggan: SIZE, cyclegan: SIZE },
  // Global batch 8 (B); each of K=2 replicas computes on its 4 (B/K). 24 examples: 3 steps per epoch, 2 epochs.
  classifier: { filters: [2, 4], hidden: [8], epochs: 2, batchSize: 8 },
  checkpointEvery: 100,
};
const plan = buildPlan(config, { classes: ['benign', 'malignant'], train: { benign: 20, malignant: 16 }, test: { benign: 6, malignant: 6 } });
const baseSpec = plan.jobs.find((j) => j.id === 'clf-baseline-b4-r0') as ClassifierJobSpec;

async function weightsOf(artifacts: Map<string, Uint8Array>, id: string): Promise<{ w: Float32Array; step: number }> {
  const bytes = artifacts.get(`${id}/model.bin`);
  if (!bytes) throw new Error(`no model.bin for ${id}`);
  const c = restoreClassifier(bytes);
  const out = { w: c.weightsFlat(), step: c.step };
  c.dispose();
  return out;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(b.length).toBe(a.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('data-parallel classifier over ZeroMQ', () => {
  let links: PeerLink[] = [];
  let sockets: zmq.Socket[] = [];
  let reference: { w: Float32Array; step: number; result: ClassifierJobResult };

  beforeAll(async () => {
    await initBackend('cpu');
    const spec = { ...baseSpec, replicas: 1 };
    const ctx = new MemoryJobContext({ spec, dataset });
    const result = (await runJob(ctx)) as ClassifierJobResult;
    reference = { ...(await weightsOf(ctx.artifacts, spec.id)), result };
  });

  afterEach(async () => {
    await Promise.all(links.map((l) => l.stop()));
    links = [];
    for (const s of sockets) s.close();
    sockets = [];
  });

  // The gradient here is small: pieces of 37 values make the ring pipeline many uneven pieces.
  it.each([
    ['a new array per call', 65_536, false],
    ['in place, in pieces of 37 values', 37, true],
  ])('K=2 with ring all-reduce (%s) ends with the weights of K=1', async (_what, pieceValues, inPlace) => {
    const K = 2;
    links = Array.from({ length: K }, () => new PeerLink({ bind: 'tcp://127.0.0.1:*', pieceValues }));
    await Promise.all(links.map((l) => l.start()));
    const peers = links.map((l) => l.address);
    const spec = { ...baseSpec, replicas: K };
    const artifacts = new Map<string, Uint8Array>();
    const seq = [0, 0];
    const ctxs = links.map(
      (link, rank) =>
        new MemoryJobContext({
          spec,
          dataset,
          rank,
          worldSize: K,
          artifacts,
          allReduce: (flat) => link.allReduce(flat, { job: spec.id, attempt: 1, seq: seq[rank]++, rank, peers, timeoutMs: 10_000, into: inPlace ? flat : undefined }),
        }),
    );
    const results = (await Promise.all(ctxs.map((c) => runJob(c)))) as ClassifierJobResult[];
    const two = await weightsOf(artifacts, spec.id);
    expect(two.step).toBe(reference.step);
    expect(two.step).toBeGreaterThan(0);
    expect(maxAbsDiff(reference.w, two.w)).toBeLessThan(1e-5);
    expect(results[0].metrics.accuracy).toBe(reference.result.metrics.accuracy);
    expect(results[1].metrics).toEqual(results[0].metrics);
  });

  it.each([
    ['through a shared folder', true],
    ['over the socket', false],
  ])('K=2 swapping gradients (JobContext.pairExchange, %s) ends with the bits of the ring all-reduce', async (_what, shared) => {
    const K = 2;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dp-shm-'));
    try {
      links = Array.from({ length: K }, () => new PeerLink({ bind: 'tcp://127.0.0.1:*', sharedDir: shared ? dir : null }));
      await Promise.all(links.map((l) => l.start()));
      const peers = links.map((l) => l.address);
      expect(links.map((l, rank) => l.sharesMemory(rank, peers))).toEqual([shared, shared]);
      const spec = { ...baseSpec, replicas: K };
      const run = async (how: 'ring' | 'swap') => {
        const artifacts = new Map<string, Uint8Array>();
        const seq = [0, 0];
        const swaps = [0, 0];
        const ctxs = links.map(
          (link, rank) =>
            new MemoryJobContext({
              spec,
              dataset,
              rank,
              worldSize: K,
              artifacts,
              allReduce: (flat) => link.allReduce(flat, { job: `${spec.id}-${how}`, attempt: 1, seq: seq[rank]++, rank, peers, timeoutMs: 10_000 }),
              pairExchange:
                how === 'swap'
                  ? (ours) => {
                      swaps[rank]++;
                      return link.swap(ours, { job: `${spec.id}-${how}`, attempt: 1, seq: seq[rank]++, rank, peers, timeoutMs: 10_000 });
                    }
                  : null,
            }),
        );
        const results = (await Promise.all(ctxs.map((c) => runJob(c)))) as ClassifierJobResult[];
        return { ...(await weightsOf(artifacts, spec.id)), results, swaps };
      };
      const ring = await run('ring');
      const swapped = await run('swap');
      expect(swapped.swaps).toEqual([reference.step, reference.step]); // every step swapped, on both
      expect(ring.swaps).toEqual([0, 0]);
      expect(swapped.step).toBe(reference.step);
      expect(Buffer.from(swapped.w.buffer).equals(Buffer.from(ring.w.buffer))).toBe(true);
      expect(maxAbsDiff(reference.w, swapped.w)).toBeLessThan(1e-5);
      expect(swapped.results[0].finalLoss).toBe(ring.results[0].finalLoss);
      expect(swapped.results[1].metrics).toEqual(ring.results[0].metrics);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each([
    ['one frame, payload inside', false],
    ['header + payload frames', true],
  ])('K=2 with all-reduce through a coordinator ROUTER (%s) ends with the weights of K=1', async (_what, payloadFrames) => {
    const K = 2;
    const router = new zmq.Router({ linger: 0 });
    sockets.push(router);
    await router.bind('tcp://127.0.0.1:*');
    const reducer = new CoordinatorReducer();
    const ids = ['r0', 'r1'];
    void (async () => {
      try {
        for await (const [, ...frames] of router) {
          const d = decodeTrainerMessage(frames);
          if (!d.ok || d.msg.kind !== 'reduce') continue;
          const m = d.msg;
          const sum = reducer.add({ job: m.job, attempt: m.attempt, seq: m.seq, rank: m.rank, worldSize: K, data: bytesToF32(m.data) });
          if (sum) {
            const body = { kind: 'reduced', job: m.job, attempt: m.attempt, seq: m.seq, data: f32ToBytes(sum) } as const;
            const reply = payloadFrames ? encodeCoordinatorFrames(body) : [encodeCoordinatorMessage(body)];
            for (const id of ids) await router.send([id, ...reply]);
          }
        }
      } catch {
        // closed
      }
    })();
    const dealers = ids.map((id) => {
      const d = new zmq.Dealer({ routingId: id, linger: 0 });
      d.connect(router.lastEndpoint ?? '');
      sockets.push(d);
      return d;
    });
    const spec = { ...baseSpec, replicas: K };
    const artifacts = new Map<string, Uint8Array>();
    const ctxs = dealers.map((dealer, rank) => {
      let seq = 0;
      return new MemoryJobContext({
        spec,
        dataset,
        rank,
        worldSize: K,
        artifacts,
        allReduce: async (flat) => {
          const body = { kind: 'reduce', job: spec.id, attempt: 1, seq: seq++, rank, data: f32ToBytes(flat) } as const;
          await dealer.send(payloadFrames ? encodeTrainerFrames(body) : [encodeTrainerMessage(body)]);
          const d = decodeCoordinatorMessage(await dealer.receive());
          if (!d.ok || d.msg.kind !== 'reduced') throw new Error('expected a reduced message');
          return bytesToF32(d.msg.data);
        },
      });
    });
    await Promise.all(ctxs.map((c) => runJob(c)));
    const two = await weightsOf(artifacts, spec.id);
    expect(two.step).toBe(reference.step);
    expect(maxAbsDiff(reference.w, two.w)).toBeLessThan(1e-5);
  });
});
