/**
 * The synthetic set in a cache shared by studies and by the processes of one host (a coordinator
 * and its trainers): CACHE/synth-<key>, made once per recipe (the key covers everything its bytes
 * depend on, see synthKey). Processes that need the same set at once take turns under a lock file
 * (proper-lockfile: OUT.lock, refreshed while held, taken over when its holder is gone), so the
 * second finds what the first wrote instead of rendering it again. A cached set that is incomplete
 * is removed and rebuilt, with a log line.
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import lockfile from 'proper-lockfile';
import { UserInputError } from '@gan-study/core';
import { IncompleteSynthSetError, synthesize, type SynthOptions, type SynthResult } from './index';

/** What a synthetic set's pixels depend on (everything of SynthOptions but where and how it is written). */
export type SynthRecipe = Omit<SynthOptions, 'out' | 'onProgress' | 'concurrency'>;

/** The folder of the set with this key (synthKey) inside `cacheDir`. */
export function cachedSynthPath(cacheDir: string, key: string): string {
  return path.join(cacheDir, `synth-${key}`);
}

export interface EnsureSynthOptions {
  /** `out` is a cache folder of ours: when damaged (a file deleted, a copy cut short) it is removed and rebuilt. */
  cached: boolean;
  log: (line: string) => void;
  onProgress?: (done: number, total: number) => void;
  /** How long to wait for another process making the same set (default 15 min). */
  waitMs?: number;
}

/**
 * The set `recipe` describes at `out`: synthesised unless it is there, under OUT.lock so that two
 * processes never make it twice. A lock that cannot be taken for another reason than a holder
 * (a read-only cache, say) is logged and skipped: synthesize() itself stays safe without it (its
 * staging folders are renamed into place), the lock only saves the duplicate work.
 */
export async function ensureSynthSet(out: string, recipe: SynthRecipe, opts: EnsureSynthOptions): Promise<SynthResult> {
  const lockPath = `${out}.lock`;
  const waitMs = opts.waitMs ?? 15 * 60_000;
  let release: (() => Promise<void>) | null = null;
  try {
    await fs.mkdir(path.dirname(out), { recursive: true });
    const options = {
      realpath: false,
      lockfilePath: lockPath,
      stale: 30_000,
      update: 5_000,
      onCompromised: (err: Error) => opts.log(`lock ${lockPath} lost while making the synthetic set (${err.message}); carrying on without it`),
    };
    try {
      release = await lockfile.lock(out, { ...options, retries: 0 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ELOCKED') throw err;
      // Said once, so that a trainer waiting for its host's other trainer is not silent meanwhile.
      opts.log(`waiting for another process making the synthetic set at ${out} (lock ${lockPath})`);
      release = await lockfile.lock(out, { ...options, retries: { forever: true, minTimeout: 50, maxTimeout: 1_000, maxRetryTime: waitMs, factor: 1.5 } });
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOCKED') throw new Error(`${lockPath}: another process has been making the synthetic set for over ${waitMs >= 10_000 ? Math.round(waitMs / 1000) : (waitMs / 1000).toFixed(1)} s; if none is, remove the lock`);
    opts.log(`could not lock ${lockPath} (${code ?? (err as Error).message}); making the synthetic set without the lock`);
  }
  try {
    return await synthesizeOnce(out, recipe, opts);
  } finally {
    if (release) await release().catch(() => undefined);
  }
}

async function synthesizeOnce(out: string, recipe: SynthRecipe, opts: EnsureSynthOptions): Promise<SynthResult> {
  const run = () => synthesize({ ...recipe, out, ...(opts.onProgress ? { onProgress: opts.onProgress } : {}) });
  try {
    return await run();
  } catch (err) {
    // Only our own cache folder is ever removed: a damaged one or one that is not the set its name says.
    if (!opts.cached || !(err instanceof UserInputError)) throw err;
    opts.log(`synthetic set cache ${out} is damaged (${err instanceof IncompleteSynthSetError ? err.problem : err.message}); rebuilding it`);
    await fs.rm(out, { recursive: true, force: true });
    return run();
  }
}
