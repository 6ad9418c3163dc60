/** Small helpers shared by the job runners. */

/** Throws when the coordinator cancelled the job (checked between steps). */
export function throwIfAborted(signal: AbortSignal, job: string): void {
  if (signal.aborted) {
    const reason = signal.reason instanceof Error ? signal.reason.message : signal.reason === undefined ? 'no reason given' : String(signal.reason);
    throw new JobAbortedError(`job ${job} cancelled: ${reason}`);
  }
}

export class JobAbortedError extends Error {
  override name = 'JobAbortedError';
}

/** True at most once per `everyMs` (progress reports at a readable rate, never per step). */
export class ProgressThrottle {
  private last = 0;
  constructor(private readonly everyMs = 1000) {}
  due(): boolean {
    const now = Date.now();
    if (now - this.last < this.everyMs) return false;
    this.last = now;
    return true;
  }
}

/** Running mean of each loss over the last `window` steps. */
export class LossWindow {
  private readonly rows: Record<string, number>[] = [];
  constructor(private readonly window = 50) {}
  push(losses: Record<string, number>): void {
    this.rows.push(losses);
    if (this.rows.length > this.window) this.rows.shift();
  }
  mean(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const row of this.rows) for (const [k, v] of Object.entries(row)) out[k] = (out[k] ?? 0) + v / this.rows.length;
    return out;
  }
}
