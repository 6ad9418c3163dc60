import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zmq from 'zeromq';
import { Rng } from '@gan-study/core';
import { encodePeerFrames } from '../messages';
import type { EventLog } from './log';
import { randomVector, recordingLog } from './spec-helpers';
import { PeerLink } from './peers';
import { PEER_SHM_ENV, SharedExchange, parsePeerAddress, sharedDirFromEnv, sharedHostKey } from './shared-exchange';

const bits = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

describe('shared-memory exchange between two replicas on one host', () => {
  let links: PeerLink[] = [];
  let dirs: string[] = [];
  const tempDir = () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'peer-shm-'));
    dirs.push(d);
    return d;
  };
  afterEach(async () => {
    await Promise.all(links.map((l) => l.stop()));
    links = [];
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
    dirs = [];
  });

  async function start(sharedDirs: Array<string | null>, log?: EventLog): Promise<string[]> {
    links = sharedDirs.map((sharedDir) => new PeerLink({ bind: 'tcp://127.0.0.1:*', sharedDir, log }));
    await Promise.all(links.map((l) => l.start()));
    return links.map((l) => l.address);
  }

  /** Both replicas exchange `inputs` as call `seq`, readying the ranges last-first; returns both sums. */
  function exchange(addresses: string[], inputs: Float32Array[], seq: number, job = 'clf'): Promise<Float32Array[]> {
    return Promise.all(
      links.map(async (p, rank) => {
        const L = inputs[rank].length;
        const pending = p.beginExchange(inputs[rank], { job, attempt: 1, seq, rank, peers: addresses, timeoutMs: 5000, into: new Float32Array(L) });
        pending.ready(Math.floor(L / 2), L);
        pending.ready(0, Math.floor(L / 2));
        return pending.finish();
      }),
    );
  }

  it('gives both replicas the bits the ring gives, call after call, through a file and not the socket', async () => {
    const dir = tempDir();
    const addresses = await start([dir, dir]);
    for (const a of addresses) expect(a).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+#shm=[0-9a-f]{16}\.\d+-[0-9a-f]{12}$/);
    const rng = new Rng(5);
    // Five calls: the four slots of each file are used in turn, each call with other values.
    for (let seq = 0; seq < 5; seq++) {
      const inputs = [randomVector(rng, 100_003), randomVector(rng, 100_003)];
      const ring = await Promise.all(links.map((p, rank) => p.allReduce(inputs[rank], { job: 'ring', attempt: 1, seq, rank, peers: addresses, timeoutMs: 5000 })));
      const outs = await exchange(addresses, inputs, seq);
      expect(bits(outs[0]).equals(bits(ring[0]))).toBe(true);
      expect(bits(outs[1]).equals(bits(ring[0]))).toBe(true);
    }
    // Each replica's receiving file of the attempt, four slots of the vector, each with its 16-byte mark.
    const files = fs.readdirSync(dir);
    expect(files).toHaveLength(2);
    for (const f of files) expect(fs.statSync(path.join(dir, f)).size).toBe(64 + 4 * (100_003 * 4 + 16)); // the header (the wait flag), then four slots of vector + mark
    // The attempt's end removes them.
    for (const l of links) l.endAttempt('clf', 1);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('goes over the socket when the peers do not share the folder, or one has none', async () => {
    const [a, b] = [tempDir(), tempDir()];
    for (const sharedDirs of [[a, b], [a, null]]) {
      const addresses = await start(sharedDirs);
      const inputs = [new Float32Array([1, 2, 3]), new Float32Array([10, 20, 30])];
      const outs = await exchange(addresses, inputs, 0);
      for (const o of outs) expect(Array.from(o)).toEqual([11, 22, 33]);
      expect([...fs.readdirSync(a), ...fs.readdirSync(b)]).toEqual([]);
      await Promise.all(links.map((l) => l.stop()));
      links = [];
    }
    expect(parsePeerAddress('tcp://h:1').hostKey).toBeNull();
    // A malformed suffix offers nothing (and names no file).
    expect(parsePeerAddress('tcp://h:1#shm=../../etc')).toEqual({ endpoint: 'tcp://h:1', hostKey: null, linkId: null });
  });

  it('fails the call naming the length when the replicas disagree, and times out when the other never writes', async () => {
    const dir = tempDir();
    const addresses = await start([dir, dir]);
    await expect(exchange(addresses, [new Float32Array(4), new Float32Array(6)], 0)).rejects.toThrow(/clf#1 seq 0: the other replica's vector has [46] values, this one's [46]/);
    const lone = links[0].beginExchange(new Float32Array(8), { job: 'j', attempt: 2, seq: 0, rank: 0, peers: addresses, timeoutMs: 300 });
    lone.ready(0, 8);
    await expect(lone.finish()).rejects.toThrow(/j#2:0:1.* within 300 ms/);
  });

  it('never reads past what was written: a note for a slot the peer did not fill is an error naming the file', async () => {
    const dir = tempDir();
    const log = recordingLog();
    const addresses = await start([dir, dir], log);
    const rogue = new zmq.Dealer({ linger: 0 });
    try {
      rogue.connect(links[0].endpoint);
      await rogue.send(encodePeerFrames({ kind: 'grad-shared', job: 'j', attempt: 1, seq: 0, from: 1, length: 8, offset: 0 }));
      const p = links[0].beginExchange(new Float32Array(8), { job: 'j', attempt: 1, seq: 0, rank: 0, peers: addresses, timeoutMs: 2000 });
      p.ready(0, 8);
      await expect(p.finish()).rejects.toThrow(/gan-study-peer-.*\.f32: 0 of 32 bytes at offset 0/);
      // A second note for the same call is logged and dropped.
      await rogue.send(encodePeerFrames({ kind: 'grad-shared', job: 'j', attempt: 1, seq: 1, from: 1, length: 8, offset: 0 }));
      await rogue.send(encodePeerFrames({ kind: 'grad-shared', job: 'j', attempt: 1, seq: 1, from: 1, length: 8, offset: 0 }));
      await new Promise((r) => setTimeout(r, 100));
      expect(log.lines.filter((l) => l.startsWith('duplicate shared vector note'))).toHaveLength(1);
    } finally {
      rogue.close();
    }
  });

  it('sends over the socket when it cannot write the shared file, says so once, and the other takes either form', async () => {
    const dir = tempDir();
    const log = recordingLog();
    const addresses = await start([dir, dir], log);
    // Replica 1's receiving file for job j, attempt 1, made a folder: replica 0 cannot write it.
    const id1 = parsePeerAddress(addresses[1]).linkId as string;
    fs.mkdirSync(path.join(dir, `gan-study-peer-${id1}-${createHash('sha256').update('j#1').digest('hex').slice(0, 12)}.f32`));
    const rng = new Rng(9);
    for (let seq = 0; seq < 3; seq++) {
      const inputs = [randomVector(rng, 70_001), randomVector(rng, 70_001)];
      const ring = await Promise.all(links.map((p, rank) => p.allReduce(inputs[rank], { job: 'ring', attempt: 1, seq, rank, peers: addresses, timeoutMs: 5000 })));
      const outs = await exchange(addresses, inputs, seq, 'j');
      for (const o of outs) expect(bits(o).equals(bits(ring[0]))).toBe(true);
    }
    const failed = log.lines.filter((l) => l.startsWith('shared-memory exchange in'));
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatch(/EISDIR.*sends its gradients over the socket from now on/);
  });

  it('removes its files when the link stops, and files of gone processes after an hour', async () => {
    const dir = tempDir();
    const stale = (pid: number, ageMs: number) => {
      const f = path.join(dir, `gan-study-peer-${pid}-0123456789ab-ba9876543210.f32`);
      fs.writeFileSync(f, 'x');
      const t = (Date.now() - ageMs) / 1000;
      fs.utimesSync(f, t, t);
      return path.basename(f);
    };
    const gonePid = 2 ** 22 + 12_345; // above Linux's pid_max: no such process
    const old = stale(gonePid, 2 * 3_600_000);
    const recent = stale(gonePid + 1, 60_000);
    const alive = stale(process.ppid, 2 * 3_600_000); // jest's parent process
    const other = 'unrelated.txt';
    fs.writeFileSync(path.join(dir, other), 'keep');
    const addresses = await start([dir, dir]);
    expect(fs.readdirSync(dir).sort()).toEqual([alive, other, recent].sort());
    expect(fs.readdirSync(dir)).not.toContain(old);
    await exchange(addresses, [new Float32Array(16).fill(1), new Float32Array(16).fill(2)], 0, 'a');
    await exchange(addresses, [new Float32Array(16).fill(1), new Float32Array(16).fill(2)], 0, 'b');
    expect(fs.readdirSync(dir)).toHaveLength(3 + 4);
    await Promise.all(links.map((l) => l.stop()));
    links = [];
    expect(fs.readdirSync(dir).sort()).toEqual([alive, other, recent].sort());
  });

  it('is chosen by GAN_STUDY_PEER_SHM, else /dev/shm when writable; a folder it cannot use is logged, not fatal', async () => {
    expect(sharedDirFromEnv({ [PEER_SHM_ENV]: '0' })).toBeNull();
    expect(sharedDirFromEnv({ [PEER_SHM_ENV]: '' })).toBeNull();
    expect(sharedDirFromEnv({ [PEER_SHM_ENV]: 'rel/dir' })).toBe(path.resolve('rel/dir'));
    let shmWritable = true;
    try {
      fs.accessSync('/dev/shm', fs.constants.W_OK);
    } catch {
      shmWritable = false;
    }
    expect(sharedDirFromEnv({})).toBe(shmWritable ? '/dev/shm' : null);
    const d = tempDir();
    expect(sharedHostKey(d)).toMatch(/^[0-9a-f]{16}$/);
    expect(sharedHostKey(d)).toBe(sharedHostKey(d));
    expect(sharedHostKey(d)).not.toBe(sharedHostKey(tempDir()));
    const log = recordingLog();
    const [addr] = await start([path.join(d, 'missing')], log);
    expect(addr).not.toContain('#');
    expect(log.lines.join('\n')).toMatch(/shared-memory exchange off: .*missing.*; replicas on this host exchange over the socket/);
  });

  /** Both replicas swap `inputs` (cut into segments of `cuts` lengths) as call `seq`; returns what each read, in segments of the same lengths. */
  async function swap(addresses: string[], inputs: Float32Array[], seq: number, cuts: number[], job = 'clf'): Promise<Float32Array[]> {
    const cut = (v: Float32Array) => {
      let at = 0;
      return cuts.map((n) => v.subarray(at, (at += n)));
    };
    return Promise.all(
      links.map(async (p, rank) => {
        const ours = cut(inputs[rank].slice());
        const incoming = await p.swap(ours, { job, attempt: 1, seq, rank, peers: addresses, timeoutMs: 5000 });
        // `ours` was read before swap returned: overwriting it now changes nothing the other gets.
        for (const o of ours) o.fill(NaN);
        const out = new Float32Array(inputs[rank].length).fill(-1);
        incoming.readInto(cut(out));
        expect(() => incoming.readInto(cut(out))).toThrow(/was read already/);
        return out;
      }),
    );
  }

  it('swap: each of two replicas gets the other\'s vector, segment by segment, through the file or over the socket', async () => {
    const rng = new Rng(21);
    const cuts = [1000, 0, 7, 50_000, 1]; // uneven, one empty
    const L = cuts.reduce((a, b) => a + b, 0);
    const dir = tempDir();
    const [a, b] = [tempDir(), tempDir()];
    for (const [what, sharedDirs] of [['shared', [dir, dir]], ['different folders', [a, b]], ['one without', [dir, null]]] as const) {
      const addresses = await start([...sharedDirs]);
      const sharing = links.map((l, rank) => l.sharesMemory(rank, addresses));
      expect(sharing).toEqual(what === 'shared' ? [true, true] : [false, false]);
      // Three calls: the file's two slots in turn.
      for (let seq = 0; seq < 3; seq++) {
        const inputs = [randomVector(rng, L), randomVector(rng, L)];
        const [got0, got1] = await swap(addresses, inputs, seq, cuts);
        expect(bits(got0).equals(bits(inputs[1]))).toBe(true);
        expect(bits(got1).equals(bits(inputs[0]))).toBe(true);
      }
      const files = [...fs.readdirSync(dir), ...fs.readdirSync(a), ...fs.readdirSync(b)];
      expect(files).toHaveLength(what === 'shared' ? 2 : 0);
      for (const l of links) l.endAttempt('clf', 1);
      await Promise.all(links.map((l) => l.stop()));
      links = [];
    }
  });

  it('swap twice a step: the first sent early and read after the second is sent, with vectors that change length', async () => {
    const dir = tempDir();
    const addresses = await start([dir, dir]);
    const rng = new Rng(23);
    // As Classifier.pairStep: a layer's factors during the pass, the rest after it; then the first read, then the second.
    // The factors' length drops for a short last batch and comes back: a longer vector starts new slots.
    const firstLengths = [40_000, 40_000, 40_000, 12_000, 40_000, 40_000, 40_000];
    let seq = 0;
    for (const n of firstLengths) {
      const inputs = [0, 1].map(() => [randomVector(rng, n), randomVector(rng, 3_001)]);
      const [seqA, seqB] = [seq++, seq++];
      const got = await Promise.all(
        links.map(async (p, rank) => {
          const call = (s: number) => ({ job: 'clf', attempt: 1, seq: s, rank, peers: addresses, timeoutMs: 5000 });
          const first = p.swap([inputs[rank][0].slice()], call(seqA));
          // The other may be anywhere in its step meanwhile.
          await new Promise((r) => setTimeout(r, rank === 0 ? 0 : 5));
          const second = p.swap([inputs[rank][1].slice()], call(seqB));
          const out = [new Float32Array(n), new Float32Array(3_001)];
          (await first).readInto([out[0]]);
          (await second).readInto([out[1]]);
          return out;
        }),
      );
      for (const rank of [0, 1]) {
        expect(bits(got[rank][0]).equals(bits(inputs[1 - rank][0]))).toBe(true);
        expect(bits(got[rank][1]).equals(bits(inputs[1 - rank][1]))).toBe(true);
      }
    }
    // Slots as long as the longest vector and its mark, the first parts in slots 0 and 2, the second in 1 and 3 (the
    // file ends with the last slot's short vector and mark): no longer vector came after the first, so no second set.
    const slot = 40_000 * 4 + 16;
    for (const f of fs.readdirSync(dir)) expect(fs.statSync(path.join(dir, f)).size).toBe(64 + 3 * slot + 3_001 * 4 + 16);
    // A longer vector starts four new slots past the old ones.
    const long = [randomVector(rng, 50_000), randomVector(rng, 50_000)];
    const outs = await swap(addresses, long, seq, [50_000]);
    expect(bits(outs[0]).equals(bits(long[1]))).toBe(true);
    expect(bits(outs[1]).equals(bits(long[0]))).toBe(true);
    for (const f of fs.readdirSync(dir)) expect(fs.statSync(path.join(dir, f)).size).toBe(64 + 4 * slot + ((seq % 4) + 1) * (50_000 * 4 + 16));
    for (const l of links) l.endAttempt('clf', 1);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('swap: now() takes the other\'s vector from the file at once when it is there; a note goes only to a replica that waits; a failure after the take fails the next swap', async () => {
    const dir = tempDir();
    const log = recordingLog();
    const addresses = await start([dir, dir], log);
    const call = (rank: number, seq: number) => ({ job: 'n', attempt: 1, seq, rank, peers: addresses, timeoutMs: 5000 });
    const v = [Float32Array.of(1, 2, 3), Float32Array.of(4, 5, 6)];
    const out = new Float32Array(3);
    const p0 = links[0].swap([v[0]], call(0, 0));
    // The other has not written yet.
    expect(p0.now?.()).toBeNull();
    // Its call writes into replica 0's file before it returns: both find the other's vector at once.
    const p1 = links[1].swap([v[1]], call(1, 0));
    const [in0, in1] = [p0.now?.(), p1.now?.()];
    if (!in0 || !in1) throw new Error('now() found no vector after both had written');
    in0.readInto([out]);
    expect(Array.from(out)).toEqual([4, 5, 6]);
    in1.readInto([out]);
    expect(Array.from(out)).toEqual([1, 2, 3]);
    // Taken: once only, by either way.
    expect(p0.now?.()).toBeNull();
    expect(() => in0.readInto([out])).toThrow(/was read already/);
    const rest = await p0;
    expect(() => rest.readInto([out])).toThrow(/was read already/);
    await p1;
    // Neither waited: no note crossed the socket.
    expect(links.map((l) => l.sharedNotesSent)).toEqual([0, 0]);
    // Replica 0 waits before replica 1 writes (its wait begins an event-loop turn after the call): replica 1 sends it the one note.
    const w0 = links[0].swap([v[0]], call(0, 1));
    await new Promise((resolve) => setImmediate(resolve));
    const w1 = links[1].swap([v[1]], call(1, 1));
    expect(w1.now?.()).not.toBeNull();
    (await w0).readInto([out]);
    expect(Array.from(out)).toEqual([4, 5, 6]);
    await w1;
    expect(links.map((l) => l.sharedNotesSent)).toEqual([0, 1]);
    // A note that a race leaves unsent (replica 1 reads no flag): replica 0 finds the vector by its mark all the same, within a few ms.
    const shared1 = (links[1] as unknown as { shared: { waiting: () => boolean } }).shared;
    const waiting = shared1.waiting;
    shared1.waiting = () => false;
    const m0 = links[0].swap([v[0]], call(0, 2));
    await new Promise((resolve) => setImmediate(resolve));
    links[1].swap([v[1]], call(1, 2)).now?.();
    (await m0).readInto([out]);
    expect(Array.from(out)).toEqual([4, 5, 6]);
    expect(links[1].sharedNotesSent).toBe(1);
    shared1.waiting = waiting;
    // A note that comes late, after replica 0 took the vector by its mark: dropped when it comes, not kept.
    const link1 = links[1] as unknown as { dealer: (address: string) => { send: (frames: Uint8Array[]) => Promise<void> } };
    const dealer = link1.dealer.bind(links[1]);
    link1.dealer = (address) => ({ send: (frames) => new Promise((resolve) => setTimeout(resolve, 60)).then(() => dealer(address).send(frames)) });
    const s0 = links[0].swap([v[0]], call(0, 3));
    await new Promise((resolve) => setImmediate(resolve));
    const s1 = links[1].swap([v[1]], call(1, 3));
    s1.now?.();
    (await s0).readInto([out]);
    expect(Array.from(out)).toEqual([4, 5, 6]);
    await s1; // its note sent, 60 ms late
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(links[1].sharedNotesSent).toBe(2);
    expect(links[0].unreadNotes).toBe(0);
    // A failure after the take: replica 1 waits, so replica 0 must send a note, and the send fails. Replica 0
    // took replica 1's vector already; its next swap fails so, and the attempt's end logs it.
    const f1 = links[1].swap([v[1]], call(1, 4));
    await new Promise((resolve) => setImmediate(resolve));
    const link0 = links[0] as unknown as typeof link1;
    link0.dealer = () => ({ send: () => Promise.reject(new Error('send failed in the test')) });
    const f0 = links[0].swap([v[0]], call(0, 4));
    expect(f0.now?.()).not.toBeNull();
    await expect(f0).rejects.toThrow('send failed in the test');
    await expect(links[0].swap([v[0]], call(0, 5))).rejects.toThrow('send failed in the test');
    f1.catch(() => undefined); // its note never comes
    links.forEach((l) => l.endAttempt('n', 1));
    expect(log.lines.filter((l) => l.includes('a swap of n attempt 1 failed after its vector was taken: send failed in the test'))).toHaveLength(1);
    // Without a shared file (over the socket) there is nothing to take at once.
    const [a, b] = [tempDir(), tempDir()];
    await Promise.all(links.map((l) => l.stop()));
    const apart = await start([a, b]);
    const r = links.map((l, rank) => l.swap([v[rank]], { job: 'm', attempt: 1, seq: 0, rank, peers: apart, timeoutMs: 5000 }));
    expect(r.map((p) => p.now?.())).toEqual([null, null]);
    (await r[0]).readInto([out]);
    expect(Array.from(out)).toEqual([4, 5, 6]);
    await r[1];
  });

  it('swap: refuses more than two replicas and a read of the wrong length, and falls back to the socket when the file cannot be written', async () => {
    const dir = tempDir();
    const log = recordingLog();
    const addresses = await start([dir, dir], log);
    await expect(links[0].swap([new Float32Array(2)], { job: 'j', attempt: 1, seq: 0, rank: 0, peers: [...addresses, 'tcp://127.0.0.1:1'], timeoutMs: 100 })).rejects.toThrow('swap: two replicas only, got rank 0 of 3');
    const [in0, in1] = await Promise.all(links.map((p, rank) => p.swap([new Float32Array(4).fill(rank + 1)], { job: 'j', attempt: 1, seq: 0, rank, peers: addresses, timeoutMs: 5000 })));
    expect(() => in0.readInto([new Float32Array(3)])).toThrow('j#1 seq 0: read into 3 values, the vectors have 4');
    const out = new Float32Array(4);
    in1.readInto([out]);
    expect(Array.from(out)).toEqual([1, 1, 1, 1]);
    // Replica 1's receiving file for job k made a folder: replica 0 cannot write it, says so once, and sends.
    const id1 = parsePeerAddress(addresses[1]).linkId as string;
    fs.mkdirSync(path.join(dir, `gan-study-peer-${id1}-${createHash('sha256').update('k#1').digest('hex').slice(0, 12)}.f32`));
    const rng = new Rng(23);
    for (let seq = 0; seq < 2; seq++) {
      const inputs = [randomVector(rng, 9_001), randomVector(rng, 9_001)];
      const [got0, got1] = await swap(addresses, inputs, seq, [9_000, 1], 'k');
      expect(bits(got0).equals(bits(inputs[1]))).toBe(true);
      expect(bits(got1).equals(bits(inputs[0]))).toBe(true);
    }
    expect(log.lines.filter((l) => l.startsWith('shared-memory exchange in'))).toHaveLength(1);
    expect(links[0].sharesMemory(0, addresses)).toBe(false);
    expect(links[1].sharesMemory(1, addresses)).toBe(true);
  });

  it('SharedExchange refuses a peer id that is not one', () => {
    const x = new SharedExchange(tempDir());
    try {
      expect(() => x.writeTo('../x', 'j#1', 0, new Float32Array(1))).toThrow(/bad shared exchange peer id/);
    } finally {
      x.close();
    }
  });
});
