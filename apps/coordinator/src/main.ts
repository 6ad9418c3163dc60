/**
 * `study`: the project's one command line. Each subcommand lives in its own file under commands/
 * and registers itself on the program; only this app (and the trainer app) parse argv and env.
 */
import { Command, CommanderError } from 'commander';
import { UserInputError } from '@gan-study/core';
import { COMMANDS } from './commands';

/**
 * The program with every subcommand, or with only `command` when that names one (what `study
 * <command> ...` needs: its own options, help and errors), so a command loads only its own modules.
 */
export function buildProgram(command?: string): Command {
  const program = new Command('study')
    .description('GAN data augmentation study for rare-class medical image classification')
    .showHelpAfterError()
    .exitOverride();
  const only = COMMANDS.filter((c) => c.name === command);
  for (const entry of only.length > 0 ? only : COMMANDS) entry.load()(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  await buildProgram(argv[0]).parseAsync(argv, { from: 'user' });
}

/** Runs the command line and turns failures into exit codes: 2 for bad input, 1 for anything else. */
export function cli(argv: string[]): void {
  main(argv).catch((err: unknown) => {
    if (err instanceof CommanderError) process.exit(err.exitCode);
    if (err instanceof UserInputError) {
      process.stderr.write(`study: ${err.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`study: fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
