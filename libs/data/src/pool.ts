/**
 * Runs `fn(i)` for i in [0, n) with at most `limit` calls in flight. Rejects with the first error
 * (after the calls already started have settled, so nothing keeps writing into shared buffers).
 */
export async function forEachLimit(n: number, limit: number, fn: (i: number) => Promise<void>): Promise<void> {
  if (!Number.isInteger(limit) || limit < 1) throw new Error(`concurrency must be a positive integer, got ${limit}`);
  let next = 0;
  let failure: { err: unknown } | null = null;
  const worker = async (): Promise<void> => {
    while (failure === null && next < n) {
      const i = next++;
      try {
        await fn(i);
      } catch (err) {
        if (failure === null) failure = { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, n) }, worker));
  if (failure !== null) throw (failure as { err: unknown }).err;
}
