import { Command } from 'commander';
import { notYetBuilt } from './not-yet-built';

export function register(program: Command): void {
  program
    .command('report')
    .description('(not built yet: issue 6)')
    .allowUnknownOption()
    .action(() => notYetBuilt('report', 6));
}
