import { Packr } from 'msgpackr';
import {
  PROTOCOL_VERSION,
  bytesToF32,
  decodeCoordinatorMessage,
  decodePeerMessage,
  decodeTrainerMessage,
  encodeCoordinatorMessage,
  encodePeerMessage,
  encodeTrainerMessage,
  f32ToBytes,
} from './messages';

const packr = new Packr({ useRecords: false });
const info = { host: 'h', pid: 1, device: 'cpu (JavaScript)', backend: 'cpu', gpu: null, peerAddress: 'tcp://127.0.0.1:5000' };

describe('protocol messages', () => {
  it('round-trips a trainer message and adds the version', () => {
    const frame = encodeTrainerMessage({ kind: 'hello', trainer: 't1', info });
    const raw = packr.unpack(frame) as Record<string, unknown>;
    expect(raw.v).toBe(PROTOCOL_VERSION);
    const decoded = decodeTrainerMessage([frame]);
    expect(decoded).toEqual({ ok: true, msg: { v: PROTOCOL_VERSION, kind: 'hello', trainer: 't1', info } });
  });

  it('carries tensors as raw float32 bytes, not number arrays', () => {
    const grads = new Float32Array([1.5, -2.25, 3e-8, 1e30]);
    const frame = encodeTrainerMessage({ kind: 'reduce', job: 'clf', attempt: 1, seq: 3, rank: 0, data: f32ToBytes(grads) });
    // 16 bytes of payload plus a small header: an array of numbers would be larger and lossy-typed.
    expect(frame.length).toBeLessThan(16 + 60);
    expect(Buffer.from(frame).includes(Buffer.from(grads.buffer))).toBe(true);
    const decoded = decodeTrainerMessage([frame]);
    if (!decoded.ok || decoded.msg.kind !== 'reduce') throw new Error('expected a reduce message');
    expect(Array.from(bytesToF32(decoded.msg.data))).toEqual(Array.from(grads));
  });

  it('bytesToF32 copies unaligned payloads and rejects odd lengths', () => {
    const buf = new Uint8Array(9);
    buf.set(new Uint8Array(new Float32Array([7, 8]).buffer), 1);
    expect(Array.from(bytesToF32(buf.subarray(1)))).toEqual([7, 8]);
    expect(() => bytesToF32(new Uint8Array(3))).toThrow(/not a multiple of 4/);
  });

  it('rejects garbage, wrong versions, unknown kinds and bad fields with a reason', () => {
    const cases: Array<[Uint8Array[], RegExp]> = [
      [[Buffer.from([0x82, 0xa1])], /not msgpack/],
      [[Buffer.from([0xc1])], /protocol version|not a msgpack map/],
      [[packr.pack([1, 2, 3])], /not a msgpack map/],
      [[packr.pack({ v: 99, kind: 'hello' })], new RegExp(`protocol version 99, expected ${PROTOCOL_VERSION}`)],
      [[packr.pack({ kind: 'hello' })], /protocol version undefined/],
      [[packr.pack({ v: PROTOCOL_VERSION, kind: 'launch-missiles' })], /unknown kind "launch-missiles"/],
      [[packr.pack({ v: PROTOCOL_VERSION, kind: 'progress', job: 'j', attempt: 1, rank: 0, step: -1, total: 3, losses: {}, imagesPerSec: 1 })], /step/],
      [[packr.pack({ v: PROTOCOL_VERSION, kind: 'reduce', job: 'j', attempt: 1, seq: 0, rank: 0, data: [1, 2] })], /data: expected binary bytes/],
      [[packr.pack({ v: PROTOCOL_VERSION, kind: 'bye', reason: 'x', extra: 1 })], /extra/],
      [[encodeTrainerMessage({ kind: 'bye', reason: 'x' }), Buffer.from('x')], /expected 1 frame, got 2/],
    ];
    for (const [frames, reason] of cases) {
      const decoded = decodeTrainerMessage(frames);
      expect(decoded.ok).toBe(false);
      if (!decoded.ok) expect(decoded.reason).toMatch(reason);
    }
  });

  it('keeps the directions apart: a trainer kind is unknown to a trainer', () => {
    const frame = encodeTrainerMessage({ kind: 'bye', reason: 'done' });
    const decoded = decodeCoordinatorMessage([frame]);
    expect(decoded).toMatchObject({ ok: false, kind: 'bye' });
    const coord = encodeCoordinatorMessage({ kind: 'shutdown', reason: 'done' });
    expect(decodeCoordinatorMessage([coord]).ok).toBe(true);
    expect(decodePeerMessage([coord]).ok).toBe(false);
    const chunk = encodePeerMessage({ kind: 'ring-chunk', job: 'j', attempt: 2, seq: 0, step: 1, from: 1, part: 0, parts: 1, data: new Uint8Array(8) });
    expect(decodePeerMessage([chunk]).ok).toBe(true);
  });
});
