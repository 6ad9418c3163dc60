/**
 * The study's report: `writeReport(runDir)` reads a run directory and writes report.md (with its
 * charts as report-charts/*.svg) and one self-contained report.html. `study report DIR` and the end
 * of `study run` call it.
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import { writeFileAtomic } from '@gan-study/core';
import { renderHtml } from './html';
import { loadRun } from './load';
import { CHART_DIR, renderMarkdown } from './markdown';
import { buildReportModel, type ReportModel } from './model';
import { charts } from './sections';

export { buildReportModel, bestAt, comparableToPaper } from './model';
export type { ReportInputs, ReportModel, Cell, TableRow, TrainerFact } from './model';
export { renderMarkdown } from './markdown';
export { renderHtml, resultTablesHtml, bannersHtml, REPORT_CSS } from './html';
export { summarize, compareToBaseline } from './summary';
export { loadRun, trainersFromLog, softwareVersions, versionsFromLog, type SoftwareVersions } from './load';

export interface WrittenReport {
  markdown: string;
  html: string;
  /** True when some planned job has no result. */
  partial: boolean;
  model: ReportModel;
}

/** Reads `runDir` and writes DIR/report.md, DIR/report-charts/*.svg and DIR/report.html (atomically). */
export async function writeReport(runDir: string): Promise<WrittenReport> {
  const { inputs, images } = await loadRun(runDir);
  const model = buildReportModel(inputs);
  const root = inputs.runDir;
  await fs.mkdir(path.join(root, CHART_DIR), { recursive: true });
  for (const c of charts(model)) await writeFileAtomic(path.join(root, CHART_DIR, `${c.id}.svg`), c.svg);
  const markdown = path.join(root, 'report.md');
  const html = path.join(root, 'report.html');
  await writeFileAtomic(markdown, renderMarkdown(model));
  await writeFileAtomic(html, renderHtml(model, images));
  return { markdown, html, partial: model.partial.missing.length > 0, model };
}
