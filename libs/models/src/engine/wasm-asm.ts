/**
 * What the hand-assembled SIMD modules (wasm-adam.ts, wasm-norm-simd.ts, wasm-pool-simd.ts) share: the binary
 * format's encodings, and one instance of a module per wasm backend memory.
 *
 * The modules import the wasm backend's own memory, so their loops run on tensors where they lie,
 * with f32x4 SIMD (the backend's build has it). They are WebAssembly binary format 1 with the SIMD
 * proposal's opcodes, written as bytes here: a few small loops do not warrant a toolchain.
 */
import * as tf from '@tensorflow/tfjs';

/** The parts of the WebAssembly global used here (the project's TypeScript libs do not declare it). */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: Record<string, Record<string, unknown>>) => { exports: Record<string, unknown> };
}
const wasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

// Per module (keyed by its assembler): the compiled module (null where the runtime has no WebAssembly
// SIMD; Node has it since 16.4), and one instance per wasm memory (a new backend instance has a new memory).
const modules = new Map<() => Uint8Array, { module: object | null; instances: WeakMap<WasmMemory, unknown> }>();

/**
 * The functions of the module `assemble` makes, instantiated on the active wasm backend's memory
 * and picked out of its exports by `pick`; null when the backend is not wasm, its memory cannot
 * be imported (the threaded build's is a SharedArrayBuffer), or the runtime cannot compile SIMD.
 */
export function simdModule<T>(assemble: () => Uint8Array, pick: (exports: Record<string, unknown>) => T): T | null {
  if (tf.getBackend() !== 'wasm') return null;
  const memory: unknown = (tf.backend() as unknown as { wasm?: { asm?: { memory?: unknown } } }).wasm?.asm?.memory;
  if (!isUnsharedMemory(memory)) return null;
  let m = modules.get(assemble);
  if (!m) modules.set(assemble, (m = { module: compile(assemble()), instances: new WeakMap() }));
  if (!m.module) return null;
  let fns = m.instances.get(memory) as T | undefined;
  if (!fns) {
    fns = pick(new wasmApi.Instance(m.module, { env: { memory } }).exports);
    m.instances.set(memory, fns);
  }
  return fns;
}

function compile(bytes: Uint8Array): object | null {
  try {
    return new wasmApi.Module(bytes);
  } catch {
    return null;
  }
}

/** Tag checks, not instanceof: the backend's module may come from another realm (jest's vm contexts). */
function isUnsharedMemory(x: unknown): x is WasmMemory {
  const tag = (y: unknown) => Object.prototype.toString.call(y);
  return tag(x) === '[object WebAssembly.Memory]' && tag((x as WasmMemory).buffer) === '[object ArrayBuffer]';
}

export const I32 = 0x7f;
export const F32 = 0x7d;
export const V128 = 0x7b;

export function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

export function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)) return [...out, byte];
    out.push(byte | 0x80);
  }
}

export const ascii = (s: string) => [...uleb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];
export const section = (id: number, body: number[]) => [id, ...uleb(body.length), ...body];
export const vec = (items: number[][]) => [...uleb(items.length), ...items.flat()];

/**
 * A module of functions (each: parameter types, locals as [count, type] runs, body ending in `end`)
 * importing env.memory and exporting them by name.
 */
export function assembleModule(fns: ReadonlyArray<{ name: string; params: number[]; locals: Array<[number, number]>; code: number[] }>): Uint8Array {
  const types = fns.map((f) => [0x60, ...vec(f.params.map((t) => [t])), 0]);
  const bodies = fns.map((f) => {
    const body = [...vec(f.locals.map(([count, type]) => [...uleb(count), type])), ...f.code];
    return [...uleb(body.length), ...body];
  });
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec(types)),
    ...section(2, vec([[...ascii('env'), ...ascii('memory'), 0x02, 0x00, 0x00]])), // memory, min 0, no max
    ...section(3, vec(fns.map((_, i) => uleb(i)))),
    ...section(7, vec(fns.map((f, i) => [...ascii(f.name), 0x00, ...uleb(i)]))),
    ...section(10, vec(bodies)),
  ]);
}
