/**
 * Heartbeats from a worker thread. A training step is synchronous tfjs work that can hold the main
 * event loop for seconds (a paper-size step on CPU, or many steps between two awaits); heartbeats
 * sent from the main thread would then stop and the coordinator would drop a healthy trainer. So a
 * small worker thread with its own DEALER (routing id `<trainer>#hb`) sends them, each carrying
 * `lagMs`: how long ago the main thread last marked itself alive (a shared Float64 timestamp).
 *
 * - crash, kill -9, SIGSTOP: the whole process stops, heartbeats stop: lost after trainerTimeoutMs.
 * - main thread hung (or one step far longer than any step should be): heartbeats go on with a
 *   growing `lagMs`; the coordinator drops the trainer once it passes its hang timeout.
 *
 * The worker is plain JavaScript (evaluated, so it runs under jest and tsx alike) and speaks only
 * the heartbeat message, encoded exactly as messages.ts encodes it; the coordinator validates it
 * with the protocol's schema like every other message.
 */
import { Worker } from 'worker_threads';
import { PROTOCOL_VERSION } from '@gan-study/protocol';

const WORKER_SOURCE = `
const { workerData, parentPort } = require('worker_threads');
const zmq = require(workerData.zeromq);
const { Packr } = require(workerData.msgpackr);
const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false });
const alive = new Float64Array(workerData.alive);
const socket = new zmq.Dealer({ routingId: workerData.id + '#hb', linger: 0, sendTimeout: 1000 });
socket.connect(workerData.connect);
let running = [];
let sending = false;
const beat = () => {
  if (sending) return;
  sending = true;
  const lagMs = Math.max(0, Math.round(Date.now() - alive[0]));
  socket.send(packr.pack({ kind: 'heartbeat', running, lagMs, v: workerData.v })).catch(() => undefined).finally(() => { sending = false; });
};
let timer = setInterval(beat, workerData.heartbeatMs);
parentPort.on('message', (m) => {
  if (m.type === 'running') running = m.running;
  else if (m.type === 'period') { clearInterval(timer); timer = setInterval(beat, m.ms); }
  else if (m.type === 'stop') { clearInterval(timer); socket.close(); parentPort.close(); }
});
`;

export interface HeartbeatThreadOptions {
  connect: string;
  id: string;
  heartbeatMs: number;
}

export class HeartbeatThread {
  private readonly alive = new Float64Array(new SharedArrayBuffer(8));
  private worker: Worker | null = null;

  constructor(private readonly opts: HeartbeatThreadOptions) {
    this.markAlive();
  }

  start(): void {
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        connect: this.opts.connect,
        id: this.opts.id,
        heartbeatMs: this.opts.heartbeatMs,
        alive: this.alive.buffer,
        v: PROTOCOL_VERSION,
        zeromq: require.resolve('zeromq'),
        msgpackr: require.resolve('msgpackr'),
      },
    });
    this.worker.unref();
  }

  /** The main thread is alive now (called from its own timer). */
  markAlive(): void {
    this.alive[0] = Date.now();
  }

  setRunning(running: string[]): void {
    this.worker?.postMessage({ type: 'running', running });
  }

  setPeriod(ms: number): void {
    this.worker?.postMessage({ type: 'period', ms });
  }

  /** Stops the thread; safe to call twice. */
  async stop(): Promise<void> {
    const w = this.worker;
    if (!w) return;
    this.worker = null;
    const exited = new Promise<void>((resolve) => w.once('exit', () => resolve()));
    w.postMessage({ type: 'stop' });
    await Promise.race([exited, new Promise((r) => setTimeout(r, 1000))]);
    await w.terminate();
  }
}
