/**
 * The wire protocol between the coordinator, its trainers, and trainers among themselves (ring
 * all-reduce). One versioned module, shared by both apps through this library (zeromq.js
 * `examples/majordomo` keeps its protocol the same way: data, not code).
 *
 * A message is a msgpack map `{ v, kind, ...fields }` (the header), sent in one of two framings:
 * - one frame (`encode*Message`): bulk payloads (tensors, checkpoints, artifacts, datasets) are
 *   msgpack `bin` fields inside the map — raw bytes, a Float32Array's bytes, never numbers;
 * - header + payload frames (`encode*Frames`, protocol 2): every top-level bytes field leaves the map
 *   and travels as a ZeroMQ frame of its own, in the order the header's `$frames` key names them.
 *   zeromq.js sends a frame of more than 128 bytes straight from the caller's memory and hands a
 *   received one over as a Buffer on ZeroMQ's own allocation (8-byte aligned), so a tensor is never
 *   copied on its way: no msgpack copy in, no unaligned `bin` to copy out. Measured on 10 MB
 *   (tools/bench/allreduce.ts): the msgpack copies and the unaligned copies behind them were most
 *   of the all-reduce's CPU time.
 * Both framings decode the same way, so a receiver need not know which one the sender used.
 *
 * Decoding validates with zod at the socket edge: anything that is not valid msgpack, has the
 * wrong version, an unknown kind, payload frames that do not match the header's list, or fields of
 * the wrong type comes back as a `DecodeFailure` with a reason the caller logs before dropping the
 * message. Nothing unchecked is ever cast.
 */
import { Packr } from 'msgpackr';
import { z } from 'zod';

/**
 * Bump on any incompatible change; both sides reject other versions.
 * 2: payload frames (`$frames`); ring chunks travel in pieces (`part` of `parts`).
 * 3: `grad-range`: two replicas exchange their vectors range by range as the ranges become final.
 * 4: `grad-shared`: two replicas on one host exchange their vectors through shared memory.
 * 5: `welcome.syntheticSet`: trainers may make the synthetic set themselves from its recipe.
 * 6: a data-parallel classifier's vector carries a large dense layer as its factors (Classifier.exchange).
 * 7: a swap in shared memory sends its `grad-shared` note only to a replica that waits (its flag in the file).
 * 8: a pair's second vector ends with its pass time after the loss (Classifier.pairStep; the job's
 *    spec may set `balanceShards`).
 */
export const PROTOCOL_VERSION = 8;

/** The header key listing, in order, the fields whose bytes follow the header as frames of their own. */
export const PAYLOAD_FRAMES_KEY = '$frames';

// `useRecords: false` keeps plain msgpack maps (no msgpackr record extension), so any msgpack
// implementation can speak the protocol; `mapsAsObjects` decodes maps to plain objects.
const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false });

const bytes = z.custom<Uint8Array>((v) => v instanceof Uint8Array, { message: 'expected binary bytes' });
const id = z.string().min(1).max(200);
const count = z.number().int().nonnegative();
const finite = z.number().finite();
const losses = z.record(z.string(), z.number());

/** What a trainer reports about itself when it connects (and the coordinator logs on every event). */
export const trainerInfoSchema = z.strictObject({
  host: z.string(),
  pid: z.number().int(),
  /** Compute devices in use, as the backend names them ('cpu (JavaScript)', 'GPU 0: ...'). */
  device: z.string(),
  backend: z.string(),
  /** CUDA_VISIBLE_DEVICES as the trainer saw it, or null. */
  gpu: z.string().nullable(),
  /** Address other trainers reach this one's peer socket at (ring all-reduce), or null. */
  peerAddress: z.string().nullable(),
});
export type TrainerInfo = z.infer<typeof trainerInfoSchema>;

/** A job attempt's identity: every job-scoped message names both, so stale attempts are recognised. */
const jobRef = { job: id, attempt: z.number().int().positive() };

// ---- trainer → coordinator -------------------------------------------------------------------

const hello = z.strictObject({ v: z.literal(PROTOCOL_VERSION), kind: z.literal('hello'), trainer: id, info: trainerInfoSchema });
const trainerHeartbeat = z.strictObject({
  v: z.literal(PROTOCOL_VERSION),
  kind: z.literal('heartbeat'),
  /** Job attempts this trainer is running (`job#attempt`). */
  running: z.array(z.string()),
  /**
   * How long the trainer's main thread has not been seen alive (ms). Heartbeats come from a
   * separate thread (and its own socket, routing id `<trainer>#hb`), so a long synchronous
   * training step does not look like a dead trainer; a main thread stuck for too long does.
   */
  lagMs: count,
});
const progress = z.strictObject({
  v: z.literal(PROTOCOL_VERSION),
  kind: z.literal('progress'),
  ...jobRef,
  rank: count,
  step: count,
  total: count,
  losses,
  imagesPerSec: finite.nonnegative(),
});
const logMessage = z.strictObject({
  v: z.literal(PROTOCOL_VERSION),
  kind: z.literal('log'),
  ...jobRef,
  level: z.enum(['info', 'warn']),
  msg: z.string(),
  fields: z.record(z.string(), z.unknown()),
});
const checkpoint = z.strictObject({ v: z.literal(PROTOCOL_VERSION), kind: z.literal('checkpoint'), ...jobRef, req: count, step: count, data: bytes });
const putArtifact = z.strictObject({ v: z.literal(PROTOCOL_VERSION), kind: z.literal('put-artifact'), ...jobRef, req: count, name: id, data: bytes });
/** An artifact of `source`, a job this one depends on. */
const getArtifact = z.strictObject({ v: z.literal(PROTOCOL_VERSION), kind: z.literal('get-artifact'), ...jobRef, req: count, source: id, name: id });
const getDataset = z.strictObject({ v: z.literal(PROTOCOL_VERSION), kind: z.literal('get-dataset'), ...jobRef, req: count, size: z.number().int().positive() });
const jobDone = z.strictObject({ v: z.literal(PROTOCOL_VERSION), kind: z.literal('job-done'), ...jobRef, rank: count, result: z.unknown() });
const jobFailed = z.strictObject({
  v: z.literal(PROTOCOL_VERSION),
  kind: z.literal('job-failed'),
  ...jobRef,
  rank: count,
  error: z.string(),
  /** PermanentJobError (or UserInputError): do not retry. */
  permanent: z.boolean(),
});
/** One replica's contribution to a coordinator-side all-reduce (the alternative to the ring). */
const reduce = z.strictObject({ v: z.literal(PROTOCOL_VERSION), kind: z.literal('reduce'), ...jobRef, seq: count, rank: count, data: bytes });
const bye = z.strictObject({ v: z.literal(PROTOCOL_VERSION), kind: z.literal('bye'), reason: z.string() });

export const trainerMessageSchema = z.discriminatedUnion('kind', [
  hello,
  trainerHeartbeat,
  progress,
  logMessage,
  checkpoint,
  putArtifact,
  getArtifact,
  getDataset,
  jobDone,
  jobFailed,
  reduce,
  bye,
]);
export type TrainerMessage = z.infer<typeof trainerMessageSchema>;

// ---- coordinator → trainer -------------------------------------------------------------------

/**
 * The study's synthetic set as a recipe (what its pixels depend on, @gan-study/data SynthRecipe) and
 * its key (synthKey: the recipe, the generator and the JPEG encoder's version): a trainer whose own
 * key for the recipe is the same makes identical files, so it may make and decode the set itself
 * instead of asking for its images.
 */
export const syntheticSetSchema = z.strictObject({
  key: z.string().regex(/^[0-9a-f]{16}$/),
  recipe: z.strictObject({
    size: z.number().int().positive(),
    seed: z.number().int(),
    classes: z.array(z.string()).optional(),
    counts: z.strictObject({ train: z.array(count), test: z.array(count) }).optional(),
  }),
});
export type SyntheticSetRef = z.infer<typeof syntheticSetSchema>;

const welcome = z.strictObject({
  v: z.literal(PROTOCOL_VERSION),
  kind: z.literal('welcome'),
  heartbeatMs: z.number().int().positive(),
  trainerTimeoutMs: z.number().int().positive(),
  run: z.string(),
  /** The study's data set when it is the synthetic one; null for an image folder. */
  syntheticSet: syntheticSetSchema.nullable(),
});
const coordinatorHeartbeat = z.strictObject({ v: z.literal(PROTOCOL_VERSION), kind: z.literal('heartbeat') });
const assign = z.strictObject({
  v: z.literal(PROTOCOL_VERSION),
  kind: z.literal('assign'),
  ...jobRef,
  /** The job spec (validated by the job runner against the jobs module's schema). */
  spec: z.record(z.string(), z.unknown()),
  rank: count,
  worldSize: z.number().int().positive(),
  /** Peer addresses of every replica, by rank (ring all-reduce); empty for a single replica. */
  peers: z.array(z.string()),
  allReduce: z.enum(['ring', 'coordinator']),
  checkpointEvery: z.number().int().positive(),
  /** The job's last checkpoint, when this attempt resumes one. */
  resumeFrom: bytes.nullable(),
  resumeStep: count.nullable(),
});
const cancel = z.strictObject({ v: z.literal(PROTOCOL_VERSION), kind: z.literal('cancel'), ...jobRef, reason: z.string() });
/** The answer to a request (checkpoint, put/get artifact, get dataset) with the same `req`. */
const reply = z.strictObject({
  v: z.literal(PROTOCOL_VERSION),
  kind: z.literal('reply'),
  req: count,
  ok: z.boolean(),
  error: z.string().nullable(),
  data: bytes.nullable(),
});
/** The result is journaled; the trainer may forget the job. */
const ack = z.strictObject({ v: z.literal(PROTOCOL_VERSION), kind: z.literal('ack'), ...jobRef });
const reduced = z.strictObject({ v: z.literal(PROTOCOL_VERSION), kind: z.literal('reduced'), ...jobRef, seq: count, data: bytes });
const shutdown = z.strictObject({ v: z.literal(PROTOCOL_VERSION), kind: z.literal('shutdown'), reason: z.string() });

export const coordinatorMessageSchema = z.discriminatedUnion('kind', [welcome, coordinatorHeartbeat, assign, cancel, reply, ack, reduced, shutdown]);
export type CoordinatorMessage = z.infer<typeof coordinatorMessageSchema>;

// ---- trainer ↔ trainer (ring all-reduce) -----------------------------------------------------

const ringChunk = z.strictObject({
  v: z.literal(PROTOCOL_VERSION),
  kind: z.literal('ring-chunk'),
  ...jobRef,
  /** All-reduce call number within the attempt. */
  seq: count,
  /** Ring step: 0..n-2 reduce-scatter, n-1..2n-3 all-gather. */
  step: count,
  from: count,
  /**
   * A step's chunk travels in `parts` pieces so the ring pipelines: a replica adds and forwards
   * piece j while piece j+1 is still on the wire (ring.ts).
   */
  part: count,
  parts: z.number().int().positive(),
  data: bytes,
}).refine((m) => m.part < m.parts, { message: 'must be less than parts', path: ['part'] });
/**
 * Part of a replica's vector in an exchange between two replicas (peers.ts `beginExchange`): values
 * [offset, offset + data's length) of a vector of `length` values, sent as soon as they are final,
 * so most of a gradient travels while the rest is still being computed.
 */
const gradRange = z.strictObject({
  v: z.literal(PROTOCOL_VERSION),
  kind: z.literal('grad-range'),
  ...jobRef,
  /** All-reduce call number within the attempt. */
  seq: count,
  from: count,
  offset: count,
  /** The whole vector's length: both replicas' must agree. */
  length: z.number().int().positive(),
  data: bytes,
});
/**
 * A replica's whole vector of an exchange call is in the receiver's file in their shared-memory
 * folder, at `offset` (transport/shared-exchange.ts): between two replicas on one host the bytes never
 * cross the socket.
 */
const gradShared = z.strictObject({
  v: z.literal(PROTOCOL_VERSION),
  kind: z.literal('grad-shared'),
  ...jobRef,
  /** All-reduce call number within the attempt. */
  seq: count,
  from: count,
  /** The vector's length: both replicas' must agree. */
  length: z.number().int().positive(),
  /** Byte offset of the vector in the receiver's file. */
  offset: count,
});
export const peerMessageSchema = z.discriminatedUnion('kind', [ringChunk, gradRange, gradShared]);
export type PeerMessage = z.infer<typeof peerMessageSchema>;

/** Distributes Omit over a union, so `Body<M>` keeps each kind's own fields. */
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
/** A message without its version field: what callers build; `encode` adds `v`. */
export type Body<M> = DistributiveOmit<M, 'v'>;

// ---- encoding --------------------------------------------------------------------------------

export type DecodeResult<M> = { ok: true; msg: M } | DecodeFailure;
export interface DecodeFailure {
  ok: false;
  /** Why the message was rejected, in one line for the log. */
  reason: string;
  /** The kind it claimed, when it got that far. */
  kind: string | null;
}

/** Encodes a message (adding the protocol version) into one frame, payloads inline. */
export function encode<M extends { kind: string }>(body: Body<M> | M): Buffer {
  return packr.pack({ ...body, v: PROTOCOL_VERSION });
}

/**
 * Encodes a message as a header frame followed by one frame per top-level bytes field (in the
 * order `$frames` lists them). The payload frames are the caller's bytes, not copies: keep them
 * unchanged until the send has completed (and, since ZeroMQ may still be writing them to the
 * socket after `send` resolves, until the receiver has answered, as the ring's steps guarantee).
 */
export function encodeFrames<M extends { kind: string }>(body: Body<M> | M): Uint8Array[] {
  const header: Record<string, unknown> = { v: PROTOCOL_VERSION };
  const names: string[] = [];
  const payloads: Uint8Array[] = [];
  for (const [key, value] of Object.entries(body) as Array<[string, unknown]>) {
    if (value instanceof Uint8Array) {
      names.push(key);
      payloads.push(value);
    } else header[key] = value;
  }
  if (names.length > 0) header[PAYLOAD_FRAMES_KEY] = names;
  return [packr.pack(header), ...payloads];
}

/** Puts the payload frames named by the header's `$frames` back into the map, or says why not. */
function attachPayloads(raw: Record<string, unknown>, frames: ReadonlyArray<Uint8Array>): string | null {
  const names = raw[PAYLOAD_FRAMES_KEY];
  if (names === undefined) return frames.length === 1 ? null : `expected 1 frame, got ${frames.length} (the header names no payload frames)`;
  // Plain field names only: nothing like `__proto__` gets assigned from the wire.
  if (!Array.isArray(names) || !names.every((n): n is string => typeof n === 'string' && /^[A-Za-z][A-Za-z0-9]{0,39}$/.test(n))) {
    return `${PAYLOAD_FRAMES_KEY}: expected a list of field names`;
  }
  if (names.length !== frames.length - 1) {
    return `${PAYLOAD_FRAMES_KEY}: the header names ${names.length} payload frame(s) (${names.join(', ')}), got ${frames.length - 1}`;
  }
  delete raw[PAYLOAD_FRAMES_KEY];
  for (let i = 0; i < names.length; i++) {
    const name = names[i];
    if (Object.hasOwn(raw, name)) return `${PAYLOAD_FRAMES_KEY}: field ${JSON.stringify(name)} is both in the header and a payload frame`;
    raw[name] = frames[i + 1];
  }
  return null;
}

function decodeWith<M>(schema: z.ZodType<M>, frames: ReadonlyArray<Uint8Array>): DecodeResult<M> {
  if (frames.length === 0) return { ok: false, reason: 'no frames', kind: null };
  let raw: unknown;
  try {
    raw = packr.unpack(frames[0]);
  } catch (err) {
    return { ok: false, reason: `not msgpack: ${(err as Error).message}`, kind: null };
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { ok: false, reason: 'not a msgpack map', kind: null };
  const map = raw as Record<string, unknown>;
  const claimed = map.kind;
  const kind = typeof claimed === 'string' ? claimed.slice(0, 40) : null;
  const v = map.v;
  if (v !== PROTOCOL_VERSION) return { ok: false, reason: `protocol version ${JSON.stringify(v)}, expected ${PROTOCOL_VERSION}`, kind };
  const framing = attachPayloads(map, frames);
  if (framing !== null) return { ok: false, reason: framing, kind };
  const parsed = schema.safeParse(map);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue.path.length ? issue.path.map(String).join('.') : '(message)';
    const reason = issue.code === 'invalid_union' && issue.path.length === 1 ? `unknown kind ${JSON.stringify(kind)}` : `${where}: ${issue.message}`;
    return { ok: false, reason, kind };
  }
  return { ok: true, msg: parsed.data };
}

/** Decodes and validates what a coordinator received from a trainer. */
export function decodeTrainerMessage(frames: ReadonlyArray<Uint8Array>): DecodeResult<TrainerMessage> {
  return decodeWith(trainerMessageSchema, frames);
}

/** Decodes and validates what a trainer received from its coordinator. */
export function decodeCoordinatorMessage(frames: ReadonlyArray<Uint8Array>): DecodeResult<CoordinatorMessage> {
  return decodeWith(coordinatorMessageSchema, frames);
}

/** Decodes and validates what a trainer received from another trainer. */
export function decodePeerMessage(frames: ReadonlyArray<Uint8Array>): DecodeResult<PeerMessage> {
  return decodeWith(peerMessageSchema, frames);
}

// ---- tensors as bytes ------------------------------------------------------------------------

/** A Float32Array's raw bytes (little-endian on every platform we run on), without copying. */
export function f32ToBytes(a: Float32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/**
 * Raw bytes back into a Float32Array: a view of the same memory (writes go through) when the
 * bytes start on a 4-byte boundary, as a payload frame does; a copy only when they do not (a
 * msgpack `bin` inside a one-frame message usually does not).
 */
export function bytesToF32(b: Uint8Array): Float32Array {
  if (b.byteLength % 4 !== 0) throw new RangeError(`float32 payload of ${b.byteLength} bytes is not a multiple of 4`);
  if (b.byteOffset % 4 === 0) return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
  const copy = new Uint8Array(b.byteLength);
  copy.set(b);
  return new Float32Array(copy.buffer);
}

/** Typed encoders: the compiler checks each side sends only its own kinds. */
export const encodeTrainerMessage = (body: Body<TrainerMessage>): Buffer => encode<TrainerMessage>(body);
export const encodeCoordinatorMessage = (body: Body<CoordinatorMessage>): Buffer => encode<CoordinatorMessage>(body);
export const encodePeerMessage = (body: Body<PeerMessage>): Buffer => encode<PeerMessage>(body);
/** The same, as header + payload frames: for tensors and other bulk bytes (see `encodeFrames`). */
export const encodeTrainerFrames = (body: Body<TrainerMessage>): Uint8Array[] => encodeFrames<TrainerMessage>(body);
export const encodeCoordinatorFrames = (body: Body<CoordinatorMessage>): Uint8Array[] => encodeFrames<CoordinatorMessage>(body);
export const encodePeerFrames = (body: Body<PeerMessage>): Uint8Array[] => encodeFrames<PeerMessage>(body);
