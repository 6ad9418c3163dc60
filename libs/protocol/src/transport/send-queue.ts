/**
 * zeromq.js v6 allows one `send` in flight per socket (a second concurrent one throws EBUSY):
 * this queue serialises sends, so any number of callers may send on the same socket.
 *
 * When nothing is queued, a send is handed to the socket inside the call: zeromq.js then queues the
 * message for its I/O thread at once when the socket is writable, so it goes on the wire while the
 * caller keeps the JavaScript thread busy (a gradient range sent from inside a backward pass travels
 * while the rest of the backward pass runs). Had the send waited for a microtask, nothing would move
 * until the caller's synchronous work ended.
 */
export interface Sendable {
  send(frames: Array<Uint8Array | string>): Promise<void>;
}

export class SendQueue {
  private tail: Promise<void> = Promise.resolve();
  /** Sends chained behind `tail` that have not been handed to the socket yet. */
  private queued = 0;
  private closed = false;

  constructor(private readonly socket: Sendable) {}

  /** Sends after every earlier send has settled; rejects with the socket's error (e.g. EHOSTUNREACH). */
  send(frames: Array<Uint8Array | string>): Promise<void> {
    if (this.closed) return Promise.reject(new Error('socket closed'));
    if (this.queued === 0) {
      let sent: Promise<void> | null = null;
      try {
        sent = this.socket.send(frames);
      } catch (err) {
        // EBUSY: an earlier send still waits for the socket; this one queues behind it.
        if ((err as { code?: unknown }).code !== 'EBUSY') return Promise.reject(err);
      }
      if (sent) {
        this.tail = sent.catch(() => undefined);
        return sent;
      }
    }
    this.queued++;
    const next = this.tail.then(() => {
      this.queued--;
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
