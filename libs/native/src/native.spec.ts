/**
 * The oneDNN addon against plain loops, on tfjs's geometries (padInfo and output sizes from
 * tfjs's own computeConv2DInfo). These tests fail, not skip, when the addon is not built.
 */
import * as tf from '@tensorflow/tfjs';
import { ADDON_PATH, loadNative, requireNative, type AdamArrays, type AdamConstants, type ConvGeometry, type MatmulActivation, type MatmulOptions } from './index';

type Pad = 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];

/** Deterministic values in [-1, 1). */
function random(size: number, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = ((s >>> 0) / 2 ** 32) * 2 - 1;
  }
  return out;
}

function geometry(x: [number, number, number, number], f: [number, number, number, number], strides: [number, number], pad: Pad, rounding?: 'floor' | 'round' | 'ceil'): ConvGeometry {
  return tf.backend_util.computeConv2DInfo(x, f, strides, 1, pad as never, rounding, false, 'channelsLast');
}

/** Calls `visit(b, i, j, r, q, xIndex, yBase, wBase)` for every (output position, tap) that reads a real input pixel. */
function forEachTap(g: ConvGeometry, visit: (xi: number, yBase: number, wBase: number) => void): void {
  const { batchSize: n, inHeight: H, inWidth: W, inChannels: C, outHeight: oh, outWidth: ow, outChannels: K, filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw } = g;
  for (let b = 0; b < n; b++)
    for (let i = 0; i < oh; i++)
      for (let j = 0; j < ow; j++)
        for (let r = 0; r < fh; r++) {
          const h = i * sh - g.padInfo.top + r;
          if (h < 0 || h >= H) continue;
          for (let q = 0; q < fw; q++) {
            const w = j * sw - g.padInfo.left + q;
            if (w < 0 || w >= W) continue;
            visit(((b * H + h) * W + w) * C, ((b * oh + i) * ow + j) * K, (r * fw + q) * C * K);
          }
        }
}

function convRef(x: Float32Array, f: Float32Array, g: ConvGeometry): Float64Array {
  const C = g.inChannels;
  const K = g.outChannels;
  const y = new Float64Array(g.batchSize * g.outHeight * g.outWidth * K);
  forEachTap(g, (xi, yBase, wBase) => {
    for (let c = 0; c < C; c++) for (let o = 0; o < K; o++) y[yBase + o] += x[xi + c] * f[wBase + c * K + o];
  });
  return y;
}

function convBackwardDataRef(dy: Float32Array, f: Float32Array, g: ConvGeometry): Float64Array {
  const C = g.inChannels;
  const K = g.outChannels;
  const dx = new Float64Array(g.batchSize * g.inHeight * g.inWidth * C);
  forEachTap(g, (xi, yBase, wBase) => {
    for (let c = 0; c < C; c++) for (let o = 0; o < K; o++) dx[xi + c] += dy[yBase + o] * f[wBase + c * K + o];
  });
  return dx;
}

function convBackwardWeightsRef(x: Float32Array, dy: Float32Array, g: ConvGeometry): Float64Array {
  const C = g.inChannels;
  const K = g.outChannels;
  const dw = new Float64Array(g.filterHeight * g.filterWidth * C * K);
  forEachTap(g, (xi, yBase, wBase) => {
    for (let c = 0; c < C; c++) for (let o = 0; o < K; o++) dw[wBase + c * K + o] += x[xi + c] * dy[yBase + o];
  });
  return dw;
}

/** Largest difference relative to the reference's largest magnitude (and the position of the worst one). */
function relError(actual: Float32Array, expected: Float64Array): { err: number; at: number } {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} != ${expected.length}`);
  let scale = 1e-12;
  for (const v of expected) scale = Math.max(scale, Math.abs(v));
  let err = 0;
  let at = -1;
  for (let i = 0; i < actual.length; i++) {
    const e = Math.abs(actual[i] - expected[i]) / scale;
    if (!(e <= err)) {
      err = e;
      at = i;
    }
  }
  return { err, at };
}

function expectClose(actual: Float32Array, expected: Float64Array, what: string): void {
  const { err, at } = relError(actual, expected);
  if (!(err < 1e-4)) throw new Error(`${what}: relative error ${err} at ${at} (got ${actual[at]}, expected ${expected[at]})`);
}

/** The bit patterns of float32 values (NaN and the sign of zero compared too). */
const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

/** An output array full of NaN: the kernels must overwrite every element. */
const nanArray = (size: number) => new Float32Array(size).fill(NaN);

describe('oneDNN addon', () => {
  it('is built and loads', () => {
    const l = loadNative();
    if (!l.ok) throw new Error(`oneDNN addon not available: ${l.reason}`);
    expect(l.path).toBe(ADDON_PATH);
  });

  it('reports its version, ISA and one thread by default', () => {
    const info = requireNative().info();
    expect(info.version).toMatch(/^\d+\.\d+\.\d+$/);
    expect(info.isa).not.toBe('unknown');
    expect(info.threads).toBe(1);
  });

  type Case = { x: [number, number, number, number]; f: [number, number, number, number]; s: [number, number]; pad: Pad; rounding?: 'floor' | 'round' | 'ceil' };
  const cases: Case[] = [];
  for (const k of [1, 3, 4, 5, 7]) {
    for (const s of [1, 2]) {
      for (const pad of ['same', 'valid'] as const) cases.push({ x: [2, 11, 9, 3], f: [k, k, 3, 8], s: [s, s], pad });
    }
  }
  cases.push(
    { x: [1, 9, 9, 1], f: [3, 3, 1, 5], s: [1, 1], pad: 'same' }, // C = 1, batch 1
    { x: [1, 8, 8, 3], f: [4, 4, 3, 16], s: [2, 2], pad: 'same' }, // DCGAN's first layer, small
    { x: [2, 7, 6, 17], f: [3, 3, 17, 19], s: [1, 1], pad: 'same' }, // channels off the 16-blocks
    { x: [2, 10, 10, 32], f: [3, 3, 32, 64], s: [1, 1], pad: 'same' }, // the classifier's conv2, small
    { x: [2, 13, 12, 16], f: [3, 5, 16, 24], s: [2, 1], pad: 'same' }, // non-square filter, mixed strides
    { x: [2, 12, 11, 6], f: [4, 4, 6, 10], s: [2, 2], pad: 'valid' }, // 'valid' with a remainder
    { x: [2, 9, 10, 4], f: [3, 3, 4, 6], s: [1, 1], pad: 2 }, // explicit symmetric pad
    { x: [2, 9, 9, 4], f: [3, 3, 4, 6], s: [2, 2], pad: 1, rounding: 'ceil' },
    { x: [2, 10, 10, 4], f: [3, 3, 4, 6], s: [2, 2], pad: 0, rounding: 'ceil' }, // the last window reads past the input
    { x: [2, 9, 9, 4], f: [3, 3, 4, 6], s: [2, 2], pad: 1, rounding: 'round' },
    {
      x: [2, 9, 8, 5],
      f: [3, 3, 5, 7],
      s: [1, 2],
      pad: [
        [0, 0],
        [0, 2],
        [3, 1],
        [0, 0],
      ],
    }, // asymmetric explicit pads
    {
      x: [1, 6, 6, 3],
      f: [3, 3, 3, 4],
      s: [1, 1],
      pad: [
        [0, 0],
        [4, 0],
        [0, 5],
        [0, 0],
      ],
    }, // pads larger than the filter: some windows see no input
    { x: [2, 9, 9, 64], f: [4, 4, 64, 3], s: [2, 2], pad: 'same' }, // few output channels (DCGAN's toRGB, as dx)
    { x: [3, 4, 4, 8], f: [4, 4, 8, 1], s: [1, 1], pad: 'valid' }, // DCGAN D's 4x4 -> 1x1 logit
  );

  describe.each(cases.map((c) => [`x [${c.x}] filter [${c.f}] strides [${c.s}] pad ${JSON.stringify(c.pad)}${c.rounding ? ` ${c.rounding}` : ''}`, c] as const))('%s', (_name, c) => {
    const g = geometry(c.x, c.f, c.s, c.pad, c.rounding);
    const x = random(c.x.reduce((a, b) => a * b), 1);
    const f = random(c.f.reduce((a, b) => a * b), 2);
    const dy = random(g.batchSize * g.outHeight * g.outWidth * g.outChannels, 3);

    it('forward', () => {
      const y = nanArray(dy.length);
      requireNative().conv2d(x, f, y, g);
      expectClose(y, convRef(x, f, g), 'conv2d');
    });

    it('backward data', () => {
      const dx = nanArray(x.length);
      requireNative().conv2dBackwardData(dy, f, dx, g);
      expectClose(dx, convBackwardDataRef(dy, f, g), 'conv2dBackwardData');
    });

    it('backward weights', () => {
      const dw = nanArray(f.length);
      requireNative().conv2dBackwardWeights(x, dy, dw, g);
      expectClose(dw, convBackwardWeightsRef(x, dy, g), 'conv2dBackwardWeights');
    });
  });

  describe('conv2dFused: bias and (leaky) ReLU fused into the forward convolution', () => {
    const fused: Array<{ x: [number, number, number, number]; f: [number, number, number, number]; s: [number, number]; pad: Pad }> = [
      { x: [2, 9, 9, 3], f: [3, 3, 3, 16], s: [1, 1], pad: 'same' }, // the classifier's first layer, small
      { x: [3, 8, 8, 16], f: [3, 3, 16, 32], s: [1, 1], pad: 'same' },
      { x: [2, 9, 7, 8], f: [4, 4, 8, 5], s: [2, 2], pad: 'valid' },
    ];
    const variants: Array<{ bias: boolean; alpha: number | null }> = [
      { bias: true, alpha: null },
      { bias: true, alpha: 0 },
      { bias: false, alpha: 0.2 },
      { bias: true, alpha: 0.2 },
      { bias: false, alpha: null },
    ];
    const cases = fused.flatMap((c) => variants.map((v) => [`x [${c.x}] filter [${c.f}] strides [${c.s}] ${c.pad}, bias ${v.bias}, alpha ${v.alpha}`, c, v] as const));
    it.each(cases)('%s', (_name, c, v) => {
      const g = geometry(c.x, c.f, c.s, c.pad);
      const x = random(c.x.reduce((a, b) => a * b), 21);
      const f = random(c.f.reduce((a, b) => a * b), 22);
      const bias = random(c.f[3], 23);
      const ref = convRef(x, f, g);
      if (v.bias) for (let i = 0; i < ref.length; i++) ref[i] += bias[i % c.f[3]];
      let negative = 0;
      for (const r of ref) negative += r < 0 ? 1 : 0;
      expect(negative).toBeGreaterThan(0); // the activation has something to do
      const y = nanArray(ref.length);
      requireNative().conv2dFused(x, f, v.bias ? bias : null, v.alpha, y, g);
      const alpha = v.alpha;
      expectClose(y, alpha === null ? ref : ref.map((r) => (r > 0 ? r : alpha * r)), 'conv2dFused');
    });
    it('names the fusion in the primitive list', () => {
      const g = geometry([1, 6, 6, 2], [3, 3, 2, 4], [1, 1], 'same');
      requireNative().conv2dFused(random(72, 1), random(72, 2), random(4, 3), 0.25, nanArray(144), g);
      const p = requireNative().info().primitives.find((q) => q.kernel === 'conv2dFused' && q.geometry.startsWith('x [1, 6, 6, 2]'));
      expect(p?.geometry).toMatch(/ \+ bias, leaky relu 0\.25$/);
    });
    it('rejects a bias of the wrong length and a bad alpha, naming them', () => {
      const g = geometry([1, 5, 5, 2], [3, 3, 2, 4], [1, 1], 'same');
      expect(() => requireNative().conv2dFused(new Float32Array(50), new Float32Array(72), new Float32Array(3), 0, new Float32Array(100), g)).toThrow(/conv2dFused: 'bias' has 3 floats, expected 4 \(x \[1, 5, 5, 2\].* \+ bias, relu\)/);
      expect(() => requireNative().conv2dFused(new Float32Array(50), new Float32Array(72), null, NaN, new Float32Array(100), g)).toThrow(/conv2dFused: 'alpha' must be finite/);
    });
  });

  describe('reluBiasBackward', () => {
    const rows = 1000;
    const channels = 19;
    const y = random(rows * channels, 31).map((v) => (v > 0 ? v : 0.2 * v));
    const dy = random(rows * channels, 32);
    const expected = (alpha: number) => {
      // ReLU's zeros are +0 (a mask, not 0 * dy); the slope is a float32 multiply.
      const dx = dy.map((v, i) => (y[i] > 0 ? v : alpha === 0 ? 0 : Math.fround(alpha) * v));
      const db = new Float64Array(channels);
      for (let i = 0; i < dx.length; i++) db[i % channels] += dx[i];
      return { dx, db };
    };
    it.each([0, 0.2])('alpha %p: scales dy where y is not positive and sums the columns', (alpha) => {
      const want = expected(alpha);
      const dx = nanArray(dy.length);
      const db = nanArray(channels);
      requireNative().reluBiasBackward(dy, y, dx, db, rows, channels, alpha);
      expect(dx).toEqual(want.dx);
      for (let c = 0; c < channels; c++) expect(Math.abs(db[c] - want.db[c])).toBeLessThan(1e-5);
    });
    it('works in place (dx = dy) and without db', () => {
      const buf = dy.slice();
      requireNative().reluBiasBackward(buf, y, buf, null, rows, channels, 0);
      expect(buf).toEqual(expected(0).dx);
    });
    it('rejects wrong lengths, overlaps and a negative alpha, naming them', () => {
      const n = requireNative();
      expect(() => n.reluBiasBackward(dy, y, nanArray(dy.length), nanArray(channels - 1), rows, channels, 0)).toThrow(/reluBiasBackward: 'db' has 18 floats, expected 19 \(\[1000, 19\]\)/);
      expect(() => n.reluBiasBackward(dy, y.subarray(1), nanArray(dy.length), nanArray(channels), rows, channels, 0)).toThrow(/'y' has 18999 floats/);
      const heap = new Float32Array(2 * dy.length);
      heap.set(dy);
      expect(() => n.reluBiasBackward(heap.subarray(0, dy.length), y, heap.subarray(5, 5 + dy.length), null, rows, channels, 0)).toThrow(/output 'dx' overlaps input 'dy'/);
      expect(() => n.reluBiasBackward(dy, y, nanArray(dy.length), null, rows, channels, -0.5)).toThrow(/'alpha' must be finite and >= 0/);
    });
  });

  it('reuses cached primitives and gives the same result on a second call', () => {
    const native = requireNative();
    const g = geometry([2, 8, 8, 16], [3, 3, 16, 32], [1, 1], 'same');
    const x = random(2 * 8 * 8 * 16, 5);
    const f = random(3 * 3 * 16 * 32, 6);
    const y1 = nanArray(2 * 8 * 8 * 32);
    const y2 = nanArray(y1.length);
    native.conv2d(x, f, y1, g);
    const before = native.info().primitives.length;
    native.conv2d(x, f, y2, g);
    expect(native.info().primitives.length).toBe(before);
    expect(y2).toEqual(y1);
    // A different filter through the same primitive: the weight reorder runs on every call.
    const f2 = random(f.length, 7);
    native.conv2d(x, f2, y2, g);
    expectClose(y2, convRef(x, f2, g), 'conv2d with a new filter');
  });

  it('names the oneDNN implementation of every primitive it created', () => {
    const native = requireNative();
    const g = geometry([2, 16, 16, 32], [3, 3, 32, 64], [1, 1], 'same');
    const x = random(2 * 16 * 16 * 32, 8);
    const f = random(3 * 3 * 32 * 64, 9);
    native.conv2d(x, f, nanArray(2 * 16 * 16 * 64), g);
    const prims = native.info().primitives.filter((p) => p.geometry.startsWith('x [2, 16, 16, 32]'));
    expect(prims.map((p) => p.kernel)).toContain('conv2d');
    for (const p of prims) expect(p.impl).toMatch(/^[a-z_]+:[a-z0-9_]+/);
  });

  it('runs with two threads and gives the same values', () => {
    const native = requireNative();
    const g = geometry([2, 9, 9, 8], [3, 3, 8, 16], [2, 2], 'same');
    const x = random(2 * 9 * 9 * 8, 10);
    const f = random(3 * 3 * 8 * 16, 11);
    const y = nanArray(g.batchSize * g.outHeight * g.outWidth * 16);
    try {
      native.setThreads(2);
      expect(native.info().threads).toBe(2);
      native.conv2d(x, f, y, g);
    } finally {
      native.setThreads(1);
    }
    expect(native.info().threads).toBe(1);
    expectClose(y, convRef(x, f, g), 'conv2d on 2 threads');
  });

  describe('errors name the kernel and the shapes', () => {
    const g = geometry([1, 5, 5, 2], [3, 3, 2, 4], [1, 1], 'same');
    it('wrong lengths', () => {
      expect(() => requireNative().conv2d(new Float32Array(49), new Float32Array(72), new Float32Array(100), g)).toThrow(/conv2d: 'x' has 49 floats, expected 50 \(x \[1, 5, 5, 2\], filter \[3, 3, 2, 4\]/);
      expect(() => requireNative().conv2dBackwardWeights(new Float32Array(50), new Float32Array(100), new Float32Array(71), g)).toThrow(/conv2dBackwardWeights: 'dw' has 71 floats, expected 72/);
    });
    it('non-float32 arrays', () => {
      expect(() => requireNative().conv2dBackwardData(new Float64Array(100) as unknown as Float32Array, new Float32Array(72), new Float32Array(50), g)).toThrow(/conv2dBackwardData: argument 0 \('dy'\) must be a Float32Array/);
    });
    it('an output overlapping an input', () => {
      const heap = new Float32Array(200);
      expect(() => requireNative().conv2d(heap.subarray(0, 50), new Float32Array(72), heap.subarray(40, 140), g)).toThrow(/output 'out' overlaps input/);
    });
    it('an inconsistent geometry', () => {
      expect(() => requireNative().conv2d(new Float32Array(50), new Float32Array(72), new Float32Array(100 * 9), { ...g, outHeight: 15, outWidth: 15 })).toThrow(/inconsistent geometry/);
    });
  });

  describe('matmul', () => {
    function matmulRef(a: Float32Array, b: Float32Array, o: MatmulOptions): Float64Array {
      const { batch, m, n, k } = o;
      const c = new Float64Array(batch * m * n);
      for (let i = 0; i < batch; i++) {
        const a0 = o.sharedA ? 0 : i * m * k;
        const b0 = o.sharedB ? 0 : i * k * n;
        for (let r = 0; r < m; r++)
          for (let q = 0; q < n; q++) {
            let s = o.bias ? o.bias[q] : 0;
            for (let t = 0; t < k; t++) s += a[a0 + (o.transposeA ? t * m + r : r * k + t)] * b[b0 + (o.transposeB ? q * k + t : t * n + q)];
            const alpha = o.leakyreluAlpha ?? 0.2;
            const act: Record<MatmulActivation, (v: number) => number> = {
              linear: (v) => v,
              relu: (v) => Math.max(0, v),
              relu6: (v) => Math.min(6, Math.max(0, v)),
              leakyrelu: (v) => (v < 0 ? alpha * v : v),
              elu: (v) => (v < 0 ? Math.expm1(v) : v),
              sigmoid: (v) => 1 / (1 + Math.exp(-v)),
            };
            c[(i * m + r) * n + q] = act[o.activation ?? 'linear'](s);
          }
      }
      return c;
    }

    const shapes: MatmulOptions[] = [];
    for (const transposeA of [false, true])
      for (const transposeB of [false, true])
        for (const [batch, sharedA, sharedB] of [
          [1, false, false],
          [3, false, false],
          [3, false, true],
          [3, true, false],
        ] as const)
          shapes.push({ batch, m: 7, n: 13, k: 11, transposeA, transposeB, sharedA, sharedB });
    shapes.push({ batch: 1, m: 32, n: 128, k: 300, transposeA: false, transposeB: false, bias: random(128, 20), activation: 'relu' });
    // c = a b^T with few rows in a: made as the swapped product c^T = b a^T and transposed in (one
    // call, batches of one shared b folded into its rows, and a batch of its own b per a).
    shapes.push({ batch: 1, m: 16, n: 2048, k: 128, transposeA: false, transposeB: true });
    shapes.push({ batch: 1, m: 16, n: 2050, k: 128, transposeA: false, transposeB: true, bias: random(2050, 22) });
    shapes.push({ batch: 2, m: 3, n: 2048, k: 130, transposeA: false, transposeB: true, sharedB: true });
    shapes.push({ batch: 2, m: 5, n: 2048, k: 128, transposeA: false, transposeB: true, bias: random(2048, 23), activation: 'relu' });
    for (const activation of ['linear', 'relu', 'relu6', 'leakyrelu', 'elu', 'sigmoid'] as const) {
      shapes.push({ batch: 2, m: 5, n: 9, k: 6, transposeA: true, transposeB: false, bias: random(9, 21).map((v) => v * 8), activation, leakyreluAlpha: 0.3 });
    }

    it.each(shapes.map((o) => [JSON.stringify({ ...o, bias: o.bias ? `[${o.bias.length}]` : undefined }), o] as const))('%s', (_name, o) => {
      const a = random((o.sharedA ? 1 : o.batch) * o.m * o.k, 30).map((v) => v * 3);
      const b = random((o.sharedB ? 1 : o.batch) * o.k * o.n, 31);
      const c = nanArray(o.batch * o.m * o.n);
      requireNative().matmul(a, b, c, o);
      expectClose(c, matmulRef(a, b, o), 'matmul');
    });

    it('rejects wrong lengths, naming the shapes', () => {
      expect(() => requireNative().matmul(new Float32Array(10), new Float32Array(12), new Float32Array(8), { batch: 1, m: 2, n: 4, k: 3, transposeA: false, transposeB: false })).toThrow(
        /matmul: 'a' has 10 floats, expected 6 \(batch 1, a \[2 x 3\], b \[3 x 4\]\)/,
      );
    });
  });

  describe('adam and denseAdam', () => {
    const fr = Math.fround;
    const K: AdamConstants = { beta1: 0.9, beta2: 0.999, eps: 1e-8, lr: 1e-3, c1: 1 - 0.9 ** 3, c2: 1 - 0.999 ** 3 };

    /** The op sequence of common/adam.ts, each op rounded to float32 (as tfjs's ops and the wasm pass). */
    function adamRef(p: Float32Array, m: Float32Array, v: Float32Array, g: ArrayLike<number>, k: AdamConstants) {
      const [b1, a1, b2, a2, c1, c2, eps, lr] = [k.beta1, 1 - k.beta1, k.beta2, 1 - k.beta2, k.c1, k.c2, k.eps, k.lr].map(fr);
      const out = { p: new Float32Array(p.length), m: new Float32Array(p.length), v: new Float32Array(p.length) };
      for (let i = 0; i < p.length; i++) {
        const gi = fr(g[i]);
        const mi = fr(fr(m[i] * b1) + fr(gi * a1));
        const vi = fr(fr(v[i] * b2) + fr(fr(gi * gi) * a2));
        out.m[i] = mi;
        out.v[i] = vi;
        out.p[i] = fr(p[i] - fr(fr(fr(mi / c1) / fr(fr(Math.sqrt(fr(vi / c2))) + eps)) * lr));
      }
      return out;
    }

    /** p, m, v (v >= 0) and a gradient of n values; gradients spread over magnitudes, so float32 rounding shows. */
    function state(n: number, seed: number) {
      const scale = (x: number, i: number) => x * 10 ** ((i % 9) - 6);
      return { p: random(n, seed), m: random(n, seed + 1).map(scale), v: random(n, seed + 2).map((x, i) => Math.abs(scale(x, i)) ** 2), g: random(n, seed + 3).map(scale) };
    }

    it.each([1, 15, 16, 17, 1000])('updates %p values as the op sequence does, bit for bit, out of place and in place', (n) => {
      const s = state(n, 40 + n);
      const want = adamRef(s.p, s.m, s.v, s.g, K);
      const out: AdamArrays = { p: s.p, m: s.m, v: s.v, p1: nanArray(n), m1: nanArray(n), v1: nanArray(n) };
      requireNative().adam(out, s.g, null, K);
      expect([bits(out.p1), bits(out.m1), bits(out.v1)]).toEqual([bits(want.p), bits(want.m), bits(want.v)]);
      const inPlace = { p: s.p.slice(), m: s.m.slice(), v: s.v.slice() };
      requireNative().adam({ ...inPlace, p1: inPlace.p, m1: inPlace.m, v1: inPlace.v }, s.g, null, K);
      expect([bits(inPlace.p), bits(inPlace.m), bits(inPlace.v)]).toEqual([bits(want.p), bits(want.m), bits(want.v)]);
    });

    it('adds a second gradient first (one float32 add), for some outputs in place and others not', () => {
      const n = 37;
      const s = state(n, 50);
      const g2 = random(n, 55);
      const want = adamRef(s.p, s.m, s.v, s.g.map((x, i) => fr(x + g2[i])), K);
      const p1 = nanArray(n);
      requireNative().adam({ p: s.p, m: s.m, v: s.v, p1, m1: s.m, v1: s.v }, s.g, g2, K);
      expect([bits(p1), bits(s.m), bits(s.v)]).toEqual([bits(want.p), bits(want.m), bits(want.v)]);
    });

    it('denseAdam: the update with dW = x^T dz, made block by block (a weight of 600 rows: 256 + 256 + 88)', () => {
      const [rows, nin, nout] = [5, 600, 7];
      const x = random(rows * nin, 60);
      const dz = random(rows * nout, 61);
      const s = state(nin * nout, 62);
      const dw = new Float64Array(nin * nout);
      for (let r = 0; r < rows; r++) for (let i = 0; i < nin; i++) for (let j = 0; j < nout; j++) dw[i * nout + j] += x[r * nin + i] * dz[r * nout + j];
      const out: AdamArrays = { p: s.p, m: s.m, v: s.v, p1: nanArray(nin * nout), m1: nanArray(nin * nout), v1: nanArray(nin * nout) };
      requireNative().denseAdam(out, x, dz, rows, K);
      // The moments carry dW (summed in float32 by sgemm): close to the update with dW in doubles.
      const want = adamRef(s.p, s.m, s.v, dw, K);
      expectClose(out.m1, Float64Array.from(want.m), 'denseAdam m');
      expectClose(out.v1, Float64Array.from(want.v), 'denseAdam v');
      for (let i = 0; i < nin * nout; i++) if (!(Math.abs(out.p1[i] - want.p[i]) <= 1e-6)) throw new Error(`denseAdam p at ${i}: ${out.p1[i]} vs ${want.p[i]}`);
      // With one row dW is one product per value: exactly adam's update with that gradient.
      const one = { x: x.subarray(0, nin), dz: dz.subarray(0, nout) };
      const g1 = new Float32Array(nin * nout);
      for (let i = 0; i < nin; i++) for (let j = 0; j < nout; j++) g1[i * nout + j] = one.x[i] * one.dz[j];
      const a: AdamArrays = { p: s.p, m: s.m, v: s.v, p1: nanArray(nin * nout), m1: nanArray(nin * nout), v1: nanArray(nin * nout) };
      const b: AdamArrays = { p: s.p, m: s.m, v: s.v, p1: nanArray(nin * nout), m1: nanArray(nin * nout), v1: nanArray(nin * nout) };
      requireNative().denseAdam(a, one.x, one.dz, 1, K);
      requireNative().adam(b, g1, null, K);
      expect([bits(a.p1), bits(a.m1), bits(a.v1)]).toEqual([bits(b.p1), bits(b.m1), bits(b.v1)]);
    });

    it('rejects wrong lengths, outputs overlapping other inputs, and misshapen factors, naming them', () => {
      const n = 8;
      const s = state(n, 70);
      const ok = (): AdamArrays => ({ p: s.p, m: s.m, v: s.v, p1: new Float32Array(n), m1: new Float32Array(n), v1: new Float32Array(n) });
      expect(() => requireNative().adam({ ...ok(), v1: new Float32Array(7) }, s.g, null, K)).toThrow(/adam: 'v1' has 7 floats, expected 8 \(8 values\)/);
      expect(() => requireNative().adam(ok(), s.g, new Float32Array(9), K)).toThrow(/adam: 'g2' has 9 floats, expected 8/);
      expect(() => requireNative().adam({ ...ok(), m1: s.p }, s.g, null, K)).toThrow(/adam: output 'm1' overlaps input 'p'/);
      expect(() => requireNative().adam({ ...ok(), p1: s.g }, s.g, null, K)).toThrow(/adam: output 'p1' overlaps input 'g'/);
      const shared = new Float32Array(n);
      expect(() => requireNative().adam({ ...ok(), m1: shared, v1: shared }, s.g, null, K)).toThrow(/adam: output 'v1' overlaps input 'm1'/);
      expect(() => requireNative().denseAdam(ok(), new Float32Array(6), new Float32Array(4), 2, K)).toThrow(/denseAdam: 'p' has 8 floats, expected 6 \(x \[2 x 3\], dz \[2 x 2\]\)/);
      expect(() => requireNative().denseAdam(ok(), new Float32Array(5), new Float32Array(4), 2, K)).toThrow(/denseAdam: 'x' \(5 floats\) and 'dz' \(4\) must each be a whole, non-empty number of rows of 2/);
    });
  });

  describe('biasActPool and biasActPoolBackward', () => {
    const fr = Math.fround;
    type Pool = { n: number; h: number; w: number; c: number };

    /** act(z + bias), the 2x2 pool, and its backward pass, one value at a time in float32. */
    function poolRef(z: Float32Array, bias: Float32Array | null, dy: Float32Array, s: Pool, alpha: number) {
      const [oh, ow] = [Math.floor(s.h / 2), Math.floor(s.w / 2)];
      const pooled = new Float32Array(s.n * oh * ow * s.c);
      const dz = new Float32Array(z.length);
      const db = new Float64Array(s.c);
      const a = fr(alpha); // a float32 argument
      const y = (i: number, ch: number) => {
        const v = fr(z[i] + (bias ? bias[ch] : 0));
        return v > 0 ? v : fr(v * a);
      };
      for (let b = 0; b < s.n; b++)
        for (let i = 0; i < oh; i++)
          for (let j = 0; j < ow; j++)
            for (let ch = 0; ch < s.c; ch++) {
              const at = [0, 1, 2, 3].map((q) => ((b * s.h + 2 * i + (q >> 1)) * s.w + 2 * j + (q & 1)) * s.c + ch);
              let m = -Infinity;
              let win = -1;
              for (const idx of at) {
                if (y(idx, ch) > m) {
                  m = y(idx, ch);
                  win = idx;
                }
              }
              const o = ((b * oh + i) * ow + j) * s.c + ch;
              pooled[o] = m;
              if (win < 0) continue;
              const g = m > 0 ? dy[o] : fr(dy[o] * a) + 0;
              dz[win] = g;
              db[ch] += g;
            }
      return { pooled, dz, db };
    }

    const cases: Array<[string, Pool, number, boolean]> = [
      ['ReLU with a bias (the classifier)', { n: 2, h: 6, w: 8, c: 19 }, 0, true],
      ['leaky ReLU, odd height and width (a row and a column in no window)', { n: 1, h: 7, w: 5, c: 16 }, 0.2, true],
      ['no activation, no bias', { n: 2, h: 4, w: 4, c: 3 }, 1, false],
    ];

    it.each(cases)('%s: the pooled values and dz as the reference, bit for bit; db close', (_name, s, alpha, withBias) => {
      const size = s.n * s.h * s.w * s.c;
      const z = random(size, 80);
      // Ties (a window of equal values, another of zeros), a NaN, and values the ReLU zeroes.
      z.fill(0.25, 0, 4 * s.c);
      z[5] = NaN;
      const bias = withBias ? random(s.c, 81).map((v) => v * 0.1) : null;
      const pooledSize = s.n * Math.floor(s.h / 2) * Math.floor(s.w / 2) * s.c;
      const dy = random(pooledSize, 82);
      const want = poolRef(z, bias, dy, s, alpha);
      const shape = { batch: s.n, height: s.h, width: s.w, channels: s.c };
      const pooled = nanArray(pooledSize);
      requireNative().biasActPool(z, bias, pooled, shape, alpha);
      expect(bits(pooled)).toEqual(bits(want.pooled));
      const dz = nanArray(size);
      const db = nanArray(s.c);
      requireNative().biasActPoolBackward(dy, z, bias, dz, db, shape, alpha);
      expect(bits(dz)).toEqual(bits(want.dz));
      expectClose(db, want.db, 'db');
      const noDb = nanArray(size);
      requireNative().biasActPoolBackward(dy, z, bias, noDb, null, shape, alpha);
      expect(bits(noDb)).toEqual(bits(want.dz));
    });

    it('rejects wrong lengths, overlaps, a window-less size and a bad alpha, naming them', () => {
      const shape = { batch: 1, height: 4, width: 4, channels: 2 };
      const z = new Float32Array(32);
      expect(() => requireNative().biasActPool(z, null, new Float32Array(7), shape, 0)).toThrow(/biasActPool: 'pooled' has 7 floats, expected 8 \(z \[1, 4, 4, 2\], pooled \[1, 2, 2, 2\]\)/);
      expect(() => requireNative().biasActPool(z, new Float32Array(3), new Float32Array(8), shape, 0)).toThrow(/biasActPool: 'bias' has 3 floats, expected 2/);
      expect(() => requireNative().biasActPool(z, null, z.subarray(0, 8), shape, 0)).toThrow(/biasActPool: output 'pooled' overlaps input 'z'/);
      expect(() => requireNative().biasActPool(z, null, new Float32Array(8), { ...shape, height: 1 }, 0)).toThrow(/biasActPool: 'height' must be an integer >= 2, got 1/);
      expect(() => requireNative().biasActPoolBackward(new Float32Array(8), z, null, z, null, shape, 0)).toThrow(/biasActPoolBackward: output 'dz' overlaps input 'z'/);
      expect(() => requireNative().biasActPoolBackward(new Float32Array(8), z, null, new Float32Array(32), null, shape, -1)).toThrow(/biasActPoolBackward: 'alpha' must be finite and >= 0/);
    });
  });
});
