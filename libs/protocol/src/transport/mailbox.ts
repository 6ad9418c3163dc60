/**
 * Messages that arrive before anyone waits for them wait here, keyed (e.g. `job#attempt:seq:step`);
 * `take` resolves with the message for a key, now or when it arrives, or rejects on timeout/abort.
 */
export class MailboxTimeoutError extends Error {
  override name = 'MailboxTimeoutError';
}

interface Waiter<T> {
  resolve(v: T): void;
  reject(err: Error): void;
}

export class Mailbox<T> {
  private readonly stored = new Map<string, T>();
  private readonly waiting = new Map<string, Waiter<T>>();

  /** Delivers a message; returns false when one with the same key is already stored (a duplicate). */
  put(key: string, value: T): boolean {
    const waiter = this.waiting.get(key);
    if (waiter) {
      this.waiting.delete(key);
      waiter.resolve(value);
      return true;
    }
    if (this.stored.has(key)) return false;
    this.stored.set(key, value);
    return true;
  }

  take(key: string, timeoutMs: number, signal?: AbortSignal): Promise<T> {
    const have = this.stored.get(key);
    if (have !== undefined) {
      this.stored.delete(key);
      return Promise.resolve(have);
    }
    if (this.waiting.has(key)) return Promise.reject(new Error(`already waiting for ${key}`));
    return new Promise<T>((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.waiting.delete(key);
      };
      const onAbort = (): void => {
        done();
        reject(signal?.reason instanceof Error ? signal.reason : new Error(`aborted while waiting for ${key}`));
      };
      const timer = setTimeout(() => {
        done();
        reject(new MailboxTimeoutError(`no message for ${key} within ${timeoutMs} ms`));
      }, timeoutMs);
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.set(key, {
        resolve: (v) => {
          done();
          resolve(v);
        },
        reject: (e) => {
          done();
          reject(e);
        },
      });
    });
  }

  /** Forgets the stored message for `key`, if one is there (no waiter is told); true when there was one. */
  discard(key: string): boolean {
    return this.stored.delete(key);
  }

  /** Forgets stored messages (and fails waiters) whose key starts with `prefix`: a finished attempt. */
  drop(prefix: string, reason = 'dropped'): void {
    for (const key of [...this.stored.keys()]) if (key.startsWith(prefix)) this.stored.delete(key);
    for (const [key, w] of [...this.waiting]) if (key.startsWith(prefix)) w.reject(new Error(`${reason}: ${key}`));
  }

  get size(): number {
    return this.stored.size;
  }
}
