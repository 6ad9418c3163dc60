/**
 * Header + payload frames (protocol 2): tensors travel as ZeroMQ frames of their own, not inside
 * the msgpack header. Round trips, the no-copy promises (sent from the caller's memory, received
 * as views when aligned), misaligned payloads, malformed framings rejected with a reason naming the
 * field, and large payloads over real sockets.
 */
import { Packr } from 'msgpackr';
import * as zmq from 'zeromq';
import {
  PAYLOAD_FRAMES_KEY,
  PROTOCOL_VERSION,
  bytesToF32,
  decodeCoordinatorMessage,
  decodePeerMessage,
  decodeTrainerMessage,
  encodeCoordinatorFrames,
  encodePeerFrames,
  encodeTrainerFrames,
  encodeTrainerMessage,
  f32ToBytes,
} from './messages';

const packr = new Packr({ useRecords: false });

function ramp(n: number, scale = 1): Float32Array {
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = (i - n / 3) * scale;
  return v;
}

/** `bytes` copied to `offset` bytes into a fresh buffer: a payload that starts off a 4-byte boundary. */
function at(offset: number, bytes: Uint8Array): Uint8Array {
  const b = new Uint8Array(offset + bytes.byteLength);
  b.set(bytes, offset);
  return b.subarray(offset);
}

describe('payload frames', () => {
  it('sends a tensor as its own frame, from the caller memory, and decodes it back', () => {
    const grads = ramp(1000, 0.25);
    const frames = encodeTrainerFrames({ kind: 'reduce', job: 'clf', attempt: 1, seq: 3, rank: 1, data: f32ToBytes(grads) });
    expect(frames).toHaveLength(2);
    // The header is small and has no payload inside; the payload frame is the tensor's own memory.
    expect(frames[0].byteLength).toBeLessThan(80);
    expect(packr.unpack(frames[0])).toEqual({ v: PROTOCOL_VERSION, kind: 'reduce', job: 'clf', attempt: 1, seq: 3, rank: 1, [PAYLOAD_FRAMES_KEY]: ['data'] });
    expect(frames[1].buffer).toBe(grads.buffer);
    const d = decodeTrainerMessage(frames);
    if (!d.ok || d.msg.kind !== 'reduce') throw new Error(`expected reduce, got ${JSON.stringify(d)}`);
    expect(d.msg).toMatchObject({ v: PROTOCOL_VERSION, kind: 'reduce', job: 'clf', attempt: 1, seq: 3, rank: 1 });
    expect(Array.from(bytesToF32(d.msg.data))).toEqual(Array.from(grads));
  });

  it('round-trips every kind with bytes fields, null bytes fields staying in the header', () => {
    const bytes = new Uint8Array([1, 2, 3, 4, 5]);
    const checkpoint = decodeTrainerMessage(encodeTrainerFrames({ kind: 'checkpoint', job: 'j', attempt: 2, req: 7, step: 9, data: bytes }));
    expect(checkpoint).toMatchObject({ ok: true, msg: { kind: 'checkpoint', step: 9, data: bytes } });
    const reply = encodeCoordinatorFrames({ kind: 'reply', req: 7, ok: false, error: 'no such artifact', data: null });
    expect(reply).toHaveLength(1);
    expect(decodeCoordinatorMessage(reply)).toMatchObject({ ok: true, msg: { kind: 'reply', data: null, error: 'no such artifact' } });
    const assign = encodeCoordinatorFrames({
      kind: 'assign',
      job: 'j',
      attempt: 1,
      spec: { id: 'j' },
      rank: 0,
      worldSize: 2,
      peers: ['tcp://127.0.0.1:1', 'tcp://127.0.0.1:2'],
      allReduce: 'ring',
      checkpointEvery: 5,
      resumeFrom: bytes,
      resumeStep: 4,
    });
    expect(assign).toHaveLength(2);
    expect(decodeCoordinatorMessage(assign)).toMatchObject({ ok: true, msg: { kind: 'assign', resumeFrom: bytes, resumeStep: 4, peers: ['tcp://127.0.0.1:1', 'tcp://127.0.0.1:2'] } });
    const piece = decodePeerMessage(encodePeerFrames({ kind: 'ring-chunk', job: 'j', attempt: 1, seq: 0, step: 1, from: 1, part: 2, parts: 3, data: new Uint8Array(8) }));
    expect(piece).toMatchObject({ ok: true, msg: { kind: 'ring-chunk', part: 2, parts: 3 } });
  });

  it('gives views of aligned payloads and copies misaligned ones, with the same values', () => {
    const grads = ramp(257, -1.5);
    for (const offset of [0, 1, 2, 3, 4, 6]) {
      const payload = at(offset, f32ToBytes(grads));
      const header = encodeTrainerFrames({ kind: 'reduce', job: 'clf', attempt: 1, seq: 0, rank: 0, data: new Uint8Array(0) })[0];
      const d = decodeTrainerMessage([header, payload]);
      if (!d.ok || d.msg.kind !== 'reduce') throw new Error(`offset ${offset}: ${JSON.stringify(d)}`);
      const got = bytesToF32(d.msg.data);
      expect(Array.from(got)).toEqual(Array.from(grads));
      // A view shares the frame's memory; a misaligned frame cannot be viewed as float32 and is copied.
      expect(got.buffer === payload.buffer).toBe(offset % 4 === 0);
    }
  });

  it('still decodes the one-frame form (payload inside the header)', () => {
    const grads = ramp(10);
    const d = decodeTrainerMessage([encodeTrainerMessage({ kind: 'reduce', job: 'clf', attempt: 1, seq: 0, rank: 0, data: f32ToBytes(grads) })]);
    if (!d.ok || d.msg.kind !== 'reduce') throw new Error('expected reduce');
    expect(Array.from(bytesToF32(d.msg.data))).toEqual(Array.from(grads));
  });

  it('rejects malformed framings with a reason naming the field at fault', () => {
    const base = { v: PROTOCOL_VERSION, kind: 'reduce', job: 'j', attempt: 1, seq: 0, rank: 0 };
    const data = new Uint8Array(8);
    const { rank: _rank, ...noRank } = base;
    const cases: Array<[string, Uint8Array[], RegExp]> = [
      ['no frames at all', [], /no frames/],
      ['a payload frame the header does not name', [packr.pack({ ...base, data }), data], /expected 1 frame, got 2 \(the header names no payload frames\)/],
      ['a named payload frame missing', [packr.pack({ ...base, [PAYLOAD_FRAMES_KEY]: ['data'] })], /\$frames: the header names 1 payload frame\(s\) \(data\), got 0/],
      ['more payload frames than named', [packr.pack({ ...base, [PAYLOAD_FRAMES_KEY]: ['data'] }), data, data], /the header names 1 payload frame\(s\) \(data\), got 2/],
      ['a list that is not of names', [packr.pack({ ...base, [PAYLOAD_FRAMES_KEY]: [1] }), data], /\$frames: expected a list of field names/],
      ['not a list', [packr.pack({ ...base, [PAYLOAD_FRAMES_KEY]: 'data' }), data], /\$frames: expected a list of field names/],
      ['a name that is not a plain field name', [packr.pack({ ...base, [PAYLOAD_FRAMES_KEY]: ['__proto__'] }), data], /\$frames: expected a list of field names/],
      ['a field both inline and as a frame', [packr.pack({ ...base, data, [PAYLOAD_FRAMES_KEY]: ['data'] }), data], /field "data" is both in the header and a payload frame/],
      ['a payload frame for a number field', [packr.pack({ ...noRank, data, [PAYLOAD_FRAMES_KEY]: ['rank'] }), data], /^rank: /],
      ['a payload frame for a field the kind does not have', [packr.pack({ ...base, data, [PAYLOAD_FRAMES_KEY]: ['extra'] }), data], /extra/],
      ['the payload missing altogether', [packr.pack(base)], /^data: /],
    ];
    for (const [what, frames, reason] of cases) {
      const d = decodeTrainerMessage(frames);
      expect({ what, ok: d.ok }).toEqual({ what, ok: false });
      if (!d.ok) expect({ what, reason: d.reason }).toEqual({ what, reason: expect.stringMatching(reason) });
    }
    const wrongPart = decodePeerMessage(encodePeerFrames({ kind: 'ring-chunk', job: 'j', attempt: 1, seq: 0, step: 0, from: 0, part: 3, parts: 3, data }));
    expect(wrongPart).toMatchObject({ ok: false, kind: 'ring-chunk', reason: 'part: must be less than parts' });
  });

  describe('over real sockets', () => {
    let sockets: zmq.Socket[] = [];
    afterEach(() => {
      for (const s of sockets) s.close();
      sockets = [];
    });

    it('moves a 16 MB tensor through ZeroMQ and receives it as an aligned view', async () => {
      const router = new zmq.Router({ linger: 0 });
      const dealer = new zmq.Dealer({ linger: 0 });
      sockets.push(router, dealer);
      await router.bind('tcp://127.0.0.1:*');
      dealer.connect(router.lastEndpoint ?? '');
      const grads = ramp(4_000_000, 1e-3);
      await dealer.send(encodeTrainerFrames({ kind: 'reduce', job: 'big', attempt: 1, seq: 0, rank: 0, data: f32ToBytes(grads) }));
      const [, ...frames] = await router.receive();
      expect(frames).toHaveLength(2);
      const d = decodeTrainerMessage(frames);
      if (!d.ok || d.msg.kind !== 'reduce') throw new Error(`expected reduce: ${JSON.stringify(d)}`);
      expect(d.msg.data.byteOffset % 4).toBe(0);
      const got = bytesToF32(d.msg.data);
      // A view of the received frame, not a copy.
      expect(got.buffer).toBe(d.msg.data.buffer);
      expect(got.length).toBe(grads.length);
      expect(Buffer.from(got.buffer, got.byteOffset, got.byteLength).equals(Buffer.from(grads.buffer))).toBe(true);
    });
  });
});
