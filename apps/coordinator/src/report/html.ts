/**
 * report.html: one self-contained page (inline CSS, inline SVG charts, images as data: URIs; no
 * scripts, no fonts, no network), readable from disk and printable.
 */
import { escapeHtml, ganLabel } from './format';
import type { ReportModel } from './model';
import { charts, jobTable, qualityTable, resultTables, runFacts, trainerTable, type TableSection } from './sections';
import { summarize } from './summary';

export const REPORT_CSS = `
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:1200px;padding:0 16px;color:#1b1b1b;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:1.6em;border-bottom:1px solid #ddd;padding-bottom:4px}
table{border-collapse:collapse;margin:8px 0 4px;font-size:14px}caption{text-align:left;font-weight:600;padding:4px 0}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}th{background:#f3f3f3}th[scope=row]{white-space:nowrap}
td.num{font-variant-numeric:tabular-nums;white-space:nowrap}tr.paper td{color:#555;background:#fafafa;font-style:italic}
td.missing{color:#b00}
.note{color:#555;font-size:13px;margin:2px 0 14px}.banner{padding:10px 14px;margin:10px 0;border-radius:4px}
.synthetic{background:#fff4d6;border:1px solid #e0b84a}.partial{background:#fde2e1;border:1px solid #d9534f}
.charts{display:flex;flex-wrap:wrap;gap:16px}.charts figure{margin:0}figcaption{font-size:13px;color:#444;max-width:580px}
.grids{display:flex;flex-wrap:wrap;gap:14px}.grids figure{margin:0;border:1px solid #ddd;padding:6px}
.grids img{image-rendering:pixelated;width:256px;height:auto;display:block}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;font-size:14px}dl.facts dt{font-weight:600}dl.facts dd{margin:0}
`;

export function tableHtml(t: TableSection): string {
  const head = `<tr>${t.header.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr>`;
  const body = t.rows
    .map((r, i) => {
      const cls = t.paperRows.includes(i) ? ' class="paper"' : '';
      // Trailing empty cells (the reference's one value) merge into the last filled one.
      let last = r.length - 1;
      while (last > 1 && r[last] === '') last--;
      const cells = r.slice(0, last + 1).map((c, j) => {
        if (j === 0) return `<th scope="row">${escapeHtml(c)}</th>`;
        const span = j === last && last < r.length - 1 ? ` colspan="${r.length - last}"` : '';
        return `<td class="num${c === 'missing' || c.startsWith('FAILED') ? ' missing' : ''}"${span}>${escapeHtml(c)}</td>`;
      });
      return `<tr${cls}>${cells.join('')}</tr>`;
    })
    .join('\n');
  return `<table id="${t.id}"><caption>${escapeHtml(t.caption)}</caption>\n<thead>${head}</thead>\n<tbody>\n${body}\n</tbody></table>${t.note ? `\n<p class="note">${escapeHtml(t.note)}</p>` : ''}`;
}

/** The result tables (Table 1, Table 2, and the paper's when apart) as HTML (also used by the live page). */
export function resultTablesHtml(m: ReportModel): string {
  return resultTables(m).map(tableHtml).join('\n');
}

/** `a, b, c and 7 more`. */
export function listSome(items: string[], max: number): string {
  return items.length <= max ? items.join(', ') : `${items.slice(0, max).join(', ')} and ${items.length - max} more`;
}

/** Banners for synthetic data and partial runs. */
export function bannersHtml(m: ReportModel): string {
  const out: string[] = [];
  if (m.synthetic) out.push('<div class="banner synthetic" id="synthetic-banner"><strong>Synthetic data.</strong> This run used the synthetic stand-in data set, not medical images: its numbers test the method and the pipeline, they are not medical results.</div>');
  if (m.partial.missing.length > 0) out.push(`<div class="banner partial" id="partial-banner"><strong>Partial run${m.partial.inProgress ? ' (in progress)' : ''}:</strong> ${m.partial.missing.length} of ${m.partial.planned} planned jobs have no result: ${escapeHtml(listSome(m.partial.missing, 10))}.</div>`);
  return out.join('\n');
}

/**
 * The page. `images` maps a grid's relative path (model.grids[].file) to its PNG bytes; a grid
 * without bytes is reported as missing rather than linked (the page must stand alone).
 */
export function renderHtml(m: ReportModel, images: ReadonlyMap<string, Uint8Array>): string {
  const grids = m.grids
    .map((g) => {
      const label = `${ganLabel(g.gan)}, budget ${g.budget}, ${g.className}`;
      const bytes = g.file ? images.get(g.file) : undefined;
      const failed = m.partial.failed.find((f) => f.job === g.job);
      const none = failed ? `FAILED: ${failed.error}` : 'no sample grid (job has no result)';
      const body = bytes ? `<img alt="${escapeHtml(`sample grid: ${label}`)}" src="data:image/png;base64,${Buffer.from(bytes).toString('base64')}">` : `<p class="note">${escapeHtml(none)}</p>`;
      return `<figure class="grid" data-job="${escapeHtml(g.job)}">${body}<figcaption>${escapeHtml(label)}</figcaption></figure>`;
    })
    .join('\n');
  const chartHtml = charts(m)
    .map((c) => `<figure id="${c.id}">${c.svg}<figcaption>${escapeHtml(c.caption)}</figcaption></figure>`)
    .join('\n');
  const facts = runFacts(m)
    .map((f) => `<dt>${escapeHtml(f.label)}</dt><dd>${escapeHtml(f.value)}</dd>`)
    .join('\n');
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(m.title)}</title><style>${REPORT_CSS}</style></head>
<body>
<h1>${escapeHtml(m.title)}</h1>
${bannersHtml(m)}
<h2>Summary</h2>
<ul id="summary">${summarize(m)
    .map((s) => `<li>${escapeHtml(s)}</li>`)
    .join('\n')}</ul>
<h2>Results</h2>
${resultTablesHtml(m)}
<h2>Charts</h2>
<div class="charts">${chartHtml}</div>
<h2>Generated images</h2>
${tableHtml(qualityTable(m))}
<p class="note">Sample grids (the paper's Figure 2): the top rows are real training images of the budget; the rows below the blank row are generated.</p>
<div class="grids">${grids}</div>
<h2>Run facts</h2>
<dl class="facts" id="facts">${facts}</dl>
${tableHtml(trainerTable(m))}
${tableHtml(jobTable(m))}
</body></html>
`;
}
