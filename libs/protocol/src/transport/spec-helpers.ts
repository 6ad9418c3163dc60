/** Helpers shared by the transport specs (not shipped: only specs import this file). */
import type { Rng } from '@gan-study/core';
import type { EventLog } from './log';

/** n values uniform in [-1, 1) from `rng`. */
export function randomVector(rng: Rng, n: number): Float32Array {
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = rng.next() * 2 - 1;
  return v;
}

/** An EventLog that keeps each info and warn message, in order. */
export function recordingLog(): EventLog & { lines: string[] } {
  const lines: string[] = [];
  return { lines, info: (_f, m) => lines.push(m), warn: (_f, m) => lines.push(m), debug: () => undefined };
}
