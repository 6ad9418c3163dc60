/**
 * report.md: the same sections as report.html, as GitHub-flavoured markdown. Charts are linked as
 * SVG files written beside it (`report-charts/<id>.svg`); sample grids link to the PNG files in the
 * run directory.
 */
import { escapeHtml, ganLabel, mdTable } from './format';
import type { ReportModel } from './model';
import { charts, jobTable, qualityTable, resultTables, runFacts, trainerTable, type TableSection } from './sections';
import { summarize } from './summary';

export const CHART_DIR = 'report-charts';

function table(t: TableSection): string {
  return [`### ${t.caption}`, '', mdTable(t.header, t.rows), ...(t.note ? ['', `_${t.note}_`] : [])].join('\n');
}

export function renderMarkdown(m: ReportModel): string {
  const out: string[] = [`# ${m.title}`, ''];
  if (m.synthetic) out.push('> **Synthetic data.** This run used the synthetic stand-in data set, not medical images: its numbers test the method and the pipeline, they are not medical results.', '');
  if (m.partial.missing.length > 0) out.push(`> **Partial run${m.partial.inProgress ? ' (in progress)' : ''}:** ${m.partial.missing.length} of ${m.partial.planned} planned jobs have no result: ${m.partial.missing.join(', ')}.`, '');
  out.push('## Summary', '', ...summarize(m).map((s) => `- ${s}`), '');
  out.push('## Results', '');
  for (const t of resultTables(m)) out.push(table(t), '');
  out.push('## Charts', '');
  for (const c of charts(m)) out.push(`![${c.caption}](${CHART_DIR}/${c.id}.svg)`, '', `_${c.caption}_`, '');
  out.push('## Generated images', '', table(qualityTable(m)), '');
  out.push('Sample grids (the paper\'s Figure 2): the top rows are real training images of the budget, the rows below the blank row are generated.', '');
  for (const g of m.grids) {
    const label = `${ganLabel(g.gan)}, budget ${g.budget}, ${g.className}`;
    const failed = m.partial.failed.find((f) => f.job === g.job);
    out.push(g.file ? `**${label}**  \n![${label}](${g.file})` : `**${label}**: ${failed ? `FAILED: ${failed.error}` : 'no sample grid (job has no result)'}`, '');
  }
  out.push('## Run facts', '', mdTable(['', ''], runFacts(m).map((f) => [f.label, f.value])), '');
  out.push(table(trainerTable(m)), '', table(jobTable(m)), '');
  return out.join('\n').replace(/<(?!br>)/g, (c) => escapeHtml(c));
}
