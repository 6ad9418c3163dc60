/**
 * All-reduce on loopback: ring among the replicas (PeerLink, trainer-to-trainer sockets) against
 * reduction through the coordinator (every replica sends its vector to one ROUTER, which sums and
 * sends the sum back), for K replica processes and several gradient sizes. Not a test: run it by
 * hand,
 *
 *   node --import tsx tools/bench/allreduce.ts [--k 2,3,4] [--sizes 10000,500000,4000000] [--reps 10]
 *
 * Each replica is its own process (as trainers are); control goes over Node IPC, data over
 * ZeroMQ tcp://127.0.0.1. Prints one line per (K, size, mode): median ms per all-reduce over
 * `reps` calls after one warm-up, and the algorithm bandwidth (vector bytes / time).
 */
import { fork, type ChildProcess } from 'child_process';
import * as zmq from 'zeromq';
import {
  CoordinatorReducer,
  PeerLink,
  bytesToF32,
  decodeCoordinatorMessage,
  decodeTrainerMessage,
  encodeCoordinatorMessage,
  encodeTrainerMessage,
  f32ToBytes,
} from '@gan-study/protocol';

type Mode = 'ring' | 'coordinator';
interface Go {
  type: 'go';
  mode: Mode;
  size: number;
  reps: number;
  peers: string[];
  round: number;
}

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

function ints(text: string, flag: string): number[] {
  return text.split(',').map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 1) throw new Error(`${flag}: '${s}' is not a positive integer`);
    return n;
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function worker(): Promise<void> {
  const rank = Number(process.env.BENCH_RANK);
  const link = new PeerLink({ bind: 'tcp://127.0.0.1:*' });
  await link.start();
  const dealer = new zmq.Dealer({ routingId: `r${rank}`, linger: 0 });
  dealer.connect(process.env.BENCH_COORDINATOR ?? '');
  process.send?.({ type: 'ready', address: link.address });
  process.on('message', (m: Go | { type: 'exit' }) => {
    if (m.type === 'exit') {
      dealer.close();
      void link.stop().then(() => process.exit(0));
      return;
    }
    void (async () => {
      const data = new Float32Array(m.size).fill(rank + 1);
      const times: number[] = [];
      for (let i = 0; i <= m.reps; i++) {
        const seq = m.round * 1000 + i;
        const t0 = performance.now();
        let sum: Float32Array;
        if (m.mode === 'ring') {
          sum = await link.allReduce(data, { job: 'bench', attempt: 1, seq, rank, peers: m.peers, timeoutMs: 60_000 });
        } else {
          await dealer.send(encodeTrainerMessage({ kind: 'reduce', job: 'bench', attempt: 1, seq, rank, data: f32ToBytes(data) }));
          const d = decodeCoordinatorMessage(await dealer.receive());
          if (!d.ok || d.msg.kind !== 'reduced') throw new Error('expected reduced');
          sum = bytesToF32(d.msg.data);
        }
        if (i > 0) times.push(performance.now() - t0);
        const want = (m.peers.length * (m.peers.length + 1)) / 2;
        if (sum[0] !== want || sum[sum.length - 1] !== want) throw new Error(`wrong sum ${sum[0]}, expected ${want}`);
      }
      process.send?.({ type: 'done', ms: median(times) });
    })();
  });
}

async function main(): Promise<void> {
  const ks = ints(arg('--k', '2,3,4'), '--k');
  const sizes = ints(arg('--sizes', '10000,500000,4000000'), '--sizes');
  const reps = ints(arg('--reps', '10'), '--reps')[0];
  console.log(`all-reduce on loopback, ${reps} reps (median after 1 warm-up); sizes in float32 values`);
  for (const k of ks) {
    const router = new zmq.Router({ linger: 0 });
    await router.bind('tcp://127.0.0.1:*');
    const reducer = new CoordinatorReducer();
    const serving = (async () => {
      try {
        for await (const [, ...frames] of router) {
          const d = decodeTrainerMessage(frames);
          if (!d.ok || d.msg.kind !== 'reduce') continue;
          const m = d.msg;
          const sum = reducer.add({ job: m.job, attempt: m.attempt, seq: m.seq, rank: m.rank, worldSize: k, data: bytesToF32(m.data) });
          if (sum) {
            const frame = encodeCoordinatorMessage({ kind: 'reduced', job: m.job, attempt: m.attempt, seq: m.seq, data: f32ToBytes(sum) });
            for (let r = 0; r < k; r++) await router.send([`r${r}`, frame]);
          }
        }
      } catch {
        // closed
      }
    })();
    const workers: ChildProcess[] = [];
    const addresses: string[] = [];
    for (let r = 0; r < k; r++) {
      const w = fork(__filename, ['--worker'], { env: { ...process.env, BENCH_RANK: String(r), BENCH_COORDINATOR: router.lastEndpoint ?? '' }, execArgv: process.execArgv });
      workers.push(w);
      addresses.push(await new Promise<string>((resolve) => w.once('message', (m: { address: string }) => resolve(m.address))));
    }
    let round = 0;
    for (const size of sizes) {
      for (const mode of ['ring', 'coordinator'] as const) {
        round++;
        const done = workers.map((w) => new Promise<number>((resolve) => w.once('message', (m: { ms: number }) => resolve(m.ms))));
        for (const w of workers) w.send({ type: 'go', mode, size, reps, peers: addresses, round } satisfies Go);
        const ms = Math.max(...(await Promise.all(done)));
        const mbps = (size * 4) / 1e6 / (ms / 1000);
        console.log(`K=${k} size=${size} ${mode.padEnd(11)} ${ms.toFixed(2).padStart(9)} ms  ${mbps.toFixed(0).padStart(6)} MB/s`);
      }
    }
    for (const w of workers) w.send({ type: 'exit' });
    await Promise.all(workers.map((w) => new Promise((r) => w.once('exit', r))));
    router.close();
    await serving;
  }
}

if (process.argv.includes('--worker')) {
  worker().catch((err) => {
    console.error(err);
    process.exit(1);
  });
} else {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
