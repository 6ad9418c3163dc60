import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { Adam, type AdamConfig, type AdamOptions } from './adam';
import { wasmAdamAvailable } from '../engine/wasm-adam';
import { initBackend } from '../engine/backend';
import { unregisterNativeKernels } from '../engine/native-kernels';

/**
 * The fused wasm update (engine/wasm-adam.ts) against the op-by-op update: the same bits for p, m
 * and v, not merely close values. Sizes are awkward on purpose (1 element, odd sizes, ~3 M), the
 * gradients span magnitudes from subnormal squares to 1e3, and lr changes every step.
 */

type Shapes = Record<string, number[]>;
const SMALL: Shapes = { one: [1], odd: [7], block: [3, 5, 11], medium: [311, 333] };
// ~3 M values: the vector loop's long run (and 3,002,497 % 4 = 1 for the scalar tail).
const BIG: Shapes = { ...SMALL, big: [1499, 2003] };
const STEPS = 4;

/** Powers of ten from 1e-21 to 1e3 in quarter steps: gradient magnitudes without a Math.pow per value. */
const SCALES = Float64Array.from({ length: 97 }, (_, k) => Math.pow(10, -21 + k / 4));

/**
 * Parameters shaped as `shapes`, and one gradient per step, as host values drawn from `seed` with a
 * xorshift generator (Rng, and Math's transcendentals under jest, took ~15 s for the ~13 M values).
 */
function problem(shapes: Shapes, seed: number): { params: Record<string, Float32Array>; grads: Array<Record<string, Float32Array>> } {
  let x = seed >>> 0 || 1;
  const u = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
  const params: Record<string, Float32Array> = {};
  const grads: Array<Record<string, Float32Array>> = Array.from({ length: STEPS }, () => ({}));
  for (const [name, shape] of Object.entries(shapes)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const p = new Float32Array(n);
    for (let i = 0; i < n; i++) p[i] = 2 * u() - 1;
    params[name] = p;
    for (const step of grads) {
      const g = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        const r = u();
        // Mostly ordinary gradients (1e-8 to 1e3), some exact zeros, some tiny enough (1e-21 to
        // 1e-16) that g^2 is subnormal.
        const scale = r < 0.15 ? SCALES[(u() * 21) | 0] : SCALES[52 + ((u() * 45) | 0)];
        g[i] = r < 0.05 ? 0 : (2 * u() - 1) * scale;
      }
      step[name] = g;
    }
  }
  return { params, grads };
}

/** Runs STEPS updates on `backend` and returns p, m, v per parameter as host arrays. */
async function run(backend: 'wasm' | 'cpu', fused: boolean, config: AdamConfig, shapes: Shapes, seed: number, addon = true): Promise<Record<string, Float32Array>> {
  await tf.setBackend(backend);
  const { params, grads } = problem(shapes, seed);
  const vars: Record<string, tf.Variable> = {};
  for (const [name, values] of Object.entries(params)) vars[name] = tf.variable(tf.tensor(values, shapes[name]));
  const opt = new Adam(vars, config, { fused, addon });
  const lrs = [config.lr, config.lr * 0.37, config.lr * 1.9, config.lr / 3];
  for (let s = 0; s < STEPS; s++) {
    const g: Record<string, tf.Tensor> = {};
    for (const name of Object.keys(shapes)) g[name] = tf.tensor(grads[s][name], shapes[name]);
    if (backend === 'wasm' && fused) {
      // The fused pass runs no tfjs kernels at all: a silent fall back to the ops would show here.
      const { kernels } = await tf.profile(() => opt.apply(g, lrs[s]));
      expect(kernels.map((k) => k.name)).toEqual([]);
    } else {
      opt.apply(g, lrs[s]);
    }
    tf.dispose(Object.values(g));
  }
  const out: Record<string, Float32Array> = {};
  for (const name of Object.keys(shapes)) out[`p.${name}`] = (await vars[name].data()) as Float32Array;
  for (const a of (await opt.snapshot('opt')).arrays) out[a.name] = a.data;
  opt.dispose();
  tf.dispose(Object.values(vars));
  return out;
}

/** Names of the arrays whose bits differ, with the count and the first difference. */
function bitDifferences(a: Record<string, Float32Array>, b: Record<string, Float32Array>): string[] {
  expect(Object.keys(a).sort()).toEqual(Object.keys(b).sort());
  const diffs: string[] = [];
  for (const name of Object.keys(a)) {
    const x = new Uint32Array(a[name].buffer, a[name].byteOffset, a[name].length);
    const y = new Uint32Array(b[name].buffer, b[name].byteOffset, b[name].length);
    expect(x.length).toBe(y.length);
    let count = 0, first = -1;
    for (let i = 0; i < x.length; i++) {
      if (x[i] !== y[i]) {
        count++;
        if (first < 0) first = i;
      }
    }
    if (count > 0) diffs.push(`${name}: ${count} of ${x.length} differ, first #${first}: ${a[name][first]} vs ${b[name][first]}`);
  }
  return diffs;
}

const CONFIGS: Array<[string, AdamConfig]> = [
  ['torch defaults (classifier)', { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8 }],
  ['DCGAN/CycleGAN betas', { lr: 2e-4, beta1: 0.5, beta2: 0.999, eps: 1e-8 }],
  ['PGGAN betas (beta1 0)', { lr: 1e-3, beta1: 0, beta2: 0.99, eps: 1e-8 }],
];

describe('Adam on wasm, fused', () => {
  afterAll(async () => {
    await tf.setBackend('cpu');
  });

  it('is available on the wasm backend of this build', async () => {
    await tf.setBackend('wasm');
    expect(wasmAdamAvailable()).toBe(true);
    await tf.setBackend('cpu');
    expect(wasmAdamAvailable()).toBe(false);
  });

  it.each(CONFIGS)('gives the op-by-op update bit for bit on wasm: %s', async (label, config) => {
    // The big array once; the small and odd sizes for every configuration.
    const shapes = label === CONFIGS[0][0] ? BIG : SMALL;
    const ops = await run('wasm', false, config, shapes, 11);
    const fused = await run('wasm', true, config, shapes, 11);
    expect(bitDifferences(fused, ops)).toEqual([]);
  });

  it.each([
    ['cpu', false],
    ['wasm', false],
    ['wasm', true],
  ] as const)('with addends (for some parameters only on some steps), steps with grads + addends as tf.add gives them, bit for bit (%s, fused %s)', async (backend, fused) => {
    await tf.setBackend(backend);
    const [, config] = CONFIGS[1];
    const { params, grads } = problem(SMALL, 21);
    const other = problem(SMALL, 22).grads;
    const make = () => {
      const vars: Record<string, tf.Variable> = {};
      for (const [name, values] of Object.entries(params)) vars[name] = tf.variable(tf.tensor(values, SMALL[name]));
      return { vars, opt: new Adam(vars, config, { fused }) };
    };
    const [a, b] = [make(), make()];
    for (let s = 0; s < STEPS; s++) {
      const g: Record<string, tf.Tensor> = {};
      const g2: Record<string, tf.Tensor> = {};
      const sum: Record<string, tf.Tensor> = {};
      for (const name of Object.keys(SMALL)) {
        g[name] = tf.tensor(grads[s][name], SMALL[name]);
        // Addends for some parameters only, on odd steps: 'one' then takes its own gradient.
        if (s % 2 === 1 && name === 'one') {
          sum[name] = tf.clone(g[name]);
          continue;
        }
        g2[name] = tf.tensor(other[s][name], SMALL[name]);
        sum[name] = tf.add(g[name], g2[name]);
      }
      a.opt.apply(g, undefined, g2);
      b.opt.apply(sum);
      tf.dispose([...Object.values(g), ...Object.values(g2), ...Object.values(sum)]);
    }
    const values = async (x: { vars: Record<string, tf.Variable>; opt: Adam }) => {
      const out: Record<string, Float32Array> = {};
      for (const name of Object.keys(SMALL)) out[`p.${name}`] = (await x.vars[name].data()) as Float32Array;
      for (const arr of (await x.opt.snapshot('opt')).arrays) out[arr.name] = arr.data;
      return out;
    };
    expect(bitDifferences(await values(a), await values(b))).toEqual([]);
    const g0 = Object.fromEntries(Object.keys(SMALL).map((name) => [name, tf.tensor(grads[0][name], SMALL[name])]));
    const wrong = tf.zeros([2]);
    expect(() => a.opt.apply(g0, undefined, { odd: wrong })).toThrow("second gradient for parameter 'odd' has shape [2], the parameter [7]");
    tf.dispose([...Object.values(g0), wrong]);
    for (const x of [a, b]) {
      x.opt.dispose();
      tf.dispose(Object.values(x.vars));
    }
  });

  it("gives the cpu backend's op-by-op update bit for bit", async () => {
    // SMALL only: the cpu backend broadcasts scalars element by element (seconds for the big array).
    const [, config] = CONFIGS[0];
    const cpu = await run('cpu', false, config, SMALL, 12);
    const fused = await run('wasm', true, config, SMALL, 12);
    expect(bitDifferences(fused, cpu)).toEqual([]);
  });

  it('leaves a tensor that shares a parameter\'s data as it was, and no tensors behind', async () => {
    await tf.setBackend('wasm');
    const init = tf.tensor([0.5, -1, 2], [3]);
    const p = tf.variable(tf.zeros([3]));
    p.assign(init); // p and init share one dataId now
    const opt = new Adam({ p }, CONFIGS[0][1]);
    const g = tf.tensor([1, 1, -1], [3]);
    const before = tf.memory().numTensors;
    opt.apply({ p: g });
    expect(tf.memory().numTensors).toBe(before);
    expect(Array.from(init.dataSync())).toEqual([0.5, -1, 2]);
    expect(Array.from(p.dataSync())).not.toEqual([0.5, -1, 2]);
    tf.dispose([init, p, g]);
    opt.dispose();
  });

  it('takes an int32 gradient through the ops (cast as before) and rejects a misshapen one before stepping', async () => {
    await tf.setBackend('wasm');
    const results = [true, false].map((fused) => {
      const p = tf.variable(tf.tensor([0.5, -1, 2, 4], [2, 2]));
      const opt = new Adam({ p }, CONFIGS[0][1], { fused });
      const g = tf.tensor([3, -2, 0, 7], [2, 2], 'int32');
      opt.apply({ p: g });
      const out = Array.from(p.dataSync());
      const wrong = tf.zeros([4]);
      expect(() => opt.apply({ p: wrong })).toThrow("gradient for parameter 'p' has shape [4], the parameter [2, 2]");
      expect(opt.step).toBe(1);
      tf.dispose([p, g, wrong]);
      opt.dispose();
      return out;
    });
    expect(results[0]).toEqual(results[1]);
  });

  it('is tested on data where float32 rounding shows: the same update in doubles differs', async () => {
    // Without this, a pass that skipped the float32 rounding of intermediates could pass the
    // comparisons above on data too tame to tell.
    const [, config] = CONFIGS[0];
    const { params, grads } = problem(SMALL, 11);
    const fused = await run('wasm', true, config, SMALL, 11);
    const lrs = [config.lr, config.lr * 0.37, config.lr * 1.9, config.lr / 3];
    const p = Float64Array.from(params.medium), m = new Float64Array(p.length), v = new Float64Array(p.length);
    for (let s = 0; s < STEPS; s++) {
      const c1 = 1 - Math.pow(config.beta1, s + 1), c2 = 1 - Math.pow(config.beta2, s + 1);
      for (let i = 0; i < p.length; i++) {
        const g = grads[s].medium[i];
        m[i] = m[i] * config.beta1 + g * (1 - config.beta1);
        v[i] = v[i] * config.beta2 + g * g * (1 - config.beta2);
        p[i] -= (m[i] / c1 / (Math.sqrt(v[i] / c2) + config.eps)) * lrs[s];
      }
    }
    const inDoubles = Float32Array.from(p);
    const differ = inDoubles.filter((x, i) => x !== fused['p.medium'][i]).length;
    expect(differ).toBeGreaterThan(p.length / 100);
  });
});

describe('Adam in the oneDNN addon (wasm with its kernels registered)', () => {
  beforeAll(async () => {
    await initBackend('wasm', { nativeKernels: true });
  });
  afterAll(async () => {
    unregisterNativeKernels();
    await tf.setBackend('cpu');
  });

  const vars = (values: Record<string, Float32Array>, shapes: Shapes) => Object.fromEntries(Object.entries(values).map(([name, v]) => [name, tf.variable(tf.tensor(v, shapes[name]))]));
  const state = async (vs: Record<string, tf.Variable>, opt: Adam) => {
    const out: Record<string, Float32Array> = {};
    for (const [name, v] of Object.entries(vs)) out[`p.${name}`] = (await v.data()) as Float32Array;
    for (const a of (await opt.snapshot('opt')).arrays) out[a.name] = a.data;
    return out;
  };

  it('runs the update where it is on, and only there', async () => {
    const p = tf.variable(tf.zeros([2]));
    expect(new Adam({ p }, CONFIGS[0][1]).fusesFactors).toBe(true);
    expect(new Adam({ p }, CONFIGS[0][1], { addon: false }).fusesFactors).toBe(false);
    expect(new Adam({ p }, CONFIGS[0][1], { fused: false }).fusesFactors).toBe(false);
    await tf.setBackend('cpu');
    expect(new Adam({ p }, CONFIGS[0][1]).fusesFactors).toBe(false);
    await tf.setBackend('wasm');
    p.dispose();
    // The addon writes a parameter nothing else shares in place; the wasm pass and the ops assign new data.
    const stepKeepsData = (options: AdamOptions) => {
      const q = tf.tidy(() => tf.variable(tf.tensor([0.5, -1], [2])));
      const opt = new Adam({ q }, CONFIGS[0][1], options);
      const g = tf.tensor([1, -1], [2]);
      const id = q.dataId;
      opt.apply({ q: g });
      const kept = q.dataId === id;
      tf.dispose([q, g]);
      opt.dispose();
      return kept;
    };
    expect([stepKeepsData({}), stepKeepsData({ addon: false }), stepKeepsData({ fused: false })]).toEqual([true, false, false]);
  });

  it.each(CONFIGS)('gives the op-by-op update and the wasm pass bit for bit: %s', async (label, config) => {
    const shapes = label === CONFIGS[0][0] ? BIG : SMALL;
    const addon = await run('wasm', true, config, shapes, 31);
    expect(bitDifferences(addon, await run('wasm', false, config, shapes, 31))).toEqual([]);
    expect(bitDifferences(addon, await run('wasm', true, config, shapes, 31, false))).toEqual([]);
  });

  it('with addends, as the wasm pass, bit for bit', async () => {
    const [, config] = CONFIGS[1];
    const { params, grads } = problem(SMALL, 33);
    const other = problem(SMALL, 34).grads;
    const runs = [true, false].map((addon) => ({ vs: vars(params, SMALL), addon }));
    const opts = runs.map((r) => new Adam(r.vs, config, { addon: r.addon }));
    for (let s = 0; s < STEPS; s++) {
      const g = Object.fromEntries(Object.keys(SMALL).map((name) => [name, tf.tensor(grads[s][name], SMALL[name])]));
      const g2 = Object.fromEntries(Object.keys(SMALL).filter((name) => name !== 'one').map((name) => [name, tf.tensor(other[s][name], SMALL[name])]));
      for (const opt of opts) opt.apply(g, undefined, g2);
      tf.dispose([...Object.values(g), ...Object.values(g2)]);
    }
    expect(bitDifferences(await state(runs[0].vs, opts[0]), await state(runs[1].vs, opts[1]))).toEqual([]);
    opts.forEach((o, i) => (o.dispose(), tf.dispose(Object.values(runs[i].vs))));
  });

  it('updates p, m and v in place, and into new memory where another tensor shares it', async () => {
    const p = tf.tidy(() => tf.variable(tf.tensor([0.5, -1, 2], [3]))); // the only tensor on its data
    const shared = tf.tidy(() => tf.variable(tf.zeros([3])));
    const init = tf.tensor([0.5, -1, 2], [3]);
    shared.assign(init); // shared and init are one dataId now
    const opt = new Adam({ p, shared }, CONFIGS[0][1]);
    const g = tf.tensor([1, 1, -1], [3]);
    const ids = [p.dataId, shared.dataId];
    const before = tf.memory();
    opt.apply({ p: g, shared: g });
    expect(p.dataId).toBe(ids[0]); // in place
    expect(shared.dataId).not.toBe(ids[1]); // a new tensor, assigned
    expect(Array.from(init.dataSync())).toEqual([0.5, -1, 2]);
    expect(Array.from(shared.dataSync())).toEqual(Array.from(p.dataSync()));
    expect(Array.from(p.dataSync())).not.toEqual([0.5, -1, 2]);
    expect(tf.memory().numTensors).toBe(before.numTensors);
    expect(tf.memory().numBytes).toBe(before.numBytes);
    tf.dispose([p, shared, init, g]);
    opt.dispose();
  });

  describe('a dense weight from its gradient factors, dW = x^T dz', () => {
    const [rows, nin, nout] = [6, 600, 9];
    const values = (n: number, seed: number) => problem({ a: [n] }, seed).params.a;
    const factorsRun = async (backend: 'wasm' | 'cpu', addon: boolean, how: 'factors' | 'gradient', r = rows) => {
      await tf.setBackend(backend);
      const w = tf.variable(tf.tensor(values(nin * nout, 41), [nin, nout]));
      const opt = new Adam({ w }, CONFIGS[0][1], { addon });
      for (let s = 0; s < STEPS; s++) {
        const x = tf.tensor2d(values(r * nin, 50 + s), [r, nin]);
        const dz = tf.tensor2d(values(r * nout, 60 + s), [r, nout]);
        const g = tf.matMul(x, dz, true, false);
        if (how === 'factors') opt.apply({}, undefined, undefined, { w: { x, dz } });
        else opt.apply({ w: g });
        tf.dispose([x, dz, g]);
      }
      const out = await state({ w }, opt);
      opt.dispose();
      w.dispose();
      await tf.setBackend('wasm');
      return out;
    };

    it('elsewhere (the wasm pass, the cpu ops) as the gradient tfjs makes, bit for bit', async () => {
      expect(bitDifferences(await factorsRun('wasm', false, 'factors'), await factorsRun('wasm', false, 'gradient'))).toEqual([]);
      expect(bitDifferences(await factorsRun('cpu', true, 'factors'), await factorsRun('cpu', true, 'gradient'))).toEqual([]);
    });

    it('in the addon, block by block: bit for bit with one row, close with several', async () => {
      expect(bitDifferences(await factorsRun('wasm', true, 'factors', 1), await factorsRun('wasm', true, 'gradient', 1))).toEqual([]);
      const [a, b] = [await factorsRun('wasm', true, 'factors'), await factorsRun('wasm', true, 'gradient')];
      for (const name of Object.keys(b)) {
        const worst = a[name].reduce((acc, v, i) => Math.max(acc, Math.abs(v - b[name][i]) / (Math.abs(b[name][i]) + 1e-6)), 0);
        expect(worst).toBeLessThan(1e-4);
      }
    });

    it('rejects misshapen factors and a gradient given twice, before stepping', () => {
      const w = tf.variable(tf.zeros([4, 3]));
      const opt = new Adam({ w }, CONFIGS[0][1]);
      const [x, dz, g] = [tf.zeros([2, 4]), tf.zeros([2, 2]), tf.zeros([4, 3])];
      expect(() => opt.apply({}, undefined, undefined, { w: { x, dz } })).toThrow("gradient factors for parameter 'w' [4, 3] must be x [rows, 4] and dz [rows, 3] with rows >= 1, got [2, 4] and [2, 2]");
      const [x0, dz0] = [tf.zeros([0, 4]), tf.zeros([0, 3])];
      expect(() => opt.apply({}, undefined, undefined, { w: { x: x0, dz: dz0 } })).toThrow('with rows >= 1, got [0, 4] and [0, 3]');
      tf.dispose([x0, dz0]);
      expect(() => opt.apply({ w: g }, undefined, undefined, { w: { x, dz: tf.zeros([2, 3]) } })).toThrow("parameter 'w' has both a gradient and its factors");
      expect(opt.step).toBe(0);
      tf.dispose([w, x, dz, g]);
      opt.dispose();
    });
  });

  describe('a step in parts (applyPart)', () => {
    const [rows, nin, nout] = [5, 40, 6];
    const shapes: Shapes = { ...SMALL, w: [nin, nout] };
    // Parts in the order a data-parallel pair takes them: the factored weight first, then the rest.
    const stepRun = async (inParts: boolean) => {
      const { params, grads } = problem(shapes, 71);
      const vs = vars(params, shapes);
      const opt = new Adam(vs, CONFIGS[2][1]);
      const rest = Object.keys(SMALL);
      for (let s = 0; s < STEPS; s++) {
        const g: Record<string, tf.Tensor> = Object.fromEntries(rest.map((name) => [name, tf.tensor(grads[s][name], shapes[name])]));
        const x = tf.tensor2d(grads[s].w.subarray(0, rows * nin), [rows, nin]);
        const dz = tf.tensor2d(grads[s].w.subarray(rows * nin, rows * (nin + nout)), [rows, nout]);
        const lr = 1e-3 * (s + 1);
        if (inParts) {
          opt.applyPart(['w'], {}, lr, undefined, { w: { x, dz } });
          expect(opt.step).toBe(s + 1);
          opt.applyPart(rest, g, lr);
        } else {
          opt.apply(g, lr, undefined, { w: { x, dz } });
        }
        tf.dispose([...Object.values(g), x, dz]);
      }
      const out = await state(vs, opt);
      opt.dispose();
      tf.dispose(Object.values(vs));
      return out;
    };

    it('gives the same bits as the step at once', async () => {
      expect(bitDifferences(await stepRun(true), await stepRun(false))).toEqual([]);
    });

    it('updates every parameter once per step, and says which are left', async () => {
      const [a, b] = [tf.variable(tf.zeros([2])), tf.variable(tf.zeros([3]))];
      const opt = new Adam({ a, b }, CONFIGS[0][1]);
      const [ga, gb] = [tf.ones([2]), tf.ones([3])];
      expect(() => opt.applyPart([], {})).toThrow('no parameters named');
      expect(() => opt.applyPart(['c'], {})).toThrow("Adam has no parameter 'c'");
      expect(() => opt.applyPart(['a', 'a'], { a: ga })).toThrow("parameter 'a' is updated twice in Adam step 1");
      expect(opt.step).toBe(0);
      opt.applyPart(['a'], { a: ga });
      expect(() => opt.applyPart(['a'], { a: ga })).toThrow("parameter 'a' is updated twice in Adam step 1");
      expect(() => opt.apply({ a: ga, b: gb })).toThrow('Adam step 1 is not finished: b not updated yet');
      await expect(opt.snapshot('opt')).rejects.toThrow('no snapshot of half a step');
      const before = await b.data();
      opt.applyPart(['b'], { b: gb });
      expect(await b.data()).not.toEqual(before);
      opt.apply({ a: ga, b: gb });
      expect(opt.step).toBe(2);
      tf.dispose([a, b, ga, gb]);
      opt.dispose();
    });
  });
});
