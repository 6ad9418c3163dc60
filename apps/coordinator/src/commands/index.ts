import type { Command } from 'commander';

/** One subcommand: its name, and how to load the module that registers it. */
export interface CommandEntry {
  name: string;
  load(): (program: Command) => void;
}

/*
 * Each subcommand's module is loaded only when that subcommand runs (or for the full help): some
 * bring heavy libraries (`models` and `doctor` load TensorFlow.js, most of a second of CPU) that
 * `study run` never needs. require() rather than import(): synchronous, and resolved the same way
 * under tsx and under Jest.
 */
/* eslint-disable @typescript-eslint/no-require-imports */
/** Every subcommand, in the order `study --help` lists them. */
export const COMMANDS: CommandEntry[] = [
  { name: 'run', load: () => (require('./run') as typeof import('./run')).register },
  { name: 'coordinator', load: () => (require('./coordinator') as typeof import('./coordinator')).register },
  { name: 'trainer', load: () => (require('./trainer') as typeof import('./trainer')).register },
  { name: 'synth', load: () => (require('./synth') as typeof import('./synth')).register },
  { name: 'models', load: () => (require('./models') as typeof import('./models')).register },
  { name: 'metrics', load: () => (require('./metrics') as typeof import('./metrics')).register },
  { name: 'report', load: () => (require('./report') as typeof import('./report')).register },
  { name: 'status', load: () => (require('./status') as typeof import('./status')).register },
  { name: 'doctor', load: () => (require('./doctor') as typeof import('./doctor')).register },
];
/* eslint-enable @typescript-eslint/no-require-imports */
