import { Command } from 'commander';
import { notYetBuilt } from './not-yet-built';

export function register(program: Command): void {
  program
    .command('coordinator')
    .description('(not built yet: issue 5)')
    .allowUnknownOption()
    .action(() => notYetBuilt('coordinator', 5));
}
