/**
 * A trainer's peer socket: the ROUTER other trainers send ring all-reduce chunks to, and one DEALER
 * per peer it sends to. The coordinator tells each replica of a data-parallel job its peers'
 * addresses (`assign.peers`); chunks are raw float32 bytes in `ring-chunk` messages, validated on
 * arrival like every other message (a malformed one is logged and dropped).
 */
import * as zmq from 'zeromq';
import { bytesToF32, decodePeerMessage, encodePeerMessage, f32ToBytes } from '../messages';
import { Mailbox } from './mailbox';
import { ringAllReduce } from './ring';
import { SendQueue } from './send-queue';
import { silentLog, type EventLog } from './log';

export interface PeerLinkOptions {
  /** Where to bind, e.g. 'tcp://0.0.0.0:*' or 'tcp://127.0.0.1:*' ('*' = any free port). */
  bind: string;
  /** Host other trainers reach this one at; replaces the bound host in `address`. Default: the bound host. */
  advertiseHost?: string;
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
}

export class PeerLink {
  private router: zmq.Router | null = null;
  private readonly dealers = new Map<string, { socket: zmq.Dealer; queue: SendQueue }>();
  private readonly inbox = new Mailbox<Float32Array>();
  private readonly log: EventLog;
  private loop: Promise<void> | null = null;
  private stopped = false;
  private _address = '';

  constructor(private readonly opts: PeerLinkOptions) {
    this.log = opts.log ?? silentLog;
  }

  /** The address peers connect to (after start). */
  get address(): string {
    return this._address;
  }

  async start(): Promise<void> {
    const router = new zmq.Router({ linger: 0 });
    await router.bind(this.opts.bind);
    this.router = router;
    const bound = router.lastEndpoint ?? this.opts.bind;
    const url = new URL(bound);
    if (this.opts.advertiseHost) url.hostname = this.opts.advertiseHost;
    this._address = `tcp://${url.hostname}:${url.port}`;
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
        let data: Float32Array;
        try {
          data = bytesToF32(m.data);
        } catch (err) {
          this.log.warn({ event: 'rejected', kind: m.kind, job: m.job, reason: (err as Error).message }, `rejected ring chunk: ${(err as Error).message}; dropped`);
          continue;
        }
        if (!this.inbox.put(chunkKey(m.job, m.attempt, m.seq, m.step, m.from), data)) {
          this.log.warn({ event: 'rejected', kind: m.kind, job: m.job, reason: 'duplicate' }, `duplicate ring chunk ${m.job}#${m.attempt} seq ${m.seq} step ${m.step}; dropped`);
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
      socket.connect(address);
      d = { socket, queue: new SendQueue(socket) };
      this.dealers.set(address, d);
    }
    return d.queue;
  }

  /** Ring all-reduce of `data` among `call.peers`: resolves with the elementwise sum. */
  allReduce(data: Float32Array, call: ReduceCall): Promise<Float32Array> {
    const n = call.peers.length;
    if (n <= 1) return Promise.resolve(Float32Array.from(data));
    if (!this.router) return Promise.reject(new Error('peer link not started'));
    const next = this.dealer(call.peers[(call.rank + 1) % n]);
    const prev = (call.rank - 1 + n) % n;
    return ringAllReduce(data, call.rank, n, {
      send: (step, chunk) =>
        next.send([encodePeerMessage({ kind: 'ring-chunk', job: call.job, attempt: call.attempt, seq: call.seq, step, from: call.rank, data: f32ToBytes(chunk) })]),
      recv: (step) => this.inbox.take(chunkKey(call.job, call.attempt, call.seq, step, prev), call.timeoutMs, call.signal),
    });
  }

  /** Forgets chunks of an attempt that ended (a cancelled replica may leave some behind). */
  endAttempt(job: string, attempt: number): void {
    this.inbox.drop(`${job}#${attempt}:`, 'attempt ended');
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
    this.router?.close();
    await this.loop;
  }
}

function chunkKey(job: string, attempt: number, seq: number, step: number, from: number): string {
  return `${job}#${attempt}:${seq}:${step}:${from}`;
}
