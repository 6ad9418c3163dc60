/**
 * Adam (Kingma & Ba 2015), as torch.optim.Adam computes it, with its whole state in named variables
 * so that a checkpoint restores the moments and the step count exactly. The learning rate is passed
 * per step, so schedules (CycleGAN's linear decay) live with the caller and resume with the step.
 *
 * Gradients come in by parameter name: a data-parallel job all-reduces them between computing and
 * applying them.
 *
 * On the wasm backend each parameter's update is one pass over the heap (engine/wasm-adam.ts) that
 * gives the same bits as the op-by-op update below; other backends (cpu, tensorflow on a GPU) run
 * the ops, so a GPU keeps the update on the device.
 */
import * as tf from '@tensorflow/tfjs';
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
}

export class Adam {
  private readonly m = new Map<string, tf.Variable>();
  private readonly v = new Map<string, tf.Variable>();
  private t = 0;

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

  /** Steps taken so far. */
  get step(): number {
    return this.t;
  }

  /**
   * Applies one update. Every parameter must have a gradient of its shape. Disposes nothing it was
   * given. With `addends`, a parameter that has one gets grads + addends (the same floats as tf.add
   * first; on wasm added inside the update's pass): two replicas' gradients, say.
   */
  apply(grads: Record<string, tf.Tensor>, lr = this.config.lr, addends?: Record<string, tf.Tensor>): void {
    for (const [name, p] of Object.entries(this.params)) {
      for (const [what, set] of [['gradient', grads], ['second gradient', addends]] as const) {
        if (!set) continue;
        const g = set[name];
        if (!g && set === addends) continue; // addends: for some parameters only
        if (!g) throw new Error(`no ${what} for parameter '${name}'`);
        if (!tf.util.arraysEqual(g.shape, p.shape)) throw new Error(`${what} for parameter '${name}' has shape [${g.shape.join(', ')}], the parameter [${p.shape.join(', ')}]`);
      }
    }
    const { beta1, beta2, eps } = this.config;
    this.t += 1;
    const c1 = 1 - Math.pow(beta1, this.t);
    const c2 = 1 - Math.pow(beta2, this.t);
    const fused = this.options.fused !== false && wasmAdamAvailable();
    tf.tidy(() => {
      for (const [name, p] of Object.entries(this.params)) {
        const g2 = addends?.[name];
        const m = this.m.get(name)!;
        const v = this.v.get(name)!;
        // A gradient of another dtype goes through the ops, which cast it as before.
        if (fused && grads[name].dtype === 'float32' && (!g2 || g2.dtype === 'float32')) {
          const next = adamStepWasm(name, p, m, v, grads[name], { beta1, beta2, eps, lr, c1, c2 }, g2);
          m.assign(next.m);
          v.assign(next.v);
          p.assign(next.p);
          // The variables hold the new data now; drop these references here rather than at the end
          // of the tidy, so no more than one parameter's outputs are in flight.
          tf.dispose([next.m, next.v, next.p]);
          continue;
        }
        const g = g2 ? tf.add(grads[name], g2) : grads[name];
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
