import { Command } from 'commander';
import { notYetBuilt } from './not-yet-built';

export function register(program: Command): void {
  program
    .command('metrics')
    .description('(not built yet: issue 3)')
    .allowUnknownOption()
    .action(() => notYetBuilt('metrics', 3));
}
