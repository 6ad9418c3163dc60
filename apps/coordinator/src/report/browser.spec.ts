/**
 * The report and the live status page in headless Chromium (one spec file, so the two browsers run
 * one after the other rather than at once on a busy machine). report.html from disk: the tables,
 * the SVG charts and the inlined images are in the rendered DOM. The live page against a server on
 * 127.0.0.1 (a free port): its script polls /live and fills in trainers, jobs, loss curves and the
 * result tables. Both screenshots must be real pages (dark text, varied pixels). Fails, naming
 * `apt-get install chromium`, when chromium is missing.
 */
import { promises as fs } from 'fs';
import * as os from 'os';
import * as path from 'path';
import { pathToFileURL } from 'url';
import sharp from 'sharp';
import type { StatusSnapshot } from '../coordinator/status';
import { startStatusServer, type StatusServer } from '../status-page/server';
import { renderInChromium } from './chromium';
import { writeFixtureRun } from './fixture';
import { writeReport } from './index';

jest.setTimeout(150_000);

let tmp: string;
let server: StatusServer | null = null;
beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'browser-'));
});
afterAll(async () => {
  await server?.close();
  await fs.rm(tmp, { recursive: true, force: true });
});

async function expectRealPage(png: string): Promise<void> {
  const meta = await sharp(png).metadata();
  expect([meta.width, meta.height]).toEqual([1280, 2000]);
  // Not a blank page: dark text pixels and more than one colour.
  const stats = await sharp(png).stats();
  expect(stats.channels[0].min).toBeLessThan(60);
  expect(stats.channels[0].stdev).toBeGreaterThan(20);
}

it('report.html renders from disk with tables, charts and inlined grids', async () => {
  const fx = await writeFixtureRun(path.join(tmp, 'run'), { repeats: 2 });
  const out = await writeReport(fx.dir);
  const shot = path.join(tmp, 'report.png');
  const dom = await renderInChromium(pathToFileURL(out.html).href, { screenshot: shot, width: 1280, height: 2000 });

  expect(dom).toContain('<table id="table1">');
  expect(dom).toContain('<table id="table2">');
  expect(dom).toContain('<table id="quality">');
  // Charts survived parsing as SVG (with their series), and every grid is an inlined image.
  expect(dom.match(/<svg [^>]*class="chart/g)).toHaveLength(3);
  expect(dom.match(/<polyline class="series"/g)?.length).toBeGreaterThanOrEqual(4 + 2);
  const grids = fx.jobs.filter((j) => j.kind === 'gan').length;
  expect(dom.match(/<img alt="sample grid: [^"]*" src="data:image\/png;base64,/g)).toHaveLength(grids);
  expect(dom).toContain('Synthetic data.');

  await expectRealPage(shot);
});

it('the live page fills in from /live and keeps polling', async () => {
  const fx = await writeFixtureRun(path.join(tmp, 'run'), { missing: ['clf-gan-pggan-b20-r0', 'clf-gan-cyclegan-b50-r0'] });
  const snap = JSON.parse(await fs.readFile(path.join(fx.dir, 'status.json'), 'utf8')) as StatusSnapshot;
  let calls = 0;
  server = await startStatusServer({
    port: 0,
    runDir: fx.dir,
    refreshMs: 500,
    snapshot: () => {
      calls++;
      return snap;
    },
  });
  const shot = path.join(tmp, 'live.png');
  const dom = await renderInChromium(server.url, { screenshot: shot, width: 1280, height: 2000, virtualTimeBudgetMs: 3000 });

  const updates = Number(/<body[^>]*data-updates="(\d+)"/.exec(dom)?.[1]);
  expect(updates).toBeGreaterThanOrEqual(2); // rendered, then polled again
  expect(calls).toBeGreaterThanOrEqual(updates);
  expect(dom).toContain('<tr data-trainer="t1">');
  expect(dom).toContain('<tr data-trainer="t2">');
  expect(dom.match(/<tr data-job="/g)).toHaveLength(snap.counts.total);
  expect(dom).toContain('data-job="clf-gan-pggan-b20-r0" data-state="running"');
  expect(dom).toMatch(/<figure data-job="clf-gan-pggan-b20-r0"><svg [^>]*class="chart loss"/);
  expect(dom).toContain('<table id="table1">');
  expect(dom).toContain('<table id="table2">');
  expect(dom).toMatch(/id="count-done">done \d+</);
  expect(dom).toContain('<p id="error" class="note"></p>'); // no fetch failed

  await expectRealPage(shot);
});
