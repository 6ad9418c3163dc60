/**
 * glibc malloc settings for trainers (read once, when a process starts): the coordinator starts trainers
 * with them (trainerEnv), bin/study.js sets the same for the `study` process itself, and the bench
 * for its children. By default glibc serves an allocation of 128 KiB or more with a
 * fresh mmap (a threshold it raises, up to 32 MiB, only as such blocks are freed) and trims a free
 * heap top beyond 128 KiB, so the few-MB buffers of every step (a gradient read back from the
 * backend, a received ZeroMQ frame, a V8 ArrayBuffer) tend to be fresh memory, page-faulted in
 * 4 KiB at a time. On our VMs that is expensive: touching 10 MB of fresh memory costs ~41 ms, of
 * reused memory 0.6 ms. A fixed mmap threshold of 32 MiB serves such buffers from the heap, and a
 * trim threshold of 256 MiB keeps freed memory for the next step. Measured on a 2-trainer,
 * 64 px classifier step with a fresh gradient array per step: 2000-4000 page faults per step down
 * to under 10, CPU per trainer ~300 to ~250 ms; with the job's one array per job and in-place ring
 * it is within the noise (~5%). The price: a resident set that does not shrink by up to 256 MiB
 * after a peak. A value the user set (in the environment or `env`) wins.
 */
export const TRAINER_MALLOC_ENV: Readonly<Record<string, string>> = {
  MALLOC_MMAP_THRESHOLD_: '33554432',
  MALLOC_TRIM_THRESHOLD_: '268435456',
};
