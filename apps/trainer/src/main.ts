/**
 * Trainer process entry point: connects to a coordinator and runs the jobs it is given (see cli.ts
 * for the flags). Started by `study run` (local trainers) and `study trainer` (any host), always as
 * its own process: `node --require tsx/cjs apps/trainer/src/main.ts --connect tcp://HOST:PORT`.
 */
import { CommanderError } from 'commander';
import { main } from './cli';

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (err: unknown) => {
    if (err instanceof CommanderError) process.exit(err.exitCode);
    process.stderr.write(`trainer: fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
