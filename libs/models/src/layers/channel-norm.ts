/**
 * The fused normalisation op behind instanceNorm and batchNorm: x [..., C] viewed as [G, R, C],
 * each (group, channel) normalised over its R rows, then an optional per-channel scale (gamma) and
 * shift (beta) and activation, as one tf.customGrad op:
 *   y = act(gamma * (x + bias - mean) / sqrt(var + eps) + beta),  mean and biased var over the rows.
 * `bias` is a per-channel shift added before normalising: a preceding conv's bias, fused here so
 * that the sum is not one more tensor kept for the backward pass. (The norm subtracts it again; its
 * gradient, the sum of dx, is zero up to rounding, as it is for torch's conv bias before a norm.)
 *
 * What the backward keeps: x (or, with neither activation nor gamma/beta, y itself, which the next
 * op usually keeps anyway) and the [G, C] mean and variance, sharing their buffers (on wasm too:
 * engine/fixes.ts shareSavedTensorsOnWasm). The
 * backward pass per group and channel, with g the gradient at the activation's input:
 *   dx = gamma * rstd * (g - mean(g) - xhat * mean(g * xhat)),  dgamma = sum(g * xhat),  dbeta = sum(g),
 *   dbias = sum(dx), evaluated from the sums (it is zero up to rounding).
 * On wasm both passes run as heap kernels (engine/wasm-norm.ts: two passes over memory each way);
 * on other backends as tfjs ops, all on the device.
 */
import * as tf from '@tensorflow/tfjs';
import { onWasm } from '../engine/wasm-heap';
import { CHANNEL_NORM, CHANNEL_NORM_GRAD, runWasmNormKernel } from '../engine/wasm-norm';
import type { ChannelNormAttrs, ChannelParams } from '../engine/wasm-norm';

export type NormActivation = 'linear' | 'relu' | 'leakyRelu';

export interface ChannelNormOptions {
  /** Added to the variance. */
  eps: number;
  /** Per-channel shift [C] added to x before normalising (see the header). */
  bias?: tf.Tensor1D;
  /** Per-channel scale [C] after normalising. */
  gamma?: tf.Tensor1D;
  /** Per-channel shift [C] after normalising (and scaling). */
  beta?: tf.Tensor1D;
  /** Applied last; default 'linear'. */
  activation?: NormActivation;
  /** Negative-side slope of 'leakyRelu' (default 0.2, as tf.leakyRelu). */
  leakyreluAlpha?: number;
  /** Receives the batch statistics, mean and biased variance [G, C], during the call (disposed after it). */
  onStats?: (mean: tf.Tensor2D, variance: tf.Tensor2D) => void;
}

const PARAMS = ['bias', 'gamma', 'beta'] as const;
type ParamName = (typeof PARAMS)[number];

/** The activation as the slope of its negative side: 1 linear, 0 ReLU. */
export function activationSlope(what: string, o: Pick<ChannelNormOptions, 'activation' | 'leakyreluAlpha'>): number {
  const act = o.activation ?? 'linear';
  if (act === 'linear') return 1;
  if (act === 'relu') return 0;
  if (act === 'leakyRelu') {
    const alpha = o.leakyreluAlpha ?? 0.2;
    if (!Number.isFinite(alpha)) throw new Error(`${what} leakyreluAlpha must be a finite number, got ${alpha}`);
    return alpha;
  }
  throw new Error(`${what} activation must be 'linear', 'relu' or 'leakyRelu', got ${JSON.stringify(act)}`);
}

/** Checks eps and the per-channel tensors; returns the activation slope. */
export function checkNormOptions(what: string, x: tf.Tensor, o: Omit<ChannelNormOptions, 'onStats'>): number {
  if (!(o.eps > 0)) throw new Error(`${what} eps must be positive, got ${o.eps}`);
  if (x.dtype !== 'float32') throw new Error(`${what} needs float32 input, got ${x.dtype}`);
  const channels = x.shape[x.rank - 1];
  for (const name of PARAMS) {
    const t = o[name];
    if (t && (t.rank !== 1 || t.shape[0] !== channels)) throw new Error(`${what} ${name} must have shape [${channels}], got [${t.shape}]`);
  }
  return activationSlope(what, o);
}

/** The activation on tensors (op path and the composed references). */
export function activate(v: tf.Tensor, slope: number): tf.Tensor {
  if (slope === 1) return v;
  if (slope === 0) return tf.relu(v);
  return tf.leakyRelu(v, slope);
}

/** Forward as tfjs ops: [y, mean [G, C], variance [G, C]]. */
function forwardOps(x: tf.Tensor, p: ChannelParams, a: ChannelNormAttrs): tf.Tensor[] {
  const C = x.shape[x.rank - 1];
  const xb = p.bias ? tf.add(x, p.bias) : x;
  const x3 = tf.reshape(xb, [a.groups, -1, C]);
  const { mean, variance } = tf.moments(x3, 1, true); // [G, 1, C]
  let v = tf.mul(tf.sub(x3, mean), tf.rsqrt(tf.add(variance, a.eps)));
  if (p.gamma) v = tf.mul(v, p.gamma);
  if (p.beta) v = tf.add(v, p.beta);
  return [tf.reshape(activate(v, a.slope), x.shape), tf.reshape(mean, [a.groups, C]), tf.reshape(variance, [a.groups, C])];
}

/** Backward as tfjs ops: dx, then the gradients of the per-channel tensors present (bias, gamma, beta). */
function backwardOps(dy: tf.Tensor, src: tf.Tensor, srcIsOutput: boolean, mean: tf.Tensor, variance: tf.Tensor, p: ChannelParams, a: ChannelNormAttrs): tf.Tensor[] {
  const [G, C] = mean.shape;
  const rstd = tf.rsqrt(tf.add(tf.reshape(variance, [G, 1, C]), a.eps));
  const xh = srcIsOutput ? tf.reshape(src, [G, -1, C]) : tf.mul(tf.sub(tf.reshape(p.bias ? tf.add(src, p.bias) : src, [G, -1, C]), tf.reshape(mean, [G, 1, C])), rstd);
  const R = xh.shape[1] as number;
  let g = tf.reshape(dy, [G, R, C]);
  if (a.slope !== 1) {
    let v = xh;
    if (p.gamma) v = tf.mul(v, p.gamma);
    if (p.beta) v = tf.add(v, p.beta);
    g = tf.where(tf.greater(v, 0), g, tf.mul(g, a.slope));
  }
  const s1 = tf.sum(g, 1, true); // [G, 1, C]
  const s2 = tf.sum(tf.mul(g, xh), 1, true);
  const m1 = tf.div(s1, R);
  const m2 = tf.div(s2, R);
  const k = p.gamma ? tf.mul(rstd, p.gamma) : rstd;
  const dx3 = tf.mul(tf.sub(tf.sub(g, m1), tf.mul(xh, m2)), k);
  const out = [tf.reshape(dx3, src.shape)];
  // The sum of dx over the rows from the sums, k (s1 - R m1 - m2 sum(xhat)): zero up to the rounding
  // of m1 and of the mean (engine/wasm-norm.ts biasGrad).
  if (p.bias) out.push(tf.sum(tf.mul(k, tf.sub(tf.sub(s1, tf.mul(m1, R)), tf.mul(m2, tf.sum(xh, 1, true)))), [0, 1]));
  if (p.gamma) out.push(tf.sum(s2, [0, 1]));
  if (p.beta) out.push(tf.sum(s1, [0, 1]));
  return out;
}

/**
 * The fused op on x [..., C] in `groups` leading groups (x.size / groups / C rows each). `name`
 * labels the op in profiles and on the gradient tape.
 */
export function channelNorm(name: string, x: tf.Tensor, groups: number, o: ChannelNormOptions): tf.Tensor {
  const slope = checkNormOptions(name, x, o);
  const C = x.shape[x.rank - 1];
  if (!Number.isInteger(groups) || groups < 1 || x.size % (groups * C) !== 0 || x.size === 0) {
    throw new Error(`${name}: cannot split x [${x.shape.join(', ')}] into ${groups} groups of whole rows of ${C} channels`);
  }
  const names: ParamName[] = PARAMS.filter((k) => o[k] !== undefined);
  const attrs: ChannelNormAttrs = { groups, eps: o.eps, slope };
  // Without activation and affine parameters y is xhat itself: keep y (which the next op keeps
  // too, as its input) instead of x.
  const srcIsOutput = slope === 1 && !o.gamma && !o.beta;
  const unpack = (ts: tf.Tensor[]): ChannelParams => Object.fromEntries(names.map((k, i) => [k, ts[i]]));
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const xIn = args[0] as tf.Tensor;
    const paramList = args.slice(1, -1) as tf.Tensor[];
    const p = unpack(paramList);
    const [y, mean, variance] = onWasm() ? (runWasmNormKernel(CHANNEL_NORM, { x: xIn, ...p }, attrs) as tf.Tensor[]) : forwardOps(xIn, p, attrs);
    o.onStats?.(mean as tf.Tensor2D, variance as tf.Tensor2D);
    save([srcIsOutput ? y : xIn, mean, variance, ...paramList]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [src, m, v, ...ps] = saved;
        const sp = unpack(ps);
        if (onWasm()) return runWasmNormKernel(CHANNEL_NORM_GRAD, { dy, src, mean: m, variance: v, ...sp }, { ...attrs, srcIsOutput }) as tf.Tensor[];
        return backwardOps(dy, src, srcIsOutput, m, v, sp, attrs);
      },
    };
  });
  return tf.tidy(name, () => op(x, ...names.map((k) => o[k] as tf.Tensor)));
}
