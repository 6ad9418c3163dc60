/**
 * A trainer's peer socket: the ROUTER other trainers send ring all-reduce pieces to, and one DEALER
 * per peer it sends to. The coordinator tells each replica of a data-parallel job its peers'
 * addresses (`assign.peers`). A piece is a `ring-chunk` header plus its raw float32 bytes as a frame
 * of their own (messages.ts `encodePeerFrames`): sent from the ring's memory without a copy,
 * received as ZeroMQ's own aligned buffer and used in place. Every message is validated on arrival
 * (a malformed one is logged and dropped).
 *
 * Two replicas on one host exchange through shared memory instead (shared-exchange.ts): the
 * address a link advertises carries its host key and id (`tcp://host:port#shm=<key>.<id>`), and where both keys
 * match only a `grad-shared` note crosses the socket (for a swap, only to a replica that waits).
 */
import * as path from 'path';
import * as zmq from 'zeromq';
import type { IncomingVector, PendingReduce, PendingVector } from '../jobs';
import { ReadyRanges } from '../jobs';
import { bytesToF32, decodePeerMessage, encodePeerFrames, f32ToBytes } from '../messages';
import { Mailbox } from './mailbox';
import { RangeInbox, type VectorRange } from './ranges';
import { SharedExchange, parsePeerAddress, sharedDirFromEnv, sharedHostKey } from './shared-exchange';
import { DEFAULT_PIECE_VALUES, ringAllReduce } from './ring';
import { SendQueue } from './send-queue';
import { silentLog, type EventLog } from './log';

export interface PeerLinkOptions {
  /** Where to bind, e.g. 'tcp://0.0.0.0:*' or 'tcp://127.0.0.1:*' ('*' = any free port). */
  bind: string;
  /** Host other trainers reach this one at; replaces the bound host in `address`. Default: the bound host. */
  advertiseHost?: string;
  /** Floats per ring piece (ring.ts DEFAULT_PIECE_VALUES); all replicas of a job must agree. */
  pieceValues?: number;
  /**
   * Folder in shared memory for exchanges with a replica on this host (shared-exchange.ts), or null
   * for none. Default: GAN_STUDY_PEER_SHM, else /dev/shm when writable.
   */
  sharedDir?: string | null;
  log?: EventLog;
}

export interface ReduceCall {
  job: string;
  attempt: number;
  /** All-reduce call number within the attempt (every replica counts the same calls). */
  seq: number;
  rank: number;
  /** Every replica's peer address, by rank. */
  peers: readonly string[];
  timeoutMs: number;
  signal?: AbortSignal;
  /**
   * Where to write the sum (same length as the data; for `allReduce` it may be the data itself, to
   * reduce in place; for `beginExchange` between two replicas it must not overlap the data).
   * Default: a new array. Reusing one saves allocating (and, on a fresh allocation, page-faulting)
   * a vector's worth of memory per call.
   */
  into?: Float32Array;
}

interface Piece {
  parts: number;
  data: Float32Array;
}

export class PeerLink {
  private router: zmq.Router | null = null;
  private readonly dealers = new Map<string, { socket: zmq.Dealer; queue: SendQueue }>();
  private readonly inbox = new Mailbox<Piece>();
  private readonly ranges = new RangeInbox();
  private readonly sharedNotes = new Mailbox<{ offset: number; length: number }>();
  private shared: SharedExchange | null = null;
  /** Why writing to the shared folder failed, once it has: then this link's vectors go over the socket. */
  private sharedWriteFailed: string | null = null;
  /**
   * Attempts that have swapped (and not ended), with the first failure of a swap whose vector was
   * taken by its mark (`now`) before the rest of the call (the note, the sends) was over: it fails
   * the attempt's next swap.
   */
  private readonly swapAttempts = new Map<string, Error | null>();
  /**
   * Notes of swaps whose vector was taken by its mark after this link had flagged that it waits
   * (SharedExchange.waitFor), per sender (`job#attempt:from`): such a note may still come, and is
   * dropped when it does. A sender's notes come in call order, so a note of call n also ends the
   * wait for any of its earlier ones here.
   */
  private readonly strayNotes = new Map<string, Set<number>>();
  private _sharedNotesSent = 0;
  private hostKey: string | null = null;
  private readonly log: EventLog;
  private readonly pieceValues: number;
  private loop: Promise<void> | null = null;
  private stopped = false;
  private _address = '';

  constructor(private readonly opts: PeerLinkOptions) {
    this.log = opts.log ?? silentLog;
    this.pieceValues = opts.pieceValues ?? DEFAULT_PIECE_VALUES;
  }

  /**
   * The address this link advertises to peers (after start): its ZeroMQ endpoint, with the suffix
   * that offers shared memory to replicas on this host when it can (`parsePeerAddress`).
   */
  get address(): string {
    return this._address;
  }

  /**
   * `grad-shared` notes this link has sent: one per shared `beginExchange` call, and one per swap
   * only when the other replica waited for its vector (see `swap`).
   */
  get sharedNotesSent(): number {
    return this._sharedNotesSent;
  }

  /** `grad-shared` notes that came for no call yet (kept until one takes them, or their attempt ends). */
  get unreadNotes(): number {
    return this.sharedNotes.size;
  }

  /** The ZeroMQ endpoint peers connect to (after start). */
  get endpoint(): string {
    return parsePeerAddress(this._address).endpoint;
  }

  async start(): Promise<void> {
    const router = new zmq.Router({ linger: 0 });
    await router.bind(this.opts.bind);
    this.router = router;
    const bound = router.lastEndpoint ?? this.opts.bind;
    const url = new URL(bound);
    if (this.opts.advertiseHost) url.hostname = this.opts.advertiseHost;
    this._address = `tcp://${url.hostname}:${url.port}`;
    const dir = this.opts.sharedDir === undefined ? sharedDirFromEnv() : this.opts.sharedDir;
    if (dir !== null) {
      try {
        this.hostKey = sharedHostKey(dir);
        this.shared = new SharedExchange(path.resolve(dir));
        this._address += this.shared.addressSuffix(this.hostKey);
        this.log.info({ event: 'peer-shared', dir }, `exchanges with a replica on this host go through shared memory in ${dir}`);
      } catch (err) {
        this.log.warn({ event: 'peer-shared-unavailable', dir, err: (err as Error).message }, `shared-memory exchange off: ${(err as Error).message}; replicas on this host exchange over the socket`);
      }
    }
    this.loop = this.receive(router);
  }

  private async receive(router: zmq.Router): Promise<void> {
    try {
      for await (const [, ...frames] of router) {
        const decoded = decodePeerMessage(frames);
        if (!decoded.ok) {
          this.log.warn({ event: 'rejected', kind: decoded.kind, reason: decoded.reason, from: 'peer' }, `rejected peer message: ${decoded.reason}; dropped`);
          continue;
        }
        const m = decoded.msg;
        if (m.kind === 'grad-shared') {
          if (this.strayNote(m.job, m.attempt, m.from, m.seq)) continue;
          if (!this.sharedNotes.put(rangeKey(m.job, m.attempt, m.seq, m.from), { offset: m.offset, length: m.length })) {
            this.log.warn({ event: 'rejected', kind: m.kind, job: m.job, reason: 'duplicate' }, `duplicate shared vector note ${m.job}#${m.attempt} seq ${m.seq} from replica ${m.from}; dropped`);
          }
          continue;
        }
        let data: Float32Array;
        try {
          data = bytesToF32(m.data);
        } catch (err) {
          this.log.warn({ event: 'rejected', kind: m.kind, job: m.job, reason: (err as Error).message }, `rejected ${m.kind === 'ring-chunk' ? 'ring chunk' : 'gradient range'}: ${(err as Error).message}; dropped`);
          continue;
        }
        if (m.kind === 'grad-range') {
          const refused = this.ranges.put(rangeKey(m.job, m.attempt, m.seq, m.from), m.length, m.offset, data);
          if (refused !== null) {
            this.log.warn({ event: 'rejected', kind: m.kind, job: m.job, reason: refused }, `rejected gradient range ${m.job}#${m.attempt} seq ${m.seq} from replica ${m.from}: ${refused}; dropped`);
          }
          continue;
        }
        if (!this.inbox.put(pieceKey(m.job, m.attempt, m.seq, m.step, m.part, m.from), { parts: m.parts, data })) {
          this.log.warn(
            { event: 'rejected', kind: m.kind, job: m.job, reason: 'duplicate' },
            `duplicate ring chunk ${m.job}#${m.attempt} seq ${m.seq} step ${m.step} piece ${m.part}/${m.parts}; dropped`,
          );
        }
      }
    } catch (err) {
      if (!this.stopped) this.log.warn({ event: 'peer-socket-error', err: (err as Error).message }, `peer socket failed: ${(err as Error).message}`);
    }
  }

  private dealer(address: string): SendQueue {
    let d = this.dealers.get(address);
    if (!d) {
      const socket = new zmq.Dealer({ linger: 1000, sendTimeout: 30_000 });
      socket.connect(parsePeerAddress(address).endpoint);
      d = { socket, queue: new SendQueue(socket) };
      this.dealers.set(address, d);
    }
    return d.queue;
  }

  /** Ring all-reduce of `data` among `call.peers`: resolves with the elementwise sum. `data` must not change until then. */
  allReduce(data: Float32Array, call: ReduceCall): Promise<Float32Array> {
    const n = call.peers.length;
    if (n <= 1) {
      const out = call.into ?? new Float32Array(data.length);
      if (out.length !== data.length) return Promise.reject(new RangeError(`into has ${out.length} values, data has ${data.length}`));
      if (out !== data) out.set(data);
      return Promise.resolve(out);
    }
    if (!this.router) return Promise.reject(new Error('peer link not started'));
    const next = this.dealer(call.peers[(call.rank + 1) % n]);
    const prev = (call.rank - 1 + n) % n;
    const { job, attempt, seq, rank } = call;
    return ringAllReduce(
      data,
      rank,
      n,
      {
        send: (step, part, parts, piece) => next.send(encodePeerFrames({ kind: 'ring-chunk', job, attempt, seq, step, from: rank, part, parts, data: f32ToBytes(piece) })),
        recv: async (step, part, parts) => {
          const got = await this.inbox.take(pieceKey(job, attempt, seq, step, part, prev), call.timeoutMs, call.signal);
          if (got.parts !== parts) {
            throw new Error(`ring step ${step}: replica ${prev} cut the chunk into ${got.parts} pieces, this replica into ${parts} (do both use the same pieceValues?)`);
          }
          return got.data;
        },
      },
      { pieceValues: this.pieceValues, out: call.into },
    );
  }

  /**
   * An all-reduce whose input becomes final range by range (JobContext.beginAllReduce). Between two
   * replicas, each readied range goes to the other at once (one `grad-range` message, handed to
   * ZeroMQ inside `ready`, so it travels while the caller computes the rest), and `finish` adds the
   * other's vector when all of it has come: both replicas compute a + b, and float addition is
   * commutative, so they end bit-identical, with the same sums the ring gives two replicas. With
   * more replicas, sending everything to everyone would cost n-1 vectors each: the ring runs in
   * `finish` instead.
   */
  beginExchange(data: Float32Array, call: ReduceCall): PendingReduce {
    const readied = new ReadyRanges(data.length);
    const n = call.peers.length;
    if (n !== 2) {
      return {
        ready: (from, to) => readied.add(from, to),
        finish: () => {
          readied.checkComplete();
          return this.allReduce(data, call);
        },
      };
    }
    const { job, attempt, seq, rank } = call;
    const other = 1 - rank;
    const L = data.length;
    const peer = parsePeerAddress(call.peers[other]);
    if (this.shared && this.hostKey !== null && peer.hostKey === this.hostKey && peer.linkId !== null) {
      return this.sharedExchange(this.shared, peer.linkId, data, call, readied);
    }
    let failed: Error | null = null;
    const sends: Array<Promise<void>> = [];
    const started = this.router !== null;
    return {
      ready: (from, to) => {
        readied.add(from, to);
        if (!started || failed) return; // finish reports it
        const sent = this.dealer(call.peers[other]).send(
          encodePeerFrames({ kind: 'grad-range', job, attempt, seq, from: rank, offset: from, length: L, data: f32ToBytes(data.subarray(from, to)) }),
        );
        sent.catch((err: Error) => (failed ??= err));
        sends.push(sent);
      },
      finish: async () => {
        if (!started) throw new Error('peer link not started');
        readied.checkComplete();
        if (failed) throw failed;
        const out = exchangeOutput(data, call.into);
        const theirs = await this.ranges.take(rangeKey(job, attempt, seq, other), L, call.timeoutMs, call.signal);
        for (const r of theirs) addRange(out, data, r.data, r.offset);
        await Promise.all(sends);
        return out;
      },
    };
  }

  /**
   * `beginExchange` between two replicas on this host: `finish` writes this replica's vector into the
   * other's receiving file, tells it where, reads the other's vector from its own file and adds its
   * own (b + a on one replica, a + b on the other: the same floats). Ranges are only counted as they
   * are readied: two memory copies cost less than the socket, so nothing needs to travel early.
   *
   * When the write fails (the folder full: a container's /dev/shm is 64 MiB unless set larger), this
   * replica says so in its log once and sends its vectors over the socket from then on, as one
   * `grad-range`; the other takes whichever form comes.
   */
  private sharedExchange(shared: SharedExchange, peerId: string, data: Float32Array, call: ReduceCall, readied: ReadyRanges): PendingReduce {
    const { job, attempt, seq, rank } = call;
    const attemptKey = `${job}#${attempt}`;
    const L = data.length;
    return {
      ready: (from, to) => readied.add(from, to),
      finish: async () => {
        readied.checkComplete();
        const out = exchangeOutput(data, call.into);
        const offset = this.writeShared(shared, peerId, attemptKey, seq, data, job);
        const dealer = this.dealer(call.peers[1 - rank]);
        if (offset !== null) this._sharedNotesSent++;
        const sent =
          offset !== null
            ? dealer.send(encodePeerFrames({ kind: 'grad-shared', job, attempt, seq, from: rank, length: L, offset }))
            : dealer.send(encodePeerFrames({ kind: 'grad-range', job, attempt, seq, from: rank, offset: 0, length: L, data: f32ToBytes(data) }));
        const theirs = await this.takeEither(rangeKey(job, attempt, seq, 1 - rank), L, call);
        if ('ranges' in theirs) {
          for (const r of theirs.ranges) addRange(out, data, r.data, r.offset);
        } else {
          if (theirs.note.length !== L) throw new Error(`${attemptKey} seq ${seq}: the other replica's vector has ${theirs.note.length} values, this one's ${L}`);
          shared.addInto(attemptKey, theirs.note.offset, data, out);
        }
        await sent;
        return out;
      },
    };
  }

  /**
   * True when an exchange with the other of two replicas (`peers`, this one at `rank`) goes through
   * shared memory: both links offer it with the same host key (and this one's writes have not failed).
   */
  sharesMemory(rank: number, peers: readonly string[]): boolean {
    if (peers.length !== 2 || (rank !== 0 && rank !== 1) || this.sharedWriteFailed !== null) return false;
    const peer = parsePeerAddress(peers[1 - rank]);
    return this.shared !== null && this.hostKey !== null && peer.hostKey === this.hostKey && peer.linkId !== null;
  }

  /**
   * Two replicas swap their vectors (JobContext.pairExchange): each gets the other's, not the sum,
   * so it can add on its device. `ours` (segments laid end to end) is read before this returns:
   * written into the other's receiving file when the two share memory (sharesMemory), else copied
   * and sent as `grad-range` messages, one per segment. The promise resolves when the other's vector
   * is there; its `readInto` reads it (from this replica's file, or from the received ranges).
   * `now` gives it at once, with no event-loop turn, when the other's vector is in the file already
   * (its slot's mark, SharedExchange.has), else null.
   *
   * In shared memory a `grad-shared` note goes only to a replica that waits for this call (its flag,
   * SharedExchange.waiting): a replica that takes the vector by its mark needs none. Waiting starts
   * after the caller's synchronous work (an event-loop turn), so a caller that takes the vector with
   * `now` first never asks for a note; the wait flags itself, looks for the mark once more, then
   * waits for the note (or ranges, from a replica whose writes failed), looking for the mark again
   * every SHARED_POLL_MS. A failure of what is left of a call whose vector was taken (a send failing,
   * a note that does not agree with the mark) fails the attempt's next swap.
   */
  swap(ours: readonly Float32Array[], call: ReduceCall): PendingVector {
    const { job, attempt, seq, rank, peers } = call;
    if (peers.length !== 2 || (rank !== 0 && rank !== 1)) return Promise.reject(new Error(`swap: two replicas only, got rank ${rank} of ${peers.length}`));
    if (!this.router) return Promise.reject(new Error('peer link not started'));
    const attemptKey = `${job}#${attempt}`;
    const failed = this.swapAttempts.get(attemptKey);
    if (failed) return Promise.reject(failed);
    this.swapAttempts.set(attemptKey, null);
    const other = 1 - rank;
    const L = ours.reduce((n, s) => n + s.length, 0);
    const peer = parsePeerAddress(peers[other]);
    const shared = this.sharesMemory(rank, peers) ? this.shared : null;
    const peerId = peer.linkId;
    // Where both replicas' vectors of this call go (see SharedExchange.slot), wherever the other may
    // write into this replica's file (even once this one's writes have failed), and where this one's
    // went (null: over the socket).
    const at = this.shared && peerId !== null && peer.hostKey === this.hostKey ? this.shared.slot(peerId, attemptKey, seq, L) : null;
    const offset = shared && at !== null && this.writeShared(shared, peerId!, attemptKey, seq, ours, job) !== null ? at : null;
    const sends: Array<Promise<void>> = [];
    if (offset !== null) {
      // Right after the vector and its mark: whether the other waits for it (see SharedExchange).
      if (shared!.waiting(attemptKey, seq)) {
        this._sharedNotesSent++;
        sends.push(this.dealer(peers[other]).send(encodePeerFrames({ kind: 'grad-shared', job, attempt, seq, from: rank, length: L, offset })));
      }
    } else {
      const dealer = this.dealer(peers[other]);
      let start = 0;
      for (const segment of ours) {
        // A copy: the segment may be a view that is gone by the time ZeroMQ sends it.
        if (segment.length > 0) sends.push(dealer.send(encodePeerFrames({ kind: 'grad-range', job, attempt, seq, from: rank, offset: start, length: L, data: f32ToBytes(segment.slice()) })));
        start += segment.length;
      }
    }
    const key = rangeKey(job, attempt, seq, other);
    let read = false;
    const incoming = (readFrom: (segments: readonly Float32Array[]) => void): IncomingVector => ({
      readInto: (segments) => {
        if (read) throw new Error(`${attemptKey} seq ${seq}: the other replica's vector was read already`);
        read = true;
        const n = segments.reduce((k, s) => k + s.length, 0);
        if (n !== L) throw new RangeError(`${attemptKey} seq ${seq}: read into ${n} values, the vectors have ${L}`);
        readFrom(segments);
      },
    });
    // Where the other's vector was found by its mark: at this replica's own offset (both write as long vectors, call for call).
    let takenAt: number | null = null;
    const fromMark = (where: number): IncomingVector => incoming((segments) => this.shared!.readInto(attemptKey, where, segments));
    // A note may come for a vector taken by its mark once this link has flagged a wait for it.
    const taken = (where: number): void => {
      takenAt = where;
      if (peerId !== null && this.shared!.waitedFor(peerId, attemptKey) >= seq) this.expectStray(job, attempt, other, seq);
    };
    const markThere = (): boolean => at !== null && takenAt === null && !read && this.shared!.has(attemptKey, at, L, seq);
    const whole = (async () => {
      // The other's note or ranges; null when its vector was taken by its mark (at takenAt).
      let theirs: { note: { offset: number; length: number } } | { ranges: VectorRange[] } | null = null;
      if (!this.shared) {
        theirs = { ranges: await this.ranges.take(key, L, call.timeoutMs, call.signal) };
      } else {
        // After the caller's synchronous work: a caller that takes the vector with `now` first asks for no note.
        await new Promise<void>((resolve) => setImmediate(resolve));
        if (takenAt === null) {
          // The other writes into this replica's file only where it shares memory with it (then a flag tells it to send a note).
          if (at !== null) this.flagWait(this.shared, peerId!, attemptKey, seq, job);
          if (markThere()) taken(at!);
          else {
            const got = await this.takeEither(key, L, call, at === null ? undefined : () => takenAt !== null || markThere());
            if (!('marked' in got)) theirs = got;
            else if (takenAt === null) taken(at!);
          }
        }
      }
      await Promise.all(sends);
      if (takenAt !== null && theirs && 'note' in theirs && !(theirs.note.offset === takenAt && theirs.note.length === L)) {
        throw new Error(`${attemptKey} seq ${seq}: the other replica's vector was taken from its mark at offset ${takenAt} (${L} values), but its note says ${theirs.note.length} values at offset ${theirs.note.offset}`);
      }
      if (takenAt !== null && theirs && 'ranges' in theirs) throw new Error(`${attemptKey} seq ${seq}: the other replica's vector was taken from its mark at offset ${takenAt} (${L} values), but it sent its vector over the socket`);
      if (theirs === null) return fromMark(takenAt!);
      return incoming((segments) => {
        if ('ranges' in theirs) {
          scatterRanges(theirs.ranges, segments);
        } else {
          if (theirs.note.length !== L) throw new Error(`${attemptKey} seq ${seq}: the other replica's vector has ${theirs.note.length} values, this one's ${L}`);
          this.shared!.readInto(attemptKey, theirs.note.offset, segments);
        }
      });
    })();
    const now = (): IncomingVector | null => {
      if (!markThere()) return null;
      taken(at!);
      whole.catch((err: unknown) => {
        if (this.swapAttempts.get(attemptKey) === null) this.swapAttempts.set(attemptKey, err instanceof Error ? err : new Error(String(err)));
      });
      return fromMark(at!);
    };
    return Object.assign(whole, { now });
  }

  /**
   * Flags that this replica waits for the other's vector (SharedExchange.waitFor). When that write
   * fails, this replica's vectors already go over the socket (writeShared failed first, or does
   * now): the wait then finds the other's vector by its mark alone (see `swap`).
   */
  private flagWait(shared: SharedExchange, peerId: string, attemptKey: string, seq: number, job: string): void {
    if (this.sharedWriteFailed !== null) return;
    try {
      shared.waitFor(peerId, attemptKey, seq);
    } catch (err) {
      this.sharedFailed(shared, err, job);
    }
  }

  /** Writes a vector into the other replica's shared file; null (and a log line, once) when that fails: then it goes over the socket. */
  private writeShared(shared: SharedExchange, peerId: string, attemptKey: string, seq: number, data: Float32Array | readonly Float32Array[], job: string): number | null {
    if (this.sharedWriteFailed !== null) return null;
    try {
      return shared.writeTo(peerId, attemptKey, seq, data);
    } catch (err) {
      this.sharedFailed(shared, err, job);
      return null;
    }
  }

  /** A write to the shared folder failed: this link's vectors go over the socket from now on, said once. */
  private sharedFailed(shared: SharedExchange, err: unknown, job: string): void {
    this.sharedWriteFailed = (err as Error).message;
    this.log.warn(
      { event: 'peer-shared-failed', job, dir: shared.dir, err: this.sharedWriteFailed },
      `shared-memory exchange in ${shared.dir} failed (${this.sharedWriteFailed}); this trainer sends its gradients over the socket from now on (a larger ${shared.dir}, or GAN_STUDY_PEER_SHM=0 to go straight to the socket)`,
    );
  }

  /**
   * The other replica's vector of a shared-memory call as its note (where it is) or its ranges (its
   * write failed), whichever comes; with `markThere`, also `{ marked }` once that finds the vector by
   * its mark, looked for every SHARED_POLL_MS (a swap's wait: see `swap`).
   */
  private takeEither(key: string, length: number, call: ReduceCall): Promise<{ note: { offset: number; length: number } } | { ranges: VectorRange[] }>;
  private takeEither(key: string, length: number, call: ReduceCall, markThere?: () => boolean): Promise<{ note: { offset: number; length: number } } | { ranges: VectorRange[] } | { marked: true }>;
  private async takeEither(key: string, length: number, call: ReduceCall, markThere?: () => boolean): Promise<{ note: { offset: number; length: number } } | { ranges: VectorRange[] } | { marked: true }> {
    const stop = new AbortController();
    const onAbort = (): void => stop.abort(call.signal?.reason);
    if (call.signal?.aborted) onAbort();
    call.signal?.addEventListener('abort', onAbort, { once: true });
    const note = this.sharedNotes.take(key, call.timeoutMs, stop.signal).then((n) => ({ note: n }));
    const ranges = this.ranges.take(key, length, call.timeoutMs, stop.signal).then((r) => ({ ranges: r }));
    let poll: NodeJS.Timeout | undefined;
    const found = markThere
      ? new Promise<{ marked: true }>((resolve) => {
          poll = setInterval(() => {
            if (markThere()) resolve({ marked: true });
          }, SHARED_POLL_MS);
        })
      : new Promise<never>(() => undefined);
    try {
      return await Promise.race([note, ranges, found]);
    } finally {
      clearInterval(poll);
      call.signal?.removeEventListener('abort', onAbort);
      stop.abort(new Error('taken'));
      note.catch(() => undefined);
      ranges.catch(() => undefined);
    }
  }

  /** A note the other replica (`from`) may still send for call `seq`, of a vector taken by its mark: dropped when it comes. */
  private expectStray(job: string, attempt: number, from: number, seq: number): void {
    const sender = senderKey(job, attempt, from);
    let seqs = this.strayNotes.get(sender);
    if (!seqs) this.strayNotes.set(sender, (seqs = new Set()));
    // It may be here already, unread.
    if (!this.sharedNotes.discard(rangeKey(job, attempt, seq, from))) seqs.add(seq);
  }

  /** Whether an arriving note is one `expectStray` waits for (then it is dropped); it also ends the wait for the sender's earlier ones. */
  private strayNote(job: string, attempt: number, from: number, seq: number): boolean {
    const sender = senderKey(job, attempt, from);
    const seqs = this.strayNotes.get(sender);
    if (!seqs) return false;
    const stray = seqs.delete(seq);
    for (const s of seqs) if (s < seq) seqs.delete(s);
    if (seqs.size === 0) this.strayNotes.delete(sender);
    return stray;
  }

  /** Forgets pieces of an attempt that ended (a cancelled replica may leave some behind), and its shared files. */
  endAttempt(job: string, attempt: number): void {
    const swapFailed = this.swapAttempts.get(`${job}#${attempt}`);
    this.swapAttempts.delete(`${job}#${attempt}`);
    if (swapFailed) this.log.warn({ event: 'peer-swap-failed', job, attempt, err: swapFailed.message }, `a swap of ${job} attempt ${attempt} failed after its vector was taken: ${swapFailed.message}`);
    this.inbox.drop(`${job}#${attempt}:`, 'attempt ended');
    this.ranges.drop(`${job}#${attempt}:`, 'attempt ended');
    this.sharedNotes.drop(`${job}#${attempt}:`, 'attempt ended');
    for (const sender of [...this.strayNotes.keys()]) if (sender.startsWith(`${job}#${attempt}:`)) this.strayNotes.delete(sender);
    this.shared?.endAttempt(`${job}#${attempt}`);
  }

  /** Closes every socket; safe to call twice. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const d of this.dealers.values()) {
      d.queue.close();
      d.socket.close();
    }
    this.dealers.clear();
    this.shared?.close();
    this.router?.close();
    await this.loop;
  }
}

/**
 * The array an exchange between two replicas sums into: `into` (checked) or a new one. Never the
 * data itself: ZeroMQ sends readied ranges from `data` without a copy, and they may still be on the
 * wire when the other's vector has all come in (the shared path could sum in place, but a caller
 * need not know which path a call takes).
 */
function exchangeOutput(data: Float32Array, into: Float32Array | undefined): Float32Array {
  const L = data.length;
  const out = into ?? new Float32Array(L);
  if (out.length !== L) throw new RangeError(`into has ${out.length} values, data has ${L}`);
  if (out.buffer === data.buffer && out.byteOffset < data.byteOffset + data.byteLength && data.byteOffset < out.byteOffset + out.byteLength) {
    throw new RangeError('beginExchange: into must not overlap the data (its ranges may still be on the wire)');
  }
  return out;
}

/** out[offset + i] = ours[offset + i] + theirs[i]: a plain function, so V8 optimises the loop at once. */
function addRange(out: Float32Array, ours: Float32Array, theirs: Float32Array, offset: number): void {
  for (let i = 0; i < theirs.length; i++) out[offset + i] = ours[offset + i] + theirs[i];
}

/** Copies received ranges of a vector into `segments`, laid end to end (ranges cover the vector, sorted by offset, no overlaps). */
function scatterRanges(ranges: readonly VectorRange[], segments: readonly Float32Array[]): void {
  let seg = 0;
  let segStart = 0;
  for (const r of ranges) {
    let done = 0;
    while (done < r.data.length) {
      const at = r.offset + done;
      while (at >= segStart + segments[seg].length) segStart += segments[seg++].length;
      const n = Math.min(r.data.length - done, segStart + segments[seg].length - at);
      segments[seg].set(r.data.subarray(done, done + n), at - segStart);
      done += n;
    }
  }
}

/**
 * How often a swap that waits for a note looks for the other's mark as well (see `swap`): a note
 * that a race left unsent then costs this long, not the call's timeout.
 */
const SHARED_POLL_MS = 5;

function rangeKey(job: string, attempt: number, seq: number, from: number): string {
  return `${job}#${attempt}:${seq}:${from}`;
}

/** The key of a sender's notes of an attempt (PeerLink.strayNotes); it starts with the attempt's prefix, `job#attempt:`. */
function senderKey(job: string, attempt: number, from: number): string {
  return `${job}#${attempt}:${from}`;
}

function pieceKey(job: string, attempt: number, seq: number, step: number, part: number, from: number): string {
  return `${job}#${attempt}:${seq}:${step}:${part}:${from}`;
}
