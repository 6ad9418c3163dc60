/**
 * The wasm movement kernels (matMul with transposes and batches, maxPool gradient, reverse,
 * slices, reductions over non-inner axes) against the cpu backend: forward values and gradients
 * on seeded random inputs, |wasm - cpu| <= 1e-4 * (1 + |cpu|), and no leaked tensors.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { Rng } from '@gan-study/core';
import { registerTfjsFixes } from './fixes';
import { maxPoolGradComposed, registerWasmTrainingKernels, shippedWasmKernel } from './wasm-kernels';
import { transpose2D, WASM_MOVEMENT_KERNELS } from './wasm-movement-kernels';
import { poolSimd } from './wasm-pool-simd';

type Op = (...xs: tf.Tensor[]) => tf.Tensor;

const TOL = 1e-4;

beforeAll(async () => {
  registerWasmTrainingKernels();
  registerTfjsFixes();
  await tf.setBackend('wasm');
});

const size = (s: number[]) => s.reduce((a, b) => a * b, 1);

function randomArrays(rng: Rng, shapes: number[][]): Float32Array[] {
  return shapes.map((s) => rng.fillNormal(new Float32Array(size(s))));
}

function onBackend<T>(backend: string, f: () => T): T {
  const prev = tf.getBackend();
  tf.setBackend(backend);
  try {
    return f();
  } finally {
    tf.setBackend(prev);
  }
}

/** op's output and the gradients of sum(op(xs) * w) with respect to every input, as plain arrays. */
function run(backend: string, op: Op, shapes: number[][], data: Float32Array[], weights: Float32Array | null): { out: Float32Array; shape: number[]; grads: Float32Array[] } {
  return onBackend(backend, () =>
    tf.tidy(() => {
      const xs = data.map((d, i) => tf.tensor(d, shapes[i]));
      const out = op(...xs);
      const grads = weights ? tf.grads((...a: tf.Tensor[]) => tf.sum(tf.mul(op(...a), tf.tensor(weights, out.shape))))(xs) : [];
      return { out: out.dataSync() as Float32Array, shape: out.shape, grads: grads.map((g) => g.dataSync() as Float32Array) };
    }),
  );
}

function maxRelErr(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]) / (1 + Math.abs(expected[i])));
  return worst;
}

/** Runs op (and, with `grads`, its backward) on wasm and cpu with the same seeded inputs and compares. */
function expectWasmMatchesCpu(op: Op, shapes: number[][], seed: number, opts: { grads?: boolean; map?: (v: number) => number } = {}): void {
  const rng = new Rng(seed);
  const data = randomArrays(rng, shapes).map((d) => (opts.map ? d.map(opts.map) : d));
  const outShape = onBackend('cpu', () => tf.tidy(() => op(...shapes.map((s) => tf.zeros(s))).shape));
  const weights = opts.grads === false ? null : randomArrays(rng, [outShape])[0];
  const cpu = run('cpu', op, shapes, data, weights);
  const wasm = run('wasm', op, shapes, data, weights);
  expect(wasm.shape).toEqual(cpu.shape);
  const err = maxRelErr(wasm.out, cpu.out);
  if (!(err <= TOL)) throw new Error(`output differs from cpu by ${err.toExponential(2)}`);
  cpu.grads.forEach((g, i) => {
    const e = maxRelErr(wasm.grads[i], g);
    if (!(e <= TOL)) throw new Error(`gradient of input ${i} (shape [${shapes[i].join(', ')}]) differs from cpu by ${e.toExponential(2)}`);
  });
}

/** Calls f twice on wasm and checks the second call leaves the tensor count unchanged. */
function expectNoLeak(f: () => tf.Tensor): void {
  tf.dispose(f());
  const before = tf.memory().numTensors;
  tf.dispose(f());
  expect(tf.memory().numTensors).toBe(before);
}

describe('BatchMatMul on wasm (XNNPACK with materialised transposes) equals cpu', () => {
  // [m, k] x [k, n] in every transpose combination, odd sizes, and the dense layers' backward
  // shapes at test size (rows >= 512 that are multiples of 256 take the tiled JS transpose).
  const shapes2D: Array<[string, number, number, number]> = [
    ['odd sizes', 5, 7, 3],
    ['dense layer, small batch', 8, 1024, 16],
    ['tall result', 1024, 8, 24],
    ['single row / column', 1, 9, 1],
    ['non power of two, large', 600, 33, 70],
  ];
  for (const [name, m, k, n] of shapes2D) {
    for (const [ta, tb] of [
      [false, false],
      [true, false],
      [false, true],
      [true, true],
    ] as const) {
      it(`${name}: [${m}, ${k}] x [${k}, ${n}] transposeA=${ta} transposeB=${tb}`, () => {
        const sa = ta ? [k, m] : [m, k];
        const sb = tb ? [n, k] : [k, n];
        expectWasmMatchesCpu((a, b) => tf.matMul(a, b, ta, tb), [sa, sb], m * 31 + k + n + (ta ? 1 : 0) + (tb ? 2 : 0));
      });
    }
  }

  it.each([
    ['equal batches, small (shipped loop)', [3, 4, 5], [3, 5, 2], false, false],
    ['equal batches, large (one XNNPACK product each)', [3, 40, 50], [3, 60, 50], false, true],
    ['equal batches, large, transposeA', [2, 70, 40], [2, 70, 30], true, false],
    ['a batched, b shared', [4, 6, 9], [9, 5], false, false],
    ['a batched, b shared, both transposed', [4, 9, 6], [1, 5, 9], true, true],
    ['a shared, b batched', [6, 9], [4, 9, 5], false, false],
    ['a shared, b batched, transposeA', [9, 6], [4, 9, 5], true, false],
    ['a shared (batch 1), b batched, transposeB', [1, 6, 9], [4, 5, 9], false, true],
    ['rank 4, broadcast over the first axis', [2, 3, 5, 7], [1, 3, 7, 4], false, false],
    ['rank 4, one side rank 2', [2, 3, 7, 5], [7, 4], true, false],
  ] as const)('%s: a[%j] b[%j] transposeA=%s transposeB=%s', (_n, sa, sb, ta, tb) => {
    // tfjs-core's matMul gradient does not reduce over broadcast batch axes (on any backend), so
    // broadcasting cases compare forward values only.
    expectWasmMatchesCpu((a, b) => tf.matMul(a, b, ta, tb), [sa.slice(), sb.slice()], 77, { grads: size(sa.slice(0, -2)) === size(sb.slice(0, -2)) && sa.length === sb.length });
  });

  it('the dense layer (matMul, bias, relu) trains like cpu: dW = x^T g, dx = g W^T', () => {
    expectWasmMatchesCpu((x, w, b) => tf.relu(tf.add(tf.matMul(x, w), b)), [[16, 2048], [2048, 32], [32]], 5);
  });

  it('one buffer multiplied as b under two shapes (reshapes share it) gives both right products', () => {
    // wasm caches XNNPACK's packed b by buffer id alone; without the copy the second product
    // reused the first operator and wrote past its output.
    const op: Op = (x, y, w) => tf.concat([tf.reshape(tf.matMul(x, tf.reshape(w, [12, 6])), [-1]), tf.reshape(tf.matMul(y, tf.reshape(w, [8, 9])), [-1])]);
    expectWasmMatchesCpu(op, [[5, 12], [7, 8], [72]], 61);
    expectWasmMatchesCpu((x, w) => tf.fused.matMul({ a: x as tf.Tensor2D, b: tf.reshape(w, [6, 12]) as tf.Tensor2D, activation: 'relu', bias: tf.reshape(w, [72]).slice(0, 12) }), [[5, 6], [72]], 62);
  });

  it('transpose2D (tiled on the heap for large power-of-two row counts) equals tf.transpose', () => {
    for (const shape of [
      [1024, 40],
      [512, 3],
      [768, 129],
      [100, 7],
    ]) {
      tf.tidy(() => {
        const x = tf.tensor2d(new Rng(shape[0]).fillNormal(new Float32Array(size(shape))), shape as [number, number]);
        const err = maxRelErr(transpose2D(x).dataSync(), onBackend('cpu', () => tf.tidy(() => tf.transpose(tf.tensor2d(x.dataSync(), x.shape)).dataSync())));
        expect(err).toBe(0);
      });
    }
  });
});

describe('_FusedMatMul on wasm equals cpu', () => {
  const activations = ['linear', 'relu', 'relu6', 'elu', 'sigmoid', 'leakyrelu', 'prelu'] as const;
  it.each(activations.flatMap((act) => [
    [act, false, false],
    [act, true, false],
    [act, false, true],
  ]))('activation %s, transposeA=%s transposeB=%s, with bias', (act, ta, tb) => {
    const [m, k, n] = [6, 11, 5];
    const op: Op = (a, b, bias, alpha) =>
      tf.fused.matMul({ a: a as tf.Tensor2D, b: b as tf.Tensor2D, transposeA: ta, transposeB: tb, bias, activation: act, preluActivationWeights: alpha, leakyreluAlpha: 0.3 });
    const shapes = [ta ? [k, m] : [m, k], tb ? [n, k] : [k, n], [n], ...(act === 'prelu' ? [[n]] : [])];
    // tfjs differentiates fused matMul for linear and relu only.
    expectWasmMatchesCpu(op, shapes, 99, { grads: act === 'linear' || act === 'relu' });
  });

  it('batched (rank 3) with a bias and relu', () => {
    const op: Op = (a, b, bias) => tf.fused.matMul({ a: a as tf.Tensor3D, b: b as tf.Tensor3D, transposeA: true, bias, activation: 'relu' });
    expectWasmMatchesCpu(op, [[2, 7, 4], [2, 7, 3], [3]], 98);
  });
});

describe('MaxPoolGrad on the wasm heap equals cpu', () => {
  it.each([
    ['2x2/2 valid', [2, 8, 8, 3], 2, 2, 'valid'],
    ['2x2/2 valid, odd (drops the last row)', [3, 7, 5, 2], 2, 2, 'valid'],
    ['2x2/2 same, odd (padded windows)', [2, 5, 7, 3], 2, 2, 'same'],
    ['3x3/2 same, odd', [2, 7, 9, 2], 3, 2, 'same'],
    ['3x3/1 same (overlapping windows accumulate)', [1, 5, 6, 3], 3, 1, 'same'],
    ['3x3/1 valid', [2, 6, 6, 4], 3, 1, 'valid'],
    ['3x3/3 same', [2, 7, 8, 2], 3, 3, 'same'],
  ] as const)('%s', (_n, shape, k, s, pad) => {
    expectWasmMatchesCpu((x) => tf.maxPool(x as tf.Tensor4D, k, s, pad), [shape.slice()], 11);
  });

  it.each([
    ['2x2/2 same', [2, 6, 7, 3], 2, 2, 'same'],
    ['3x3/1 same', [2, 6, 7, 3], 3, 1, 'same'],
    ['3x3/2 same', [2, 6, 7, 3], 3, 2, 'same'],
    ['2x2/2 valid (disjoint windows)', [2, 6, 6, 3], 2, 2, 'valid'],
    ['3x3/1 valid (overlapping windows)', [2, 6, 6, 3], 3, 1, 'valid'],
  ] as const)('%s: ties go to the first maximum in row-major order, as on cpu', (_n, shape, k, s, pad) => {
    // inputs rounded to {-1, 0, 1}: most windows hold tied maxima
    expectWasmMatchesCpu((x) => tf.maxPool(x as tf.Tensor4D, k, s, pad), [shape.slice()], 13, { map: (v) => Math.max(-1, Math.min(1, Math.round(v))) });
  });

  it('all-negative windows get their gradient (wasm 4.22 drops it), zeros give it to the first', () => {
    tf.tidy(() => {
      const g = (x: tf.Tensor) => Array.from(tf.grad((a: tf.Tensor) => tf.sum(tf.maxPool(a as tf.Tensor4D, 2, 2, 'valid')))(x).dataSync());
      expect(g(tf.tensor4d([-3, -1, -4, -2], [1, 2, 2, 1]))).toEqual([0, 1, 0, 0]);
      expect(g(tf.zeros([1, 2, 2, 1]))).toEqual([1, 0, 0, 0]);
    });
  });

  it.each([
    ['2x2/2 valid', [2, 7, 6, 3], 2, 2, 'valid'],
    ['2x2/2 same', [2, 5, 7, 2], 2, 2, 'same'],
    ['3x3/2 same', [1, 7, 9, 2], 3, 2, 'same'],
  ] as const)('equals the tensor composition maxPoolGradComposed %s exactly', (_n, shape, k, s, pad) => {
    tf.tidy(() => {
      const rng = new Rng(17);
      const x = tf.tensor4d(rng.fillNormal(new Float32Array(size(shape.slice()))).map((v) => Math.round(v)), shape.slice() as [number, number, number, number]);
      const y = tf.maxPool(x, k, s, pad);
      const dy = tf.tensor4d(rng.fillNormal(new Float32Array(y.size)), y.shape);
      const viaKernel = tf.engine().runKernel('MaxPoolGrad', { dy, input: x, output: y }, { filterSize: k, strides: s, pad }) as tf.Tensor;
      expect(maxRelErr(viaKernel.dataSync(), maxPoolGradComposed(dy, x, y, k, s, pad).dataSync())).toBe(0);
    });
  });
});

describe('MaxPoolGrad 2x2 / 2 with the SIMD row kernel (wasm-pool-simd.ts)', () => {
  const grad = (dy: tf.Tensor, x: tf.Tensor, y: tf.Tensor, pad: 'valid' | 'same') => tf.engine().runKernel('MaxPoolGrad', { dy, input: x, output: y }, { filterSize: 2, strides: 2, pad }) as tf.Tensor;

  it('has the SIMD module on this backend', () => {
    expect(poolSimd()).not.toBeNull();
  });

  it.each([
    ['even sizes', [2, 8, 6, 4], 'valid'],
    ['odd height and width (the last row and column lie in no window)', [3, 7, 9, 8], 'valid'],
    ["'same' on even sizes", [1, 4, 4, 12], 'same'],
    ["'same' on odd sizes (windows past the edge: the general loop)", [2, 5, 7, 4], 'same'],
    ['the classifier pool at 16 px', [2, 16, 16, 32], 'valid'],
  ] as const)('equals maxPoolGradComposed exactly, ties and zeros included (%s)', (_what, shape, pad) => {
    tf.tidy(() => {
      const rng = new Rng(23);
      // Rounded values: many ties within a window; a third of them zero, as after a ReLU.
      const v = rng.fillNormal(new Float32Array(size(shape.slice()))).map((a, i) => (i % 3 === 0 ? 0 : Math.round(a)));
      const x = tf.tensor4d(v, shape.slice() as [number, number, number, number]);
      const y = tf.maxPool(x, 2, 2, pad);
      const dy = tf.tensor4d(rng.fillNormal(new Float32Array(y.size)), y.shape);
      const got = grad(dy, x, y, pad).dataSync();
      const want = maxPoolGradComposed(dy, x, y, 2, 2, pad).dataSync();
      // Equal as numbers (the reference's zeros may carry a sign: 0 * negative dy).
      expect(got.length).toBe(want.length);
      expect(got.findIndex((g, i) => g !== want[i])).toBe(-1);
      expect(got.some((g) => g !== 0)).toBe(true);
    });
  });

  it('takes the first strict maximum: -inf windows get nothing, NaN never wins, equal values go to the first', () => {
    tf.tidy(() => {
      const inf = Infinity;
      // 4 channels; window (2x2) values per channel, in row-major order a, b, c, e.
      const windows = [
        [-inf, -inf, -inf, -inf], // no gradient
        [NaN, 2, NaN, 1], // b
        [-3, -1, -1, -2], // b (first of the equal maxima)
        [0, -0, 0, 0], // a (-0 and 0 are equal: the first)
      ];
      const data = new Float32Array(16);
      windows.forEach((w, ch) => w.forEach((val, k) => (data[k * 4 + ch] = val)));
      const x = tf.tensor4d(data, [1, 2, 2, 4]);
      const dy = tf.tensor4d([10, 20, 30, 40], [1, 1, 1, 4]);
      const dx = Array.from(grad(dy, x, tf.maxPool(x, 2, 2, 'valid'), 'valid').dataSync());
      const perChannel = [0, 1, 2, 3].map((ch) => [0, 1, 2, 3].map((k) => dx[k * 4 + ch]));
      expect(perChannel).toEqual([
        [0, 0, 0, 0],
        [0, 20, 0, 0],
        [0, 30, 0, 0],
        [40, 0, 0, 0],
      ]);
    });
  });
});

describe('Reverse, Slice, StridedSlice on the wasm heap equal cpu', () => {
  it.each([
    [[7], [0]],
    [[3, 5], [1]],
    [[3, 5], [0, 1]],
    [[3, 3, 6, 4], [0, 1]],
    [[2, 3, 4, 5], [3]],
    [[2, 3, 4, 5], [0, 2]],
    [[2, 1, 3, 2, 4], [-1, 1]],
  ])('reverse [%j] dims %j (and its gradient)', (shape, dims) => {
    expectWasmMatchesCpu((x) => tf.reverse(x, dims), [shape], 21);
  });

  it.each([
    [[10], [3], [4]],
    [[4, 6], [1, 2], [2, -1]],
    [[3, 8, 8, 5], [0, 1, 1, 0], [3, 6, 6, 5]],
    [[3, 8, 8, 5], [1, 0, 0, 2], [1, -1, -1, 2]],
    [[2, 3, 4, 5, 6], [1, 1, 0, 2, 3], [1, 2, 4, 2, 3]],
  ])('slice [%j] begin %j size %j (and its gradient)', (shape, begin, sz) => {
    expectWasmMatchesCpu((x) => tf.slice(x, begin, sz), [shape], 22);
  });

  it.each([
    ['stride 2 on the leading axes (filter taps)', [4, 4, 6, 8], [1, 0, 0, 0], [4, 4, 6, 8], [2, 2, 1, 1], {}],
    ['negative strides', [5, 6, 3], [4, 5, 0], [0, 0, 3], [-1, -2, 1], {}],
    ['begin/end masks', [5, 6, 3], [1, 2, 1], [0, 0, 0], [2, 1, 1], { beginMask: 2, endMask: 7 }],
    ['shrink axis', [5, 6, 3], [2, 0, 0], [3, 6, 3], [1, 2, 1], { shrinkAxisMask: 1 }],
    ['new axis', [5, 6], [0, 0, 1], [5, 1, 6], [1, 1, 2], { newAxisMask: 2 }],
    ['ellipsis', [3, 4, 5, 6], [0, 1], [0, 6], [1, 3], { ellipsisMask: 1 }],
    ['odd strides, partial end', [7, 9, 5], [1, 2, 0], [7, 8, 5], [3, 4, 2], {}],
  ] as const)('stridedSlice %s', (_n, shape, begin, end, strides, masks) => {
    const m = masks as { beginMask?: number; endMask?: number; ellipsisMask?: number; newAxisMask?: number; shrinkAxisMask?: number };
    // tfjs differentiates stridedSlice only for simple slices, so forward values only.
    expectWasmMatchesCpu((x) => tf.stridedSlice(x, begin.slice(), end.slice(), strides.slice(), m.beginMask, m.endMask, m.ellipsisMask, m.newAxisMask, m.shrinkAxisMask), [shape.slice()], 23, { grads: false });
  });

  it('int32 slices and reverses fall back to the shipped kernels', () => {
    tf.tidy(() => {
      const x = tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3], 'int32');
      expect(Array.from(tf.reverse(x, 1).dataSync())).toEqual([3, 2, 1, 6, 5, 4]);
      expect(Array.from(tf.slice(x, [0, 1], [2, 2]).dataSync())).toEqual([2, 3, 5, 6]);
      expect(tf.slice(x, [0, 1], [2, 2]).dtype).toBe('int32');
    });
  });
});

describe('Sum and Mean over non-inner axes on the wasm heap equal cpu', () => {
  it.each([
    ['batch-norm statistics: axes [0, 1, 2]', [4, 5, 3, 7], [0, 1, 2], false],
    ['instance norm: axes [1, 2], keepDims', [3, 5, 4, 6], [1, 2], true],
    ['minibatch stddev: axis 0 of rank 5', [4, 2, 3, 3, 5], [0], false],
    ['negative axis in the middle', [3, 4, 5], [-2], true],
    ['inner axis (shipped kernel)', [3, 4, 5], [2], false],
    ['non-contiguous axes (shipped kernel)', [3, 4, 5, 2], [0, 2], false],
    ['all axes (shipped kernel)', [3, 4], [0, 1], false],
  ] as const)('%s', (_n, shape, axes, keepDims) => {
    expectWasmMatchesCpu((x) => tf.sum(x, axes.slice(), keepDims), [shape.slice()], 31);
    expectWasmMatchesCpu((x) => tf.mean(x, axes.slice(), keepDims), [shape.slice()], 32);
  });

  it('int32 sums fall back to the shipped kernel', () => {
    tf.tidy(() => {
      const s = tf.sum(tf.tensor2d([1, 2, 3, 4, 5, 6], [3, 2], 'int32'), 0);
      expect(s.dtype).toBe('int32');
      expect(Array.from(s.dataSync())).toEqual([9, 12]);
    });
  });
});

describe('Cast to the same dtype and Identity on wasm share the buffer', () => {
  it('allocate nothing, give the same values and outlive the input', () => {
    const x = tf.tensor([1.5, -2, 3.25, 0], [2, 2]);
    const buffers = () => tf.backend().numDataIds();
    const before = buffers();
    const c = tf.cast(x, 'float32');
    const i = tf.engine().runKernel('Identity', { x }, {}) as tf.Tensor;
    expect(buffers()).toBe(before); // no new buffer on the backend
    expect(c.shape).toEqual([2, 2]);
    x.dispose();
    expect(Array.from(c.dataSync())).toEqual([1.5, -2, 3.25, 0]);
    expect(Array.from(i.dataSync())).toEqual([1.5, -2, 3.25, 0]);
    tf.dispose([c, i]);
  });
  it('a cast to another dtype still converts, into a new buffer', () => {
    const x = tf.tensor([1.5, -2.75, 3], [3]);
    const n = tf.cast(x, 'int32');
    expect(n.dtype).toBe('int32');
    expect(Array.from(n.dataSync())).toEqual([1, -2, 3]);
    const back = tf.cast(tf.tensor([1, 0, 7], [3], 'int32'), 'float32');
    expect(Array.from(back.dataSync())).toEqual([1, 0, 7]);
    tf.dispose([x, n, back]);
  });
  it('gradients through mul (which casts both operands) equal cpu, with no leaks', () => {
    const a = [0.5, -1, 2, 3];
    const b = [4, 0.25, -3, 1];
    const run = () => tf.tidy(() => tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.mul(p, tf.mul(q, p))))([tf.tensor(a), tf.tensor(b)]).map((t) => Array.from(t.dataSync())));
    const before = tf.memory().numTensors;
    const wasm = run();
    expect(tf.memory().numTensors).toBe(before);
    expect(wasm).toEqual(onBackend('cpu', run));
  });
});

describe('registration and leaks', () => {
  it('registers every movement kernel on wasm and keeps the shipped one reachable', () => {
    for (const k of WASM_MOVEMENT_KERNELS) {
      expect(tf.getKernel(k.kernelName, 'wasm')?.kernelFunc).toBe(k.kernelFunc);
      expect(shippedWasmKernel(k.kernelName)?.kernelFunc).toBeDefined();
      expect(shippedWasmKernel(k.kernelName)?.kernelFunc).not.toBe(k.kernelFunc);
    }
  });

  it('no kernel leaves tensors behind', () => {
    tf.tidy(() => {
      const rng = new Rng(4);
      const t = (shape: number[]) => tf.tensor(rng.fillNormal(new Float32Array(size(shape))), shape);
      const a = t([3, 1024, 6]);
      const b = t([3, 1024, 5]);
      const x = t([2, 6, 6, 3]);
      const y = tf.maxPool(x as tf.Tensor4D, 3, 2, 'same');
      const dy = t(y.shape);
      const [a2, b2, c2, bias] = [tf.reshape(a, [3072, 6]), tf.reshape(b, [3072, 5]), t([5, 1024]), t([5])];
      const [a1, b1, a3, b4] = [tf.reshape(a, [1024, 18]), tf.reshape(b, [5, 3072]), tf.reshape(a, [6, 3072]), tf.reshape(b, [1024, 15])];
      expectNoLeak(() => tf.matMul(a, b, true, false));
      expectNoLeak(() => tf.matMul(a, b4, true, false));
      expectNoLeak(() => tf.matMul(a2, b2, true, false));
      expectNoLeak(() => tf.matMul(c2, a1, false, false));
      expectNoLeak(() => tf.matMul(b1, a3, false, true));
      expectNoLeak(() => tf.fused.matMul({ a: a2, b: b2, transposeA: true, bias, activation: 'sigmoid' }));
      expectNoLeak(() => tf.engine().runKernel('MaxPoolGrad', { dy, input: x, output: y }, { filterSize: 3, strides: 2, pad: 'same' }) as tf.Tensor);
      expectNoLeak(() => tf.reverse(x, [1, 2]));
      expectNoLeak(() => tf.slice(x, [0, 1, 1, 0], [2, 4, 4, 3]));
      expectNoLeak(() => tf.stridedSlice(x, [0, 0, 1], [2, 6, 6], [1, 2, 2], 0, 0, 0, 0, 1));
      expectNoLeak(() => tf.sum(x, [0, 1, 2]));
      expectNoLeak(() => tf.mean(x, [1, 2], true));
    });
  });

  it('a dense + maxPool training step twice leaves tf.memory().numTensors unchanged', () => {
    const rng = new Rng(3);
    const v = (shape: number[]) => tf.variable(tf.tensor(rng.fillNormal(new Float32Array(size(shape)), 0, 0.1), shape));
    const w1 = v([3, 3, 2, 4]);
    const w2 = v([4 * 4 * 4, 8]);
    const x = tf.tensor4d(rng.fillNormal(new Float32Array(4 * 8 * 8 * 2)), [4, 8, 8, 2]);
    const opt = tf.train.adam(1e-3);
    const step = () =>
      tf.tidy(() => {
        const loss = opt.minimize(() => {
          const h = tf.maxPool(tf.relu(tf.conv2d(x, w1 as tf.Variable<tf.Rank.R4>, 1, 'same')), 2, 2, 'valid'); // [4, 4, 4, 4]
          const { mean, variance } = tf.moments(h, [0, 1, 2]);
          const normed = tf.div(tf.sub(h, mean), tf.sqrt(tf.add(variance, 1e-3)));
          return tf.mean(tf.square(tf.matMul(tf.reshape(normed, [4, 64]), w2 as tf.Variable<tf.Rank.R2>))) as tf.Scalar;
        }, true);
        return loss ? loss.dataSync()[0] : NaN;
      });
    const first = step();
    const before = tf.memory().numTensors;
    const second = step();
    expect(tf.memory().numTensors).toBe(before);
    expect(Number.isFinite(first) && Number.isFinite(second)).toBe(true);
    tf.dispose([w1, w2, x]);
    opt.dispose();
  });
});
