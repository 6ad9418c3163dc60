/**
 * Named parameters with seeded initialization. tfjs initializers do not always honour their seed, so
 * every weight of every model is drawn here from the project's own Rng, in creation order: the same
 * seed gives the same weights on every backend.
 *
 * Trainable parameters and non-trainable buffers (batch-norm running statistics) live side by side;
 * both are tf.Variables, both go into checkpoints, only the trainable ones get gradients.
 */
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '@gan-study/core';

export type Init =
  | { kind: 'zeros' }
  | { kind: 'ones' }
  | { kind: 'constant'; value: number }
  | { kind: 'normal'; mean: number; std: number }
  | { kind: 'uniform'; lo: number; hi: number }
  /** PyTorch's default for Conv/Linear weights: kaiming_uniform(a=sqrt(5)) = U(-1/sqrt(fanIn), 1/sqrt(fanIn)). */
  | { kind: 'torchDefault'; fanIn: number }
  /** He (Kaiming) normal, std = gain / sqrt(fanIn). */
  | { kind: 'heNormal'; fanIn: number; gain?: number };

export interface NamedArray {
  name: string;
  shape: number[];
  data: Float32Array;
}

export class ParamStore {
  private readonly vars = new Map<string, tf.Variable>();
  private readonly trainableNames = new Set<string>();

  constructor(private readonly rng: Rng) {}

  /** Creates a trainable parameter. Names are unique within a store, e.g. 'g.conv1.w'. */
  add(name: string, shape: number[], init: Init): tf.Variable {
    const v = this.create(name, shape, init, true);
    this.trainableNames.add(name);
    return v;
  }

  /** Creates a non-trainable buffer (running statistics), checkpointed but never given gradients. */
  addBuffer(name: string, shape: number[], init: Init): tf.Variable {
    return this.create(name, shape, init, false);
  }

  get(name: string): tf.Variable {
    const v = this.vars.get(name);
    if (!v) throw new Error(`no parameter named '${name}'`);
    return v;
  }

  has(name: string): boolean {
    return this.vars.has(name);
  }

  /** Trainable variables, in creation order. */
  trainable(prefix = ''): tf.Variable[] {
    return [...this.vars.entries()].filter(([n]) => this.trainableNames.has(n) && n.startsWith(prefix)).map(([, v]) => v);
  }

  /** Trainable variables keyed by name, in creation order. */
  trainableMap(prefix = ''): Record<string, tf.Variable> {
    const out: Record<string, tf.Variable> = {};
    for (const [n, v] of this.vars) if (this.trainableNames.has(n) && n.startsWith(prefix)) out[n] = v;
    return out;
  }

  /** Number of trainable scalars under a name prefix ('' for all). */
  count(prefix = ''): number {
    return this.trainable(prefix).reduce((sum, v) => sum + v.size, 0);
  }

  names(): string[] {
    return [...this.vars.keys()];
  }

  /** Every variable's values (trainable and buffers), for checkpoints and gradient exchange. */
  async snapshot(): Promise<NamedArray[]> {
    const out: NamedArray[] = [];
    for (const [name, v] of this.vars) out.push({ name, shape: [...v.shape], data: (await v.data()) as Float32Array });
    return out;
  }

  /** Loads values saved by `snapshot`; every variable must be present with the same shape. */
  load(arrays: NamedArray[]): void {
    const byName = new Map(arrays.map((a) => [a.name, a]));
    for (const [name, v] of this.vars) {
      const a = byName.get(name);
      if (!a) throw new Error(`checkpoint has no values for parameter '${name}'`);
      if (a.shape.length !== v.shape.length || a.shape.some((d, i) => d !== v.shape[i])) {
        throw new Error(`checkpoint shape for '${name}' is [${a.shape}], the model's is [${v.shape}]`);
      }
      tf.tidy(() => v.assign(tf.tensor(a.data, a.shape, 'float32')));
    }
  }

  dispose(): void {
    for (const v of this.vars.values()) v.dispose();
    this.vars.clear();
    this.trainableNames.clear();
  }

  private create(name: string, shape: number[], init: Init, trainable: boolean): tf.Variable {
    if (this.vars.has(name)) throw new Error(`parameter '${name}' is defined twice`);
    if (shape.some((d) => !Number.isInteger(d) || d <= 0)) throw new Error(`parameter '${name}' has a bad shape [${shape}]`);
    const values = initialValues(this.rng, shape.reduce((a, b) => a * b, 1), init);
    // tfjs variable names are global to the engine; ours are per store, so tfjs names them itself.
    const initial = tf.tensor(values, shape, 'float32');
    const v = tf.variable(initial, trainable);
    initial.dispose();
    this.vars.set(name, v);
    return v;
  }
}

function initialValues(rng: Rng, n: number, init: Init): Float32Array {
  const out = new Float32Array(n);
  switch (init.kind) {
    case 'zeros':
      return out;
    case 'ones':
      return out.fill(1);
    case 'constant':
      return out.fill(init.value);
    case 'normal':
      return rng.fillNormal(out, init.mean, init.std);
    case 'uniform':
      return rng.fillUniform(out, init.lo, init.hi);
    case 'torchDefault': {
      const bound = 1 / Math.sqrt(init.fanIn);
      return rng.fillUniform(out, -bound, bound);
    }
    case 'heNormal':
      return rng.fillNormal(out, 0, (init.gain ?? Math.SQRT2) / Math.sqrt(init.fanIn));
  }
}
