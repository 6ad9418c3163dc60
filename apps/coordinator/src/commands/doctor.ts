import { Command } from 'commander';
import { notYetBuilt } from './not-yet-built';

export function register(program: Command): void {
  program
    .command('doctor')
    .description('(not built yet: issue 2)')
    .allowUnknownOption()
    .action(() => notYetBuilt('doctor', 2));
}
