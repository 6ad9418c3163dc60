import * as zmq from 'zeromq';
import { Rng } from '@gan-study/core';
import { PROTOCOL_VERSION, bytesToF32, decodeCoordinatorMessage, decodeTrainerMessage, encodeCoordinatorMessage, encodeTrainerMessage, f32ToBytes } from '../messages';
import { Packr } from 'msgpackr';
import { PeerLink } from './peers';
import { CoordinatorReducer } from './reducer';
import { chunkBound, ringAllReduce, sumInRankOrder } from './ring';
import type { EventLog } from './log';

function randomVector(rng: Rng, n: number): Float32Array {
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = rng.next() * 2 - 1;
  return v;
}

function recordingLog(): EventLog & { lines: string[] } {
  const lines: string[] = [];
  return { lines, info: (_f, m) => lines.push(m), warn: (_f, m) => lines.push(m), debug: () => undefined };
}

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
    expect(addresses.every((a) => /^tcp:\/\/127\.0\.0\.1:\d+$/.test(a))).toBe(true);
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
      rogue.connect(peers[1].address);
      await rogue.send(Buffer.from('garbage'));
      await rogue.send(new Packr({ useRecords: false }).pack({ v: PROTOCOL_VERSION + 1, kind: 'ring-chunk' }));
      const addresses = peers.map((p) => p.address);
      const out = await Promise.all(peers.map((p, rank) => p.allReduce(new Float32Array([rank]), { job: 'j', attempt: 1, seq: 0, rank, peers: addresses, timeoutMs: 5000 })));
      expect(Array.from(out[1])).toEqual([1]);
      expect(log.lines.filter((l) => l.startsWith('rejected peer message'))).toHaveLength(2);
      expect(log.lines.join('\n')).toMatch(/protocol version 2, expected 1/);
    } finally {
      rogue.close();
    }
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

describe('ringAllReduce argument checks', () => {
  it('rejects a bad rank or ring size', async () => {
    const links = { send: async () => undefined, recv: async () => new Float32Array(0) };
    await expect(ringAllReduce(new Float32Array(2), 2, 2, links)).rejects.toThrow(/rank must be in 0..1, got 2/);
    await expect(ringAllReduce(new Float32Array(2), 0, 0, links)).rejects.toThrow(/ring size/);
  });
});
