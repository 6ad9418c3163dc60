/**
 * A job checkpoint: the model's own checkpoint bytes plus the job loop's position, in one blob the
 * coordinator stores opaquely and hands back as `JobContext.resumeFrom`.
 *
 *   bytes 0..3   magic 'JOBC'
 *   byte  4      version (1)
 *   bytes 5..7   reserved (0)
 *   bytes 8..11  header length H, uint32 little-endian
 *   bytes 12..   header: UTF-8 JSON { job, kind, ...loop state }
 *   then         the model checkpoint bytes (restoreClassifier / restoreGan)
 */
const MAGIC = [0x4a, 0x4f, 0x42, 0x43]; // 'JOBC'

export interface EnvelopeHeader {
  /** The job id the checkpoint belongs to; a mismatch on resume is an error. */
  job: string;
  kind: 'gan' | 'classifier';
  [key: string]: unknown;
}

export function encodeEnvelope(header: EnvelopeHeader, model: Uint8Array): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(12 + json.length + model.length);
  out.set(MAGIC, 0);
  out[4] = 1;
  new DataView(out.buffer).setUint32(8, json.length, true);
  out.set(json, 12);
  out.set(model, 12 + json.length);
  return out;
}

export function decodeEnvelope(bytes: Uint8Array, expect: { job: string; kind: 'gan' | 'classifier' }): { header: EnvelopeHeader; model: Uint8Array } {
  const what = `checkpoint of job ${expect.job}`;
  if (bytes.length < 12 || MAGIC.some((m, i) => bytes[i] !== m)) throw new Error(`${what}: not a job checkpoint (bad magic or ${bytes.length} bytes)`);
  if (bytes[4] !== 1) throw new Error(`${what}: unsupported version ${bytes[4]}`);
  const len = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(8, true);
  if (12 + len > bytes.length) throw new Error(`${what}: header of ${len} bytes runs past the end (${bytes.length} bytes)`);
  let header: EnvelopeHeader;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + len))) as EnvelopeHeader;
  } catch (err) {
    throw new Error(`${what}: header is not JSON (${(err as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || header.job !== expect.job || header.kind !== expect.kind) {
    throw new Error(`${what}: it belongs to ${JSON.stringify(header?.job)} (${JSON.stringify(header?.kind)}), not this ${expect.kind} job`);
  }
  return { header, model: bytes.subarray(12 + len) };
}

/** A non-negative integer field of a checkpoint header, or an error naming it. */
export function headerInt(header: EnvelopeHeader, key: string): number {
  const v = header[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new Error(`checkpoint of job ${header.job}: '${key}' must be a non-negative integer, got ${JSON.stringify(v)}`);
  return v;
}
