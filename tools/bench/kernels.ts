/**
 * Micro-benchmark of the wasm training kernels (libs/models/src/engine/wasm-kernels.ts): wasm as
 * shipped, wasm with our kernels, and the cpu backend, on the backward passes of a conv layer.
 * Not a test: run it by hand, `node --import tsx tools/bench/kernels.ts [--reps N] [--no-cpu | --cpu-all]`
 * (the cpu backend is slow: by default it times only the reference layer). Kernels are run by name
 * (`tf.engine().runKernel`), as the gradient code calls them.
 *
 * Prints one line per backend, kernel and shape as it goes: `<backend> <kernel> <shape> <ms>`
 * (median of N runs after 1 warm-up; 'missing' where the shipped wasm backend has no kernel),
 * then a table: `<kernel> <shape> cpu=…ms wasm-shipped=…ms wasm-ours=…ms`.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { conv2DBackpropInputDilated, registerTfjsFixes, registerWasmTrainingKernels } from '@gan-study/models';

/** `ours`: only meaningful with our kernels registered (a composition called directly). */
type Case = { name: string; shape: string; run: () => tf.Tensor; ours?: boolean; ref?: boolean };

function parseReps(argv: string[]): number {
  const i = argv.indexOf('--reps');
  if (i < 0) return 5;
  const n = Number(argv[i + 1]);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--reps must be a positive integer, got '${argv[i + 1]}'`);
  return n;
}

function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Median wall time of `run` in ms, or an error string when the kernel is missing. */
function time(run: () => tf.Tensor, reps: number): string {
  try {
    const ms: number[] = [];
    for (let i = 0; i < reps + 1; i++) {
      const t0 = performance.now();
      const out = run();
      out.dataSync();
      const dt = performance.now() - t0;
      out.dispose();
      if (i >= 1) ms.push(dt);
    }
    return `${median(ms).toFixed(1)}ms`;
  } catch (err) {
    return /not registered/.test(String(err)) ? 'missing' : `error (${(err as Error).message.slice(0, 60)})`;
  }
}

/** Runs one kernel by name on the active backend, as the gradient code does. */
function kernel(name: string, inputs: tf.NamedTensorMap, attrs: Record<string, unknown>): tf.Tensor {
  return tf.engine().runKernel(name, inputs, attrs as tf.NamedAttrMap) as tf.Tensor;
}

/** `ref` marks the reference layer, the only one timed on cpu unless --cpu-all. */
function conv(n: number, h: number, ci: number, co: number, k: number, s: number, ref = false): Case[] {
  const x = tf.randomNormal([n, h, h, ci]) as tf.Tensor4D;
  const f = tf.randomNormal([k, k, ci, co]) as tf.Tensor4D;
  const y = tf.conv2d(x, f, s, 'same');
  const dy = tf.randomNormal(y.shape) as tf.Tensor4D;
  const shape = `x[${x.shape}] f[${f.shape}] s${s}`;
  const attrs = { strides: s, pad: 'same', dataFormat: 'NHWC' };
  return [
    { name: 'Conv2D (forward)', shape, ref, run: () => tf.conv2d(x, f, s, 'same') },
    { name: 'Conv2DBackpropInput', shape, ref, run: () => kernel('Conv2DBackpropInput', { dy, filter: f }, { ...attrs, inputShape: x.shape }) },
    { name: 'Conv2DBackpropInput dilated', shape, run: () => conv2DBackpropInputDilated(x.shape, dy, f, s, 'same'), ours: true },
    { name: 'Conv2DBackpropFilter', shape, ref, run: () => kernel('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape: f.shape }) },
  ];
}

function pool(n: number, h: number, c: number): Case[] {
  const x = tf.randomNormal([n, h, h, c]) as tf.Tensor4D;
  const y = tf.maxPool(x, 2, 2, 'valid');
  const dy = tf.randomNormal(y.shape);
  const shape = `x[${x.shape}] 2x2/2`;
  return [{ name: 'MaxPoolGrad', shape, run: () => kernel('MaxPoolGrad', { dy, input: x, output: y }, { filterSize: 2, strides: 2, pad: 'valid' }) }];
}

function upsample(n: number, h: number, c: number, halfPixelCenters: boolean): Case[] {
  const x = tf.randomNormal([n, h, h, c]) as tf.Tensor4D;
  const dy = tf.randomNormal([n, 2 * h, 2 * h, c]);
  const shape = `x[${x.shape}] -> ${2 * h}x${2 * h}${halfPixelCenters ? ' half-pixel' : ''}`;
  return [{ name: 'ResizeNearestNeighborGrad', shape, run: () => kernel('ResizeNearestNeighborGrad', { images: x, dy }, { alignCorners: false, halfPixelCenters }) }];
}

function cases(): Case[] {
  return [
    ...conv(32, 32, 32, 64, 3, 1, true), // the reference layer: batch 32, 32x32x32 -> 64, 3x3
    ...conv(32, 32, 32, 64, 4, 2), // DCGAN discriminator downsampling block
    ...conv(16, 64, 3, 32, 3, 1), // first layer on 64x64 RGB
    ...pool(32, 32, 64),
    ...upsample(32, 16, 64, false),
    ...upsample(32, 16, 64, true),
  ];
}

async function main(): Promise<void> {
  const reps = parseReps(process.argv.slice(2));
  const results = new Map<string, Record<string, string>>();
  const record = (label: string) => {
    for (const c of cases()) {
      if (c.ours && label !== 'wasm-ours') continue;
      if (label === 'cpu' && !c.ref && !process.argv.includes('--cpu-all')) continue;
      const key = `${c.name.padEnd(28)} ${c.shape}`;
      const t = time(c.run, reps);
      console.log(`${label.padEnd(12)} ${key}  ${t}`);
      results.set(key, { ...(results.get(key) ?? {}), [label]: t });
    }
  };
  if (!process.argv.includes('--no-cpu')) {
    await tf.setBackend('cpu');
    tf.tidy(() => record('cpu'));
  }
  await tf.setBackend('wasm');
  tf.tidy(() => record('wasm-shipped'));
  registerWasmTrainingKernels();
  registerTfjsFixes();
  tf.tidy(() => record('wasm-ours'));
  console.log(`\nreps=${reps} (median), tfjs ${tf.version.tfjs}, node ${process.version}`);
  for (const [key, r] of results) console.log(`${key}  cpu=${r.cpu ?? '-'}  wasm-shipped=${r['wasm-shipped'] ?? '-'}  wasm-ours=${r['wasm-ours']}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
