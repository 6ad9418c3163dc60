/**
 * Turns at making something once per host: a lock file next to it (proper-lockfile: TARGET.lock,
 * refreshed every 5 s while held, taken over 30 s after its holder stopped refreshing it), so that
 * of the processes that need the same cached thing at once (a host's trainers), one makes it and the
 * others wait, then find it made. Used for the synthetic set (synth/cached.ts) and the decoded-folder
 * cache (folder.ts).
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import lockfile from 'proper-lockfile';

export interface LockTurnOptions {
  /** What is made, for the log lines and the error: 'making the synthetic set', say. */
  what: string;
  log: (line: string) => void;
  /** How long to wait for another holder before giving up with an error naming the lock. */
  waitMs: number;
}

/**
 * `make()` under TARGET.lock. A waiting caller says so once. A lock that cannot be taken for another
 * reason than a holder (a read-only cache, say) is logged and skipped: `make` must stay correct
 * without it (write atomically); the lock only saves the duplicate work.
 */
export async function inLockTurn<T>(target: string, opts: LockTurnOptions, make: () => Promise<T>): Promise<T> {
  const lockPath = `${target}.lock`;
  const { what, log, waitMs } = opts;
  let release: (() => Promise<void>) | null = null;
  try {
    await fs.mkdir(path.dirname(target), { recursive: true });
    const options = {
      realpath: false,
      lockfilePath: lockPath,
      stale: 30_000,
      update: 5_000,
      onCompromised: (err: Error) => log(`lock ${lockPath} lost while ${what} (${err.message}); carrying on without it`),
    };
    try {
      release = await lockfile.lock(target, { ...options, retries: 0 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ELOCKED') throw err;
      // Said once, so that a trainer waiting for its host's other trainer is not silent meanwhile.
      log(`waiting for another process ${what} at ${target} (lock ${lockPath})`);
      release = await lockfile.lock(target, { ...options, retries: { forever: true, minTimeout: 50, maxTimeout: 1_000, maxRetryTime: waitMs, factor: 1.5 } });
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOCKED') throw new Error(`${lockPath}: another process has been ${what} for over ${waitMs >= 10_000 ? Math.round(waitMs / 1000) : (waitMs / 1000).toFixed(1)} s; if none is, remove the lock`);
    log(`could not lock ${lockPath} (${code ?? (err as Error).message}); ${what} without the lock`);
  }
  try {
    return await make();
  } finally {
    if (release) await release().catch(() => undefined);
  }
}
