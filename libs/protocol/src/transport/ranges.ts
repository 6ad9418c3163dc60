/**
 * Ranges of another replica's vector, collected as they arrive (peers.ts `beginExchange`): a replica
 * sends each range of its vector as soon as it is final, in whatever order its computation finishes
 * them, and the receiver takes the whole vector once the ranges cover it. Ranges that arrive before
 * the receiver asks wait here, keyed like the Mailbox (`job#attempt:seq:from`).
 */
import { MailboxTimeoutError } from './mailbox';

export interface VectorRange {
  offset: number;
  data: Float32Array;
}

interface Entry {
  length: number;
  ranges: VectorRange[];
  /** Values received so far; ranges never overlap (checked on arrival), so `got === length` means covered. */
  got: number;
  waiter?: { resolve(ranges: VectorRange[]): void; reject(err: Error): void };
}

export class RangeInbox {
  private readonly entries = new Map<string, Entry>();

  /**
   * Files a range of a vector of `length` values. Returns why it was refused (out of bounds, a length
   * that disagrees with earlier ranges, or values already received), or null when filed.
   */
  put(key: string, length: number, offset: number, data: Float32Array): string | null {
    const end = offset + data.length;
    if (data.length === 0) return `empty range at ${offset}`;
    if (end > length) return `range [${offset}, ${end}) is outside the vector's ${length} values`;
    let e = this.entries.get(key);
    if (!e) {
      e = { length, ranges: [], got: 0 };
      this.entries.set(key, e);
    } else if (e.length !== length) {
      return `range of a ${length}-value vector; earlier ranges said ${e.length}`;
    }
    for (const r of e.ranges) {
      if (offset < r.offset + r.data.length && r.offset < end) return `range [${offset}, ${end}) overlaps [${r.offset}, ${r.offset + r.data.length}), already received`;
    }
    e.ranges.push({ offset, data });
    e.got += data.length;
    if (e.got === e.length && e.waiter) {
      this.entries.delete(key);
      e.waiter.resolve(e.ranges);
    }
    return null;
  }

  /**
   * Resolves with the ranges of `key`'s vector, sorted by offset, once they cover all of its
   * `length` values; rejects on timeout, abort, or when the sender's vector has another length.
   */
  take(key: string, length: number, timeoutMs: number, signal?: AbortSignal): Promise<VectorRange[]> {
    const e = this.entries.get(key);
    if (e && e.length !== length) {
      this.entries.delete(key);
      return Promise.reject(new Error(`${key}: the other replica's vector has ${e.length} values, this one's ${length}`));
    }
    if (e?.waiter) return Promise.reject(new Error(`already waiting for ${key}`));
    if (e && e.got === length) {
      this.entries.delete(key);
      return Promise.resolve(sorted(e.ranges));
    }
    const entry: Entry = e ?? { length, ranges: [], got: 0 };
    this.entries.set(key, entry);
    return new Promise<VectorRange[]>((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        entry.waiter = undefined;
      };
      const onAbort = (): void => {
        done();
        this.entries.delete(key);
        reject(signal?.reason instanceof Error ? signal.reason : new Error(`aborted while waiting for ${key}`));
      };
      const timer = setTimeout(() => {
        done();
        this.entries.delete(key);
        reject(new MailboxTimeoutError(`${key}: ${entry.got} of ${length} values within ${timeoutMs} ms`));
      }, timeoutMs);
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      entry.waiter = {
        resolve: (ranges) => {
          done();
          resolve(sorted(ranges));
        },
        reject: (err) => {
          done();
          reject(err);
        },
      };
    });
  }

  /** Forgets ranges (and fails waiters) whose key starts with `prefix`: a finished attempt. */
  drop(prefix: string, reason = 'dropped'): void {
    for (const [key, e] of [...this.entries]) {
      if (!key.startsWith(prefix)) continue;
      this.entries.delete(key);
      e.waiter?.reject(new Error(`${reason}: ${key}`));
    }
  }

  /** Vectors with ranges waiting (or being waited for). */
  get size(): number {
    return this.entries.size;
  }
}

function sorted(ranges: VectorRange[]): VectorRange[] {
  return ranges.sort((a, b) => a.offset - b.offset);
}
