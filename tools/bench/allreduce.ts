/**
 * All-reduce on loopback (issue 7, benchmark section 2): ring among the replicas (PeerLink,
 * trainer-to-trainer sockets) against reduction through the coordinator (every replica sends its
 * vector to one ROUTER, which sums and sends the sum back), for K replica processes and several
 * gradient sizes, next to two floors for moving the same bytes: a plain node `net` loopback echo
 * and a bare ZeroMQ DEALER→ROUTER echo (one frame, no protocol). Not a test: run it by hand,
 *
 *   node --import tsx tools/bench/allreduce.ts [--k 2,3] [--bytes 1000000,10000000] [--reps 20]
 *       [--modes ring,ring-into,coordinator,coordinator-1frame,net-echo,zmq-echo] [--piece-bytes 262144]
 *
 * Modes: `ring` returns each sum in a new array (as the trainer service's allReduce does today),
 * `ring-into` reuses one output array (ReduceCall.into); `coordinator` sends header + payload frames
 * (encode*Frames), `coordinator-1frame` one msgpack frame with the payload inside (encode*Message,
 * what the services send today). `--piece-bytes` sets the ring's piece size (PeerLink pieceValues).
 *
 * Each replica is its own process (as trainers are); control goes over Node IPC, data over
 * tcp://127.0.0.1. One line per (K, size, mode): p50 and p95 ms per call over `reps` calls after
 * 3 warm-ups (a call ends when the slowest rank has its sum, so each call's time is the max over
 * ranks), the algorithm bandwidth (vector bytes / p50), CPU ms per call (process.cpuUsage, user +
 * system, all threads) of each replica and, for the coordinator modes, of the coordinator (over
 * the warm-ups too), and minor page faults per call: fresh memory touched, which on this VM costs
 * ~15 us per 4 KiB page (10 MB of fresh pages ~40 ms) where a bare-metal Linux pays well under
 * 1 us. Echo rows are a round trip of the bytes (out and back), so each process sends and receives
 * as many bytes as in a K=2 all-reduce. BENCH_THREADS=1 also prints CPU ms per call by thread
 * (main, V8's helpers, ZeroMQ's I/O thread) on stderr.
 */
import { fork, type ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as zmq from 'zeromq';
import {
  CoordinatorReducer,
  PeerLink,
  bytesToF32,
  decodeCoordinatorMessage,
  decodeTrainerMessage,
  encodeCoordinatorFrames,
  encodeCoordinatorMessage,
  encodeTrainerFrames,
  encodeTrainerMessage,
  f32ToBytes,
} from '@gan-study/protocol';
import { cpuMs, quantile } from './report';

const MODES = ['ring', 'ring-into', 'coordinator', 'coordinator-1frame', 'net-echo', 'zmq-echo'] as const;
type Mode = (typeof MODES)[number];
const WARMUP = 3;

interface Ready {
  type: 'ready';
  peer: string;
  netPort: number;
  zmqEcho: string;
}
interface Go {
  type: 'go';
  mode: Mode;
  size: number;
  reps: number;
  peers: Ready[];
  round: number;
}
interface Done {
  type: 'done';
  ms: number[];
  cpuMs: number;
  /** Minor page faults per call: fresh memory touched (costly in a VM that hands pages back to its host). */
  faults: number;
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

/** Runs `call` warm-up + reps times; returns the timed calls' wall ms and the CPU ms per timed call. */
async function timed(reps: number, call: (i: number) => Promise<void>): Promise<Omit<Done, 'type'>> {
  const ms: number[] = [];
  let c0 = 0;
  let f0 = 0;
  let threads0 = new Map<string, number>();
  for (let i = 0; i < WARMUP + reps; i++) {
    if (i === WARMUP) {
      threads0 = threadCpu();
      c0 = cpuMs();
      f0 = process.resourceUsage().minorPageFault;
    }
    const t0 = performance.now();
    await call(i);
    if (i >= WARMUP) ms.push(performance.now() - t0);
  }
  const out = { ms, cpuMs: (cpuMs() - c0) / reps, faults: (process.resourceUsage().minorPageFault - f0) / reps };
  if (process.env.BENCH_THREADS) console.error(`  rank ${process.env.BENCH_RANK} CPU ms/call by thread: ${threadDelta(threads0, reps)}`);
  return out;
}

/** A byte-stream echo client: resolves each call when `bytes` came back. */
function netClient(port: number): Promise<{ roundTrip(payload: Buffer): Promise<void>; close(): void }> {
  const sock = net.connect(port, '127.0.0.1');
  sock.setNoDelay(true);
  let got = 0;
  let want = 0;
  let waiting: (() => void) | null = null;
  sock.on('data', (d: Buffer) => {
    got += d.length;
    if (waiting && got >= want) {
      got -= want;
      const w = waiting;
      waiting = null;
      w();
    }
  });
  return new Promise((resolve) =>
    sock.once('connect', () =>
      resolve({
        roundTrip: (payload) =>
          new Promise<void>((done) => {
            want = payload.length;
            waiting = done;
            sock.write(payload);
          }),
        close: () => sock.destroy(),
      }),
    ),
  );
}

/** CPU ms (user+system) of each of this process's threads, by thread id and name (Linux /proc). */
function threadCpu(): Map<string, number> {
  const out = new Map<string, number>();
  for (const tid of fs.readdirSync('/proc/self/task')) {
    const stat = fs.readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    out.set(`${tid === String(process.pid) ? 'main' : name}#${tid}`, (Number(f[11]) + Number(f[12])) * 10);
  }
  return out;
}

function threadDelta(before: Map<string, number>, calls: number): string {
  return [...threadCpu()]
    .map(([k, v]) => [k.split('#')[0], (v - (before.get(k) ?? 0)) / calls] as const)
    .filter(([, v]) => v > 0)
    .map(([k, v]) => `${k} ${v.toFixed(1)}`)
    .join(', ');
}

async function worker(): Promise<void> {
  const rank = Number(process.env.BENCH_RANK);
  const pieceBytes = process.env.BENCH_PIECE_BYTES;
  const link = new PeerLink({ bind: 'tcp://127.0.0.1:*', pieceValues: pieceBytes ? Number(pieceBytes) / 4 : undefined });
  await link.start();
  const dealer = new zmq.Dealer({ routingId: `r${rank}`, linger: 0 });
  dealer.connect(process.env.BENCH_COORDINATOR ?? '');
  // Floors: a net echo server and a bare ZeroMQ echo (ROUTER sends every message back as it came).
  const server = net.createServer((s) => {
    s.setNoDelay(true);
    s.on('data', (d) => s.write(d));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const echo = new zmq.Router({ linger: 0 });
  await echo.bind('tcp://127.0.0.1:*');
  void (async () => {
    try {
      for await (const msg of echo) await echo.send(msg);
    } catch {
      // closed
    }
  })();
  process.send?.({ type: 'ready', peer: link.address, netPort: (server.address() as net.AddressInfo).port, zmqEcho: echo.lastEndpoint ?? '' } satisfies Ready);
  process.on('message', (m: Go | { type: 'exit' }) => {
    if (m.type === 'exit') {
      dealer.close();
      echo.close();
      server.close();
      void link.stop().then(() => process.exit(0));
      return;
    }
    void (async () => {
      const k = m.peers.length;
      const want = (k * (k + 1)) / 2;
      const data = new Float32Array(m.size).fill(rank + 1);
      const check = (sum: Float32Array): void => {
        if (sum.length !== m.size || sum[0] !== want || sum[sum.length - 1] !== want) throw new Error(`wrong sum ${sum[0]}, expected ${want}`);
      };
      let out: Omit<Done, 'type'> = { ms: [], cpuMs: 0, faults: 0 };
      if (m.mode === 'ring' || m.mode === 'ring-into') {
        const into = m.mode === 'ring-into' ? new Float32Array(m.size) : undefined;
        out = await timed(m.reps, async (i) => {
          check(await link.allReduce(data, { job: 'bench', attempt: 1, seq: m.round * 1000 + i, rank, peers: m.peers.map((p) => p.peer), timeoutMs: 60_000, into }));
        });
      } else if (m.mode === 'coordinator' || m.mode === 'coordinator-1frame') {
        const oneFrame = m.mode === 'coordinator-1frame';
        out = await timed(m.reps, async (i) => {
          const body = { kind: 'reduce', job: 'bench', attempt: 1, seq: m.round * 1000 + i, rank, data: f32ToBytes(data) } as const;
          await dealer.send(oneFrame ? encodeTrainerMessage(body) : encodeTrainerFrames(body));
          const d = decodeCoordinatorMessage(await dealer.receive());
          if (!d.ok || d.msg.kind !== 'reduced') throw new Error(`expected reduced, got ${d.ok ? d.msg.kind : d.reason}`);
          check(bytesToF32(d.msg.data));
        });
      } else if (rank === 0 && m.mode === 'net-echo') {
        const client = await netClient(m.peers[1].netPort);
        const payload = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
        out = await timed(m.reps, () => client.roundTrip(payload));
        client.close();
      } else if (rank === 0 && m.mode === 'zmq-echo') {
        const d = new zmq.Dealer({ linger: 0 });
        d.connect(m.peers[1].zmqEcho);
        const payload = f32ToBytes(data);
        out = await timed(m.reps, async () => {
          await d.send(payload);
          const [back] = await d.receive();
          if (back.length !== payload.length) throw new Error(`echo returned ${back.length} bytes, sent ${payload.length}`);
        });
        d.close();
      }
      process.send?.({ type: 'done', ...out } satisfies Done);
    })().catch((err: unknown) => {
      console.error(err);
      process.exit(1);
    });
  });
}

async function main(): Promise<void> {
  const ks = ints(arg('--k', '2'), '--k');
  const sizes = ints(arg('--bytes', '1000000,10000000'), '--bytes').map((b) => {
    if (b % 4 !== 0) throw new Error(`--bytes: ${b} is not a whole number of float32 values`);
    return b / 4;
  });
  const reps = ints(arg('--reps', '20'), '--reps')[0];
  const pieceBytes = process.argv.includes('--piece-bytes') ? ints(arg('--piece-bytes', ''), '--piece-bytes')[0] : undefined;
  if (pieceBytes !== undefined && pieceBytes % 4 !== 0) throw new Error(`--piece-bytes: ${pieceBytes} is not a whole number of float32 values`);
  const modes = arg('--modes', MODES.join(',')).split(',') as Mode[];
  for (const m of modes) if (!MODES.includes(m)) throw new Error(`--modes: unknown mode '${m}' (known: ${MODES.join(', ')})`);
  console.log(`all-reduce on loopback, ${reps} calls after ${WARMUP} warm-ups; CPU is user+system ms per call${pieceBytes ? `; ring pieces of ${pieceBytes} B` : ''}`);
  console.log(`${'K'.padEnd(3)} ${'bytes'.padStart(9)} ${'mode'.padEnd(12)} ${'p50 ms'.padStart(8)} ${'p95 ms'.padStart(8)} ${'GB/s'.padStart(6)}  CPU ms/call per rank (coordinator)  page faults/call per rank`);
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
            // Answer in the framing the replicas used (the services send one frame today).
            const body = { kind: 'reduced', job: m.job, attempt: m.attempt, seq: m.seq, data: f32ToBytes(sum) } as const;
            const reply = frames.length === 1 ? [encodeCoordinatorMessage(body)] : encodeCoordinatorFrames(body);
            for (let r = 0; r < k; r++) await router.send([`r${r}`, ...reply]);
          }
        }
      } catch {
        // closed
      }
    })();
    const workers: ChildProcess[] = [];
    const ready: Ready[] = [];
    for (let r = 0; r < k; r++) {
      const w = fork(__filename, ['--worker'], { env: { ...process.env, BENCH_RANK: String(r), BENCH_COORDINATOR: router.lastEndpoint ?? '', BENCH_PIECE_BYTES: pieceBytes ? String(pieceBytes) : '' }, execArgv: process.execArgv });
      workers.push(w);
      ready.push(await new Promise<Ready>((resolve) => w.once('message', (m: Ready) => resolve(m))));
    }
    let round = 0;
    for (const size of sizes) {
      for (const mode of modes) {
        if (mode.endsWith('echo') && k < 2) continue;
        round++;
        const done = workers.map((w) => new Promise<Done>((resolve) => w.once('message', (m: Done) => resolve(m))));
        const c0 = cpuMs();
        for (const w of workers) w.send({ type: 'go', mode, size, reps, peers: ready, round } satisfies Go);
        const replies = await Promise.all(done);
        const coordCpu = (cpuMs() - c0) / (reps + WARMUP);
        const timedRanks = replies.filter((r) => r.ms.length > 0);
        const ms = timedRanks[0].ms.map((_, i) => Math.max(...timedRanks.map((r) => r.ms[i])));
        const p50 = quantile(ms, 0.5);
        const gbs = (size * 4) / 1e9 / (p50 / 1000);
        const cpu = timedRanks.map((r) => r.cpuMs.toFixed(1)).join(' / ') + (mode.startsWith('coordinator') ? ` (${coordCpu.toFixed(1)})` : '');
        const faults = timedRanks.map((r) => r.faults.toFixed(0)).join(' / ');
        console.log(
          `${String(k).padEnd(3)} ${String(size * 4).padStart(9)} ${mode.padEnd(12)} ${p50.toFixed(2).padStart(8)} ${quantile(ms, 0.95).toFixed(2).padStart(8)} ${gbs.toFixed(3).padStart(6)}  ${cpu.padEnd(20)}  ${faults}`,
        );
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
