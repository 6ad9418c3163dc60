import { Command } from 'commander';
import { notYetBuilt } from './not-yet-built';

export function register(program: Command): void {
  program
    .command('synth')
    .description('(not built yet: issue 3)')
    .allowUnknownOption()
    .action(() => notYetBuilt('synth', 3));
}
