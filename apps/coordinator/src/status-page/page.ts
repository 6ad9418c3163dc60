/**
 * The live status page: one small HTML document with inline CSS and script (no framework, no
 * external resources) that polls /live and redraws: a header with the study's counts and ETA,
 * trainers (job, utilization), jobs (state, progress, losses), loss curves, and the report's result
 * tables as they fill in. Text from the run is set with textContent; only HTML the server rendered
 * and escaped (tables, SVG charts) goes through innerHTML.
 */
import { REPORT_CSS } from '../report';

const PAGE_CSS = `
body{max-width:1400px}
header.top{display:flex;flex-wrap:wrap;gap:18px;align-items:baseline}
.counts span{display:inline-block;margin-right:10px;padding:2px 8px;border-radius:10px;background:#eee;font-size:14px}
.bar{display:inline-block;width:120px;height:10px;background:#eee;border-radius:5px;overflow:hidden;vertical-align:middle}
.bar>i{display:block;height:100%;background:#3c8dbc}
#progress{width:100%;max-width:900px;height:14px}
td.state-running{color:#1f6fb2;font-weight:600}td.state-failed{color:#b00;font-weight:600}td.state-done{color:#2a7a2a}
td.state-queued,td.state-waiting,td.state-skipped{color:#777}
.losses{display:flex;flex-wrap:wrap;gap:10px}.losses figure{margin:0}
#stale{color:#b00;font-weight:600}
footer{margin-top:24px;color:#777;font-size:13px}
`;

const PAGE_SCRIPT = `
(function () {
  var REFRESH = __REFRESH__;
  var updates = 0;
  function $(id) { return document.getElementById(id); }
  function el(tag, text, cls) { var e = document.createElement(tag); if (text !== undefined && text !== null) e.textContent = String(text); if (cls) e.className = cls; return e; }
  function dur(ms) {
    if (ms === null || ms === undefined || !isFinite(ms) || ms < 0) return '?';
    var s = Math.round(ms / 1000); if (s < 60) return s + 's';
    var m = Math.floor(s / 60); if (m < 60) return m + 'm' + String(s % 60).padStart(2, '0') + 's';
    return Math.floor(m / 60) + 'h' + String(m % 60).padStart(2, '0') + 'm';
  }
  function losses(l) { return Object.keys(l || {}).map(function (k) { return k + '=' + Number(l[k]).toFixed(4); }).join(' '); }
  function bar(frac) { var b = el('span', null, 'bar'); var i = el('i'); i.style.width = Math.round(Math.max(0, Math.min(1, frac)) * 100) + '%'; b.appendChild(i); return b; }
  function row(cells) { var tr = el('tr'); cells.forEach(function (c) { var td = c instanceof Node ? (function () { var t = el('td'); t.appendChild(c); return t; })() : el('td', c); tr.appendChild(td); }); return tr; }
  var ORDER = { running: 0, queued: 1, waiting: 2, failed: 3, skipped: 4, done: 5 };
  function render(d) {
    var s = d.status, c = s.counts;
    $('run').textContent = s.run;
    $('elapsed').textContent = 'elapsed ' + dur(s.elapsedMs) + (s.finished ? ', finished' : ', eta ' + (s.etaMs === null ? '?' : dur(s.etaMs)));
    var counts = $('counts'); counts.textContent = '';
    ['done', 'running', 'queued', 'waiting', 'failed', 'skipped'].forEach(function (k) { var sp = el('span', k + ' ' + c[k]); sp.id = 'count-' + k; counts.appendChild(sp); });
    counts.appendChild(el('span', 'total ' + c.total));
    $('progress-fill').style.width = (c.total ? Math.round((100 * c.done) / c.total) : 0) + '%';
    $('stale').textContent = d.note || '';
    $('banners').innerHTML = d.bannersHtml;
    var tb = $('trainers-body'); tb.textContent = '';
    s.trainers.forEach(function (t) {
      var u = el('span'); u.appendChild(bar(t.utilization)); u.appendChild(document.createTextNode(' ' + Math.round(t.utilization * 100) + '%'));
      var tr = row([t.id, t.host + ' / ' + t.device, t.backend + (t.gpu !== null ? ' (CUDA_VISIBLE_DEVICES=' + t.gpu + ')' : ''), t.state, t.job ? t.job + (t.rank ? ' (rank ' + t.rank + ')' : '') : '-', u, t.jobsDone, dur(t.lastSeenMsAgo) + ' ago']);
      tr.setAttribute('data-trainer', t.id); tb.appendChild(tr);
    });
    if (!s.trainers.length) tb.appendChild(row(['no trainers connected', '', '', '', '', '', '', '']));
    var jb = $('jobs-body'); jb.textContent = '';
    s.jobs.slice().sort(function (a, b) { return (ORDER[a.state] - ORDER[b.state]) || a.id.localeCompare(b.id); }).forEach(function (j) {
      var p = el('span');
      if (j.step !== null && j.total) { p.appendChild(bar(j.step / j.total)); p.appendChild(document.createTextNode(' ' + j.step + '/' + j.total)); } else p.textContent = '-';
      var tr = row([j.id, j.kind, j.state, j.trainers.join(', ') || '-', p, losses(j.losses), j.imagesPerSec === null ? '-' : Math.round(j.imagesPerSec) + ' img/s', j.durationMs === null ? '-' : dur(j.durationMs), j.error || '']);
      tr.children[2].className = 'state-' + j.state; tr.setAttribute('data-job', j.id); tr.setAttribute('data-state', j.state); jb.appendChild(tr);
    });
    var lc = $('loss-charts'); lc.textContent = '';
    d.lossCharts.forEach(function (ch) { var f = el('figure'); f.setAttribute('data-job', ch.job); f.innerHTML = ch.svg; lc.appendChild(f); });
    if (!d.lossCharts.length) lc.appendChild(el('p', 'no progress records yet', 'note'));
    $('tables').innerHTML = d.tablesHtml;
    var sm = $('summary'); sm.textContent = ''; d.summary.forEach(function (line) { sm.appendChild(el('li', line)); });
    updates++;
    document.body.setAttribute('data-updates', String(updates));
    $('updated').textContent = 'updated ' + new Date().toLocaleTimeString() + ' (every ' + REFRESH / 1000 + ' s)';
  }
  function poll() {
    fetch('/live', { cache: 'no-store' })
      .then(function (r) { if (!r.ok) throw new Error('HTTP ' + r.status); return r.json(); })
      .then(function (d) { render(d); $('error').textContent = ''; })
      .catch(function (e) { $('error').textContent = 'cannot reach the coordinator: ' + e.message; })
      .then(function () { setTimeout(poll, REFRESH); });
  }
  poll();
})();
`;

export function renderStatusPage(opts: { refreshMs: number }): string {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>study status</title><style>${REPORT_CSS}${PAGE_CSS}</style></head>
<body data-updates="0">
<header class="top"><h1>study <span id="run">…</span></h1><span id="elapsed"></span></header>
<div id="counts" class="counts"></div>
<div class="bar" id="progress"><i id="progress-fill" style="width:0%"></i></div>
<p id="stale"></p><p id="error" class="note"></p>
<div id="banners"></div>
<h2>Trainers</h2>
<table id="trainers"><thead><tr><th>trainer</th><th>host / device</th><th>backend</th><th>state</th><th>job</th><th>utilization</th><th>jobs done</th><th>last seen</th></tr></thead><tbody id="trainers-body"></tbody></table>
<h2>Jobs</h2>
<table id="jobs"><thead><tr><th>job</th><th>kind</th><th>state</th><th>trainers</th><th>progress</th><th>losses</th><th>speed</th><th>took</th><th>error</th></tr></thead><tbody id="jobs-body"></tbody></table>
<h2>Losses over time</h2>
<div class="losses" id="loss-charts"></div>
<h2>Results so far</h2>
<ul id="summary"></ul>
<div id="tables"></div>
<footer id="updated">loading…</footer>
<script>${PAGE_SCRIPT.replace('__REFRESH__', String(Math.max(250, Math.round(opts.refreshMs))))}</script>
</body></html>
`;
}
