/**
 * The wasm training kernels, proven against the cpu backend: gradients of every op the four
 * models train with, on seeded random shapes, equal to 1e-4 (|wasm - cpu| <= 1e-4 * (1 + |cpu|)).
 * Ops whose tfjs gradient we found wrong (mirrorPad; cpu's resizeNearestNeighbor with batch > 1)
 * are checked against a numeric gradient instead.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { Rng } from '@gan-study/core';
import { registerTfjsFixes } from './fixes';
import { registerWasmTrainingKernels, WASM_TRAINING_KERNELS } from './wasm-kernels';

type Op = (...xs: tf.Tensor[]) => tf.Tensor;
type Pad = 'same' | 'valid' | [[0, 0], [number, number], [number, number], [0, 0]];

const TOL = 1e-4;

beforeAll(async () => {
  registerWasmTrainingKernels();
  registerTfjsFixes();
  await tf.setBackend('wasm');
});

function randomArrays(rng: Rng, shapes: number[][]): Float32Array[] {
  return shapes.map((s) => rng.fillNormal(new Float32Array(s.reduce((a, b) => a * b, 1))));
}

/** Gradients of sum(op(xs) * w) with respect to every input, on one backend, as plain arrays. */
function gradsOn(backend: string, op: Op, shapes: number[][], data: Float32Array[], weights: Float32Array): { out: Float32Array; grads: Float32Array[] } {
  const prev = tf.getBackend();
  tf.setBackend(backend);
  try {
    return tf.tidy(() => {
      const xs = data.map((d, i) => tf.tensor(d, shapes[i]));
      const out = op(...xs);
      const w = tf.tensor(weights, out.shape);
      const grads = tf.grads((...a: tf.Tensor[]) => tf.sum(tf.mul(op(...a), w)))(xs);
      return { out: out.dataSync() as Float32Array, grads: grads.map((g) => g.dataSync() as Float32Array) };
    });
  } finally {
    tf.setBackend(prev);
  }
}

function outputSize(op: Op, shapes: number[][]): number {
  return tf.tidy(() => op(...shapes.map((s) => tf.zeros(s))).size);
}

function maxRelErr(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]) / (1 + Math.abs(expected[i])));
  return worst;
}

/** Runs op's forward and backward on wasm and cpu with the same seeded inputs and compares. */
function expectWasmMatchesCpu(op: Op, shapes: number[][], seed: number, shape = (v: number) => v): void {
  const rng = new Rng(seed);
  const data = randomArrays(rng, shapes).map((d) => d.map(shape));
  const [weights] = randomArrays(rng, [[outputSize(op, shapes)]]);
  const cpu = gradsOn('cpu', op, shapes, data, weights);
  const wasm = gradsOn('wasm', op, shapes, data, weights);
  expect(maxRelErr(wasm.out, cpu.out)).toBeLessThanOrEqual(TOL);
  cpu.grads.forEach((g, i) => {
    const err = maxRelErr(wasm.grads[i], g);
    if (!(err <= TOL)) throw new Error(`gradient of input ${i} (shape [${shapes[i].join(', ')}]) differs from cpu by ${err.toExponential(2)}`);
  });
}

/**
 * Numeric gradient of sum(op(x) * w) by central differences in float32, for ops that are linear
 * in x (pads, resizes): exact up to rounding, so the tolerance can stay tight.
 */
function numericGrad(op: Op, shape: number[], x: Float32Array, weights: Float32Array): Float32Array {
  const f = (v: Float32Array) => tf.tidy(() => tf.sum(tf.mul(op(tf.tensor(v, shape)), tf.tensor(weights, op(tf.tensor(v, shape)).shape))).dataSync()[0]);
  const g = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const p = x.slice();
    const m = x.slice();
    p[i] += 0.5;
    m[i] -= 0.5;
    g[i] = f(p) - f(m);
  }
  return g;
}

describe('conv2d gradients on wasm equal cpu', () => {
  // Every kernel size 1..7 with strides 1 and 2 and 'same' / 'valid' padding; the other
  // dimensions (batch 1-3, odd and even sizes, channel counts) drawn from a seeded Rng.
  const rng = new Rng(20240601);
  const cases: Array<{ x: number[]; f: number[]; stride: number; pad: Pad }> = [];
  for (let k = 1; k <= 7; k++) {
    for (const stride of [1, 2]) {
      for (const pad of ['same', 'valid'] as const) {
        const h = k + rng.int(6);
        const w = k + rng.int(6);
        cases.push({ x: [1 + rng.int(3), h, w, 1 + rng.int(4)], f: [k, k, 0, 1 + rng.int(5)], stride, pad });
      }
    }
  }
  for (const c of cases) c.f[2] = c.x[3];
  // Explicit padding and non-square kernels.
  cases.push({ x: [2, 9, 8, 3], f: [3, 5, 3, 4], stride: 2, pad: [[0, 0], [1, 2], [0, 1], [0, 0]] });
  cases.push({ x: [3, 7, 7, 2], f: [4, 2, 2, 3], stride: 1, pad: [[0, 0], [2, 0], [1, 1], [0, 0]] });
  cases.push({ x: [2, 11, 13, 5], f: [5, 3, 5, 6], stride: 2, pad: 'valid' });
  // >= 8 input channels: dx per stride phase (fewer: all phases in one convolution).
  cases.push({ x: [2, 8, 8, 12], f: [4, 4, 12, 10], stride: 2, pad: 'same' });
  cases.push({ x: [2, 9, 7, 8], f: [3, 3, 8, 5], stride: 2, pad: 'same' });

  it.each(cases.map((c, i) => [`x[${c.x}] f[${c.f}] s${c.stride} ${JSON.stringify(c.pad)}`, c, i] as const))('%s', (_name, c, i) => {
    const op: Op = (x, f) => tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, c.stride, c.pad);
    expectWasmMatchesCpu(op, [c.x, c.f], 1000 + i);
  });

  it('through fused conv2d with bias and activation (the layers path)', () => {
    const op: Op = (x, f, b) => tf.fused.conv2d({ x: x as tf.Tensor4D, filter: f as tf.Tensor4D, strides: 2, pad: 'same', bias: b, activation: 'relu' });
    expectWasmMatchesCpu(op, [[2, 9, 9, 3], [4, 4, 3, 5], [5]], 7);
  });
});

describe('conv2dTranspose on wasm equals cpu (forward and gradients)', () => {
  const cases: Array<{ x: number[]; f: number[]; out: number[]; stride: number; pad: 'same' | 'valid' }> = [
    { x: [2, 4, 4, 6], f: [4, 4, 3, 6], out: [2, 8, 8, 3], stride: 2, pad: 'same' }, // DCGAN upsampling block
    { x: [3, 5, 3, 4], f: [3, 3, 2, 4], out: [3, 11, 7, 2], stride: 2, pad: 'valid' },
    { x: [1, 4, 4, 3], f: [5, 5, 2, 3], out: [1, 4, 4, 2], stride: 1, pad: 'same' },
    { x: [2, 3, 3, 2], f: [4, 4, 1, 2], out: [2, 6, 6, 1], stride: 2, pad: 'same' },
    { x: [2, 4, 4, 16], f: [4, 4, 8, 16], out: [2, 8, 8, 8], stride: 2, pad: 'same' }, // per-phase dx
    { x: [1, 4, 3, 12], f: [3, 3, 10, 12], out: [1, 9, 7, 10], stride: 2, pad: 'valid' }, // CycleGAN up, per phase
  ];
  it.each(cases.map((c) => [`x[${c.x}] -> [${c.out}] f${c.f[0]} s${c.stride} ${c.pad}`, c] as const))('%s', (_name, c) => {
    const op: Op = (x, f) => tf.conv2dTranspose(x as tf.Tensor4D, f as tf.Tensor4D, c.out as [number, number, number, number], c.stride, c.pad);
    expectWasmMatchesCpu(op, [c.x, c.f], 31);
  });
});

describe('pooling and resizing gradients on wasm', () => {
  // maxPool's gradient (MaxPoolGrad on the heap) is checked in wasm-movement-kernels.spec.ts.
  it.each([
    ['avgPool 2x2/2 valid', [2, 8, 8, 3], 2, 2, 'valid'],
    ['avgPool 3x3/1 same, odd', [2, 5, 7, 2], 3, 1, 'same'],
  ] as const)('%s equals cpu', (_n, shape, k, s, pad) => {
    expectWasmMatchesCpu((x) => tf.avgPool(x as tf.Tensor4D, k, s, pad), [shape.slice()], 12);
  });

  it.each([
    ['2x upsampling, batch 3', [3, 4, 5, 2], [8, 10], false, false],
    ['odd target, half-pixel centres', [2, 3, 3, 2], [7, 5], false, true],
    ['align corners', [2, 4, 3, 1], [7, 6], true, false],
    ['non-integer scale', [2, 3, 4, 2], [5, 7], false, false],
    ['half-pixel centres, 2x', [2, 3, 3, 1], [6, 6], false, true],
  ] as const)('resizeNearestNeighbor %s: wasm and (fixed) cpu equal the numeric gradient', (_n, shape, size, alignCorners, halfPixel) => {
    const op: Op = (x) => tf.image.resizeNearestNeighbor(x as tf.Tensor4D, size.slice() as [number, number], alignCorners, halfPixel);
    const rng = new Rng(5);
    const [x] = randomArrays(rng, [shape.slice()]);
    const [w] = randomArrays(rng, [[outputSize(op, [shape.slice()])]]);
    const numeric = numericGrad(op, shape.slice(), x, w);
    for (const backend of ['wasm', 'cpu']) {
      const err = maxRelErr(gradsOn(backend, op, [shape.slice()], [x], w).grads[0], numeric);
      if (!(err <= TOL)) throw new Error(`${backend}: gradient differs from the numeric one by ${err.toExponential(2)}`);
    }
  });
});

describe('mirrorPad gradient (fixed: tfjs 4.22 only slices the centre)', () => {
  it.each([
    ['reflect', [2, 5, 6, 3], [[0, 0], [3, 3], [1, 2], [0, 0]]],
    ['symmetric', [1, 4, 4, 2], [[0, 0], [2, 1], [4, 0], [0, 0]]],
    ['reflect', [5, 4], [[1, 2], [3, 0]]],
  ] as const)('%s %j equals the numeric gradient on wasm and cpu', (mode, shape, paddings) => {
    const op: Op = (x) => tf.mirrorPad(x, paddings.map((p) => [p[0], p[1]] as [number, number]), mode);
    const rng = new Rng(9);
    const [x] = randomArrays(rng, [shape.slice()]);
    const [w] = randomArrays(rng, [[outputSize(op, [shape.slice()])]]);
    const numeric = numericGrad(op, shape.slice(), x, w);
    for (const backend of ['wasm', 'cpu']) {
      const err = maxRelErr(gradsOn(backend, op, [shape.slice()], [x], w).grads[0], numeric);
      if (!(err <= TOL)) throw new Error(`${backend}: gradient differs from the numeric one by ${err.toExponential(2)}`);
    }
  });
});

describe('the other ops the models train with: wasm equals cpu', () => {
  const cases: Array<[string, number[][], Op]> = [
    ['batchNorm', [[3, 4, 4, 5], [5], [5], [5], [5]], (x, m, v, o, s) => tf.batchNorm(x, m, tf.add(tf.abs(v), 0.5), o, s, 1e-3)],
    ['batch statistics (moments over batch, H, W)', [[4, 3, 3, 5]], (x) => {
      const { mean, variance } = tf.moments(x, [0, 1, 2], true);
      return tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-3)));
    }],
    ['instance norm (mean/variance/rsqrt over H, W)', [[2, 5, 4, 3], [3], [3]], (x, g, b) => {
      const { mean, variance } = tf.moments(x, [1, 2], true);
      return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-5))), g), b);
    }],
    ['pixel norm (PGGAN)', [[2, 3, 3, 6]], (x) => tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), 3, true), 1e-8)))],
    ['minibatch stddev (PGGAN)', [[4, 3, 3, 2]], (x) => {
      const { variance } = tf.moments(x, 0);
      return tf.concat([x, tf.tile(tf.reshape(tf.mean(tf.sqrt(tf.add(variance, 1e-8))), [1, 1, 1, 1]), [4, 3, 3, 1])], 3);
    }],
    ['leakyRelu', [[4, 7]], (x) => tf.leakyRelu(x, 0.2)],
    ['relu', [[4, 7]], (x) => tf.relu(x)],
    ['tanh', [[4, 7]], (x) => tf.tanh(x)],
    ['sigmoid', [[4, 7]], (x) => tf.sigmoid(x)],
    ['softmax', [[4, 7]], (x) => tf.softmax(x)],
    ['logSoftmax', [[4, 7]], (x) => tf.logSoftmax(x)],
    ['sigmoid cross-entropy', [[6, 1], [6, 1]], (x, y) => tf.losses.sigmoidCrossEntropy(tf.sigmoid(y), x)],
    ['softmax cross-entropy', [[6, 3], [6, 3]], (x, y) => tf.losses.softmaxCrossEntropy(tf.softmax(y), x)],
    ['L1 (CycleGAN cycle loss)', [[3, 5], [3, 5]], (a, b) => tf.mean(tf.abs(tf.sub(a, b)))],
    ['matMul / dense', [[5, 7], [7, 3], [3]], (a, b, c) => tf.add(tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D), c)],
    ['fused matMul with bias and relu', [[5, 7], [7, 3], [3]], (a, b, c) => tf.fused.matMul({ a: a as tf.Tensor2D, b: b as tf.Tensor2D, bias: c, activation: 'relu' })],
    ['gather (UnsortedSegmentSum)', [[5, 3]], (x) => tf.gather(x, tf.tensor1d([0, 4, 4, 2, 0, 1], 'int32'))],
    ['zero pad + slice + reshape + transpose', [[2, 3, 4]], (x) => tf.transpose(tf.reshape(tf.slice(tf.pad(x, [[0, 0], [1, 1], [2, 0]]), [0, 1, 1], [2, 3, 4]), [2, 12]))],
  ];
  it.each(cases.map(([n, s, op], i) => [n, s, op, i] as const))('%s', (_n, shapes, op, i) => {
    expectWasmMatchesCpu(op, shapes, 300 + i);
  });
});

describe('second-order gradients (WGAN-GP penalty) on wasm equal cpu', () => {
  it('d/dW of |d D(x)/dx|^2 for a conv, leakyRelu, avgPool, conv critic', () => {
    const critic = (x: tf.Tensor, w1: tf.Tensor, w2: tf.Tensor) =>
      tf.sum(tf.conv2d(tf.avgPool(tf.leakyRelu(tf.conv2d(x as tf.Tensor4D, w1 as tf.Tensor4D, 1, 'same'), 0.2), 2, 2, 'valid'), w2 as tf.Tensor4D, 1, 'valid'));
    const penalty: Op = (x, w1, w2) => tf.square(tf.grad((xx: tf.Tensor) => critic(xx, w1, w2))(x));
    expectWasmMatchesCpu(penalty, [[2, 8, 8, 3], [3, 3, 3, 4], [4, 4, 4, 1]], 41);
  });

  it('strided conv critic (second order through Conv2DBackpropInput)', () => {
    // square, not tanh: tfjs cannot differentiate twice through ops whose gradient uses their output
    const critic = (x: tf.Tensor, w1: tf.Tensor, w2: tf.Tensor) => tf.sum(tf.square(tf.conv2d(tf.leakyRelu(tf.conv2d(x as tf.Tensor4D, w1 as tf.Tensor4D, 2, 'same'), 0.2), w2 as tf.Tensor4D, 2, 'valid')));
    const penalty: Op = (x, w1, w2) => tf.square(tf.grad((xx: tf.Tensor) => critic(xx, w1, w2))(x));
    expectWasmMatchesCpu(penalty, [[2, 9, 9, 2], [4, 4, 2, 3], [3, 3, 3, 2]], 42);
  });
});

describe('registration', () => {
  it('is idempotent and puts our kernels on wasm', () => {
    expect(registerWasmTrainingKernels()).toEqual([]);
    for (const k of WASM_TRAINING_KERNELS) expect(tf.getKernel(k.kernelName, 'wasm')?.kernelFunc).toBe(k.kernelFunc);
  });
});

describe('no leaks on wasm', () => {
  it('a small conv net training step twice leaves tf.memory().numTensors unchanged', () => {
    const rng = new Rng(3);
    const v = (shape: number[]) => tf.variable(tf.tensor(rng.fillNormal(new Float32Array(shape.reduce((a, b) => a * b, 1)), 0, 0.1), shape));
    const w1 = v([3, 3, 2, 4]);
    const w2 = v([4, 4, 3, 4]); // conv2dTranspose filter: [h, w, out, in]
    const w3 = v([3, 3, 3, 2]);
    const x = tf.tensor4d(rng.fillNormal(new Float32Array(2 * 8 * 8 * 2)), [2, 8, 8, 2]);
    const opt = tf.train.adam(1e-3);
    const step = () =>
      tf.tidy(() => {
        const loss = opt.minimize(() => {
          let h = tf.leakyRelu(tf.conv2d(x, w1 as tf.Variable<tf.Rank.R4>, 2, 'same'), 0.2); // [2, 4, 4, 4]
          h = tf.maxPool(tf.mirrorPad(h, [[0, 0], [1, 1], [1, 1], [0, 0]], 'reflect'), 2, 1, 'valid'); // [2, 5, 5, 4]
          h = tf.image.resizeNearestNeighbor(tf.slice(h, [0, 0, 0, 0], [2, 4, 4, 4]), [8, 8]); // [2, 8, 8, 4]
          const t = tf.conv2dTranspose(tf.maxPool(h, 2, 2, 'valid'), w2 as tf.Variable<tf.Rank.R4>, [2, 8, 8, 3], 2, 'same'); // [2, 8, 8, 3]
          const y = tf.tanh(tf.conv2d(t, w3 as tf.Variable<tf.Rank.R4>, 1, 'valid')); // [2, 6, 6, 2]
          return tf.mean(tf.abs(tf.sub(y, tf.slice(x, [0, 1, 1, 0], [2, 6, 6, 2])))) as tf.Scalar;
        }, true);
        return loss ? loss.dataSync()[0] : NaN;
      });
    expect(tf.getBackend()).toBe('wasm');
    const first = step();
    const before = tf.memory().numTensors;
    const second = step();
    expect(tf.memory().numTensors).toBe(before);
    expect(Number.isFinite(first) && Number.isFinite(second)).toBe(true);
    tf.dispose([w1, w2, w3, x]);
    opt.dispose();
  });
});
