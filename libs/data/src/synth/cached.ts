/**
 * The synthetic set in a cache shared by studies and by the processes of one host (a coordinator
 * and its trainers): CACHE/synth-<key>, made once per recipe (the key covers everything its bytes
 * depend on, see synthKey). Processes that need the same set at once take turns under a lock file
 * (OUT.lock, lock.ts: refreshed while held, taken over when its holder is gone), so the
 * second finds what the first wrote instead of rendering it again. A cached set that is incomplete
 * is removed and rebuilt, with a log line.
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import { UserInputError } from '@gan-study/core';
import { inLockTurn } from '../lock';
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
 * processes never make it twice (inLockTurn; synthesize() stays safe without the lock: its staging
 * folders are renamed into place).
 */
export async function ensureSynthSet(out: string, recipe: SynthRecipe, opts: EnsureSynthOptions): Promise<SynthResult> {
  return inLockTurn(out, { what: 'making the synthetic set', log: opts.log, waitMs: opts.waitMs ?? 15 * 60_000 }, () => synthesizeOnce(out, recipe, opts));
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
