/**
 * Full-state checkpoints as bytes: every variable (weights, running statistics, optimizer moments),
 * plus the step, schedule position, random-number states and whatever model-specific state a trainer
 * needs to resume exactly (PGGAN stage and fade-in, CycleGAN history pools). msgpack-encoded; tensors
 * travel as raw little-endian float32 bytes, never as arrays of numbers.
 */
import { Packr } from 'msgpackr';
import type { RngState } from '@gan-study/core';
import type { NamedArray } from './params';

export const CHECKPOINT_FORMAT = 'gan-study-checkpoint';
export const CHECKPOINT_VERSION = 1;

export interface Checkpoint {
  /** Which model wrote it: 'classifier', 'dcgan', 'pggan', 'cyclegan'. */
  model: string;
  /** The resolved model config it was built with (checked on load). */
  config: Record<string, unknown>;
  /** Training steps completed. */
  step: number;
  /** Model-specific scalars and small state (stage, alpha, schedule position, ...). */
  meta: Record<string, unknown>;
  /** Named random-number streams. */
  rng: Record<string, RngState>;
  /** Every tensor of the state. */
  arrays: NamedArray[];
}

const packr = new Packr({ useRecords: false, moreTypes: false });

export function encodeCheckpoint(c: Checkpoint): Uint8Array {
  const arrays = c.arrays.map((a) => ({
    name: a.name,
    shape: a.shape,
    bytes: new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength),
  }));
  return packr.pack({ format: CHECKPOINT_FORMAT, version: CHECKPOINT_VERSION, ...c, arrays });
}

/** Decodes and validates a checkpoint; `expectModel` rejects one written by another model. */
export function decodeCheckpoint(bytes: Uint8Array, expectModel?: string): Checkpoint {
  let raw: unknown;
  try {
    raw = packr.unpack(bytes);
  } catch (err) {
    throw new Error(`checkpoint is not valid msgpack: ${(err as Error).message}`);
  }
  const o = raw as Record<string, unknown>;
  if (typeof o !== 'object' || o === null || o.format !== CHECKPOINT_FORMAT) throw new Error('bytes are not a gan-study checkpoint');
  if (o.version !== CHECKPOINT_VERSION) throw new Error(`checkpoint version ${String(o.version)} is not supported (expected ${CHECKPOINT_VERSION})`);
  if (typeof o.model !== 'string') throw new Error('checkpoint has no model name');
  if (expectModel !== undefined && o.model !== expectModel) throw new Error(`checkpoint is for model '${o.model}', expected '${expectModel}'`);
  if (!Number.isInteger(o.step)) throw new Error(`checkpoint step must be an integer, got ${String(o.step)}`);
  if (!Array.isArray(o.arrays)) throw new Error('checkpoint has no arrays');
  const arrays: NamedArray[] = (o.arrays as Array<Record<string, unknown>>).map((a, i) => {
    const bytes = a.bytes;
    const shape = a.shape;
    if (typeof a.name !== 'string' || !(bytes instanceof Uint8Array) || !Array.isArray(shape)) {
      throw new Error(`checkpoint array #${i} is malformed`);
    }
    const size = (shape as number[]).reduce((x, y) => x * y, 1);
    if (bytes.byteLength !== size * 4) throw new Error(`checkpoint array '${a.name}' has ${bytes.byteLength} bytes for shape [${shape}]`);
    // Copy: the decoded bytes may not be 4-byte aligned.
    const data = new Float32Array(size);
    new Uint8Array(data.buffer).set(bytes);
    return { name: a.name, shape: shape as number[], data };
  });
  return {
    model: o.model,
    config: (o.config ?? {}) as Record<string, unknown>,
    step: o.step as number,
    meta: (o.meta ?? {}) as Record<string, unknown>,
    rng: (o.rng ?? {}) as Record<string, RngState>,
    arrays,
  };
}

/** Throws unless the checkpoint's config equals the model's on every key the model has. */
export function assertSameConfig(saved: Record<string, unknown>, current: object): void {
  for (const [key, value] of Object.entries(current)) {
    if (JSON.stringify(saved[key]) !== JSON.stringify(value)) {
      throw new Error(`checkpoint was made with ${key}=${JSON.stringify(saved[key])}, this model has ${key}=${JSON.stringify(value)}`);
    }
  }
}
