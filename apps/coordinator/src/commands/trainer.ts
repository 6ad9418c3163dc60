/**
 * `study trainer`: a trainer process on this host, joining a coordinator anywhere.
 *
 *   npx study trainer --connect tcp://HOST:5555 [--gpu K] [--backend auto] [--data DIR] [--dry-run]
 *
 * The trainer is its own app (apps/trainer), run as a child process with this one's stdio; the
 * flags are passed through unchanged (`study trainer --help` lists them).
 */
import { Command } from 'commander';
import { spawnTrainer } from '../coordinator/trainer-process';

export function register(program: Command): void {
  program
    .command('trainer')
    .description('a trainer: connect to a coordinator (--connect tcp://HOST:PORT [--gpu K]) and run the jobs it assigns')
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .action(async (_opts: unknown, cmd: Command) => {
      const child = spawnTrainer({ args: cmd.args, stdio: 'inherit' });
      const forward = (signal: NodeJS.Signals): void => void child.kill(signal);
      process.on('SIGINT', forward);
      process.on('SIGTERM', forward);
      const code = await new Promise<number>((resolve) => child.once('exit', (c, s) => resolve(c ?? (s ? 128 + 15 : 1))));
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      process.exitCode = code;
    });
}
