import * as zmq from 'zeromq';
import { Rng } from '@gan-study/core';
import {
  PROTOCOL_VERSION,
  bytesToF32,
  decodeCoordinatorMessage,
  decodeTrainerMessage,
  encodeCoordinatorFrames,
  encodeCoordinatorMessage,
  encodePeerFrames,
  encodeTrainerFrames,
  encodeTrainerMessage,
  f32ToBytes,
} from '../messages';
import { Packr } from 'msgpackr';
import { PeerLink } from './peers';
import { CoordinatorReducer } from './reducer';
import { SendQueue } from './send-queue';
import { chunkBound, ringAllReduce, sumInRankOrder, type RingLinks } from './ring';
import type { EventLog } from './log';
import { randomVector, recordingLog } from './spec-helpers';

describe('chunkBound', () => {
  it('covers the vector with n contiguous chunks, even when n does not divide it', () => {
    for (const [len, n] of [[10, 3], [2, 3], [0, 2], [7, 7]]) {
      const bounds = Array.from({ length: n + 1 }, (_, i) => chunkBound(len, n, i));
      expect(bounds[0]).toBe(0);
      expect(bounds[n]).toBe(len);
      for (let i = 0; i < n; i++) expect(bounds[i + 1]).toBeGreaterThanOrEqual(bounds[i]);
    }
  });
});

describe('ring all-reduce over real sockets', () => {
  let links: PeerLink[] = [];
  afterEach(async () => {
    await Promise.all(links.map((l) => l.stop()));
    links = [];
  });

  async function startLinks(n: number, log?: EventLog): Promise<PeerLink[]> {
    links = Array.from({ length: n }, () => new PeerLink({ bind: 'tcp://127.0.0.1:*', log }));
    await Promise.all(links.map((l) => l.start()));
    return links;
  }

  it.each([2, 3])('sums %i replicas elementwise, identically on every replica', async (n) => {
    const peers = await startLinks(n);
    const rng = new Rng(7);
    const inputs = Array.from({ length: n }, () => randomVector(rng, 1001));
    const addresses = peers.map((p) => p.address);
    expect(addresses.every((a) => /^tcp:\/\/127\.0\.0\.1:\d+(#shm=[0-9a-f]{16}\.\d+-[0-9a-f]{12})?$/.test(a))).toBe(true);
    for (let seq = 0; seq < 3; seq++) {
      const out = await Promise.all(peers.map((p, rank) => p.allReduce(inputs[rank], { job: 'clf', attempt: 1, seq, rank, peers: addresses, timeoutMs: 5000 })));
      const expected = sumInRankOrder(inputs);
      for (const o of out) {
        expect(o.length).toBe(1001);
        for (let i = 0; i < o.length; i++) expect(Math.abs(o[i] - expected[i])).toBeLessThan(1e-5);
        // Every replica ends with the very same bits (one summation order per element, then copies).
        expect(Buffer.from(o.buffer).equals(Buffer.from(out[0].buffer))).toBe(true);
      }
    }
  });

  it('handles vectors shorter than the ring', async () => {
    const peers = await startLinks(3);
    const addresses = peers.map((p) => p.address);
    const out = await Promise.all(peers.map((p, rank) => p.allReduce(new Float32Array([rank + 1, 10 * (rank + 1)]), { job: 'j', attempt: 1, seq: 0, rank, peers: addresses, timeoutMs: 5000 })));
    for (const o of out) expect(Array.from(o)).toEqual([6, 60]);
  });

  it('times out when a peer never sends, and rejects when aborted', async () => {
    const peers = await startLinks(2);
    const addresses = peers.map((p) => p.address);
    await expect(peers[0].allReduce(new Float32Array(4), { job: 'j', attempt: 1, seq: 0, rank: 0, peers: addresses, timeoutMs: 200 })).rejects.toThrow(/within 200 ms/);
    const ctl = new AbortController();
    const pending = peers[0].allReduce(new Float32Array(4), { job: 'j', attempt: 2, seq: 0, rank: 0, peers: addresses, timeoutMs: 5000, signal: ctl.signal });
    ctl.abort(new Error('job cancelled'));
    await expect(pending).rejects.toThrow(/job cancelled/);
  });

  it('logs and drops malformed peer messages without stopping', async () => {
    const log = recordingLog();
    const peers = await startLinks(2, log);
    const rogue = new zmq.Dealer({ linger: 0 });
    try {
      rogue.connect(peers[1].endpoint);
      await rogue.send(Buffer.from('garbage'));
      await rogue.send(new Packr({ useRecords: false }).pack({ v: PROTOCOL_VERSION + 1, kind: 'ring-chunk' }));
      const addresses = peers.map((p) => p.address);
      const out = await Promise.all(peers.map((p, rank) => p.allReduce(new Float32Array([rank]), { job: 'j', attempt: 1, seq: 0, rank, peers: addresses, timeoutMs: 5000 })));
      expect(Array.from(out[1])).toEqual([1]);
      expect(log.lines.filter((l) => l.startsWith('rejected peer message'))).toHaveLength(2);
      expect(log.lines.join('\n')).toMatch(new RegExp(`protocol version ${PROTOCOL_VERSION + 1}, expected ${PROTOCOL_VERSION}`));
    } finally {
      rogue.close();
    }
  });
});

describe('range-by-range exchange between two replicas (beginExchange)', () => {
  let links: PeerLink[] = [];
  afterEach(async () => {
    await Promise.all(links.map((l) => l.stop()));
    links = [];
  });

  // Over the socket: these tests are about the ranges on the wire (the shared-memory path is below).
  async function pair(log?: EventLog): Promise<{ peers: PeerLink[]; addresses: string[] }> {
    links = [0, 1].map(() => new PeerLink({ bind: 'tcp://127.0.0.1:*', log, sharedDir: null }));
    await Promise.all(links.map((l) => l.start()));
    return { peers: links, addresses: links.map((l) => l.address) };
  }

  // Ranges readied last-first, as a backward pass finishes a network's parameters, each replica in its own cut.
  const cuts = [
    [[900, 1001], [10, 900], [0, 10]],
    [[0, 1001]],
  ];

  it('gives both replicas the bits the ring gives, whatever ranges each readies in whatever order', async () => {
    const { peers, addresses } = await pair();
    const rng = new Rng(11);
    const inputs = [randomVector(rng, 1001), randomVector(rng, 1001)];
    const ring = await Promise.all(peers.map((p, rank) => p.allReduce(inputs[rank], { job: 'clf', attempt: 1, seq: 0, rank, peers: addresses, timeoutMs: 5000 })));
    const outs = await Promise.all(
      peers.map(async (p, rank) => {
        const into = new Float32Array(1001);
        const pending = p.beginExchange(inputs[rank], { job: 'clf', attempt: 1, seq: 1, rank, peers: addresses, timeoutMs: 5000, into });
        for (const [a, b] of cuts[rank]) {
          pending.ready(a, b);
          await new Promise((r) => setImmediate(r));
        }
        const out = await pending.finish();
        expect(out).toBe(into);
        return out;
      }),
    );
    expect(Buffer.from(outs[0].buffer).equals(Buffer.from(ring[0].buffer))).toBe(true);
    expect(Buffer.from(outs[1].buffer).equals(Buffer.from(ring[0].buffer))).toBe(true);
    // The inputs are not touched (they may still be on the wire).
    expect(Math.fround(inputs[0][0] + inputs[1][0])).toBe(outs[0][0]);
  });

  it('refuses to finish before every value was readied, ranges readied twice or out of bounds, and in-place sums', async () => {
    const { peers, addresses } = await pair();
    const call = { job: 'j', attempt: 1, seq: 0, rank: 0, peers: addresses, timeoutMs: 300 };
    const data = new Float32Array(10);
    const p = peers[0].beginExchange(data, call);
    p.ready(0, 4);
    expect(() => p.ready(3, 5)).toThrow(/overlaps \[0, 4\)/);
    expect(() => p.ready(8, 11)).toThrow(/0 <= from < to <= 10/);
    await expect(p.finish()).rejects.toThrow(/4 of 10 values readied/);
    const inPlace = peers[0].beginExchange(data, { ...call, seq: 1, into: data });
    inPlace.ready(0, 10);
    await expect(inPlace.finish()).rejects.toThrow(/must not overlap the data/);
  });

  it('times out naming how much of the other vector came, and drops bad ranges with a log line', async () => {
    const log = recordingLog();
    const { peers, addresses } = await pair(log);
    const rogue = new zmq.Dealer({ linger: 0 });
    try {
      rogue.connect(addresses[0]);
      const range = (offset: number, length: number, n: number) => encodePeerFrames({ kind: 'grad-range', job: 'j', attempt: 1, seq: 0, from: 1, offset, length, data: f32ToBytes(new Float32Array(n)) });
      await rogue.send(range(0, 8, 4));
      await rogue.send(range(2, 8, 2)); // overlaps what came
      await rogue.send(range(6, 8, 4)); // past the end
      await rogue.send(range(4, 9, 2)); // another length
      const p = peers[0].beginExchange(new Float32Array(8), { job: 'j', attempt: 1, seq: 0, rank: 0, peers: addresses, timeoutMs: 400 });
      p.ready(0, 8);
      await expect(p.finish()).rejects.toThrow(/4 of 8 values within 400 ms/);
      const rejected = log.lines.filter((l) => l.startsWith('rejected gradient range'));
      expect(rejected).toHaveLength(3);
      expect(rejected.join('\n')).toMatch(/overlaps \[0, 4\)/);
      expect(rejected.join('\n')).toMatch(/outside the vector's 8 values/);
      expect(rejected.join('\n')).toMatch(/9-value vector; earlier ranges said 8/);
    } finally {
      rogue.close();
    }
  });

  it('with three replicas runs the ring in finish', async () => {
    links = [0, 1, 2].map(() => new PeerLink({ bind: 'tcp://127.0.0.1:*', sharedDir: null }));
    await Promise.all(links.map((l) => l.start()));
    const addresses = links.map((l) => l.address);
    const out = await Promise.all(
      links.map((p, rank) => {
        const pending = p.beginExchange(new Float32Array([rank + 1, 10 * (rank + 1)]), { job: 'j', attempt: 1, seq: 0, rank, peers: addresses, timeoutMs: 5000 });
        pending.ready(1, 2);
        pending.ready(0, 1);
        return pending.finish();
      }),
    );
    for (const o of out) expect(Array.from(o)).toEqual([6, 60]);
  });
});

describe('SendQueue', () => {
  it('hands a send to the socket inside the call when nothing waits, and queues behind a busy one in order', async () => {
    const calls: string[] = [];
    let release: () => void = () => undefined;
    let busy = false;
    const socket = {
      send(frames: Array<Uint8Array | string>): Promise<void> {
        if (busy) throw Object.assign(new Error('Socket is busy writing'), { code: 'EBUSY' });
        calls.push(String(frames[0]));
        if (frames[0] === 'slow') {
          busy = true;
          return new Promise<void>((r) => (release = () => ((busy = false), r())));
        }
        return Promise.resolve();
      },
    };
    const q = new SendQueue(socket);
    const first = q.send(['a']);
    expect(calls).toEqual(['a']); // no await between: sent synchronously
    const slow = q.send(['slow']);
    const b = q.send(['b']);
    const c = q.send(['c']);
    expect(calls).toEqual(['a', 'slow']);
    release();
    await Promise.all([first, slow, b, c]);
    expect(calls).toEqual(['a', 'slow', 'b', 'c']);
    const failing = new SendQueue({ send: () => { throw Object.assign(new Error('host unreachable'), { code: 'EHOSTUNREACH' }); } });
    await expect(failing.send(['x'])).rejects.toThrow(/host unreachable/);
  });
});

describe('all-reduce through the coordinator', () => {
  it('CoordinatorReducer sums once every rank arrived and refuses duplicates', () => {
    const r = new CoordinatorReducer();
    expect(r.add({ job: 'j', attempt: 1, seq: 0, rank: 1, worldSize: 2, data: new Float32Array([1, 2]) })).toBeNull();
    expect(() => r.add({ job: 'j', attempt: 1, seq: 0, rank: 1, worldSize: 2, data: new Float32Array([1, 2]) })).toThrow(/sent twice/);
    expect(Array.from(r.add({ job: 'j', attempt: 1, seq: 0, rank: 0, worldSize: 2, data: new Float32Array([3, 4]) }) ?? [])).toEqual([4, 6]);
    expect(() => r.add({ job: 'j', attempt: 1, seq: 1, rank: 2, worldSize: 2, data: new Float32Array(2) })).toThrow(/out of range/);
  });

  let sockets: zmq.Socket[] = [];
  afterEach(() => {
    for (const s of sockets) s.close();
    sockets = [];
  });

  it('reduces 3 replicas over a ROUTER and DEALERs on tcp loopback', async () => {
    const router = new zmq.Router({ linger: 0 });
    sockets.push(router);
    await router.bind('tcp://127.0.0.1:*');
    const dealers = [0, 1, 2].map((i) => {
      const d = new zmq.Dealer({ linger: 0, routingId: `t${i}` });
      d.connect(router.lastEndpoint ?? '');
      sockets.push(d);
      return d;
    });
    const rng = new Rng(3);
    const inputs = dealers.map(() => randomVector(rng, 257));
    const reducer = new CoordinatorReducer();
    const serve = (async () => {
      let sent = 0;
      for await (const [sender, ...frames] of router) {
        const decoded = decodeTrainerMessage(frames);
        if (!decoded.ok || decoded.msg.kind !== 'reduce') throw new Error('unexpected message');
        const m = decoded.msg;
        const sum = reducer.add({ job: m.job, attempt: m.attempt, seq: m.seq, rank: m.rank, worldSize: 3, data: bytesToF32(m.data) });
        void sender;
        if (sum) {
          for (const id of ['t0', 't1', 't2']) await router.send([id, encodeCoordinatorMessage({ kind: 'reduced', job: m.job, attempt: m.attempt, seq: m.seq, data: f32ToBytes(sum) })]);
          if (++sent === 1) return;
        }
      }
    })();
    const results = await Promise.all(
      dealers.map(async (d, rank) => {
        await d.send(encodeTrainerMessage({ kind: 'reduce', job: 'clf', attempt: 1, seq: 0, rank, data: f32ToBytes(inputs[rank]) }));
        const [frame] = await d.receive();
        const decoded = decodeCoordinatorMessage([frame]);
        if (!decoded.ok || decoded.msg.kind !== 'reduced') throw new Error('expected reduced');
        return bytesToF32(decoded.msg.data);
      }),
    );
    await serve;
    const expected = sumInRankOrder(inputs);
    for (const r of results) expect(Array.from(r)).toEqual(Array.from(expected));
  });
});

/**
 * In-memory ring links for n replicas: a send copies the piece (as a socket would) into the
 * receiver's box; `fail` makes every send of that rank reject.
 */
function memoryRing(n: number, fail?: { rank: number; error: Error }): RingLinks[] {
  const stored = Array.from({ length: n }, () => new Map<string, Float32Array>());
  const waiting = Array.from({ length: n }, () => new Map<string, (v: Float32Array) => void>());
  return Array.from({ length: n }, (_, rank) => ({
    send: async (step, part, parts, data) => {
      if (fail?.rank === rank) throw fail.error;
      const to = (rank + 1) % n;
      const key = `${step}:${part}/${parts}`;
      const copy = data.slice();
      const w = waiting[to].get(key);
      if (w) {
        waiting[to].delete(key);
        w(copy);
      } else stored[to].set(key, copy);
    },
    recv: (step, part, parts) =>
      new Promise<Float32Array>((resolve) => {
        const key = `${step}:${part}/${parts}`;
        const have = stored[rank].get(key);
        if (have) {
          stored[rank].delete(key);
          resolve(have);
        } else waiting[rank].set(key, resolve);
      }),
  }));
}

/** The ring's own summation order: chunk c is summed x_c + x_{c+1} + ... + x_{c+n-1}, in float32. */
function ringOrderSum(inputs: Float32Array[]): Float32Array {
  const n = inputs.length;
  const L = inputs[0].length;
  const out = new Float32Array(L);
  for (let c = 0; c < n; c++) {
    for (let i = chunkBound(L, n, c); i < chunkBound(L, n, c + 1); i++) {
      let acc = inputs[c][i];
      for (let k = 1; k < n; k++) acc = Math.fround(acc + inputs[(c + k) % n][i]);
      out[i] = acc;
    }
  }
  return out;
}

describe('coordinator all-reduce with payload frames', () => {
  let sockets: zmq.Socket[] = [];
  afterEach(() => {
    for (const s of sockets) s.close();
    sockets = [];
  });

  it('reduces 2 replicas of 1M values sent and answered as header + payload frames', async () => {
    const router = new zmq.Router({ linger: 0 });
    sockets.push(router);
    await router.bind('tcp://127.0.0.1:*');
    const dealers = [0, 1].map((i) => {
      const d = new zmq.Dealer({ linger: 0, routingId: `t${i}` });
      d.connect(router.lastEndpoint ?? '');
      sockets.push(d);
      return d;
    });
    const rng = new Rng(4);
    const inputs = dealers.map(() => randomVector(rng, 1_000_000));
    const expected = sumInRankOrder(inputs);
    const reducer = new CoordinatorReducer();
    const serve = (async () => {
      for await (const [, ...frames] of router) {
        const decoded = decodeTrainerMessage(frames);
        if (!decoded.ok || decoded.msg.kind !== 'reduce') throw new Error(`unexpected message: ${JSON.stringify(decoded)}`);
        const m = decoded.msg;
        const sum = reducer.add({ job: m.job, attempt: m.attempt, seq: m.seq, rank: m.rank, worldSize: 2, data: bytesToF32(m.data) });
        if (sum) {
          const reply = encodeCoordinatorFrames({ kind: 'reduced', job: m.job, attempt: m.attempt, seq: m.seq, data: f32ToBytes(sum) });
          for (const id of ['t0', 't1']) await router.send([id, ...reply]);
          return;
        }
      }
    })();
    const results = await Promise.all(
      dealers.map(async (d, rank) => {
        await d.send(encodeTrainerFrames({ kind: 'reduce', job: 'clf', attempt: 1, seq: 0, rank, data: f32ToBytes(inputs[rank]) }));
        const decoded = decodeCoordinatorMessage(await d.receive());
        if (!decoded.ok || decoded.msg.kind !== 'reduced') throw new Error('expected reduced');
        return bytesToF32(decoded.msg.data);
      }),
    );
    await serve;
    for (const r of results) expect(Buffer.from(r.buffer, r.byteOffset, r.byteLength).equals(Buffer.from(expected.buffer))).toBe(true);
  });
});

describe('pipelined ring (pieces)', () => {
  it.each([2, 3, 5])('gives every replica the same bits as the ring order sum, %i replicas, any piece size', async (n) => {
    const rng = new Rng(11 + n);
    for (const L of [0, 1, n - 1, 17, 1000]) {
      const inputs = Array.from({ length: n }, () => randomVector(rng, L));
      const keep = inputs.map((v) => v.slice());
      const expected = ringOrderSum(inputs);
      for (const pieceValues of [1, 3, 64, 100_000]) {
        const links = memoryRing(n);
        const out = await Promise.all(inputs.map((x, rank) => ringAllReduce(x, rank, n, links[rank], { pieceValues })));
        for (const o of out) expect(Buffer.from(o.buffer, o.byteOffset, o.byteLength).equals(Buffer.from(expected.buffer))).toBe(true);
        // The inputs are left as they were.
        inputs.forEach((x, r) => expect(Array.from(x)).toEqual(Array.from(keep[r])));
      }
    }
  });

  it('two replicas get exactly the rank-order sum (x0 + x1), as the coordinator computes it', async () => {
    const rng = new Rng(5);
    const inputs = [randomVector(rng, 999), randomVector(rng, 999)];
    const links = memoryRing(2);
    const out = await Promise.all(inputs.map((x, rank) => ringAllReduce(x, rank, 2, links[rank], { pieceValues: 50 })));
    const expected = sumInRankOrder(inputs);
    for (const o of out) expect(Array.from(o)).toEqual(Array.from(expected));
  });

  it('writes into `out`, which may be the input itself', async () => {
    const rng = new Rng(9);
    const inputs = Array.from({ length: 3 }, () => randomVector(rng, 100));
    const expected = ringOrderSum(inputs);
    const links = memoryRing(3);
    const outs = [new Float32Array(100), inputs[1], new Float32Array(100)];
    const res = await Promise.all(inputs.map((x, rank) => ringAllReduce(x, rank, 3, links[rank], { pieceValues: 7, out: outs[rank] })));
    res.forEach((r, rank) => {
      expect(r).toBe(outs[rank]);
      expect(Array.from(r)).toEqual(Array.from(expected));
    });
    await expect(ringAllReduce(new Float32Array(4), 0, 2, links[0], { out: new Float32Array(3) })).rejects.toThrow(/out has 3 values, input has 4/);
  });

  it('fails at once when a send fails, instead of waiting for a piece that will not come', async () => {
    const links = memoryRing(2, { rank: 0, error: new Error('EHOSTUNREACH') });
    await expect(ringAllReduce(new Float32Array(10), 0, 2, links[0], { pieceValues: 2 })).rejects.toThrow(/EHOSTUNREACH/);
  });

  it('names the piece when a replica sends the wrong length', async () => {
    const links: RingLinks = { send: async () => undefined, recv: async () => new Float32Array(3) };
    await expect(ringAllReduce(new Float32Array(10), 0, 2, links, { pieceValues: 100 })).rejects.toThrow(/ring step 0: piece 0\/1 of chunk 1 has 3 values, expected 5/);
  });
});

describe('PeerLink pieces over real sockets', () => {
  let links: PeerLink[] = [];
  afterEach(async () => {
    await Promise.all(links.map((l) => l.stop()));
    links = [];
  });

  it('reduces a large vector in many pieces, in place or into a reused array, bit-identically', async () => {
    links = [0, 1].map(() => new PeerLink({ bind: 'tcp://127.0.0.1:*', pieceValues: 100_003 }));
    await Promise.all(links.map((l) => l.start()));
    const addresses = links.map((l) => l.address);
    const rng = new Rng(21);
    const L = 2_000_001;
    const inputs = [randomVector(rng, L), randomVector(rng, L)];
    const expected = sumInRankOrder(inputs);
    const reused = new Float32Array(L);
    for (let seq = 0; seq < 2; seq++) {
      const out = await Promise.all([
        links[0].allReduce(inputs[0], { job: 'big', attempt: 1, seq, rank: 0, peers: addresses, timeoutMs: 20_000, into: reused }),
        links[1].allReduce(inputs[1], { job: 'big', attempt: 1, seq, rank: 1, peers: addresses, timeoutMs: 20_000 }),
      ]);
      expect(out[0]).toBe(reused);
      for (const o of out) expect(Buffer.from(o.buffer, o.byteOffset, o.byteLength).equals(Buffer.from(expected.buffer))).toBe(true);
    }
    // In place: the sum replaces each replica's input.
    const copies = inputs.map((x) => x.slice());
    const inPlace = await Promise.all(copies.map((x, rank) => links[rank].allReduce(x, { job: 'big', attempt: 1, seq: 2, rank, peers: addresses, timeoutMs: 20_000, into: x })));
    inPlace.forEach((o, rank) => {
      expect(o).toBe(copies[rank]);
      expect(Buffer.from(o.buffer).equals(Buffer.from(expected.buffer))).toBe(true);
    });
  });

  it('says so when replicas cut chunks into different pieces', async () => {
    links = [new PeerLink({ bind: 'tcp://127.0.0.1:*', pieceValues: 10 }), new PeerLink({ bind: 'tcp://127.0.0.1:*', pieceValues: 1000 })];
    await Promise.all(links.map((l) => l.start()));
    const addresses = links.map((l) => l.address);
    const calls = await Promise.allSettled(links.map((l, rank) => l.allReduce(new Float32Array(100), { job: 'j', attempt: 1, seq: 0, rank, peers: addresses, timeoutMs: 2000 })));
    const reasons = calls.map((c) => (c.status === 'rejected' ? String(c.reason) : 'resolved'));
    expect(reasons[1]).toMatch(/ring step 0: replica 0 cut the chunk into 5 pieces, this replica into 1 \(do both use the same pieceValues\?\)/);
    expect(reasons[0]).toMatch(/ring step 0: replica 1 cut the chunk into 1 pieces, this replica into 5/);
  });

  it('logs and drops a piece whose payload is not whole float32 values', async () => {
    const log = recordingLog();
    links = [new PeerLink({ bind: 'tcp://127.0.0.1:*', log, sharedDir: null })];
    await links[0].start();
    const rogue = new zmq.Dealer({ linger: 0 });
    try {
      rogue.connect(links[0].endpoint);
      await rogue.send(encodePeerFrames({ kind: 'ring-chunk', job: 'j', attempt: 1, seq: 0, step: 0, from: 1, part: 0, parts: 1, data: new Uint8Array(6) }));
      await rogue.send(encodePeerFrames({ kind: 'ring-chunk', job: 'j', attempt: 1, seq: 0, step: 0, from: 1, part: 1, parts: 1, data: new Uint8Array(8) }));
      for (let i = 0; i < 100 && log.lines.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
      expect(log.lines).toEqual([
        'rejected ring chunk: float32 payload of 6 bytes is not a multiple of 4; dropped',
        'rejected peer message: part: must be less than parts; dropped',
      ]);
    } finally {
      rogue.close();
    }
  });
});

describe('ringAllReduce argument checks', () => {
  it('rejects a bad rank or ring size', async () => {
    const links = { send: async () => undefined, recv: async () => new Float32Array(0) };
    await expect(ringAllReduce(new Float32Array(2), 2, 2, links)).rejects.toThrow(/rank must be in 0..1, got 2/);
    await expect(ringAllReduce(new Float32Array(2), 0, 0, links)).rejects.toThrow(/ring size/);
  });
});
