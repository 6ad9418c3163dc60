/**
 * The live status page in headless Chromium against a server on 127.0.0.1 (a free port): the
 * page's script polls /live and fills in trainers, jobs, loss curves and the result tables; the
 * screenshot is a real page. Fails when chromium is missing.
 */
import { promises as fs } from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';
import type { StatusSnapshot } from '../coordinator/status';
import { renderInChromium } from '../report/chromium';
import { writeFixtureRun } from '../report/fixture';
import { startStatusServer, type StatusServer } from './server';

jest.setTimeout(90_000);

let tmp: string;
let server: StatusServer | null = null;
beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'status-browser-'));
});
afterAll(async () => {
  await server?.close();
  await fs.rm(tmp, { recursive: true, force: true });
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

  const stats = await sharp(shot).stats();
  expect(stats.channels[0].min).toBeLessThan(60);
  expect(stats.channels[0].stdev).toBeGreaterThan(20);
});
