/** The live status: the HTTP status server (coordinator `--http PORT`, `study status DIR --http PORT`) and run-directory status. */
export { startStatusServer, type StatusServer, type StatusServerOptions } from './server';
export { readRunStatus, snapshotFromJournal, type RunStatus } from './run-status';
export { LiveSource, type LiveData } from './live';
