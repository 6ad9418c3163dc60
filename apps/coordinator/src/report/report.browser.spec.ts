/**
 * report.html in headless Chromium: the tables, the SVG charts and the inlined images are in the
 * rendered DOM, and the screenshot is a real page (not blank). Fails when chromium is missing.
 */
import { promises as fs } from 'fs';
import * as os from 'os';
import * as path from 'path';
import { pathToFileURL } from 'url';
import sharp from 'sharp';
import { renderInChromium } from './chromium';
import { writeFixtureRun } from './fixture';
import { writeReport } from './index';

jest.setTimeout(90_000);

let tmp: string;
beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'report-browser-'));
});
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

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

  const meta = await sharp(shot).metadata();
  expect([meta.width, meta.height]).toEqual([1280, 2000]);
  // Not a blank page: the screenshot has dark text pixels and more than one colour.
  const stats = await sharp(shot).stats();
  expect(stats.channels[0].min).toBeLessThan(60);
  expect(stats.channels[0].stdev).toBeGreaterThan(20);
});
