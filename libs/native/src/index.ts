/**
 * The oneDNN addon (src/addon.cc): convolutions and matrix products on Float32Arrays, for the
 * engine's wasm kernels to run on views of the wasm heap without copies.
 *
 * The addon is optional. It is built by `npm ci` (postinstall, tools/build-native.js) when oneDNN's
 * headers are installed (`apt-get install -y libdnnl-dev`), or later with `npm run build:native`;
 * `loadNative()` says why when it is not there.
 */
import * as fs from 'fs';
import { createRequire } from 'module';
import * as path from 'path';

/** Where node-gyp puts the addon. */
export const ADDON_PATH = path.resolve(__dirname, '..', 'build', 'Release', 'gan_study_native.node');

/** How to get the addon, quoted wherever it is missing. */
export const NATIVE_BUILD_HINT = 'install oneDNN (`apt-get install -y libdnnl-dev` on Debian/Ubuntu) and run `npm run build:native`';

/** A convolution's geometry, with the field names of tfjs's `backend_util.Conv2DInfo` (so one can be passed as is). */
export interface ConvGeometry {
  batchSize: number;
  inHeight: number;
  inWidth: number;
  inChannels: number;
  outHeight: number;
  outWidth: number;
  outChannels: number;
  filterHeight: number;
  filterWidth: number;
  strideHeight: number;
  strideWidth: number;
  padInfo: { top: number; bottom: number; left: number; right: number };
}

/** Activation codes of `matmul`, as tfjs names them for _FusedMatMul. */
export const MATMUL_ACTIVATIONS = { linear: 0, relu: 1, relu6: 2, leakyrelu: 3, elu: 4, sigmoid: 5 } as const;
export type MatmulActivation = keyof typeof MATMUL_ACTIVATIONS;

export interface MatmulOptions {
  /** Batch entries (>= 1); a and b hold `batch` matrices each unless shared. */
  batch: number;
  m: number;
  n: number;
  k: number;
  /** a[i] is stored [k, m] (transposed); otherwise [m, k]. */
  transposeA: boolean;
  /** b[i] is stored [n, k] (transposed); otherwise [k, n]. */
  transposeB: boolean;
  /** a is one matrix used for every batch entry. */
  sharedA?: boolean;
  /** b is one matrix used for every batch entry. */
  sharedB?: boolean;
  /** n floats added to every row of the product. */
  bias?: Float32Array;
  activation?: MatmulActivation;
  /** leakyrelu's slope for negative inputs. */
  leakyreluAlpha?: number;
}

/** One cached convolution primitive: which oneDNN implementation serves a geometry. */
export interface NativePrimitive {
  kernel: 'conv2d' | 'conv2dBackwardData' | 'conv2dBackwardWeights' | 'conv2dFused';
  geometry: string;
  /** oneDNN's implementation name, e.g. 'brgconv:avx512_core', 'jit:avx512_core', 'gemm:jit'. */
  impl: string;
  /** The filter is reordered between tfjs's hwio and a blocked layout on each call. */
  weightsReorder: boolean;
}

export interface NativeInfo {
  /** oneDNN version, e.g. '2.6.3'. */
  version: string;
  /** The instruction set oneDNN dispatches to on this CPU, e.g. 'avx512_core_bf16'. */
  isa: string;
  /** OpenMP threads per call. */
  threads: number;
  /** The convolution primitives created so far. */
  primitives: NativePrimitive[];
}

/** The addon's raw exports (positional arguments, checked in C++). */
interface RawAddon {
  conv2d(x: Float32Array, filter: Float32Array, y: Float32Array, ...geometry: number[]): void;
  conv2dBackwardData(dy: Float32Array, filter: Float32Array, dx: Float32Array, ...geometry: number[]): void;
  conv2dBackwardWeights(x: Float32Array, dy: Float32Array, dw: Float32Array, ...geometry: number[]): void;
  conv2dFused(x: Float32Array, filter: Float32Array, y: Float32Array, ...geometryBiasAlpha: Array<number | Float32Array | null>): void;
  reluBiasBackward(dy: Float32Array, y: Float32Array, dx: Float32Array, db: Float32Array | null, rows: number, channels: number, alpha: number): void;
  matmul(a: Float32Array, b: Float32Array, c: Float32Array, batch: number, m: number, n: number, k: number, transA: boolean, transB: boolean, sharedA: boolean, sharedB: boolean, bias: Float32Array | null, activation: number, alpha: number): void;
  biasActPool(z: Float32Array, bias: Float32Array | null, pooled: Float32Array, batch: number, height: number, width: number, channels: number, alpha: number): void;
  biasActPoolBackward(dpooled: Float32Array, z: Float32Array, bias: Float32Array | null, dz: Float32Array, db: Float32Array | null, batch: number, height: number, width: number, channels: number, alpha: number): void;
  adam(p: Float32Array, m: Float32Array, v: Float32Array, g: Float32Array, g2: Float32Array | null, p1: Float32Array, m1: Float32Array, v1: Float32Array, ...constants: number[]): void;
  denseAdam(x: Float32Array, dz: Float32Array, rows: number, p: Float32Array, m: Float32Array, v: Float32Array, p1: Float32Array, m1: Float32Array, v1: Float32Array, ...constants: number[]): void;
  setThreads(n: number): void;
  info(): NativeInfo;
  clearCache(): void;
}

/** An NHWC tensor's shape [batch, height, width, channels]. */
export interface Nhwc {
  batch: number;
  height: number;
  width: number;
  channels: number;
}

/**
 * Adam's constants for one step, each rounded to float32 by the addon (as tfjs makes a float32
 * scalar of each JS number in the op-by-op update).
 */
export interface AdamConstants {
  beta1: number;
  beta2: number;
  eps: number;
  lr: number;
  /** 1 - beta1^t. */
  c1: number;
  /** 1 - beta2^t. */
  c2: number;
}

/** A parameter's Adam state and where the update goes: each output is its input (in place) or disjoint from every input. */
export interface AdamArrays {
  p: Float32Array;
  m: Float32Array;
  v: Float32Array;
  p1: Float32Array;
  m1: Float32Array;
  v1: Float32Array;
}

/** The kernels, with tfjs's layouts: NHWC activations, [fh, fw, inC, outC] filters. Outputs are fully overwritten. */
export interface NativeKernels {
  /** y = conv2d(x, filter). */
  conv2d(x: Float32Array, filter: Float32Array, y: Float32Array, g: ConvGeometry): void;
  /** dx = the gradient of conv2d(x, filter) with respect to x, given dy (also conv2dTranspose's forward pass). */
  conv2dBackwardData(dy: Float32Array, filter: Float32Array, dx: Float32Array, g: ConvGeometry): void;
  /** dw = the gradient of conv2d(x, filter) with respect to the filter, given dy. */
  conv2dBackwardWeights(x: Float32Array, dy: Float32Array, dw: Float32Array, g: ConvGeometry): void;
  /**
   * y = conv2d(x, filter) (+ bias when given), then max(y, alpha y) when alpha is a number (0: ReLU,
   * 0.2: leaky ReLU): one primitive, the bias and activation applied as each output block is made.
   */
  conv2dFused(x: Float32Array, filter: Float32Array, bias: Float32Array | null, alpha: number | null, y: Float32Array, g: ConvGeometry): void;
  /**
   * The backward pass of y = max(z, alpha z) (alpha >= 0), y and dy [rows, channels]: dx = dy where
   * y > 0, else alpha dy, and db (when given) the column sums of dx. dx may be dy itself.
   */
  reluBiasBackward(dy: Float32Array, y: Float32Array, dx: Float32Array, db: Float32Array | null, rows: number, channels: number, alpha: number): void;
  /** c[i] = act(op(a[i]) op(b[i]) + bias), row-major, through oneDNN's sgemm. */
  matmul(a: Float32Array, b: Float32Array, c: Float32Array, o: MatmulOptions): void;
  /**
   * y = max(v, alpha v) with v = z + bias (bias per channel, or none; alpha >= 0, 1 for no
   * activation), then a 2x2 max pool with stride 2 and no padding (an odd last row or column is in
   * no window): pooled [batch, floor(height / 2), floor(width / 2), channels]. One pass over z.
   */
  biasActPool(z: Float32Array, bias: Float32Array | null, pooled: Float32Array, shape: Nhwc, alpha: number): void;
  /**
   * The backward pass through the three: dz = dpooled at each window's first greatest y
   * (row-major), times the slope there (1 where y > 0, else alpha), +0 elsewhere; db (when given)
   * the column sums of dz. One pass over z and dpooled.
   */
  biasActPoolBackward(dpooled: Float32Array, z: Float32Array, bias: Float32Array | null, dz: Float32Array, db: Float32Array | null, shape: Nhwc, alpha: number): void;
  /**
   * One Adam update, the op sequence of common/adam.ts in float32 (the same bits as tfjs's ops):
   * m1 = m beta1 + g (1 - beta1), v1 = v beta2 + g^2 (1 - beta2), p1 = p - (m1 / c1) / (sqrt(v1 / c2) + eps) lr,
   * with g + g2 for g when g2 is given.
   */
  adam(s: AdamArrays, g: Float32Array, g2: Float32Array | null, k: AdamConstants): void;
  /**
   * The same update of a dense layer's weight [nin, nout] whose gradient is given as its factors,
   * dW = x^T dz (x [rows, nin], dz [rows, nout]), made a block of rows at a time (never whole).
   */
  denseAdam(s: AdamArrays, x: Float32Array, dz: Float32Array, rows: number, k: AdamConstants): void;
  /** OpenMP threads for every later call (default 1). */
  setThreads(n: number): void;
  info(): NativeInfo;
  /** Drops the cached primitives. */
  clearCache(): void;
}

export type NativeLoad = { ok: true; kernels: NativeKernels; path: string } | { ok: false; path: string; reason: string };

function geometryArgs(g: ConvGeometry): number[] {
  const p = g.padInfo;
  return [g.batchSize, g.inHeight, g.inWidth, g.inChannels, g.outHeight, g.outWidth, g.outChannels, g.filterHeight, g.filterWidth, g.strideHeight, g.strideWidth, p.top, p.bottom, p.left, p.right];
}

function adamArgs(k: AdamConstants): number[] {
  return [k.beta1, 1 - k.beta1, k.beta2, 1 - k.beta2, k.c1, k.c2, k.eps, k.lr];
}

function wrap(raw: RawAddon): NativeKernels {
  return {
    conv2d: (x, filter, y, g) => raw.conv2d(x, filter, y, ...geometryArgs(g)),
    conv2dBackwardData: (dy, filter, dx, g) => raw.conv2dBackwardData(dy, filter, dx, ...geometryArgs(g)),
    conv2dBackwardWeights: (x, dy, dw, g) => raw.conv2dBackwardWeights(x, dy, dw, ...geometryArgs(g)),
    conv2dFused: (x, filter, bias, alpha, y, g) => raw.conv2dFused(x, filter, y, ...geometryArgs(g), bias, alpha),
    reluBiasBackward: (dy, y, dx, db, rows, channels, alpha) => raw.reluBiasBackward(dy, y, dx, db, rows, channels, alpha),
    matmul: (a, b, c, o) => {
      const act = o.activation ?? 'linear';
      const code = MATMUL_ACTIVATIONS[act];
      if (code === undefined) throw new Error(`matmul: unknown activation '${String(act)}' (one of ${Object.keys(MATMUL_ACTIVATIONS).join(', ')})`);
      raw.matmul(a, b, c, o.batch, o.m, o.n, o.k, o.transposeA, o.transposeB, o.sharedA ?? false, o.sharedB ?? false, o.bias ?? null, code, o.leakyreluAlpha ?? 0.2);
    },
    biasActPool: (z, bias, pooled, n, alpha) => raw.biasActPool(z, bias, pooled, n.batch, n.height, n.width, n.channels, alpha),
    biasActPoolBackward: (dpooled, z, bias, dz, db, n, alpha) => raw.biasActPoolBackward(dpooled, z, bias, dz, db, n.batch, n.height, n.width, n.channels, alpha),
    adam: (s, g, g2, k) => raw.adam(s.p, s.m, s.v, g, g2, s.p1, s.m1, s.v1, ...adamArgs(k)),
    denseAdam: (s, x, dz, rows, k) => raw.denseAdam(x, dz, rows, s.p, s.m, s.v, s.p1, s.m1, s.v1, ...adamArgs(k)),
    setThreads: (n) => raw.setThreads(n),
    info: () => raw.info(),
    clearCache: () => raw.clearCache(),
  };
}

let loaded: NativeLoad | undefined;

/**
 * Loads the addon once per process. Never throws: a missing or broken addon comes back as
 * `{ ok: false, reason }`, the reason saying what is missing and how to build it.
 */
export function loadNative(): NativeLoad {
  if (loaded) return loaded;
  if (!fs.existsSync(ADDON_PATH)) {
    loaded = { ok: false, path: ADDON_PATH, reason: `the oneDNN addon is not built (${ADDON_PATH} does not exist); ${NATIVE_BUILD_HINT}` };
    return loaded;
  }
  try {
    const raw = createRequire(__filename)(ADDON_PATH) as RawAddon;
    loaded = { ok: true, kernels: wrap(raw), path: ADDON_PATH };
  } catch (err) {
    const message = (err instanceof Error ? err.message : String(err)).split('\n')[0];
    loaded = { ok: false, path: ADDON_PATH, reason: `the oneDNN addon ${ADDON_PATH} failed to load (${message}); ${NATIVE_BUILD_HINT}` };
  }
  return loaded;
}

/** The kernels, or an Error saying why they are not available. */
export function requireNative(): NativeKernels {
  const l = loadNative();
  if (!l.ok) throw new Error(l.reason);
  return l.kernels;
}
