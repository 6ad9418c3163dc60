/**
 * The wire protocol between the coordinator, its trainers, and trainers among themselves (ring
 * all-reduce). One versioned module, shared by both apps through this library (zeromq.js
 * `examples/majordomo` keeps its protocol the same way: data, not code).
 *
 * Every message is a msgpack map `{ v, kind, ...fields }` in a single ZeroMQ frame. Tensors and
 * other bulk payloads (checkpoints, artifacts, datasets) travel as msgpack `bin` fields holding
 * raw bytes — a Float32Array's bytes, never an array of numbers.
 *
 * Decoding validates with zod at the socket edge: anything that is not valid msgpack, has the
 * wrong version, an unknown kind, or fields of the wrong type comes back as a `DecodeFailure`
 * with a reason the caller logs before dropping the message. Nothing unchecked is ever cast.
 */
import { Packr } from 'msgpackr';
import { z } from 'zod';

/** Bump on any incompatible change; both sides reject other versions. */
export const PROTOCOL_VERSION = 1;

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

const welcome = z.strictObject({
  v: z.literal(PROTOCOL_VERSION),
  kind: z.literal('welcome'),
  heartbeatMs: z.number().int().positive(),
  trainerTimeoutMs: z.number().int().positive(),
  run: z.string(),
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
  data: bytes,
});
export const peerMessageSchema = z.discriminatedUnion('kind', [ringChunk]);
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

/** Encodes a message (adding the protocol version) into one frame. */
export function encode<M extends { kind: string }>(body: Body<M> | M): Buffer {
  return packr.pack({ ...body, v: PROTOCOL_VERSION });
}

function decodeWith<M>(schema: z.ZodType<M>, frames: ReadonlyArray<Uint8Array>): DecodeResult<M> {
  if (frames.length !== 1) return { ok: false, reason: `expected 1 frame, got ${frames.length}`, kind: null };
  let raw: unknown;
  try {
    raw = packr.unpack(frames[0]);
  } catch (err) {
    return { ok: false, reason: `not msgpack: ${(err as Error).message}`, kind: null };
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { ok: false, reason: 'not a msgpack map', kind: null };
  const claimed = (raw as Record<string, unknown>).kind;
  const kind = typeof claimed === 'string' ? claimed.slice(0, 40) : null;
  const v = (raw as Record<string, unknown>).v;
  if (v !== PROTOCOL_VERSION) return { ok: false, reason: `protocol version ${JSON.stringify(v)}, expected ${PROTOCOL_VERSION}`, kind };
  const parsed = schema.safeParse(raw);
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

/** Raw bytes back into a Float32Array; copies only when the bytes are not 4-byte aligned. */
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
