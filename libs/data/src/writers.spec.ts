import { promises as fs } from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';
import { writeGrid, writePngs } from './writers';
import { fakeImageSet } from './testing';

let tmp: string;
beforeEach(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'gan-data-writers-'));
});
afterEach(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

describe('writePngs', () => {
  it('writes one PNG per image whose pixels round-trip to within one level', async () => {
    const set = fakeImageSet({ size: 6, perClass: [2, 1] });
    const files = await writePngs(path.join(tmp, 'out'), set.images, 6, 'fake-');
    expect(files.map((f) => path.basename(f))).toEqual(['fake-0000.png', 'fake-0001.png', 'fake-0002.png']);
    expect((await fs.readdir(path.join(tmp, 'out'))).sort()).toEqual(['fake-0000.png', 'fake-0001.png', 'fake-0002.png']);
    const { data, info } = await sharp(files[2]).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height, info.channels]).toEqual([6, 6, 3]);
    const stride = 6 * 6 * 3;
    for (let i = 0; i < stride; i++) expect(Math.abs(data[i] / 127.5 - 1 - set.images[2 * stride + i])).toBeLessThanOrEqual(0.5 / 127.5 + 1e-6);
  });

  it('rejects arrays that are not whole images', async () => {
    await expect(writePngs(tmp, new Float32Array(10), 2, 'x')).rejects.toThrow(/10 values is not a whole number of 2x2x3 images/);
  });
});

describe('writeGrid', () => {
  it('lays images out row-major with padding', async () => {
    const size = 4;
    const n = 5;
    const images = new Float32Array(n * size * size * 3);
    for (let i = 0; i < n; i++) images.fill(-1 + i * 0.4, i * size * size * 3, (i + 1) * size * size * 3);
    const file = path.join(tmp, 'grid.png');
    await writeGrid(file, images, size, { cols: 3, pad: 1 });
    const { data, info } = await sharp(file).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height]).toEqual([3 * 4 + 4, 2 * 4 + 3]);
    const at = (x: number, y: number): number => data[(y * info.width + x) * 3];
    expect(at(0, 0)).toBe(255); // padding is white
    expect(at(1, 1)).toBe(0); // image 0 = -1
    expect(at(1 + 5 * 2, 1)).toBe(Math.round((-1 + 2 * 0.4 + 1) * 127.5)); // image 2, row 0 col 2
    expect(at(1 + 5, 1 + 5)).toBe(Math.round((-1 + 4 * 0.4 + 1) * 127.5)); // image 4, row 1 col 1
    expect(at(1 + 10, 1 + 5)).toBe(255); // empty cell
  });
});
