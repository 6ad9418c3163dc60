/**
 * The backward convolutions of wasm-conv.ts against the cpu backend's Conv2DBackpropInput and
 * Conv2DBackpropFilter kernels, on every code path: stride 1 (one convolution), stride > 1 per
 * phase and combined, taps that a phase does not have (kernel < stride), phases without rows,
 * pads larger than the filter (dy rows dropped), inputs larger than the minimal one (trailing
 * rows no window reads, conv2dTranspose's output_padding), non-square kernels and strides, dW
 * chunks that split images, the copyWithin path for wide outputs, and dW by convolution.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { Rng } from '@gan-study/core';
import { conv2DBackpropFilterWasm, conv2DBackpropInputWasm, type BackpropFilterOptions, type PhaseStrategy } from './wasm-conv';

type Shape4 = [number, number, number, number];
type Pad = 'same' | 'valid' | number | [[0, 0], [number, number], [number, number], [0, 0]];
interface Case {
  x: Shape4;
  k: [number, number];
  co: number;
  strides: [number, number];
  pad: Pad;
}

const TOL = 1e-4;

beforeAll(async () => {
  await tf.setBackend('wasm');
});

function maxRelErr(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]) / (1 + Math.abs(expected[i])));
  return worst;
}

function outShape(c: Case): Shape4 {
  const info = tf.backend_util.computeConv2DInfo(c.x, [c.k[0], c.k[1], c.x[3], c.co], c.strides, 1, c.pad, undefined, false, 'channelsLast');
  return [c.x[0], info.outHeight, info.outWidth, c.co];
}

/** Seeded x, filter and dy for a case, as arrays. */
function data(c: Case, seed: number): { x: Float32Array; f: Float32Array; dy: Float32Array; f4: Shape4; dy4: Shape4 } {
  const rng = new Rng(seed);
  const f4: Shape4 = [c.k[0], c.k[1], c.x[3], c.co];
  const dy4 = outShape(c);
  const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
  return { x: rng.fillNormal(new Float32Array(size(c.x))), f: rng.fillNormal(new Float32Array(size(f4))), dy: rng.fillNormal(new Float32Array(size(dy4))), f4, dy4 };
}

/** The cpu backend's kernel output for the case, as an array. */
function onCpu(kernel: 'Conv2DBackpropInput' | 'Conv2DBackpropFilter', c: Case, d: ReturnType<typeof data>): Float32Array {
  const prev = tf.getBackend();
  tf.setBackend('cpu');
  try {
    return tf.tidy(() => {
      const attrs = { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', dimRoundingMode: undefined };
      const dy = tf.tensor4d(d.dy, d.dy4);
      const out =
        kernel === 'Conv2DBackpropInput'
          ? tf.engine().runKernel(kernel, { dy, filter: tf.tensor4d(d.f, d.f4) }, { ...attrs, inputShape: c.x } as unknown as tf.NamedAttrMap)
          : tf.engine().runKernel(kernel, { x: tf.tensor4d(d.x, c.x), dy }, { ...attrs, filterShape: d.f4 } as unknown as tf.NamedAttrMap);
      return (out as tf.Tensor).dataSync() as Float32Array;
    });
  } finally {
    tf.setBackend(prev);
  }
}

/** Runs `f` on wasm, checks it leaves exactly one new tensor (its result), returns the result's values. */
function onWasm(f: () => tf.Tensor): Float32Array {
  expect(tf.getBackend()).toBe('wasm');
  const before = tf.memory().numTensors;
  const out = f();
  expect(tf.memory().numTensors).toBe(before + 1);
  const values = out.dataSync() as Float32Array;
  out.dispose();
  return values;
}

const label = (c: Case) => `x[${c.x}] k${c.k.join('x')} -> ${c.co} s${c.strides.join(',')} ${JSON.stringify(c.pad)}`;

const cases: Case[] = [];
{
  // Square kernels 1..7, strides 1..3, 'same' / 'valid', sizes and channels from a seeded Rng.
  const rng = new Rng(777);
  for (let k = 1; k <= 7; k++) {
    for (const s of [1, 2, 3]) {
      for (const pad of ['same', 'valid'] as const) {
        const h = k + rng.int(7);
        const w = k + rng.int(7);
        cases.push({ x: [1 + rng.int(3), h, w, 1 + rng.int(10)], k: [k, k], co: 1 + rng.int(9), strides: [s, s], pad });
      }
    }
  }
}
cases.push(
  { x: [2, 8, 8, 12], k: [4, 4], co: 16, strides: [2, 2], pad: 'same' }, // DCGAN block (pad 1 each side)
  { x: [2, 9, 9, 10], k: [3, 3], co: 6, strides: [2, 2], pad: 'valid' }, // CycleGAN up: conv2dTranspose to 2h + 1
  { x: [2, 8, 8, 9], k: [3, 3], co: 5, strides: [2, 2], pad: 'valid' }, // last input row read by no window
  { x: [1, 10, 7, 8], k: [1, 1], co: 4, strides: [2, 3], pad: 'same' }, // kernel < stride: phases without taps
  { x: [2, 7, 9, 9], k: [2, 3], co: 3, strides: [3, 2], pad: 'same' },
  { x: [2, 9, 8, 10], k: [3, 5], co: 4, strides: [2, 1], pad: [[0, 0], [1, 2], [0, 1], [0, 0]] },
  { x: [3, 7, 7, 8], k: [4, 2], co: 3, strides: [1, 1], pad: [[0, 0], [2, 0], [1, 1], [0, 0]] },
  { x: [2, 6, 6, 9], k: [2, 2], co: 5, strides: [2, 2], pad: [[0, 0], [3, 1], [2, 3], [0, 0]] }, // pads > filter: dy rows dropped
  { x: [1, 4, 4, 8], k: [4, 4], co: 6, strides: [1, 1], pad: 'valid' }, // dy 1x1 (a 4x4 'valid' head)
  { x: [3, 4, 4, 16], k: [4, 4], co: 1, strides: [1, 1], pad: 'valid' }, // DCGAN D's logit: dW by convolution
  { x: [2, 11, 13, 9], k: [5, 3], co: 6, strides: [2, 2], pad: 2 },
  { x: [2, 5, 40, 3], k: [3, 3], co: 4, strides: [1, 1], pad: 'same' }, // ow >= 32: dW copies runs with copyWithin
  { x: [1, 9, 70, 9], k: [7, 7], co: 3, strides: [1, 1], pad: 'valid' }, // CycleGAN's 7x7 output layer shape, small
  { x: [2, 3, 3, 2], k: [4, 4], co: 2, strides: [1, 1], pad: 'valid' }, // no window fits: empty dy, zero gradients
);

describe('conv2DBackpropInputWasm equals cpu', () => {
  it.each(cases.map((c, i) => [label(c), c, i] as const))('%s', (_n, c, i) => {
    const d = data(c, 100 + i);
    const expected = onCpu('Conv2DBackpropInput', c, d);
    const strategies: PhaseStrategy[] = c.strides[0] * c.strides[1] > 1 ? ['auto', 'per-phase', 'combined'] : ['auto'];
    for (const strategy of strategies) {
      const actual = onWasm(() => tf.tidy(() => conv2DBackpropInputWasm(c.x, tf.tensor4d(d.dy, d.dy4), tf.tensor4d(d.f, d.f4), c.strides, c.pad, undefined, strategy)));
      const err = maxRelErr(actual, expected);
      if (!(err <= TOL)) throw new Error(`${strategy}: differs from cpu by ${err.toExponential(2)}`);
    }
  });
});

describe('conv2DBackpropFilterWasm equals cpu', () => {
  it.each(cases.map((c, i) => [label(c), c, i] as const))('%s', (_n, c, i) => {
    const d = data(c, 200 + i);
    const expected = onCpu('Conv2DBackpropFilter', c, d);
    // default chunks; one output row per GEMM (chunks split images); im2col bounded to 3 rows' worth
    const rowFloats = c.k[0] * c.k[1] * c.x[3] * d.dy4[2];
    const options: BackpropFilterOptions[] = [{}, { method: 'gemm', chunkFloats: 1 }, { method: 'gemm', maxIm2colFloats: 3 * rowFloats }, { method: 'conv' }];
    for (const option of options) {
      const actual = onWasm(() => tf.tidy(() => conv2DBackpropFilterWasm(tf.tensor4d(d.x, c.x), tf.tensor4d(d.dy, d.dy4), d.f4, c.strides, c.pad, undefined, option)));
      const err = maxRelErr(actual, expected);
      if (!(err <= TOL)) throw new Error(`options ${JSON.stringify(option)}: differs from cpu by ${err.toExponential(2)}`);
    }
  });
});

describe('input checks', () => {
  it('rejects dy of the wrong shape, naming both shapes', () => {
    tf.tidy(() => {
      const x = tf.zeros([1, 8, 8, 2]) as tf.Tensor4D;
      const dy = tf.zeros([1, 3, 4, 5]) as tf.Tensor4D;
      expect(() => conv2DBackpropFilterWasm(x, dy, [3, 3, 2, 5], 2, 'same')).toThrow(/dy is \[1, 3, 4, 5\].*gives \[1, 4, 4, 5\]/);
      expect(() => conv2DBackpropInputWasm([1, 8, 8, 2], dy, tf.zeros([3, 3, 2, 5]) as tf.Tensor4D, 2, 'same')).toThrow(/dy is \[1, 3, 4, 5\].*gives \[1, 4, 4, 5\]/);
    });
  });

  it('rejects non-float32 inputs', () => {
    tf.tidy(() => {
      const x = tf.zeros([1, 4, 4, 1], 'int32') as tf.Tensor4D;
      const dy = tf.zeros([1, 4, 4, 1]) as tf.Tensor4D;
      expect(() => conv2DBackpropFilterWasm(x, dy, [3, 3, 1, 1], 1, 'same')).toThrow(/'x' must be float32, got int32/);
    });
  });
});
