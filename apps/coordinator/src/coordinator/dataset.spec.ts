import { promises as fs } from 'fs';
import * as os from 'os';
import * as path from 'path';
import { countImageFolder, type Dataset } from '@gan-study/data';
import { profileDefaults, type StudyConfig } from '@gan-study/protocol';
import { prepareDataset } from './dataset';

jest.setTimeout(60_000);

/** The smoke profile with a handful of synthetic images (train 6 + 4, test 3 + 2). */
function config(seed = 1): StudyConfig {
  const c = profileDefaults('smoke');
  c.dataset = { ...c.dataset, syntheticSeed: seed, syntheticCounts: { train: [6, 4], test: [3, 2] } };
  return c;
}

function same(a: Dataset, b: Dataset): void {
  for (const split of ['train', 'test'] as const) {
    expect(Buffer.from(a[split].images.buffer).equals(Buffer.from(b[split].images.buffer))).toBe(true);
    expect(a[split].labels).toEqual(b[split].labels);
    expect(a[split].files).toEqual(b[split].files);
  }
  expect(a.hash).toBe(b.hash);
}

describe('the study data set with a cache shared by studies', () => {
  let tmp: string;
  let cacheDir: string;
  let lines: string[];
  const log = (line: string): void => void lines.push(line);
  beforeEach(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'study-dataset-'));
    cacheDir = path.join(tmp, 'cache');
    lines = [];
  });
  afterEach(async () => {
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it('synthesises and decodes once: a second study in a new run directory reuses both and gets identical data', async () => {
    const first = await prepareDataset(config(), path.join(tmp, 'run1'), log, { cacheDir });
    // Nothing is made up front: the plan's counts come from the recipe, trainers make the set.
    await expect(fs.stat(first.root)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(first.syntheticSet).toEqual({ key: path.basename(first.root).replace(/^synth-/, ''), recipe: { size: 16, seed: 1, counts: { train: [6, 4], test: [3, 2] } } });
    expect(lines).toEqual([expect.stringMatching(/^synthetic dataset \(seed 1, 16px, key [0-9a-f]{16}\) at .*cache\/synth-[0-9a-f]{16} \(linked from .*run1\/dataset\): trainers make it /)]);
    const a = await first.load(16);
    const counted = await countImageFolder(first.root);
    expect({ classes: counted.classes, ...counted.counts }).toEqual(first.counts);
    expect(lines.filter((l) => /^synthetic dataset .* written at /.test(l))).toHaveLength(1);
    expect(lines.filter((l) => /^data cache write /.test(l))).toHaveLength(1);
    expect(first.root.startsWith(path.join(cacheDir, 'synth-'))).toBe(true);
    // The run directory shows the set it used.
    expect(await fs.readlink(path.join(tmp, 'run1', 'dataset'))).toBe(first.root);
    expect(first.counts).toEqual({ classes: ['benign', 'malignant'], train: { benign: 6, malignant: 4 }, test: { benign: 3, malignant: 2 } });

    lines = [];
    const second = await prepareDataset(config(), path.join(tmp, 'run2'), log, { cacheDir });
    const b = await second.load(16);
    expect(lines.filter((l) => /^synthetic dataset .* reused at /.test(l))).toHaveLength(1);
    expect(lines.filter((l) => /^data cache hit /.test(l))).toHaveLength(1);
    expect(lines.some((l) => /written|cache write/.test(l))).toBe(false);
    expect(second.root).toBe(first.root);
    expect(second.counts).toEqual(first.counts);
    same(a, b);

    // The same as a study without the shared cache makes inside its run directory.
    const alone = await prepareDataset(config(), path.join(tmp, 'run3'), () => undefined, { cacheDir: null });
    expect(alone.root).toBe(path.join(tmp, 'run3', 'dataset'));
    same(await alone.load(16), a);
    expect((await fs.lstat(alone.root)).isDirectory()).toBe(true);

    // Another recipe is another set.
    const other = await prepareDataset(config(2), path.join(tmp, 'run4'), () => undefined, { cacheDir });
    expect(other.root).not.toBe(first.root);
  });

  it('rebuilds a damaged cached set, and a corrupt decoded set, each with a log line, to the same data', async () => {
    const first = await prepareDataset(config(), path.join(tmp, 'run1'), log, { cacheDir });
    const a = await first.load(16);

    await fs.rm(path.join(first.root, 'train', 'malignant', '0002.jpg'));
    const [decoded] = (await fs.readdir(cacheDir)).filter((n) => n.endsWith('.gsdc'));
    const bytes = await fs.readFile(path.join(cacheDir, decoded));
    bytes[bytes.length - 7] ^= 0xff;
    await fs.writeFile(path.join(cacheDir, decoded), bytes);

    lines = [];
    const second = await prepareDataset(config(), path.join(tmp, 'run2'), log, { cacheDir });
    expect(second.counts).toEqual(first.counts);
    const b = await second.load(16);
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^synthetic set cache ${first.root} is damaged \\(.*train/malignant/0002\\.jpg is missing\\); rebuilding it$`)));
    expect(lines).toContainEqual(expect.stringMatching(/^synthetic dataset .* written at /));
    // The rebuilt files have new times, so the decoded set is made afresh (and the damaged one is gone).
    expect(lines).toContainEqual(expect.stringMatching(/^data cache write /));
    expect((await fs.readdir(cacheDir)).filter((n) => n.endsWith('.gsdc'))).toHaveLength(1);
    same(a, b);

    // Now a corrupt decoded set with the folder unchanged: discarded with its reason, decoded again.
    const [again] = (await fs.readdir(cacheDir)).filter((n) => n.endsWith('.gsdc'));
    const more = await fs.readFile(path.join(cacheDir, again));
    more[more.length - 7] ^= 0xff;
    await fs.writeFile(path.join(cacheDir, again), more);
    lines = [];
    const third = await prepareDataset(config(), path.join(tmp, 'run3'), log, { cacheDir });
    same(await third.load(16), a);
    expect(lines).toContainEqual(expect.stringMatching(/^data cache discard .*: body checksum mismatch$/));
    expect(lines).toContainEqual(expect.stringMatching(/^data cache write /));
  });

  it('keeps the set in the run directory when the cache directory cannot be made, and says so', async () => {
    const blocker = path.join(tmp, 'file');
    await fs.writeFile(blocker, 'not a directory');
    const ds = await prepareDataset(config(), path.join(tmp, 'run'), log, { cacheDir: path.join(blocker, 'cache') });
    expect(lines[0]).toMatch(/^cache directory .*file\/cache unusable \(ENOTDIR\); keeping the data set in the run directory$/);
    expect(ds.root).toBe(path.join(tmp, 'run', 'dataset'));
    expect((await ds.load(16)).train.labels.length).toBe(10);
    await expect(fs.stat(path.join(tmp, 'run', '.cache'))).resolves.toBeTruthy();
  });

  it('resumes a run whose data set is a folder of its own (made without the cache) from that folder', async () => {
    const runDir = path.join(tmp, 'run');
    await (await prepareDataset(config(), runDir, () => undefined, { cacheDir: null })).load(16);
    const resumed = await prepareDataset(config(), runDir, log, { cacheDir });
    expect(resumed.root).toBe(path.join(runDir, 'dataset'));
    await resumed.load(16);
    expect(lines).toContainEqual(expect.stringMatching(/^synthetic dataset .* reused at .*run\/dataset$/));
  });
});
