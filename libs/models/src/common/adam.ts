/**
 * Adam (Kingma & Ba 2015), as torch.optim.Adam computes it, with its whole state in named variables
 * so that a checkpoint restores the moments and the step count exactly. The learning rate is passed
 * per step, so schedules (CycleGAN's linear decay) live with the caller and resume with the step.
 *
 * Gradients come in by parameter name: a data-parallel job all-reduces them between computing and
 * applying them.
 *
 * On the wasm backend each parameter's update is one pass over the heap that gives the same bits as
 * the op-by-op update below: in the oneDNN addon when its kernels are registered (the state updated
 * in place; engine/native-kernels.ts), else a wasm SIMD function (engine/wasm-adam.ts). Other
 * backends (cpu, tensorflow on a GPU) run the ops, so a GPU keeps the update on the device.
 *
 * A dense layer's weight may come as its gradient's factors, dW = x^T dz (`factors`): the addon
 * makes dW a block at a time inside the update; elsewhere it is one matMul, as tfjs's gradient.
 */
import * as tf from '@tensorflow/tfjs';
import { nativeAdamAvailable, nativeAdamStep } from '../engine/native-kernels';
import { adamStepWasm, wasmAdamAvailable } from '../engine/wasm-adam';
import type { NamedArray } from './params';

export interface AdamConfig {
  /** Step size; also the default when `apply` is given none. */
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
}

export interface AdamOptions {
  /**
   * On wasm, update each parameter in one pass over the heap (default). false keeps the op-by-op
   * update on every backend: the reference the fused pass is tested and measured against.
   */
  fused?: boolean;
  /**
   * With `fused`, run the update in the oneDNN addon where its kernels are registered (default).
   * false keeps the wasm SIMD pass: the reference the addon's update is tested against.
   */
  addon?: boolean;
}

/** A dense layer weight's gradient as its factors: dW = x^T dz, x [rows, in], dz [rows, out]. */
export interface GradientFactors {
  x: tf.Tensor;
  dz: tf.Tensor;
}


export class Adam {
  private readonly m = new Map<string, tf.Variable>();
  private readonly v = new Map<string, tf.Variable>();
  private t = 0;
  /** The parameters a step begun by `applyPart` has still to update (empty between steps). */
  private pending = new Set<string>();

  constructor(
    private readonly params: Record<string, tf.Variable>,
    readonly config: AdamConfig,
    private readonly options: AdamOptions = {},
  ) {
    const { lr, beta1, beta2, eps } = config;
    if (!(lr > 0)) throw new Error(`Adam lr must be positive, got ${lr}`);
    if (!(beta1 >= 0 && beta1 < 1)) throw new Error(`Adam beta1 must be in [0, 1), got ${beta1}`);
    if (!(beta2 >= 0 && beta2 < 1)) throw new Error(`Adam beta2 must be in [0, 1), got ${beta2}`);
    if (!(eps > 0)) throw new Error(`Adam eps must be positive, got ${eps}`);
    for (const [name, p] of Object.entries(params)) {
      this.m.set(name, zeroVariable(p));
      this.v.set(name, zeroVariable(p));
    }
  }

  /** True when `apply` takes `factors` without making the whole dW (the addon's update is on): worth tapping a large dense layer for. */
  get fusesFactors(): boolean {
    return this.options.fused !== false && this.options.addon !== false && nativeAdamAvailable();
  }

  /** Steps taken so far. */
  get step(): number {
    return this.t;
  }

  /**
   * Applies one update. Every parameter must have a gradient of its shape, in `grads` or (a dense
   * layer's weight) as its factors in `factors`. Disposes nothing it was given. With `addends`, a
   * parameter that has one gets grads + addends (the same floats as tf.add first; on wasm added
   * inside the update's pass): two replicas' gradients, say.
   */
  apply(grads: Record<string, tf.Tensor>, lr = this.config.lr, addends?: Record<string, tf.Tensor>, factors: Record<string, GradientFactors> = {}): void {
    if (this.pending.size > 0) throw new Error(`Adam step ${this.t} is not finished: ${[...this.pending].join(', ')} not updated yet`);
    this.applyPart(Object.keys(this.params), grads, lr, addends, factors);
  }

  /**
   * Updates some of the parameters (`names`) in one step taken in parts: the first part begins the
   * step (its count and bias corrections), and every parameter must be updated exactly once before
   * the next step begins. The same floats as `apply` with everything at once; a data-parallel
   * replica updates one layer while the other replica's gradients of the rest are still on their way.
   */
  applyPart(names: readonly string[], grads: Record<string, tf.Tensor>, lr = this.config.lr, addends?: Record<string, tf.Tensor>, factors: Record<string, GradientFactors> = {}): void {
    if (names.length === 0) throw new Error('Adam applyPart: no parameters named');
    const beginning = this.pending.size === 0;
    const open = beginning ? new Set(Object.keys(this.params)) : this.pending;
    const seen = new Set<string>();
    for (const name of names) {
      if (!(name in this.params)) throw new Error(`Adam has no parameter '${name}'`);
      if (!open.has(name) || seen.has(name)) throw new Error(`parameter '${name}' is updated twice in Adam step ${beginning ? this.t + 1 : this.t}`);
      seen.add(name);
    }
    for (const name of names) {
      const p = this.params[name];
      const f = factors[name];
      if (f) {
        if (grads[name] || addends?.[name]) throw new Error(`parameter '${name}' has both a gradient and its factors`);
        const [nin, nout] = p.shape;
        if (p.rank !== 2 || f.x.rank !== 2 || f.dz.rank !== 2 || f.x.shape[1] !== nin || f.dz.shape[1] !== nout || f.x.shape[0] !== f.dz.shape[0] || f.x.shape[0] < 1) {
          throw new Error(`gradient factors for parameter '${name}' [${p.shape.join(', ')}] must be x [rows, ${nin}] and dz [rows, ${nout}] with rows >= 1, got [${f.x.shape.join(', ')}] and [${f.dz.shape.join(', ')}]`);
        }
        continue;
      }
      for (const [what, set] of [['gradient', grads], ['second gradient', addends]] as const) {
        if (!set) continue;
        const g = set[name];
        if (!g && set === addends) continue; // addends: for some parameters only
        if (!g) throw new Error(`no ${what} for parameter '${name}'`);
        if (!tf.util.arraysEqual(g.shape, p.shape)) throw new Error(`${what} for parameter '${name}' has shape [${g.shape.join(', ')}], the parameter [${p.shape.join(', ')}]`);
      }
    }
    if (beginning) {
      this.t += 1;
      this.pending = open;
    }
    for (const name of names) this.pending.delete(name);
    const { beta1, beta2, eps } = this.config;
    const c1 = 1 - Math.pow(beta1, this.t);
    const c2 = 1 - Math.pow(beta2, this.t);
    const onAddon = this.fusesFactors;
    const onWasm = this.options.fused !== false && !onAddon && wasmAdamAvailable();
    const f32 = (...ts: Array<tf.Tensor | undefined>) => ts.every((t) => t === undefined || t.dtype === 'float32');
    tf.tidy(() => {
      for (const name of names) {
        const p = this.params[name];
        const f = factors[name];
        const g2 = addends?.[name];
        const m = this.m.get(name)!;
        const v = this.v.get(name)!;
        // A gradient of another dtype goes through the ops, which cast it as before.
        if (onAddon && (f ? f32(f.x, f.dz) : f32(grads[name], g2))) {
          const next = nativeAdamStep(name, p, m, v, f ?? { g: grads[name], g2 }, { beta1, beta2, eps, lr, c1, c2 });
          // Written in place where nothing else shared the memory; otherwise into new tensors.
          for (const [variable, t] of [[m, next.m], [v, next.v], [p, next.p]] as const) {
            if (t === variable) continue;
            variable.assign(t);
            t.dispose();
          }
          continue;
        }
        const g1 = f ? tf.matMul(f.x as tf.Tensor2D, f.dz as tf.Tensor2D, true, false) : grads[name];
        if (onWasm && g1.dtype === 'float32' && (!g2 || g2.dtype === 'float32')) {
          const next = adamStepWasm(name, p, m, v, g1, { beta1, beta2, eps, lr, c1, c2 }, g2);
          m.assign(next.m);
          v.assign(next.v);
          p.assign(next.p);
          // The variables hold the new data now; drop these references here rather than at the end
          // of the tidy, so no more than one parameter's outputs are in flight.
          tf.dispose([next.m, next.v, next.p]);
          continue;
        }
        const g = g2 ? tf.add(g1, g2) : g1;
        const m1 = m.mul(beta1).add(g.mul(1 - beta1));
        const v1 = v.mul(beta2).add(g.square().mul(1 - beta2));
        m.assign(m1);
        v.assign(v1);
        // p -= lr * (m / c1) / (sqrt(v / c2) + eps)
        p.assign(p.sub(m1.div(c1).div(v1.div(c2).sqrt().add(eps)).mul(lr)));
      }
    });
  }

  async snapshot(prefix: string): Promise<{ step: number; arrays: NamedArray[] }> {
    if (this.pending.size > 0) throw new Error(`Adam step ${this.t} is not finished (${[...this.pending].join(', ')} not updated yet): no snapshot of half a step`);
    const arrays: NamedArray[] = [];
    for (const [name, m] of this.m) arrays.push({ name: `${prefix}.m.${name}`, shape: [...m.shape], data: (await m.data()) as Float32Array });
    for (const [name, v] of this.v) arrays.push({ name: `${prefix}.v.${name}`, shape: [...v.shape], data: (await v.data()) as Float32Array });
    return { step: this.t, arrays };
  }

  load(prefix: string, step: number, arrays: NamedArray[]): void {
    const byName = new Map(arrays.map((a) => [a.name, a]));
    const restore = (kind: 'm' | 'v', store: Map<string, tf.Variable>) => {
      for (const [name, variable] of store) {
        const a = byName.get(`${prefix}.${kind}.${name}`);
        if (!a) throw new Error(`checkpoint has no Adam ${kind === 'm' ? 'first' : 'second'} moment for '${name}' (${prefix})`);
        tf.tidy(() => variable.assign(tf.tensor(a.data, a.shape, 'float32')));
      }
    };
    restore('m', this.m);
    restore('v', this.v);
    if (!Number.isInteger(step) || step < 0) throw new Error(`Adam step must be a non-negative integer, got ${step}`);
    this.t = step;
    this.pending.clear();
  }

  dispose(): void {
    for (const x of [...this.m.values(), ...this.v.values()]) x.dispose();
    this.m.clear();
    this.v.clear();
  }
}

/** A non-trainable variable of zeros shaped like `p`, without leaving the initial tensor behind. */
function zeroVariable(p: tf.Variable): tf.Variable {
  const zeros = tf.zerosLike(p);
  const v = tf.variable(zeros, false);
  zeros.dispose();
  return v;
}
