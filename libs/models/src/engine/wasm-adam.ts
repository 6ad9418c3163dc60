/**
 * One Adam update of one parameter as a single pass over the wasm heap: reads p, m, v and the
 * gradient, writes fresh p', m', v'. The op-by-op update (common/adam.ts) makes about ten passes over
 * memory and as many fresh tensors per parameter, plus a float32 scalar upload per constant.
 *
 * The pass is a small WebAssembly function (f32x4 SIMD, a scalar loop for the last 0-3 values) that
 * imports the wasm backend's own memory, so it reads and writes tensors where they lie. A JavaScript
 * loop was measured first: emulating float32 with Math.fround, it took ~25 ms for the classifier's
 * 2.1 M parameters against ~18 ms for the ops (XNNPACK's SIMD kernels), i.e. slower; double division
 * and the fround conversions bound it.
 *
 * The result is bit-identical to the op sequence
 *   m' = m * beta1 + g * (1 - beta1)
 *   v' = v * beta2 + square(g) * (1 - beta2)
 *   p' = p - (m' / c1) / (sqrt(v' / c2) + eps) * lr
 * as tfjs runs it: each op rounds its result to float32 and each JS number operand becomes a float32
 * scalar first (Math.fround here). WebAssembly's f32 and f32x4 add, sub, mul, div and sqrt are IEEE
 * 754 operations rounded to nearest (no flush of subnormals), as are XNNPACK's kernels on wasm and the
 * cpu backend's double operations rounded into a Float32Array (a double has more than 2 x 24 + 2
 * significand bits, so rounding twice is innocuous). Only NaN payloads may differ.
 *
 * Outputs are new tensors, never the inputs' memory: after `Variable.assign` a variable shares its
 * dataId with the assigned tensor, so writing into a variable in place could change another tensor.
 */
import * as tf from '@tensorflow/tfjs';
import type { AdamConstants } from '@gan-study/native';
import { F32, I32, V128, assembleModule, simdModule, sleb, uleb } from './wasm-asm';
import { allocF32, f32 } from './wasm-heap';

export interface AdamStepResult {
  p: tf.Tensor;
  m: tf.Tensor;
  v: tf.Tensor;
}

/**
 * adam(p, m, v, g, p1, m1, v1: byte offsets, n: count, beta1, 1-beta1, beta2, 1-beta2, c1, c2, eps, lr);
 * adamSum takes a second gradient's offset last and updates with g + g2 (one f32 add, as tf.add).
 */
type AdamKernel = (p: number, m: number, v: number, g: number, p1: number, m1: number, v1: number, n: number, b1: number, a1: number, b2: number, a2: number, c1: number, c2: number, eps: number, lr: number, g2?: number) => void;
interface AdamKernels {
  adam: AdamKernel;
  adamSum: AdamKernel;
}

/**
 * True when the wasm backend's memory can be shared with the update's kernel (tfjs-backend-wasm 4.x
 * exports it as `asm.memory`; the threaded build's shared memory is not supported). Adam uses the ops
 * otherwise.
 */
export function wasmAdamAvailable(): boolean {
  return kernel() !== null;
}

/**
 * p', m', v' for one parameter, as new float32 tensors on the wasm heap (the caller assigns and
 * disposes them). Inputs that live on another backend are moved to wasm first, as any wasm op would.
 * With `g2`, the gradient is g + g2, added in the same pass (bit for bit tf.add(g, g2) first).
 */
export function adamStepWasm(name: string, p: tf.Tensor, m: tf.Tensor, v: tf.Tensor, g: tf.Tensor, k: AdamConstants, g2?: tf.Tensor): AdamStepResult {
  const kernels = kernel();
  if (!kernels) throw new Error('Adam on wasm: the wasm backend is not active or its memory cannot be shared (see wasmAdamAvailable)');
  const n = p.size;
  const inputs = [['parameter', p], ['first moment', m], ['second moment', v], ['gradient', g], ...(g2 ? [['second gradient', g2] as const] : [])] as const;
  for (const [what, t] of inputs) {
    if (t.dtype !== 'float32') throw new Error(`Adam on wasm: ${what} of '${name}' must be float32, got ${t.dtype}`);
    if (!tf.util.arraysEqual(t.shape, p.shape)) throw new Error(`Adam on wasm: ${what} of '${name}' has shape [${t.shape.join(', ')}], the parameter [${p.shape.join(', ')}]`);
  }
  // Looking a tensor up on the heap moves it there if it lives on another backend (an allocation):
  // do it for every input before the outputs are allocated.
  const ins = [p, m, v, g, ...(g2 ? [g2] : [])].map((t) => f32(t).byteOffset);
  const outs = [allocF32(p.shape), allocF32(p.shape), allocF32(p.shape)];
  const [p1, m1, v1] = outs.map((t) => f32(t).byteOffset);
  // Each JS number becomes a float32 scalar in the ops (and an f32 argument rounds the same way).
  const fr = Math.fround;
  const run = g2 ? kernels.adamSum : kernels.adam;
  run(ins[0], ins[1], ins[2], ins[3], p1, m1, v1, n, fr(k.beta1), fr(1 - k.beta1), fr(k.beta2), fr(1 - k.beta2), fr(k.c1), fr(k.c2), fr(k.eps), fr(k.lr), ins[4]);
  return { p: outs[0], m: outs[1], v: outs[2] };
}

function kernel(): AdamKernels | null {
  return simdModule(assemble, (e) => ({ adam: e.adam as AdamKernel, adamSum: e.adamSum as AdamKernel }));
}

// ---- The module, assembled here (WebAssembly binary format 1 with the SIMD proposal's opcodes). ----

const OP = {
  block: 0x02, loop: 0x03, br: 0x0c, brIf: 0x0d, end: 0x0b, void: 0x40,
  localGet: 0x20, localSet: 0x21, localTee: 0x22,
  i32Const: 0x41, i32GeU: 0x4f, i32Add: 0x6a, i32And: 0x71, i32Shl: 0x74,
  f32Load: 0x2a, f32Store: 0x38, f32Sqrt: 0x91, f32Add: 0x92, f32Sub: 0x93, f32Mul: 0x94, f32Div: 0x95,
  simd: 0xfd,
} as const;
// Opcodes after the 0xfd prefix (LEB128-encoded).
const SIMD = { v128Load: 0, v128Store: 11, f32x4Splat: 19, f32x4Sqrt: 227, f32x4Add: 228, f32x4Sub: 229, f32x4Mul: 230, f32x4Div: 231 } as const;

/**
 * A function's locals: parameters 0-7 are i32 (byte offsets p, m, v, g, p', m', v' and the count n),
 * 8-15 f32 constants, and for adamSum 16 the second gradient's offset; then (from `first`) the loop's
 * byte offset, the end of the vector part and of the array, the constants splatted to f32x4, and the
 * element's g, m', v' (f32x4 and f32).
 */
function layout(sum: boolean) {
  const first = sum ? 17 : 16;
  return { sum, p: 0, m: 1, v: 2, g: 3, p1: 4, m1: 5, v1: 6, n: 7, consts: 8, g2: 16, off: first, vecEnd: first + 1, end: first + 2, splats: first + 3, gx4: first + 11, mx4: first + 12, vx4: first + 13, gx1: first + 14, mx1: first + 15, vx1: first + 16 };
}
type Layout = ReturnType<typeof layout>;
const K = { b1: 0, a1: 1, b2: 2, a2: 3, c1: 4, c2: 5, eps: 6, lr: 7 } as const;

/** One element's update (f32) or four (f32x4): the same op sequence as common/adam.ts. */
function update(L: Layout, lanes: 'f32' | 'f32x4'): number[] {
  const wide = lanes === 'f32x4';
  const simd = (op: number) => [OP.simd, ...uleb(op)];
  const load = wide ? [...simd(SIMD.v128Load), 0, 0] : [OP.f32Load, 0, 0];
  const store = wide ? [...simd(SIMD.v128Store), 0, 0] : [OP.f32Store, 0, 0];
  const add = wide ? simd(SIMD.f32x4Add) : [OP.f32Add];
  const sub = wide ? simd(SIMD.f32x4Sub) : [OP.f32Sub];
  const mul = wide ? simd(SIMD.f32x4Mul) : [OP.f32Mul];
  const div = wide ? simd(SIMD.f32x4Div) : [OP.f32Div];
  const sqrt = wide ? simd(SIMD.f32x4Sqrt) : [OP.f32Sqrt];
  const get = (local: number) => [OP.localGet, ...uleb(local)];
  const konst = (k: number) => get((wide ? L.splats : L.consts) + k);
  const [g, m, v] = wide ? [L.gx4, L.mx4, L.vx4] : [L.gx1, L.mx1, L.vx1];
  const addr = (base: number) => [...get(base), ...get(L.off), OP.i32Add];
  return [
    // g (adamSum: g + g2)
    ...addr(L.g), ...load, ...(L.sum ? [...addr(L.g2), ...load, ...add] : []), OP.localSet, ...uleb(g),
    // m' = m * beta1 + g * (1 - beta1)
    ...addr(L.m1),
    ...addr(L.m), ...load, ...konst(K.b1), ...mul, ...get(g), ...konst(K.a1), ...mul, ...add,
    OP.localTee, ...uleb(m), ...store,
    // v' = v * beta2 + (g * g) * (1 - beta2)
    ...addr(L.v1),
    ...addr(L.v), ...load, ...konst(K.b2), ...mul, ...get(g), ...get(g), ...mul, ...konst(K.a2), ...mul, ...add,
    OP.localTee, ...uleb(v), ...store,
    // p' = p - (m' / c1) / (sqrt(v' / c2) + eps) * lr
    ...addr(L.p1),
    ...addr(L.p), ...load,
    ...get(m), ...konst(K.c1), ...div,
    ...get(v), ...konst(K.c2), ...div, ...sqrt, ...konst(K.eps), ...add,
    ...div, ...konst(K.lr), ...mul,
    ...sub, ...store,
  ];
}

/** while (off < limit) { body; off += step } */
function loopTo(L: Layout, limit: number, step: number, body: number[]): number[] {
  return [
    OP.block, OP.void, OP.loop, OP.void,
    OP.localGet, ...uleb(L.off), OP.localGet, ...uleb(limit), OP.i32GeU, OP.brIf, 1,
    ...body,
    OP.localGet, ...uleb(L.off), OP.i32Const, ...sleb(step), OP.i32Add, OP.localSet, ...uleb(L.off),
    OP.br, 0,
    OP.end, OP.end,
  ];
}

function assemble(): Uint8Array {
  return assembleModule([adamFunction(layout(false), 'adam'), adamFunction(layout(true), 'adamSum')]);
}

function adamFunction(L: Layout, name: string): { name: string; params: number[]; locals: Array<[number, number]>; code: number[] } {
  const params = [I32, I32, I32, I32, I32, I32, I32, I32, F32, F32, F32, F32, F32, F32, F32, F32, ...(L.sum ? [I32] : [])];
  const code = [
    // vecEnd = (n & ~3) * 4, end = n * 4 (byte offsets; compared unsigned, the heap reaches 4 GiB)
    OP.localGet, ...uleb(L.n), OP.i32Const, ...sleb(-4), OP.i32And, OP.i32Const, 2, OP.i32Shl, OP.localSet, ...uleb(L.vecEnd),
    OP.localGet, ...uleb(L.n), OP.i32Const, 2, OP.i32Shl, OP.localSet, ...uleb(L.end),
    ...Object.values(K).flatMap((k) => [OP.localGet, ...uleb(L.consts + k), OP.simd, ...uleb(SIMD.f32x4Splat), OP.localSet, ...uleb(L.splats + k)]),
    ...loopTo(L, L.vecEnd, 16, update(L, 'f32x4')),
    ...loopTo(L, L.end, 4, update(L, 'f32')),
    OP.end,
  ];
  return { name, params, locals: [[3, I32], [11, V128], [3, F32]], code };
}

