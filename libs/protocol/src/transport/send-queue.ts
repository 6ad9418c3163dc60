/**
 * zeromq.js v6 allows one `send` in flight per socket (a second concurrent one throws EBUSY):
 * this queue serialises sends, so any number of callers may send on the same socket.
 */
export interface Sendable {
  send(frames: Array<Uint8Array | string>): Promise<void>;
}

export class SendQueue {
  private tail: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(private readonly socket: Sendable) {}

  /** Sends after every earlier send has settled; rejects with the socket's error (e.g. EHOSTUNREACH). */
  send(frames: Array<Uint8Array | string>): Promise<void> {
    if (this.closed) return Promise.reject(new Error('socket closed'));
    const next = this.tail.then(() => {
      if (this.closed) throw new Error('socket closed');
      return this.socket.send(frames);
    });
    this.tail = next.catch(() => undefined);
    return next;
  }

  close(): void {
    this.closed = true;
  }
}
