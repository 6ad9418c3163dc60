/**
 * Gives the event loop one turn. Training steps are synchronous tfjs calls; a job awaits this after
 * each step so the trainer's socket can send progress, read cancellations and keep its main-thread
 * heartbeat fresh (a main thread silent past the hang timeout gets the job taken away).
 */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
