import type { Command } from 'commander';
import { register as run } from './run';
import { register as coordinator } from './coordinator';
import { register as trainer } from './trainer';
import { register as synth } from './synth';
import { register as models } from './models';
import { register as metrics } from './metrics';
import { register as report } from './report';
import { register as status } from './status';
import { register as doctor } from './doctor';

/** Every subcommand, in the order `study --help` lists them. */
export const COMMANDS: Array<(program: Command) => void> = [run, coordinator, trainer, synth, models, metrics, report, status, doctor];
