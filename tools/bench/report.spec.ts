/**
 * The bench's statistics, step counts and report, on made-up results: the numbers docs/benchmarks.md
 * states (ratios, efficiencies, shares) follow from the rows, and a section left out or measured
 * before a field existed still renders.
 */
import { jitWarmup, median, profileWarmup, quantile, report, repsFor, round, type ParallelRow, type Results, type ThroughputRow } from './report';

const machine = { date: '2026-12-07T16:00:00.000Z', cores: 2, load_average_at_start: [0.1, 0.2, 0.3] };

/** A row of section 3 whose img/s follow from its step, as the bench computes them. */
function parallelRow(trainers: number, exchange: string, step_ms: number, extra: Partial<ParallelRow> = {}): ParallelRow {
  const global_batch = extra.global_batch ?? 32;
  return { trainers, exchange, global_batch, step_ms, exchange_ms: 0, images_per_s: round(global_batch / (step_ms / 1000)), cpu_ms_per_trainer: step_ms, gradient_bytes: 8467724, reps: 90, ...extra };
}

function throughputRow(model: ThroughputRow['model'], engine: string, threads: number, ms: number): ThroughputRow {
  return { model, engine, threads, median_ms: ms, median_cpu_ms: ms, images_per_s: round(32 / (ms / 1000)), images_per_cpu_s: round(32 / (ms / 1000)), reps: 30 };
}

/** The lines of a report's section, from its heading to the next one. */
function section(md: string, heading: string): string {
  const from = md.indexOf(heading);
  if (from < 0) throw new Error(`no section ${heading} in the report`);
  const next = md.indexOf('\n## ', from + heading.length);
  return md.slice(from, next < 0 ? undefined : next);
}

describe('statistics', () => {
  it('interpolates quantiles between the sorted values and leaves the input alone', () => {
    const xs = [4, 1, 3, 2];
    expect(median(xs)).toBe(2.5);
    expect(quantile(xs, 0)).toBe(1);
    expect(quantile(xs, 1)).toBe(4);
    expect(quantile(xs, 0.95)).toBeCloseTo(3.85, 10);
    expect(xs).toEqual([4, 1, 3, 2]);
    expect(median([7])).toBe(7);
    expect(median([])).toBeNaN();
  });

  it('rounds to three significant digits and passes non-finite values through', () => {
    expect(round(52.4321)).toBe(52.4);
    expect(round(0.0012345)).toBe(0.00123);
    expect(round(123456)).toBe(123000);
    expect(round(Infinity)).toBe(Infinity);
    expect(round(NaN)).toBeNaN();
  });
});

describe('steps per engine and model', () => {
  it('warms the classifier up for the compiler on every engine, PyTorch included', () => {
    for (const engine of ['pytorch', 'wasm']) {
      expect(repsFor(engine, 'classifier', false)).toEqual({ warmup: jitWarmup(false), reps: 30 });
      expect(repsFor(engine, 'classifier', true)).toEqual({ warmup: jitWarmup(true), reps: 3 });
    }
    expect(jitWarmup(false)).toBeGreaterThan(jitWarmup(true));
  });

  it('gives the slow steps fewer warm-ups and reps', () => {
    expect(repsFor('wasm', 'cyclegan', false)).toEqual({ warmup: 1, reps: 3 });
    expect(repsFor('cpu', 'classifier', false)).toEqual({ warmup: 1, reps: 3 });
    expect(repsFor('wasm', 'dcgan', false)).toEqual({ warmup: 3, reps: 7 });
    expect(repsFor('wasm', 'dcgan', true)).toEqual({ warmup: 1, reps: 3 });
  });
});

describe('report', () => {
  it('renders the machine alone when no section ran', () => {
    const md = report({ machine, quick: false });
    expect(md).toContain('# Benchmarks');
    expect(md).toContain('| load_average_at_start | 0.1 / 0.2 / 0.3 |');
    expect(md).not.toContain('## 1.');
    expect(md).not.toContain('## 3.');
  });

  it('states throughput ratios against PyTorch on one thread, by wall and by CPU time', () => {
    const r: Results = {
      machine,
      quick: false,
      throughput: { rows: [throughputRow('classifier', 'pytorch', 1, 80), throughputRow('classifier', 'tfjs-wasm + oneDNN', 1, 50)], unavailable: { tensorflow: 'not installed' }, machine },
    };
    const md = section(report(r), '## 1.');
    const ours = md.split('\n').find((l) => l.startsWith('| classifier | tfjs-wasm + oneDNN |'));
    // 640 img/s against 400: 1.6 by wall time; 80 ms of CPU against 50: 1.6 by CPU time.
    expect(ours).toBe('| classifier | tfjs-wasm + oneDNN | 1 | 50 | 50 | 640 | 1.6 | 1.6 | 30 |  |');
    expect(md).toContain('| classifier | pytorch | 1 | 80 | 80 | 400 | 1 | 1 | 30 |  |');
    expect(md).toContain('backend tensorflow: not measured (not installed)');
    expect(md).toContain(`every engine runs ${jitWarmup(false)} classifier steps`);
  });

  it('derives data-parallel efficiency, its rounds and the split of the 2-trainer step from the rows', () => {
    const r: Results = {
      machine,
      quick: false,
      parallel: {
        machine,
        cores: [{ alone_ms: 500, together_ms: 510 }],
        rows: [
          parallelRow(1, 'none', 50, { step_ms_by_round: [50, 48, 52] }),
          parallelRow(1, 'none, half the batch', 27, { global_batch: 16 }),
          parallelRow(2, 'shared memory', 31.25, { step_ms_by_round: [31.25, 30, 32.5], exchange_ms: 1.25, pass_ms: 26, update_ms: 3, cpu_ms_per_trainer: 31.25, exchanged_bytes: 1135884 }),
          parallelRow(2, 'zeromq tcp', 50, { step_ms_by_round: [50, 48, 52], exchange_ms: 5 }),
          parallelRow(2, 'none (each trainer alone on its half)', 27.5),
          parallelRow(2, 'shared memory, 32 images each', 55, { global_batch: 64, exchange_ms: 2 }),
        ],
      },
    };
    const md = section(report(r), '## 3.');
    // 1024 img/s on two against 640 on one: 1024 / 1280.
    expect(md).toContain('Efficiency at 2 trainers = (img/s with 2) / (2 x img/s with 1) = 80.0% (shared memory; target 90%); over zeromq tcp 50.0%.');
    // Each round against its own round's one trainer: 50 / 62.5, 48 / 60, 52 / 65.
    expect(md).toContain('Round by round (each against its own round\'s 1 trainer): 80.0%, 80.0%, 80.0%; over tcp 50.0%, 50.0%, 50.0%.');
    expect(md).toContain('The exchange adds 4.0% to the 2-trainer step');
    expect(md).toContain('Where the 2-trainer step goes: the pass 26 ms, the exchange 1.25 ms, the update 3 ms');
    expect(md).toContain('One trainer alone on half the batch takes 27 ms for all of it, update included; each of two that do not exchange 27.5 ms.');
    expect(md).toContain('| 2 | shared memory | 32 | 31.25 | 26 | 1.25 | 3 | 1020 |');
    // 2 x 32 images in 55 ms against twice 640 img/s.
    expect(md).toContain('2 trainers reach 90.9% of twice one trainer\'s throughput');
  });

  it('leaves the split out for results measured before it existed', () => {
    const r: Results = { machine, quick: false, parallel: { machine, rows: [parallelRow(1, 'none', 50), parallelRow(2, 'shared memory', 30, { exchange_ms: 1 })] } };
    const md = section(report(r), '## 3.');
    expect(md).toContain('| 2 | shared memory | 32 | 30 |  | 1 |  |');
    expect(md).not.toContain('Where the 2-trainer step goes');
    expect(md).toContain('= 83.3% (shared memory; target 90%)');
    expect(md).not.toContain('Where the step of two trainers that share memory goes');
    expect(md).not.toContain('With the shards balanced');
  });

  it('sets the balanced pair against the even one, round by round, with where the cut went', () => {
    const rows = [
      parallelRow(1, 'none', 50, { step_ms_by_round: [50, 48, 52] }),
      parallelRow(2, 'shared memory', 31.25, { step_ms_by_round: [31.25, 30, 32.5] }),
      parallelRow(2, 'shared memory, shards balanced', 30, { step_ms_by_round: [30, 30, 26], first_rows_by_round: [[16, 18], [17, 17], [15, 16]] }),
    ];
    const md = section(report({ machine, quick: false, parallel: { machine, rows } }), '## 3.');
    // 1066.7 img/s against twice 640; 30 / 31.25, 30 / 30, 26 / 32.5.
    expect(md).toContain('30 ms/step against 31.25 even, efficiency 83.3%. Its step against the even pair\'s (the same two processes, one right after the other), round by round: 96.0%, 100.0%, 80.0%. The first trainer took 16-18, 17, 15-16 of the 32 rows (by round).');
    // The even pair stays the headline.
    expect(md).toContain('= 80.0% (shared memory; target 90%)');
  });

  it('lays out the pair step\'s timeline: each point on each trainer, the spans between, and the waits after the pass', () => {
    const points = ['rows-ready', 'rows-sent', 'pass-done', 'gradients-sent', 'rows-in', 'rows-merged', 'rows-applied', 'gradients-in', 'done'];
    const timeline = { points, rounds: 3, ms_by_rank: [[10, 10.5, 27.5, 28, 29, 29.5, 32.5, 32.75, 33], [10.25, 10.75, 28, 28.5, 28.75, 29.25, 32.25, 33.5, 34]] };
    const r: Results = { machine, quick: false, parallel: { machine, rows: [parallelRow(1, 'none', 50), parallelRow(2, 'shared memory', 34, { exchange_ms: 5 })], timeline } };
    const md = section(report(r), '## 3.');
    expect(md).toContain('### Where the step of two trainers that share memory goes (global batch 32)');
    expect(md).toContain('then over 3 rounds');
    // At, then since the point before, for each trainer.
    expect(md).toContain(`| rows-applied | 32.50 | 32.25 | 3.00 | 3.00 | fc1's update`);
    expect(md).toContain('| gradients-in | 32.75 | 33.50 | 0.25 | 1.25 |');
    // After the pass: 33 - 27.5 and 34 - 28; waits 1 + 0.25 and 0.25 + 1.25; the rest 5.5 - 1.25 - 3, 6 - 1.5 - 3.
    expect(md).toContain("After the pass (trainer 0 / 1): 5.50 ms / 6.00 ms of a 33.00 ms / 34.00 ms step. Of it, awaiting the other's two vectors 1.25 ms / 1.50 ms");
    expect(md).toContain("fc1's update 3.00 ms / 3.00 ms; the rest (the swap calls, merging and reading the other's vectors, Adam on the other weights) 1.25 ms / 1.50 ms. The exchange as a wait alone adds 1.25 ms / 1.50 ms to the step, 3.8% / 4.4% of it.");
    // Older runs did not count the notes; newer ones say how many each trainer sent per step.
    expect(md).not.toContain('Notes over the socket per step');
    const counted = section(report({ ...r, parallel: { ...r.parallel!, timeline: { ...timeline, notes_per_step: [0.8333, 0.1] } } }), '## 3.');
    expect(counted).toContain('Notes over the socket per step (trainer 0 / 1, of two swaps each): 0.83 / 0.10.');
  });
});

describe('profile', () => {
  it('warms a profiled step as long as a timed one, and at least three steps', () => {
    expect(profileWarmup('classifier', false)).toBe(jitWarmup(false));
    expect(profileWarmup('dcgan', true)).toBe(3);
    expect(profileWarmup('cyclegan', false)).toBe(3);
  });

  it('says how many warm-up steps each profiled step had, three for older results', () => {
    const kernels = [{ kernel: 'Conv2D', ms: 10, calls: 2, share: 0.5 }];
    const r: Results = {
      machine,
      quick: false,
      profile: { models: [{ model: 'classifier', backend: 'wasm', warmup: 300, wall_ms: 20, kernel_ms: 20, kernels }, { model: 'dcgan', backend: 'wasm', wall_ms: 700, kernel_ms: 690, kernels }] },
    };
    const md = report(r);
    expect(md).toContain('classifier: 20 ms in kernels of a 20 ms step, after 300 warm-up steps.');
    expect(md).toContain('dcgan: 690 ms in kernels of a 700 ms step, after 3 warm-up steps.');
    expect(md).toContain('| Conv2D | 10 | 2 | 50.0% |');
  });
});
