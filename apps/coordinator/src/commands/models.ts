import { Command } from 'commander';
import { notYetBuilt } from './not-yet-built';

export function register(program: Command): void {
  program
    .command('models')
    .description('(not built yet: issue 4)')
    .allowUnknownOption()
    .action(() => notYetBuilt('models', 4));
}
