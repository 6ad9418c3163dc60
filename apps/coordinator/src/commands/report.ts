/**
 * `study report DIR`: writes DIR/report.md (charts in DIR/report-charts/) and one self-contained
 * DIR/report.html from a run directory, finished or not (a partial run is reported as partial).
 * The work is in ../report (writeReport), which `study run` also calls at the end of a study.
 */
import { Command } from 'commander';
import { writeReport } from '../report';

export function register(program: Command): void {
  program
    .command('report')
    .description('write DIR/report.md and a self-contained DIR/report.html from a run directory')
    .argument('<dir>', 'the run directory')
    .action(async (dir: string) => {
      const out = await writeReport(dir);
      const m = out.model;
      process.stdout.write(`${out.markdown}\n${out.html}\n`);
      if (out.partial) {
        process.stderr.write(`study report: partial run: ${m.partial.missing.length} of ${m.partial.planned} planned jobs have no result (${m.partial.inProgress ? 'still in progress' : 'see the report'})\n`);
      }
    });
}
