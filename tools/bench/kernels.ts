/**
 * Micro-benchmark of the wasm training kernels (libs/models/src/engine/wasm-kernels.ts,
 * wasm-conv.ts): wasm as shipped, wasm with our kernels, and the cpu backend. Not a test: run it
 * by hand, `node --import tsx tools/bench/kernels.ts [--reps N] [--cpu | --cpu-all] [--no-shipped] [--only conv|other]`
 * (the cpu backend is slow - minutes per backward pass of the reference layer under load - so it
 * runs only when asked: `--cpu` times the reference layer, `--cpu-all` everything). Kernels are run by name
 * (`tf.engine().runKernel`), as the gradient code calls them.
 *
 * Convolutions: for every layer of the models at batch 32, 64 px (classifier, DCGAN D and G -
 * whose conv2dTranspose forward IS Conv2DBackpropInput of the matching D layer -, CycleGAN,
 * PGGAN), the forward Conv2D, Conv2DBackpropFilter (dW) and Conv2DBackpropInput (dx). Every run
 * gets fresh copies of its inputs, as in training: wasm caches XNNPACK operators (with their
 * packed weights) by buffer, and a new filter each step means the forward pass pays for packing
 * too. `fwd cached` reuses one filter (what a forward-only benchmark sees).
 *
 * Prints one line per backend, kernel and shape as it goes: `<backend> <kernel> <shape> <ms>`
 * (min of N runs after 1 warm-up, wall / process CPU; 'missing' where the backend has no kernel),
 * then a table per layer: fwd, dW, dx and their ratios to fwd on wasm-ours, dW and dx as shipped,
 * then the other kernels: `<kernel> <shape> cpu=… wasm-shipped=… wasm-ours=…`.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { conv2DBackpropInputDilated, registerTfjsFixes, registerWasmTrainingKernels } from '@gan-study/models';

type Shape4 = [number, number, number, number];
type Pad = 'same' | 'valid' | [[0, 0], [number, number], [number, number], [0, 0]];

/**
 * `inputs` makes the tensors a run consumes (untimed, fresh each run); `ours`: only with our kernels
 * registered (a composition called directly); `ref`: timed on cpu too.
 */
type Case = { name: string; shape: string; inputs: () => tf.Tensor[]; run: (...xs: tf.Tensor[]) => tf.Tensor; ours?: boolean; ref?: boolean; layer?: string };

function parseReps(argv: string[]): number {
  const i = argv.indexOf('--reps');
  if (i < 0) return 5;
  const n = Number(argv[i + 1]);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--reps must be a positive integer, got '${argv[i + 1]}'`);
  return n;
}

function parseOnly(argv: string[]): 'conv' | 'other' | null {
  const i = argv.indexOf('--only');
  if (i < 0) return null;
  const v = argv[i + 1];
  if (v !== 'conv' && v !== 'other') throw new Error(`--only must be 'conv' or 'other', got '${v}'`);
  return v;
}

interface Timing {
  wall: number;
  cpu: number;
}

const fmt = (t: Timing | string | undefined): string => (t === undefined ? '-' : typeof t === 'string' ? t : `${t.wall.toFixed(1)}/${t.cpu.toFixed(1)}ms`);

/**
 * Min wall and CPU time of `run` in ms over `reps` runs after one warm-up (min: the machine is
 * shared, and other processes only ever add time), or an error string when the kernel is missing.
 * The wasm backend is synchronous: the call itself is the work (no dataSync, which costs a copy).
 */
function time(c: Case, reps: number): Timing | string {
  try {
    let wall = Infinity;
    let cpu = Infinity;
    for (let i = 0; i < reps + 1; i++) {
      const xs = c.inputs();
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      const out = c.run(...xs);
      if (tf.getBackend() !== 'wasm') out.dataSync(); // cpu: make sure the work is done
      const dt = performance.now() - t0;
      const dc = process.cpuUsage(c0);
      tf.dispose([out, ...xs]);
      if (i >= 1) {
        wall = Math.min(wall, dt);
        cpu = Math.min(cpu, (dc.user + dc.system) / 1000);
      }
    }
    return { wall, cpu };
  } catch (err) {
    return /not registered/.test(String(err)) ? 'missing' : `error (${(err as Error).message.slice(0, 60)})`;
  }
}

/** Runs one kernel by name on the active backend, as the gradient code does. */
function kernel(name: string, inputs: tf.NamedTensorMap, attrs: Record<string, unknown>): tf.Tensor {
  return tf.engine().runKernel(name, inputs, attrs as tf.NamedAttrMap) as tf.Tensor;
}

/** A conv layer x [n, h, w, ci] -> co with a k x k filter: forward, dW and dx cases. */
function conv(layer: string, x4: Shape4, co: number, k: number, s: number, pad: Pad, ref = false): Case[] {
  const x = tf.randomNormal(x4) as tf.Tensor4D;
  const f = tf.randomNormal([k, k, x4[3], co]) as tf.Tensor4D;
  const dy = tf.randomNormal(tf.conv2d(x, f, s, pad).shape) as tf.Tensor4D;
  const shape = `x[${x.shape}] k${k} s${s} ${typeof pad === 'string' ? pad : 'pad' + pad[1][0]} -> ${co}`;
  const attrs = { strides: s, pad, dataFormat: 'NHWC' };
  const fresh = (...ts: tf.Tensor[]) => () => ts.map((t) => tf.clone(t));
  return [
    { layer, name: 'fwd', shape, ref, inputs: fresh(x, f), run: (a, b) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, s, pad) },
    { layer, name: 'fwd cached', shape, inputs: fresh(x), run: (a) => tf.conv2d(a as tf.Tensor4D, f, s, pad) },
    { layer, name: 'dW', shape, ref, inputs: fresh(x, dy), run: (a, b) => kernel('Conv2DBackpropFilter', { x: a, dy: b }, { ...attrs, filterShape: f.shape }) },
    { layer, name: 'dx', shape, ref, inputs: fresh(dy, f), run: (a, b) => kernel('Conv2DBackpropInput', { dy: a, filter: b }, { ...attrs, inputShape: x.shape }) },
    { layer, name: 'dx dilated', shape, inputs: fresh(dy, f), run: (a, b) => conv2DBackpropInputDilated(x.shape, a as tf.Tensor4D, b as tf.Tensor4D, s, pad), ours: true },
  ];
}

function pool(n: number, h: number, c: number): Case[] {
  const x = tf.randomNormal([n, h, h, c]) as tf.Tensor4D;
  const y = tf.maxPool(x, 2, 2, 'valid');
  const dy = tf.randomNormal(y.shape);
  const shape = `x[${x.shape}] 2x2/2`;
  return [{ name: 'MaxPoolGrad', shape, inputs: () => [], run: () => kernel('MaxPoolGrad', { dy, input: x, output: y }, { filterSize: 2, strides: 2, pad: 'valid' }) }];
}

function upsample(n: number, h: number, c: number, halfPixelCenters: boolean): Case[] {
  const x = tf.randomNormal([n, h, h, c]) as tf.Tensor4D;
  const dy = tf.randomNormal([n, 2 * h, 2 * h, c]);
  const shape = `x[${x.shape}] -> ${2 * h}x${2 * h}${halfPixelCenters ? ' half-pixel' : ''}`;
  return [{ name: 'ResizeNearestNeighborGrad', shape, inputs: () => [], run: () => kernel('ResizeNearestNeighborGrad', { images: x, dy }, { alignCorners: false, halfPixelCenters }) }];
}

const P1: Pad = [
  [0, 0],
  [1, 1],
  [1, 1],
  [0, 0],
];

function convCases(): Case[] {
  return [
    ...conv('classifier conv1', [32, 64, 64, 3], 32, 3, 1, 'same'),
    ...conv('classifier conv2', [32, 32, 32, 32], 64, 3, 1, 'same', true), // the reference layer
    ...conv('DCGAN D conv1; dx = G out', [32, 64, 64, 3], 64, 4, 2, 'same'),
    ...conv('DCGAN D conv2; dx = G up3', [32, 32, 32, 64], 128, 4, 2, 'same'),
    ...conv('DCGAN D conv3; dx = G up2', [32, 16, 16, 128], 256, 4, 2, 'same'),
    ...conv('DCGAN D conv4; dx = G up1', [32, 8, 8, 256], 512, 4, 2, 'same'),
    ...conv('DCGAN D out (4x4 valid)', [32, 4, 4, 512], 1, 4, 1, 'valid'),
    ...conv('CycleGAN c7s1 in', [32, 70, 70, 3], 64, 7, 1, 'valid'),
    ...conv('CycleGAN c7s1 out', [32, 70, 70, 64], 3, 7, 1, 'valid'),
    ...conv('CycleGAN down k3 s2', [32, 64, 64, 64], 128, 3, 2, P1),
    ...conv('CycleGAN up: dx = convT k3 s2', [32, 65, 65, 64], 128, 3, 2, 'valid'),
    ...conv('CycleGAN/PGGAN res 3x3', [32, 16, 16, 256], 256, 3, 1, 'same'),
    ...conv('PGGAN 3x3 at 64 px', [32, 64, 64, 32], 32, 3, 1, 'same'),
    ...conv('PGGAN toRGB 1x1', [32, 64, 64, 32], 3, 1, 1, 'same'),
  ];
}

function otherCases(): Case[] {
  return [...pool(32, 32, 64), ...upsample(32, 16, 64, false), ...upsample(32, 16, 64, true)];
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const reps = parseReps(argv);
  const only = parseOnly(argv);
  const results = new Map<string, { c: Case; t: Record<string, Timing | string> }>();
  const record = (label: string) => {
    const cases = [...(only === 'other' ? [] : convCases()), ...(only === 'conv' ? [] : otherCases())];
    for (const c of cases) {
      if (c.ours && label !== 'wasm-ours') continue;
      if (label === 'cpu' && !c.ref && !argv.includes('--cpu-all')) continue;
      if (label === 'wasm-shipped' && (c.name === 'fwd' || c.name === 'fwd cached')) continue; // same kernel as ours
      const key = `${(c.layer ?? '').padEnd(30)} ${c.name.padEnd(26)} ${c.shape}`;
      const t = time(c, reps);
      console.log(`${label.padEnd(12)} ${key}  ${fmt(t)}`);
      results.set(key, { c, t: { ...(results.get(key)?.t ?? {}), [label]: t } });
    }
  };
  if (argv.includes('--cpu') || argv.includes('--cpu-all')) {
    await tf.setBackend('cpu');
    tf.tidy(() => record('cpu'));
  }
  await tf.setBackend('wasm');
  if (!argv.includes('--no-shipped')) tf.tidy(() => record('wasm-shipped'));
  registerWasmTrainingKernels();
  registerTfjsFixes();
  tf.tidy(() => record('wasm-ours'));

  console.log(`\nreps=${reps} (min wall/cpu ms), fresh inputs per run, tfjs ${tf.version.tfjs}, node ${process.version}`);
  // Per conv layer: wasm-ours fwd / dW / dx (ratios by CPU time), then wasm as shipped.
  const layers = new Map<string, Record<string, { ours?: Timing | string; shipped?: Timing | string; shape: string }>>();
  for (const { c, t } of results.values()) {
    if (!c.layer) continue;
    const row = layers.get(c.layer) ?? {};
    row[c.name] = { ours: t['wasm-ours'], shipped: t['wasm-shipped'], shape: c.shape };
    layers.set(c.layer, row);
  }
  const cpuOf = (t: Timing | string | undefined) => (t && typeof t !== 'string' ? t.cpu : NaN);
  for (const [layer, row] of layers) {
    const fwd = cpuOf(row.fwd?.ours);
    const ratio = (name: string) => (cpuOf(row[name]?.ours) / fwd).toFixed(2);
    console.log(
      `${layer.padEnd(30)} ${row.fwd.shape.padEnd(40)} fwd=${fmt(row.fwd?.ours)} fwd-cached=${fmt(row['fwd cached']?.ours)} dW=${fmt(row.dW?.ours)} (${ratio('dW')}x) dx=${fmt(row.dx?.ours)} (${ratio('dx')}x) | shipped dW=${fmt(row.dW?.shipped)} dx=${fmt(row.dx?.shipped)} | dx dilated=${fmt(row['dx dilated']?.ours)}`,
    );
  }
  for (const [key, { c, t }] of results) {
    if (!c.layer) console.log(`${key}  cpu=${fmt(t.cpu)}  wasm-shipped=${fmt(t['wasm-shipped'])}  wasm-ours=${fmt(t['wasm-ours'])}`);
  }
  for (const [key, { c, t }] of results) if (c.layer && t.cpu !== undefined) console.log(`cpu backend: ${key}  ${fmt(t.cpu)}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
