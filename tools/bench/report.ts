/**
 * What `npm run bench` (main.ts) measures, as data, and how it is reported: the result rows of each
 * section, the statistics over steps, the warm-up and rep counts, and `report`, which renders the
 * results as docs/benchmarks.md. No measurement happens here (report.spec.ts tests it on made-up results).
 */
import type { ModelMemory } from './memory';

export const MODELS = ['classifier', 'dcgan', 'cyclegan'] as const;
export type ModelKind = (typeof MODELS)[number];
/** Batch and image size of every timed step. */
export const BATCH = 32;
export const SIZE = 64;

// ---------------------------------------------------------------------------------------------
// Statistics

export function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((x, y) => x - y);
  if (s.length === 0) return NaN;
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

export const median = (xs: number[]): number => quantile(xs, 0.5);

/** This process's CPU time so far (user + system), in ms. */
export function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

export const round = (x: number, digits = 3): number => (Number.isFinite(x) ? Number(x.toPrecision(digits)) : x);

// ---------------------------------------------------------------------------------------------
// Result rows

export interface KernelTime {
  kernel: string;
  ms: number;
  calls: number;
  share: number;
}

/** A section-1 profile: one model's step on one backend, time per kernel. */
export interface ProfileModel {
  model: ModelKind;
  backend: string;
  /** Steps before the profiled one (absent in older results: 3). */
  warmup?: number;
  wall_ms: number;
  kernel_ms: number;
  kernels: KernelTime[];
}

export interface ThroughputRow {
  model: ModelKind;
  engine: string;
  threads: number;
  median_ms: number;
  median_cpu_ms: number;
  images_per_s: number;
  images_per_cpu_s: number;
  reps: number;
  note?: string;
}

/**
 * Warm-up steps before a classifier step is timed. V8 goes on compiling the step's JavaScript
 * (tfjs's engine, our kernels' wrappers) on its worker threads for some 300 steps: one trainer at
 * batch 16 used 32 ms of CPU in a 29 ms step after 5 warm-ups, 29 in 28 after 100, 27 in 27 after
 * 200, and its step at batch 32 took 61 ms in the first 25 steps, 52-57 after. A study's trainers
 * run thousands of steps (and stay up from job to job), so the warm step is the one that counts.
 */
export function jitWarmup(quick: boolean): number {
  return quick ? 20 : 300;
}

/**
 * Steps to time per (engine, model): the cpu backend and CycleGAN are slow, so they get fewer.
 * The classifier warms up as long on every engine, PyTorch included; a GAN step's kernels take
 * 10-500x the classifier's, and its JavaScript is warm after a few steps.
 */
export function repsFor(engine: string, model: ModelKind, quick: boolean): { warmup: number; reps: number } {
  if (engine === 'cpu' || model === 'cyclegan') return { warmup: 1, reps: quick ? 1 : 3 };
  if (model === 'classifier') return { warmup: jitWarmup(quick), reps: quick ? 3 : 30 };
  return { warmup: quick ? 1 : 3, reps: quick ? 3 : 7 };
}

/** Warm-up steps before a profiled step: as many as the throughput section's, and at least three (the heap grows over the first two). */
export function profileWarmup(model: ModelKind, quick: boolean): number {
  return Math.max(3, repsFor('wasm', model, quick).warmup);
}

export type ThroughputResult = { rows: ThroughputRow[]; unavailable: Record<string, string> };

export interface CoreScaling {
  /** The loop alone on the machine. */
  alone_ms: number;
  /** The same loop in two processes started together: the slower one. */
  together_ms: number;
}

export interface ExchangeRow {
  bytes: number;
  transport: string;
  p50_ms: number;
  p95_ms: number;
  gb_per_s: number;
  reps: number;
}

export interface ParallelRow {
  trainers: number;
  /** How the trainers exchanged gradients: 'none' (one trainer, or each alone), 'shared memory', 'zeromq tcp'. */
  exchange?: string;
  /** Images per step over all trainers (absent in older results: BATCH). */
  global_batch?: number;
  /** The median over the rounds of each round's median step (the rounds run one after another). */
  step_ms: number;
  /** Each round's median step, in order (absent in older results: one round). */
  step_ms_by_round?: number[];
  exchange_ms: number;
  /** Two that exchange: the pass before the exchange (forward, backward, the vector made), and the update after it (merge or upload, Adam). Absent in older results and without an exchange. */
  pass_ms?: number;
  update_ms?: number;
  images_per_s: number;
  cpu_ms_per_trainer: number;
  gradient_bytes: number;
  /** What each trainer sends per step (the exchanged vector and the loss: fc1 as its factors); 0 without an exchange. */
  exchanged_bytes?: number;
  reps: number;
  /** Two whose shards are balanced (PairBalance): per round, the fewest and the most rows of the global batch the first trainer took over the timed steps. */
  first_rows_by_round?: Array<[number, number]>;
}

/**
 * Where the step of two trainers that share memory goes (Classifier.pairStep's points, PAIR_STEP_POINTS):
 * for each rank, each point's time in ms from the step's start (its median over the steps of a round,
 * then over the rounds).
 */
export interface PairTimeline {
  points: string[];
  ms_by_rank: number[][];
  rounds: number;
  /** `grad-shared` notes each rank sent per step (PeerLink.sharedNotesSent; of its two swaps): the median over the rounds. Absent in runs before it was measured. */
  notes_per_step?: number[];
}

/** What happens between a pair step's point and the one before it (the first: since the step began). */
const PAIR_SPANS: Record<string, string> = {
  'rows-ready': "forward pass, loss, and the backward pass down to fc1's output gradient",
  'rows-sent': "first swap: this shard's rows of fc1's factors written into the other's file (a note sent only when the other waits for them)",
  'pass-done': 'the rest of the backward pass (the layers below fc1: the convolutions)',
  'gradients-sent': 'second swap: the other gradients and the loss',
  'rows-in': "until the other's rows are there (found by their mark when they came during the pass, else a note awaited)",
  'rows-merged': "both shards' rows merged into tensors (the other's read from this trainer's file)",
  'rows-applied': "fc1's update: its dW = x^T dz from the whole batch's rows, and Adam",
  'gradients-in': "until the other's gradients are there (the wait for the slower trainer, when there is one)",
  done: "the other's gradients read onto the heap, Adam on the weights other than fc1",
};

export interface StudyResult {
  profile: string;
  exit_code: number | null;
  wall_s: number;
  peak_rss_mib: number;
  peak_processes: number;
  coordinator_cpu_s: number;
  /** CPU of the study's other processes (the trainers), each as last sampled; absent in runs before it was measured. */
  trainers_cpu_s?: number;
  coordinator_cpu_fraction: number;
  coordinator_cpu_fraction_after_start: number | null;
  /**
   * The coordinator's CPU in three parts, cut where its log says the first job started and the data
   * set was first sent (whichever is later), and at `study-finished`: start-up (loading the sources,
   * config, data set, starting trainers),
   * the steady state while jobs run (messages, logs, checkpoints, status), the results and report.
   */
  coordinator_cpu_split: { startup_s: number; steady_s: number; steady_fraction: number; report_s: number } | null;
  /**
   * Whether the data set came from the cache shared by studies (STUDY_CACHE_DIR, ~/.cache/gan-study):
   * 'warm' (synthetic set reused and decoded set hit), 'cold' (both made), 'partly', or 'unknown'.
   */
  data_cache: string;
  run_dir: string;
  /** Set by hand in the JSON when a run needs explaining (e.g. stopped by hand). */
  note?: string;
  jobs: string;
  timed_out: boolean;
  job_counts: Record<string, number>;
  /** Processes of the study still alive 3 s after it exited (stopped by the bench). */
  orphans_left: number;
}

export type Results = {
  machine: Record<string, unknown>;
  quick: boolean;
  throughput?: { rows: ThroughputRow[]; unavailable: Record<string, string>; machine?: Record<string, unknown> };
  exchange?: { rows: ExchangeRow[]; machine?: Record<string, unknown> };
  parallel?: { rows: ParallelRow[]; cores?: CoreScaling[]; timeline?: PairTimeline; machine?: Record<string, unknown> };
  /** The quick study on an empty data-set cache (the first study on a machine). */
  study?: StudyResult & { machine?: Record<string, unknown> };
  /** The same study again, the cache filled by the first. */
  study_warm?: StudyResult & { machine?: Record<string, unknown> };
  memory?: { models: ModelMemory[] };
  profile?: { models: ProfileModel[]; machine?: Record<string, unknown> };
  commit?: string;
};

// ---------------------------------------------------------------------------------------------
// The report

/** The report's part on a pair step's timeline: each point, each rank, and what lies between. */
export function pairTimelineLines(t: PairTimeline): string[] {
  const ranks = t.ms_by_rank;
  const spans = ranks.map((ms) => ms.map((m, i) => m - (i === 0 ? 0 : ms[i - 1])));
  const at = (rank: number, point: string) => ranks[rank][t.points.indexOf(point)];
  const span = (rank: number, point: string) => spans[rank][t.points.indexOf(point)];
  const ms = (x: number) => `${x.toFixed(2)} ms`;
  const both = (f: (rank: number) => number) => ranks.map((_, rank) => ms(f(rank))).join(' / ');
  const lines = [
    `### Where the step of two trainers that share memory goes (global batch ${BATCH})`,
    '',
    `Each point of Classifier.pairStep (PAIR_STEP_POINTS) as the step reaches it, in ms from the step's start on each trainer: the median over the steps of a round, then over ${t.rounds} round${t.rounds === 1 ? '' : 's'}. Each trainer's clock starts at its own step's start, so the two columns need not line up in time.`,
    '',
    table(
      ['point', ...ranks.map((_, rank) => `trainer ${rank}: at`), ...ranks.map((_, rank) => `trainer ${rank}: since the point before`), 'what lies between'],
      t.points.map((p, i) => [p, ...ranks.map((r) => r[i].toFixed(2)), ...spans.map((s) => s[i].toFixed(2)), PAIR_SPANS[p] ?? '']),
    ),
    '',
  ];
  if (['pass-done', 'done', 'rows-in', 'gradients-in', 'rows-applied'].every((p) => t.points.includes(p))) {
    const after = (rank: number) => at(rank, 'done') - at(rank, 'pass-done');
    const waits = (rank: number) => span(rank, 'rows-in') + span(rank, 'gradients-in');
    lines.push(
      `After the pass (trainer 0 / 1): ${both(after)} of a ${both((rank) => at(rank, 'done'))} step. Of it, awaiting the other's two vectors ${both(waits)} (the only time a trainer does not work: the wait for the slower one, and the event loop's turn that sees its note); fc1's update ${both((rank) => span(rank, 'rows-applied'))}; the rest (the swap calls, merging and reading the other's vectors, Adam on the other weights) ${both((rank) => after(rank) - waits(rank) - span(rank, 'rows-applied'))}. The exchange as a wait alone adds ${both((rank) => waits(rank))} to the step, ${ranks.map((_, rank) => pct(waits(rank) / at(rank, 'done'))).join(' / ')} of it.`,
      '',
    );
  }
  if (t.notes_per_step) {
    lines.push(
      `Notes over the socket per step (trainer 0 / 1, of two swaps each): ${t.notes_per_step.map((n) => n.toFixed(2)).join(' / ')}. A swap sends its note only to a trainer that waits for its vector (the flag in the shared file, PeerLink.swap); the other finds it by its mark, so a step's vectors that came during the pass cost no message at all, either side.`,
      '',
    );
  }
  return lines;
}

export const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

export function table(head: string[], rows: Array<Array<string | number>>): string {
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

/** 'Ran <date>, load a / b / c at its start.' for a section's machine stamp. */
export function ranAt(stamp: Record<string, unknown> | undefined, perModel = false): string {
  if (!stamp) return 'Run date not recorded.';
  const load = stamp.load_average_at_start;
  const when = `${String(stamp.date)}, load average ${Array.isArray(load) ? load.join(' / ') : '?'} at its start`;
  return perModel ? `Latest run ${when}; rows of models that run left out (--models) are from earlier runs (see the JSON's history in git).` : `Ran ${when}.`;
}

export function report(r: Results): string {
  const m = r.machine;
  const lines: string[] = [
    '# Benchmarks',
    '',
    'Written by `npm run bench` (tools/bench/main.ts; issue 7). Numbers are from one machine. A run of some',
    'sections (`--only`, `--models`) keeps the others\' latest results, so each section says when it ran and',
    'the load average then; on a busy machine wall times inflate, and the CPU time columns are steadier.',
    '',
    '## Machine',
    '',
    table(['fact', 'value'], Object.entries(m).map(([k, v]) => [k, Array.isArray(v) ? v.join(' / ') : String(v)])),
    '',
  ];
  if (r.throughput) {
    const rows = r.throughput.rows;
    const torch1 = (model: string) => rows.find((x) => x.model === model && x.engine === 'pytorch' && x.threads === 1);
    lines.push(
      `## 1. Training throughput (batch ${BATCH}, ${SIZE} px, one step = forward, backward, Adam)`,
      '',
      ranAt(r.throughput.machine, true),
      '',
      `Ratio = ours / PyTorch 1 thread, by wall time and by CPU time. Target: at least 0.5 on every model. The 1-thread runs (PyTorch with set_num_threads(1), and our wasm engine) are pinned to one core with \`taskset -c 0\`: unpinned, PyTorch's 1-thread step kept 1.5-1.7 cores busy (its helper threads), so its wall time was not one core's throughput. Before the timed steps, every engine runs ${jitWarmup(r.quick)} classifier steps (V8 goes on compiling our step's JavaScript for about that long, see jitWarmup in tools/bench/report.ts) and ${repsFor('wasm', 'dcgan', r.quick).warmup} of a GAN (CycleGAN and the cpu backend: ${repsFor('wasm', 'cyclegan', r.quick).warmup}).`,
      '',
      table(
        ['model', 'engine', 'threads', 'ms/step (median)', 'CPU ms/step', 'img/s', 'ratio (wall)', 'ratio (CPU)', 'steps timed', 'note'],
        rows.map((x) => {
          const t = torch1(x.model);
          return [
            x.model,
            x.engine,
            x.threads,
            x.median_ms,
            x.median_cpu_ms,
            x.images_per_s,
            t ? round(t.median_ms / x.median_ms) : '-',
            t ? round(t.median_cpu_ms / x.median_cpu_ms) : '-',
            x.reps,
            x.note ?? '',
          ];
        }),
      ),
      '',
      ...Object.entries(r.throughput.unavailable).map(([b, why]) => `- backend ${b}: not measured (${why})`),
      ...[...new Set(rows.map((x) => x.model))].flatMap((model) =>
        [...new Set(rows.filter((x) => x.engine.startsWith('tfjs-')).map((x) => x.engine))]
          .filter((e) => !rows.some((x) => x.model === model && x.engine === e) && !Object.keys(r.throughput!.unavailable).some((k) => k.startsWith(e.slice(5).split(' ')[0])))
          .map((e) => `- ${model} on ${e}: not run in this bench (left out with --backends; the plain-JavaScript cpu backend would take tens of minutes per CycleGAN step)`),
      ),
      '',
    );
  }
  if (r.profile) {
    lines.push(
      '### Where a wasm step goes (tf.profile, one step after warm-up; kernel time by kernel name)',
      '',
      'Our wasm training kernels are compositions of other kernels, and tf.profile times the inner kernels too, so the shares overlap and add up to more than 100%. Times are wall times on the shared machine.',
      '',
    );
    for (const p of r.profile.models) {
      lines.push(
        `${p.model}: ${p.kernel_ms} ms in kernels of a ${p.wall_ms} ms step, after ${p.warmup ?? 3} warm-up steps.`,
        '',
        table(['kernel', 'ms', 'calls', 'share'], p.kernels.slice(0, 8).map((k) => [k.kernel, k.ms, k.calls, pct(k.share)])),
        '',
      );
    }
  }
  if (r.exchange) {
    lines.push(
      '## 2. Gradient exchange (2 processes on one host)',
      '',
      ranAt(r.exchange.machine),
      '',
      table(['bytes', 'transport', 'p50 ms', 'p95 ms', 'GB/s (bytes / p50)', 'calls'], r.exchange.rows.map((x) => [x.bytes, x.transport, x.p50_ms, x.p95_ms, x.gb_per_s, x.reps])),
      '',
      'A call ends when both processes have the sum (swap: the other\'s vector). The echo row moves the bytes out and back over one plain socket: the floor for a socket. Two replicas of a job on one host exchange through shared memory (libs/protocol transport/shared-exchange.ts); across hosts, over zeromq tcp.',
      '',
    );
  }
  if (r.parallel) {
    const one = r.parallel.rows.find((x) => x.trainers === 1 && (x.global_batch ?? BATCH) === BATCH);
    const half = r.parallel.rows.find((x) => x.trainers === 1 && (x.global_batch ?? BATCH) < BATCH);
    const two = r.parallel.rows.find((x) => x.trainers === 2 && (x.exchange ?? 'shared memory') === 'shared memory') ?? r.parallel.rows.find((x) => x.trainers === 2);
    const tcp = r.parallel.rows.find((x) => x.trainers === 2 && x.exchange === 'zeromq tcp');
    const alone = r.parallel.rows.find((x) => x.trainers === 2 && x.exchange?.startsWith('none'));
    const weak = r.parallel.rows.find((x) => x.trainers === 2 && (x.global_batch ?? BATCH) > BATCH);
    const balanced = r.parallel.rows.find((x) => x.trainers === 2 && x.first_rows_by_round !== undefined);
    lines.push(
      `## 3. Data-parallel classifier (global batch ${BATCH}, ${SIZE} px, wasm; 1 trainer: the whole batch; 2: each its half)`,
      '',
      ranAt(r.parallel.machine),
      '',
      'Each step as the classifier job takes it. What travels is the exchanged vector (Classifier.exchange): the gradients, except fc1 (16384 x 128 weights), which goes as its factors, the shard\'s rows of its input and of the gradient of its output in slots of the global batch\'s rows (zeros in the other replica\'s rows); each trainer then updates fc1 from the whole batch\'s rows, as one trainer does (with the oneDNN addon, Adam makes fc1\'s weight gradient x^T dz a block of rows at a time inside the update, on one trainer too). Two trainers on one host (shared memory): the vector, with only the trainer\'s own rows of fc1\'s factors, goes from the wasm heap into the other\'s file in /dev/shm, the other\'s comes from its own file straight into tensors on the heap, and the two are merged there before Adam (Classifier.pairStep). Over zeromq tcp (trainers on different hosts): each range of the vector is read to the host as the pass makes it and sent at once, the sum is made on the host and uploaded for Adam.',
      '',
      table(
        ['trainers', 'exchange', 'global batch', 'ms/step', 'pass', 'exchange after the backward pass', 'update after the exchange', 'img/s', 'CPU ms/step per trainer', 'gradient bytes', 'bytes sent per trainer and step', 'steps'],
        r.parallel.rows.map((x) => [x.trainers, x.exchange ?? (x.trainers === 1 ? 'none' : 'zeromq tcp'), x.global_batch ?? BATCH, x.step_ms, x.pass_ms ?? '', x.exchange_ms, x.update_ms ?? '', x.images_per_s, x.cpu_ms_per_trainer, x.gradient_bytes, x.exchanged_bytes ?? (x.trainers === 1 ? 0 : x.gradient_bytes), x.reps]),
      ),
      '',
      `ms/step: in each round, the median over the steps of the slower trainer's step; the rounds (every configuration once per round, one round after another, as the machine's speed drifts) give the median of those. steps: over all rounds. The trainers are not pinned to cores (as in a study). Exchange: from the end of the backward pass until the other's vector is in (shared memory: on the heap; tcp: summed on the host), waiting for the slower trainer included. In shared memory the pair swaps twice a step: fc1's factor rows as soon as the backward pass has them, the rest after the pass; in between each updates fc1 from the other's rows (Classifier.pairStep), so that update lies inside the exchange there and the wait for the slower trainer shrinks by as much. Pass (forward, backward, the vectors made) and update (the other's vector merged or the sum uploaded, then Adam; in shared memory Adam on the weights other than fc1): the two around the exchange. Pass, exchange and update are the first trainer's medians, so they need not add up to the step (the slower trainer's). Every configuration runs on the same two processes (one trainer is the first of them, the other idle; tcp goes over a second link of each, without shared memory, as between hosts): two process pairs running the same code differed here by 5-7% in their steps for as long as they lived, more than most differences between configurations. The processes stay up through the rounds and each configuration is warmed up by ${jitWarmup(r.quick)} steps before its first (as a study's trainers are warm after their first job: V8 goes on compiling the step's JavaScript for about that long, on threads that two trainers take from each other).`,
      '',
    );
    if (one && two) {
      const cores = r.parallel.cores ?? [];
      // From the steps, not the rounded img/s of the table (1020 for 1022 img/s moved an efficiency by 0.3 points).
      const rate = (row: ParallelRow) => (row.global_batch ?? BATCH) / row.step_ms;
      const eff = (row: ParallelRow) => pct(rate(row) / (2 * rate(one)));
      // Efficiency in each round, against that round's one trainer (same global batch): null for a single round.
      const byRound = (row: ParallelRow): string | null => {
        const a1 = one.step_ms_by_round;
        const a2 = row.step_ms_by_round;
        if (!a1 || !a2 || a1.length < 2 || a2.length !== a1.length) return null;
        return a2.map((t, i) => pct(a1[i] / (2 * t))).join(', ');
      };
      lines.push(
        `Efficiency at 2 trainers = (img/s with 2) / (2 x img/s with 1) = ${eff(two)} (${two.exchange ?? 'zeromq tcp'}; target 90%)${tcp && tcp !== two ? `; over zeromq tcp ${eff(tcp)}` : ''}.${byRound(two) ? ` Round by round (each against its own round's 1 trainer): ${byRound(two)}${tcp && tcp !== two && byRound(tcp) ? `; over tcp ${byRound(tcp)}` : ''}.` : ''}`,
        ...(balanced && balanced !== two
          ? [
              `With the shards balanced (config key balanceShards: each batch cut where both trainers' passes take as long, PairBalance, from the pass times that ride with the loss): ${balanced.step_ms} ms/step against ${two.step_ms} even, efficiency ${eff(balanced)}.${balanced.step_ms_by_round && two.step_ms_by_round && balanced.step_ms_by_round.length === two.step_ms_by_round.length ? ` Its step against the even pair's (the same two processes, one right after the other), round by round: ${balanced.step_ms_by_round.map((t, i) => pct(t / two.step_ms_by_round![i])).join(', ')}.` : ''} The first trainer took ${balanced.first_rows_by_round!.map(([lo, hi]) => (lo === hi ? `${lo}` : `${lo}-${hi}`)).join(', ')} of the ${balanced.global_batch ?? BATCH} rows (by round).`,
            ]
          : []),
        `By CPU time: ${one.cpu_ms_per_trainer} ms for the whole batch on 1 trainer, ${two.cpu_ms_per_trainer} ms per trainer for half of it on 2: work efficiency ${pct(one.cpu_ms_per_trainer / (2 * two.cpu_ms_per_trainer))}.`,
        `The exchange adds ${pct(two.exchange_ms / two.step_ms)} to the 2-trainer step (target < 10%): what is left after the backward pass (writing and reading the vectors, waiting for the slower trainer${two.exchange === 'shared memory' ? "; here fc1's update as well, which runs while the other's vector is on its way" : ''}).`,
        ...(two.pass_ms !== undefined && two.update_ms !== undefined
          ? [
              `Where the 2-trainer step goes: the pass ${two.pass_ms} ms, the exchange ${two.exchange_ms} ms, the update ${two.update_ms} ms (fc1's weight gradient from the whole batch's rows and Adam on every weight, in shared memory fc1's part of it inside the exchange: what one trainer does once per global batch, each of the two does every step).${half ? ` One trainer alone on half the batch takes ${half.step_ms} ms for all of it, update included${alone ? `; each of two that do not exchange ${alone.step_ms} ms` : ''}.` : ''}`,
            ]
          : []),
        ...(two.exchanged_bytes
          ? [
              `Each trainer sends ${(two.exchanged_bytes / 1e6).toFixed(2)} MB per step, against ${(two.gradient_bytes / 1e6).toFixed(2)} MB for the whole gradient: fc1 goes as its factors (in shared memory only the trainer's own rows of them; over tcp in slots of the whole batch's rows, zeros in the other's, for the sum). The price is fc1's weight gradient made from the whole batch's rows on each trainer (a product over ${two.global_batch ?? BATCH} rows instead of the shard's), counted in the step, and in shared memory in the exchange's time.`,
            ]
          : []),
        ...(cores.length
          ? [
              `What the two cores give two processes at all, before memory comes in: a register-only loop (no memory traffic) ran in ${cores.map((c) => `${c.together_ms} ms two at once against ${c.alone_ms} ms alone (${pct(c.alone_ms / c.together_ms)})`).join('; ')}, once before each round. The host places the VM's two vCPUs, and moves them: below 100% they share a physical core's execution units, and no data-parallel step can beat that.`,
            ]
          : []),
        ...(half
          ? [
              `One trainer alone on half the batch (${half.global_batch} images, the other core idle) takes ${half.step_ms} ms, ${pct(half.step_ms / one.step_ms)} of the whole batch's ${one.step_ms} ms: part of a step does not shrink with the batch (fc1's 8 MB of weights read by its two products and updated by Adam, each kernel's fixed cost). So two trainers with nothing to exchange and no contention for memory would reach at most ${pct(one.step_ms / (2 * half.step_ms))}.`,
            ]
          : []),
        ...(alone
          ? [
              `What the machine gives two trainers at all: two that do not exchange, each stepping on its half of the batch at the same time, reach ${eff(alone)} (${alone.step_ms} ms per step, ${alone.cpu_ms_per_trainer} ms CPU each). Below 100% with nothing exchanged: the two cores share memory bandwidth and the last-level cache, which this step leans on${cores.length && Math.min(...cores.map((c) => c.alone_ms / c.together_ms)) < 0.9 ? ', and in this run the cores themselves did not run two processes at full speed (the loop above; CPU time per trainer against the wall time of a step shows the same)' : ''}. That is the ceiling for data parallelism on this machine; against it the 2 exchanging trainers reach ${pct(rate(two) / rate(alone))}.`,
            ]
          : []),
        ...(weak
          ? [
              `With a whole batch of ${BATCH} on each trainer (global batch ${weak.global_batch}: the per-replica work of one trainer, as data parallelism is usually scaled), 2 trainers reach ${eff(weak)} of twice one trainer's throughput, the exchange ${pct(weak.exchange_ms / weak.step_ms)} of their step. The study's own jobs keep the global batch (K trainers end with one trainer's weights), so the figure above is theirs.`,
            ]
          : []),
        '',
      );
    }
    if (r.parallel.timeline) lines.push(...pairTimelineLines(r.parallel.timeline));
  }
  const studies = [r.study, r.study_warm].filter((x): x is StudyResult & { machine?: Record<string, unknown> } => x !== undefined);
  if (studies.length > 0) {
    lines.push(
      '## 4. The quick study end to end',
      '',
      ranAt(studies[0].machine),
      '',
      'Run twice: first with an empty data-set cache (STUDY_CACHE_DIR, default ~/.cache/gan-study), as the first study on a machine, where the data set is synthesised and decoded (by the trainers, from the recipe the coordinator sends); then again, reusing both.',
      '',
      table(
        ['profile', 'data-set cache', 'exit', 'wall', 'peak memory (sum of RSS)', 'processes', 'trainers CPU', 'coordinator CPU', 'coordinator share of a core', 'after its first minute', 'start-up / while jobs run (share) / report'],
        studies.map((s) => [
          s.profile,
          s.data_cache,
          String(s.exit_code),
          `${s.wall_s} s`,
          `${s.peak_rss_mib} MiB`,
          s.peak_processes,
          s.trainers_cpu_s === undefined ? '-' : `${s.trainers_cpu_s} s`,
          `${s.coordinator_cpu_s} s`,
          pct(s.coordinator_cpu_fraction),
          s.coordinator_cpu_fraction_after_start == null ? '-' : pct(s.coordinator_cpu_fraction_after_start),
          s.coordinator_cpu_split ? `${s.coordinator_cpu_split.startup_s} s / ${s.coordinator_cpu_split.steady_s} s (${pct(s.coordinator_cpu_split.steady_fraction)}) / ${s.coordinator_cpu_split.report_s} s` : '-',
        ]),
      ),
      '',
      ...studies.flatMap((s) => (s.note ? [s.note, ''] : [])),
      ...studies.map(
        (s) =>
          `Jobs at the end (${s.data_cache} cache): ${Object.entries(s.job_counts ?? {}).map(([k, v]) => `${k} ${v}`).join(', ') || 'unknown'}${s.timed_out ? ' (stopped by the bench at its time limit)' : ''}.${s.orphans_left ? ` ${s.orphans_left} processes of the study were still running after it exited and were stopped by the bench.` : ''}`,
      ),
      '',
      'Memory: VmRSS of the study process and all its descendants, sampled every 0.5 s. Coordinator: the `study run` process (it hosts the coordinator and forks the trainers); its CPU time includes start-up (tsx loading the sources) and the final report; a trainer that asks it for the images would add making and decoding the set (none does here). Trainers: the CPU of the other processes of the study, each as last sampled (up to 0.5 s short). Start-up ends when the first job runs on a ready data set; the report phase starts at `study-finished` in its log.',
      '',
    );
  }
  lines.push(
    '## GPU readiness: host synchronisation and input feeding (code audit)',
    '',
    `Read from the sources at commit ${r.commit ?? 'unknown'}; what a GPU backend would pay per step beyond the kernels. The read-backs and uploads are counted by tests (\`countTransfers\` in libs/models/src/testing.ts: every value through the backend's readSync and write outside kernels): classifier.spec.ts, classifier-job.spec.ts, gans.spec.ts.`,
    '',
    '| training step | read-backs to the host per step | inputs per step |',
    '|---|---|---|',
    '| DCGAN (dcgan.ts trainStep) | one: the 5 stacked losses (`stats.dataSync()`) | the real batch gathered on the device from the target set, uploaded once per job (`DeviceImages`, common/device-images.ts); latents drawn on the host from the seeded Rng and uploaded (B x latentDim floats: 25 KB at the reference\'s 64 x 100) |',
    '| PGGAN (pggan.ts trainStep) | one: the 4 losses (`all.dataSync()`) | the set uploaded once at the target resolution and box-downscaled on the device once per stage; the batch gathered from that copy, the fade-in blend applied on the device; latents for the D and G steps and the mixing factors from the host (b x (2 nf(0) + 1) floats: 64 KB at the paper\'s b = 16) |',
    '| CycleGAN (cyclegan.ts trainStep) | one: the 7 losses (`dataSync()` of the concatenated parts); the history pools stay on the device | both domains uploaded once per job, both batches gathered on the device |',
    '| classifier, one trainer (classifier-job with worldSize 1: `trainStep`) | one: the loss (one float); the gradients go from the tape into Adam on the device | the job\'s training set uploaded once (one tensor in example order), the batch gathered on the device by the epoch permutation\'s indices; the labels (4 B per image) uploaded |',
    '| classifier, data-parallel (`exchangeGradients`, all-reduce, `applyExchanged`) | one: the shard\'s exchanged vector + loss (the gradients, and fc1 as the shard\'s rows of its input and output gradient; the all-reduce needs it on the host), read range by range as the pass makes it, and the reduced vector uploaded again | as with one trainer |',
    '| classifier, two replicas sharing memory (`pairStep` over PeerLink.swap) | each parameter\'s gradient, fc1\'s factor rows and the loss: on wasm views of the heap (no copy), written from there into the other\'s /dev/shm file, and the other\'s read from this one\'s file straight into tensors on the heap (no upload); on another backend these are read-backs (one per tensor) and the other\'s vector is uploaded. The sum, and fc1\'s weight gradient from the merged rows, are made on the device | as with one trainer |',
    '',
    'Same results as before: with the same engine sources, 5 classifier steps and 4 steps of each GAN (14 for PGGAN, across its stage changes) end in byte-identical checkpoints before and after commit 0931fd4 on cpu and on wasm, and so do a classifier job\'s checkpoints and model artifact (the loss sum is still rounded to float32 as it was when it travelled in the gradient array). Latents stay host-drawn from the seeded streams: they are small, and `tf.randomNormal` in tfjs 4.22 also draws on the host (a JavaScript generator) and uploads.',
    '',
    'Training sets on the device (float32 NHWC, uploaded once per job; the host keeps its copy):',
    '',
    '| profile | classifier (up to 1440 + 1197 images) | DCGAN (budget, up to 500) | PGGAN (up to 500, + one stage copy) | CycleGAN (1440 + up to 500) |',
    '|---|---|---|---|---|',
    '| quick (16 px everywhere) | 7.7 MiB | 1.5 MiB | 1.5 MiB + 0.4 MiB | 5.7 MiB |',
    '| paper (224 / 64 / 128 / 256 px) | 1514 MiB | 23 MiB | 94 MiB + 23 MiB | 1455 MiB |',
    '',
    'At the paper profile the classifier job needs about 1.5 GiB (set) + 1.5 GiB (training, table below) and CycleGAN about 1.4 + 2.1 GiB: both fit a GPU that holds PGGAN\'s 9 GiB; on wasm (a 4 GiB heap) they are close to the limit, but the paper profile is meant for GPUs.',
    '',
    'On wasm the batch is copied image by image on the heap (engine/wasm-heap.ts): for 32 images at 64 px, 0.06-0.13 ms CPU, against 6.2 ms for the previous host gather + upload (mean, with GC) and 14.3 ms for the shipped wasm GatherV2 (a generic per-element loop). Other backends use `tf.gather`.',
    '',
    'Measured on wasm (1 thread, SIMD; machine shared, load average 5-8 on 2 cores, so wall times are noisy; CPU time of the process is the better figure):',
    '- classifier step, batch 32, 64 px (2,116,930 parameters): the previous path (host batch, gradient read back, applied from the host) against `trainStep` on a gathered batch, 25 interleaved pairs in one process: CPU mean 401 vs 357 ms per step; paired CPU saving per step median 43 ms.',
    '- DCGAN step, batch 32, 64 px, reference widths: previous vs new code in alternating processes, CPU per step 5.9 / 5.7 / 5.4 / 5.7 s (previous) and 6.1 / 5.8 / 4.5 / 4.2 s (new): the saving (one 1.5 MB batch upload, ~6 ms) is far below this noise.',
    '',
    'tfjs 4.22\'s gradients of `mean` and `sum` built `ones(x.shape)` on the host and uploaded it at the input\'s full size on every backward pass through them (75 MB per DCGAN step at batch 32, 64 px); engine/fixes.ts registers both with the ones made on the backend (`tf.fill`), the same values.',
    '',
  );
  if (r.memory) {
    lines.push(
      '## GPU readiness: the `paper` profile\'s memory per GPU',
      '',
      'Computed by tools/bench/memory.ts from the models\' own traced layer shapes (`describeModel`) at the paper profile\'s sizes and batch sizes, float32. One GPU runs one job at a time, so the figure per GPU is the largest job\'s.',
      '',
      table(
        ['model', 'size', 'batch', 'parameters', 'weights + grads + Adam (16 B/param)', 'activations kept for backward', 'total estimate'],
        r.memory.models.map((x) => [x.model, x.size, x.batch, x.params.toLocaleString('en-US'), `${x.stateMiB} MiB`, `${x.activationMiB} MiB`, `${x.totalMiB} MiB`]),
      ),
      '',
      ...r.memory.models.map((x) => `- ${x.model}: ${x.how}`),
      '',
    );
  }
  return lines.join('\n');
}
