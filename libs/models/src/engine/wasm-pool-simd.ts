/**
 * The gradient of a 2x2 max pool with stride 2 (the classifier's pools) as a small WebAssembly
 * module with f32x4 SIMD on the wasm backend's own memory (wasm-asm.ts), four channels per
 * instruction and no branches: one call per output row.
 *
 * For an output row, `x0` and `x1` point at the two input rows under it and `d0`, `d1` at the same
 * rows of dx, `dy` at the output row's gradient. For each output column j and 4 channels:
 *   m = the running maximum over a, b, c, e (x0[2j], x0[2j+1], x1[2j], x1[2j+1]), from -inf, kept
 *       where a value is not greater (so NaN never wins and the first of equal values stays),
 *   the first of a, b, c, e (row-major) equal to m receives dy, the others 0; no window gets any when
 *   m stayed -inf.
 * That is maxPoolGradHeap's rule (wasm-movement-kernels.ts: the first strict maximum in row-major
 * order): the same dx. Measured on the classifier's first pool (32 x 64 x 64 x 32, one core):
 * 27 ms in that JavaScript loop, 4.3 ms here.
 */
import { I32, V128, assembleModule, simdModule, sleb, uleb } from './wasm-asm';

/** (x0, x1, dy, d0, d1, ow, C): byte addresses on the heap; ow output columns of C channels (C a multiple of 4). */
export type PoolRowFn = (x0: number, x1: number, dy: number, d0: number, d1: number, ow: number, C: number) => void;

/** The function on the active wasm backend's memory, or null (not wasm, or a memory it cannot import). */
export function poolSimd(): PoolRowFn | null {
  return simdModule(assemble, (e) => e.maxPoolGrad2x2Row as PoolRowFn);
}

// Locals: the 7 parameters, then i32s, then v128s.
const [X0, X1, DY, D0, D1, OW, C] = [0, 1, 2, 3, 4, 5, 6];
const [J, CB, CBYTES, O] = [7, 8, 9, 10];
const [A, B, CC, E, M, REM, H, G, NINF] = [11, 12, 13, 14, 15, 16, 17, 18, 19];

type Code = number[];
const get = (l: number): Code => [0x20, ...uleb(l)];
const set = (l: number): Code => [0x21, ...uleb(l)];
const i32c = (n: number): Code => [0x41, ...sleb(n)];
const add = [0x6a];
const mul = [0x6c];
const shl = [0x74];
const geU = [0x4f];
const simd = (op: number): Code => [0xfd, ...uleb(op)];
const load = [...simd(0x00), 0, 0];
const store = [...simd(0x0b), 0, 0];
const eq = simd(0x41);
const gt = simd(0x44);
const and = simd(0x4e);
const andnot = simd(0x4f);
const bitselect = simd(0x52);
const splat = simd(0x13);

/** The address ptr + o (+ cBytes when `right`). */
const at = (ptr: number, right: boolean): Code => [...get(ptr), ...get(O), ...add, ...(right ? [...get(CBYTES), ...add] : [])];
/** m = v > m ? v : m */
const keepMax = (v: number): Code => [...get(v), ...get(M), ...get(v), ...get(M), ...gt, ...bitselect, ...set(M)];
/** h = (v == m) & rem; store dy & h at `addr`; then rem &= ~h (skipped for the last value). */
const place = (v: number, addr: Code, last: boolean): Code => [
  ...get(v), ...get(M), ...eq, ...get(REM), ...and, ...set(H),
  ...addr, ...get(G), ...get(H), ...and, ...store,
  ...(last ? [] : [...get(REM), ...get(H), ...andnot, ...set(REM)]),
];

function loop(counter: number, limit: number, step: Code, body: Code): Code {
  return [
    ...i32c(0), ...set(counter),
    0x02, 0x40, 0x03, 0x40, // block, loop
    ...get(counter), ...get(limit), ...geU, 0x0d, 1, // br_if 1 (out of the block) when counter >= limit
    ...body,
    ...get(counter), ...step, ...add, ...set(counter),
    0x0c, 0, 0x0b, 0x0b, // br 0 (loop again), end loop, end block
  ];
}

const BODY: Code = [
  ...get(C), ...i32c(2), ...shl, ...set(CBYTES),
  0x43, 0x00, 0x00, 0x80, 0xff, ...splat, ...set(NINF), // f32.const -inf
  ...loop(J, OW, i32c(1), loop(CB, CBYTES, i32c(16), [
    // o = 2 j cBytes + cb: the window's left column in both input rows
    ...get(J), ...get(CBYTES), ...mul, ...i32c(1), ...shl, ...get(CB), ...add, ...set(O),
    ...at(X0, false), ...load, ...set(A),
    ...at(X0, true), ...load, ...set(B),
    ...at(X1, false), ...load, ...set(CC),
    ...at(X1, true), ...load, ...set(E),
    ...get(NINF), ...set(M),
    ...keepMax(A), ...keepMax(B), ...keepMax(CC), ...keepMax(E),
    ...get(M), ...get(NINF), ...gt, ...set(REM),
    // g = dy[j cBytes + cb]
    ...get(DY), ...get(J), ...get(CBYTES), ...mul, ...add, ...get(CB), ...add, ...load, ...set(G),
    ...place(A, at(D0, false), false),
    ...place(B, at(D0, true), false),
    ...place(CC, at(D1, false), false),
    ...place(E, at(D1, true), true),
  ])),
  0x0b,
];

function assemble(): Uint8Array {
  return assembleModule([{ name: 'maxPoolGrad2x2Row', params: [I32, I32, I32, I32, I32, I32, I32], locals: [[4, I32], [9, V128]], code: BODY }]);
}
