import { promises as fs } from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { Plan } from '@gan-study/protocol';
import { formatRunStatus } from '../commands/status';
import type { JournalEntry } from '../coordinator/journal';
import type { StatusSnapshot } from '../coordinator/status';
import { writeFixtureRun, type Fixture } from '../report/fixture';
import { decimate, jobsToPlot, parseLossSeries } from './live';
import { readRunStatus, snapshotFromJournal } from './run-status';
import { startStatusServer, type StatusServer } from './server';

jest.setTimeout(30_000);

let tmp: string;
let partial: Fixture;
const MISSING = ['clf-gan-pggan-b20-r0', 'clf-gan-cyclegan-b50-r0'];
beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'status-page-'));
  partial = await writeFixtureRun(path.join(tmp, 'partial'), { missing: MISSING, failed: ['clf-baseline-b5-r0'] });
});
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

describe('loss series', () => {
  it('parses metrics.jsonl per loss name, skipping torn and foreign lines', () => {
    const text = ['{"step":1,"total":4,"losses":{"d":0.7,"g":1.5}}', '{"step":2,"losses":{"d":0.6,"g":"x"}}', '{"step":3,"los', 'null', '{"event":"x"}', '{"step":4,"losses":{"d":0.5,"g":1.1,"resolution":16,"alpha":0.5}}', ''].join('\n');
    expect(parseLossSeries(text)).toEqual([
      { name: 'd', points: [[1, 0.7], [2, 0.6], [4, 0.5]] },
      { name: 'g', points: [[1, 1.5], [4, 1.1]] },
    ]);
  });
  it('lets a retry replace the steps it runs again', () => {
    const rec = (attempt: number, step: number, loss: number) => JSON.stringify({ step, losses: { loss }, attempt });
    const text = [rec(1, 1, 0.9), rec(1, 2, 0.8), rec(1, 3, 0.7), rec(2, 3, 0.75), rec(2, 4, 0.6), rec(3, 1, 0.95)].join('\n');
    // Attempt 2 resumed from a step-2 checkpoint; attempt 3 started over.
    expect(parseLossSeries(text)).toEqual([{ name: 'loss', points: [[1, 0.95]] }]);
    expect(parseLossSeries(text.split('\n').slice(0, 5).join('\n'))).toEqual([{ name: 'loss', points: [[1, 0.9], [2, 0.8], [3, 0.75], [4, 0.6]] }]);
  });
  it('decimates to at most max points, keeping the first and the last', () => {
    const pts = Array.from({ length: 1001 }, (_, i) => i);
    const d = decimate(pts, 200);
    expect(d).toHaveLength(200);
    expect(d[0]).toBe(0);
    expect(d[199]).toBe(1000);
    expect(decimate([1, 2], 200)).toEqual([1, 2]);
  });
  it('plots running jobs first, then the latest finished', () => {
    const job = (id: string, state: string, finishedAt: string | null) => ({ id, state, finishedAt }) as StatusSnapshot['jobs'][number];
    const s = { jobs: [job('a', 'done', '2026-01-01T00:00:01Z'), job('b', 'running', null), job('c', 'done', '2026-01-01T00:00:03Z'), job('d', 'queued', null)] } as StatusSnapshot;
    expect(jobsToPlot(s, 2).map((j) => j.id)).toEqual(['b', 'c']);
  });
});

describe('readRunStatus', () => {
  it('reads status.json and calls an unfinished snapshot stale when it is much older than the status period', async () => {
    const snap = JSON.parse(await fs.readFile(path.join(partial.dir, 'status.json'), 'utf8')) as StatusSnapshot;
    const t = Date.parse(snap.time);
    const fresh = await readRunStatus(partial.dir, t + 1000);
    expect(fresh.source).toBe('status.json');
    expect(fresh.stale).toBe(false);
    expect(fresh.note).toBeNull();
    const old = await readRunStatus(partial.dir, t + 60_000); // smoke profile: a snapshot every 5 s
    expect(old.stale).toBe(true);
    expect(old.note).toContain(`study run --resume ${partial.dir}`);
    const text = formatRunStatus(old);
    expect(text).toContain(`jobs ${snap.counts.done}/${snap.counts.total} done, 1 running`);
    expect(text).toMatch(/t1 +node1\/cpu \(JavaScript\) +busy util +93%  clf-gan-pggan-b20-r0 step 3\/6 loss=0\.4500/);
    expect(text).toContain('FAILED clf-baseline-b5-r0 (attempt 1): out of memory (fixture)');
  });

  it('rebuilds counts from plan.json and the journal without status.json', async () => {
    const dir = path.join(tmp, 'no-status');
    await writeFixtureRun(dir, { missing: MISSING });
    await fs.rm(path.join(dir, 'status.json'));
    const s = await readRunStatus(dir);
    expect(s.source).toBe('journal');
    expect(s.snapshot.counts.done).toBe(s.snapshot.counts.total - MISSING.length);
    expect(s.snapshot.counts.waiting).toBe(MISSING.length);
    expect(s.note).toContain('no status.json');
  });

  it('counts a failure as final only once the study finished (before that it may be retried)', () => {
    const plan = { jobs: [{ id: 'a', kind: 'gan' }, { id: 'b', kind: 'classifier' }] } as unknown as Plan;
    const t = '2026-01-01T00:00:00.000Z';
    const entries: JournalEntry[] = [
      { t, event: 'start', run: 'r', resumed: false },
      { t, event: 'done', job: 'a', attempt: 1, trainer: 't1', result: {} },
      { t, event: 'failed', job: 'b', attempt: 1, error: 'boom', permanent: false },
    ];
    expect(snapshotFromJournal('/r', plan, entries).counts).toMatchObject({ done: 1, failed: 0, waiting: 1 });
    const end = snapshotFromJournal('/r', plan, [...entries, { t, event: 'finished', done: 1, failed: 1 }]);
    expect(end.counts).toMatchObject({ done: 1, failed: 1, waiting: 0 });
    expect(end.finished).toBe(true);
    expect(end.jobs[1].error).toBe('boom');
  });

  it('names the directory when it is not a run directory', async () => {
    await expect(readRunStatus(path.join(tmp, 'nope'))).rejects.toThrow(/run directory .*nope does not exist/);
  });
});

describe('the status server', () => {
  let server: StatusServer | null = null;
  afterEach(async () => {
    await server?.close();
    server = null;
  });

  it('serves the live snapshot at /status, the page data at /live and the page at /', async () => {
    const snap = JSON.parse(await fs.readFile(path.join(partial.dir, 'status.json'), 'utf8')) as StatusSnapshot;
    let calls = 0;
    server = await startStatusServer({ port: 0, runDir: partial.dir, snapshot: () => ({ ...snap, run: `live-${++calls}` }) });
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);

    const status = (await (await fetch(new URL('status', server.url))).json()) as StatusSnapshot;
    expect(status.run).toBe('live-1');
    expect(status.counts).toEqual(snap.counts);

    const live = (await (await fetch(new URL('live', server.url))).json()) as { status: StatusSnapshot; tablesHtml: string; lossCharts: Array<{ job: string; svg: string }>; summary: string[]; bannersHtml: string };
    expect(live.status.run).toBe('live-2');
    expect(live.tablesHtml).toContain('<table id="table1">');
    expect(live.tablesHtml).toContain('missing');
    expect(live.bannersHtml).toContain('Partial run');
    expect(live.lossCharts[0].job).toBe('clf-gan-pggan-b20-r0'); // the running job first
    expect(live.lossCharts[0].svg).toContain('<polyline class="series" data-series="loss"');
    expect(live.summary.join(' ')).toContain('PARTIAL');

    const page = await fetch(server.url);
    expect(page.headers.get('content-type')).toContain('text/html');
    const html = await page.text();
    expect(html).toContain("fetch('/live'");
    expect(html).not.toMatch(/<script src|<link /);

    expect((await fetch(new URL('nope', server.url))).status).toBe(404);
    expect((await fetch(server.url, { method: 'POST' })).status).toBe(405);
  });

  it('reads status.json when no coordinator is attached, and close is safe twice', async () => {
    server = await startStatusServer({ port: 0, runDir: partial.dir });
    const status = (await (await fetch(new URL('status', server.url))).json()) as StatusSnapshot;
    expect(status.run).toBe('partial');
    await server.close();
    await server.close();
    await expect(fetch(new URL('status', server.url))).rejects.toThrow();
  });

  it('refuses a port in use with the error, not a hang', async () => {
    server = await startStatusServer({ port: 0, runDir: partial.dir });
    await expect(startStatusServer({ port: server.port, runDir: partial.dir })).rejects.toThrow(/EADDRINUSE/);
  });
});
