import { Command } from 'commander';
import { notYetBuilt } from './not-yet-built';

export function register(program: Command): void {
  program
    .command('status')
    .description('(not built yet: issue 6)')
    .allowUnknownOption()
    .action(() => notYetBuilt('status', 6));
}
