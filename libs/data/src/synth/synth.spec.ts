import { promises as fs } from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';
import { UserInputError } from '@gan-study/core';
import { countImageFolder, loadImageFolder } from '../folder';
import { subsetImageSet } from '../budget';
import lockfile from 'proper-lockfile';
import { ensureSynthSet } from './cached';
import { synthCounts, synthesize, synthImageSet, synthKey, SYNTH_MANIFEST } from './index';
import { proxyAccuracy } from './proxy';

let tmp: string;
beforeEach(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'gan-data-synth-'));
});
afterEach(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

async function listFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const e of await fs.readdir(dir, { withFileTypes: true })) {
      if (e.isDirectory()) await walk(path.join(dir, e.name));
      else out.push(path.relative(root, path.join(dir, e.name)).split(path.sep).join('/'));
    }
  };
  await walk(root);
  return out.sort();
}

const small = { size: 16, counts: { train: [3, 2], test: [2, 1] } };

describe('synthesize', () => {
  it('writes the image-folder layout with the asked counts and a manifest, and the loader reads it', async () => {
    const out = path.join(tmp, 'set');
    const progress: number[] = [];
    const res = await synthesize({ ...small, out, seed: 3, onProgress: (d) => progress.push(d) });
    expect(res).toMatchObject({ out, classes: ['benign', 'malignant'], seed: 3, size: 16, format: 'jpg', reused: false });
    expect(res.counts).toEqual({ train: { benign: 3, malignant: 2 }, test: { benign: 2, malignant: 1 } });
    expect(await countImageFolder(out)).toEqual({ classes: ['benign', 'malignant'], counts: res.counts });
    expect(await listFiles(out)).toEqual([
      SYNTH_MANIFEST,
      'test/benign/0000.jpg',
      'test/benign/0001.jpg',
      'test/malignant/0000.jpg',
      'train/benign/0000.jpg',
      'train/benign/0001.jpg',
      'train/benign/0002.jpg',
      'train/malignant/0000.jpg',
      'train/malignant/0001.jpg',
    ]);
    expect(progress[progress.length - 1]).toBe(8);
    const meta = await sharp(path.join(out, 'train/benign/0000.jpg')).metadata();
    expect([meta.format, meta.width, meta.height, meta.channels]).toEqual(['jpeg', 16, 16, 3]);
    const manifest = JSON.parse(await fs.readFile(path.join(out, SYNTH_MANIFEST), 'utf8'));
    expect(manifest.notice).toMatch(/not medical/i);
    const ds = await loadImageFolder(out, { size: 16 });
    expect(ds.warnings).toEqual([]);
    expect(ds.train.labels.length).toBe(5);
    expect((await fs.readdir(tmp)).filter((n) => n.includes('.partial'))).toEqual([]);
  });

  it('gives the same bytes for the same seed and different images for another seed', async () => {
    const a = await synthesize({ ...small, out: path.join(tmp, 'a'), seed: 11 });
    const b = await synthesize({ ...small, out: path.join(tmp, 'b'), seed: 11, concurrency: 1 });
    const c = await synthesize({ ...small, out: path.join(tmp, 'c'), seed: 12 });
    const files = (await listFiles(a.out)).filter((f) => f !== SYNTH_MANIFEST);
    let differ = 0;
    for (const f of files) {
      const fa = await fs.readFile(path.join(a.out, f));
      expect(fa.equals(await fs.readFile(path.join(b.out, f)))).toBe(true);
      if (!fa.equals(await fs.readFile(path.join(c.out, f)))) differ++;
    }
    expect(differ).toBe(files.length);
  });

  it('writes PNG when asked', async () => {
    const out = path.join(tmp, 'png');
    await synthesize({ ...small, out, format: 'png' });
    expect((await listFiles(out)).filter((f) => f.endsWith('.png'))).toHaveLength(8);
  });

  it('reuses an identical existing set, and refuses to overwrite anything else', async () => {
    const out = path.join(tmp, 'set');
    await synthesize({ ...small, out });
    expect((await synthesize({ ...small, out })).reused).toBe(true);
    await expect(synthesize({ ...small, out, seed: 5 })).rejects.toThrow(/already holds a synthetic set with other settings/);
    const other = path.join(tmp, 'mine');
    await fs.mkdir(other);
    await expect(synthesize({ ...small, out: other })).rejects.toThrow(UserInputError);
    await expect(synthesize({ ...small, out: other })).rejects.toThrow(/already exists and is not a synthetic set/);
  });

  it('refuses a set with its manifest but missing or extra files, naming the first problem', async () => {
    const out = path.join(tmp, 'set');
    await synthesize({ ...small, out });
    await fs.rm(path.join(out, 'train/malignant/0001.jpg'));
    await expect(synthesize({ ...small, out })).rejects.toThrow(UserInputError);
    await expect(synthesize({ ...small, out })).rejects.toThrow(`${out} holds an incomplete synthetic set (${path.join(out, 'train/malignant/0001.jpg')} is missing)`);
    await fs.writeFile(path.join(out, 'train/malignant/0001.jpg'), 'x');
    await fs.writeFile(path.join(out, 'test/benign/extra.jpg'), 'x');
    await expect(synthesize({ ...small, out })).rejects.toThrow(/test\/benign holds 3 entries, the manifest says 2 images/);
  });

  it('lets several writers make the same set at once: one set, no staging folders left', async () => {
    const out = path.join(tmp, 'shared');
    const results = await Promise.all([synthesize({ ...small, out, seed: 2 }), synthesize({ ...small, out, seed: 2 }), synthesize({ ...small, out, seed: 2, concurrency: 1 })]);
    expect(results.filter((r) => !r.reused).length).toBeGreaterThanOrEqual(1);
    expect((await countImageFolder(out)).counts).toEqual(results[0].counts);
    expect((await fs.readdir(tmp)).sort()).toEqual(['shared']);
    const alone = await synthesize({ ...small, out: path.join(tmp, 'alone'), seed: 2 });
    for (const f of (await listFiles(out)).filter((f) => f !== SYNTH_MANIFEST)) {
      expect((await fs.readFile(path.join(out, f))).equals(await fs.readFile(path.join(alone.out, f)))).toBe(true);
    }
  });

  it('removes staging folders of writers that are gone, and keeps those of live ones', async () => {
    const out = path.join(tmp, 'set');
    const deadPid = 2 ** 22 + 12345; // above Linux's pid_max: no such process
    await fs.mkdir(path.join(tmp, `set.partial-${deadPid}-abc/train`), { recursive: true });
    await fs.mkdir(path.join(tmp, `set.partial-${process.ppid}-def`), { recursive: true });
    await fs.mkdir(path.join(tmp, `settings.partial-${deadPid}-abc`), { recursive: true });
    await synthesize({ ...small, out });
    expect((await fs.readdir(tmp)).sort()).toEqual(['set', `set.partial-${process.ppid}-def`, `settings.partial-${deadPid}-abc`]);
  });

  it('names a set by what its bytes depend on', () => {
    const key = synthKey(small);
    expect(key).toMatch(/^[0-9a-f]{16}$/);
    expect(synthKey({ ...small })).toBe(key);
    expect(synthKey({ ...small, seed: 0 })).toBe(key); // 0 is the default seed
    expect(synthKey({ ...small, seed: 1 })).not.toBe(key);
    expect(synthKey({ ...small, size: 32 })).not.toBe(key);
    expect(synthKey({ ...small, counts: { train: [3, 2], test: [2, 2] } })).not.toBe(key);
    expect(synthKey({ ...small, format: 'png' })).not.toBe(key);
    expect(synthKey({ ...small, overlap: 0.5 })).not.toBe(key);
    expect(() => synthKey({ size: 4 })).toThrow(/size must be an integer in \[8, 1024\], got 4/);
  });

  it('rejects bad options, naming the value', async () => {
    const out = path.join(tmp, 'x');
    await expect(synthesize({ out, size: 4 })).rejects.toThrow(/size must be an integer in \[8, 1024\], got 4/);
    await expect(synthesize({ out, classes: ['benign', 'wart'] })).rejects.toThrow(/synthetic class "wart" has no lesion profile; known classes: benign/);
    await expect(synthesize({ out, counts: { train: [1], test: [1, 1] } })).rejects.toThrow(/counts.train must have one count per class \(2: benign, malignant\), got \[1\]/);
    await expect(synthesize({ out, classes: ['benign'] })).rejects.toThrow(/need at least two classes/);
  });

  it('builds a multi-class set with classes sorted and counts following their classes', async () => {
    const out = path.join(tmp, 'multi');
    const res = await synthesize({ out, size: 16, classes: ['nevus', 'melanoma', 'bcc', 'keratosis'], counts: { train: [1, 2, 3, 4], test: [1, 1, 1, 2] } });
    expect(res.classes).toEqual(['bcc', 'keratosis', 'melanoma', 'nevus']);
    expect(res.counts.train).toEqual({ bcc: 3, keratosis: 4, melanoma: 2, nevus: 1 });
    expect((await countImageFolder(out)).counts.test).toEqual({ bcc: 1, keratosis: 2, melanoma: 1, nevus: 1 });
    // What a plan needs, known before any image exists: the same as counting the folder.
    const counted = await countImageFolder(out);
    expect(synthCounts({ size: 16, classes: ['nevus', 'melanoma', 'bcc', 'keratosis'], counts: { train: [1, 2, 3, 4], test: [1, 1, 1, 2] } })).toEqual({ classes: counted.classes, ...counted.counts });
    expect(() => synthCounts({ classes: ['benign', 'wart'] })).toThrow(/synthetic class "wart" has no lesion profile/);
  });
});

describe('ensureSynthSet', () => {
  it('makes a set once when several processes ask at once: the others wait for the lock and reuse it', async () => {
    const out = path.join(tmp, 'cache', 'synth-x');
    const rendered: number[] = [0, 0, 0];
    const lines: string[] = [];
    const results = await Promise.all(
      rendered.map((_, k) => ensureSynthSet(out, { ...small, seed: 4 }, { cached: true, log: (l) => lines.push(l), onProgress: (done) => (rendered[k] = Math.max(rendered[k], done)) })),
    );
    // One caller rendered all 8 images; the others rendered none (without the lock each would).
    expect(rendered.slice().sort((a, b) => a - b)).toEqual([0, 0, 8]);
    expect(results.map((r) => r.reused).sort()).toEqual([false, true, true]);
    expect(lines).toEqual([expect.stringMatching(/^waiting for another process making the synthetic set at .*synth-x \(lock .*synth-x\.lock\)$/), expect.stringMatching(/^waiting for another process/)]);
    expect((await fs.readdir(path.join(tmp, 'cache'))).sort()).toEqual(['synth-x']);
  });

  it('rebuilds a damaged cached set with a log line, and leaves a damaged set it does not own to the user', async () => {
    const out = path.join(tmp, 'synth-y');
    await ensureSynthSet(out, small, { cached: true, log: () => undefined });
    await fs.rm(path.join(out, 'test', 'benign', '0001.jpg'));
    const lines: string[] = [];
    await expect(ensureSynthSet(out, small, { cached: false, log: (l) => lines.push(l) })).rejects.toThrow(/holds an incomplete synthetic set \(.*test\/benign\/0001\.jpg is missing\)/);
    const again = await ensureSynthSet(out, small, { cached: true, log: (l) => lines.push(l) });
    expect(again.reused).toBe(false);
    expect(lines).toEqual([expect.stringMatching(/^synthetic set cache .*synth-y is damaged \(.*test\/benign\/0001\.jpg is missing\); rebuilding it$/)]);
    expect((await countImageFolder(out)).counts.test).toEqual({ benign: 2, malignant: 1 });
  });

  it('gives up waiting for a lock held too long, naming the lock file', async () => {
    const out = path.join(tmp, 'synth-z');
    const release = await lockfile.lock(out, { realpath: false, lockfilePath: `${out}.lock` });
    try {
      const lines: string[] = [];
      await expect(ensureSynthSet(out, small, { cached: true, log: (l) => lines.push(l), waitMs: 300 })).rejects.toThrow(/synth-z\.lock: another process has been making the synthetic set for over 0.3 s; if none is, remove the lock/);
      expect(lines).toEqual([expect.stringMatching(/^waiting for another process making the synthetic set/)]);
    } finally {
      await release();
    }
  });
});

describe('synthImageSet', () => {
  it('renders each image from its own stream: image i does not depend on how many are made', () => {
    const few = synthImageSet({ size: 16, counts: [2, 1], seed: 4 });
    const more = synthImageSet({ size: 16, counts: [5, 3], seed: 4 });
    const stride = 16 * 16 * 3;
    const bytes = (a: Float32Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
    expect(bytes(few.images.subarray(0, 2 * stride)).equals(bytes(more.images.subarray(0, 2 * stride)))).toBe(true);
    expect(bytes(few.images.subarray(2 * stride)).equals(bytes(more.images.subarray(5 * stride, 6 * stride)))).toBe(true);
    expect(bytes(few.images.subarray(0, stride)).equals(bytes(few.images.subarray(stride, 2 * stride)))).toBe(false);
    expect(few.files).toEqual(['train/benign/0000.png', 'train/benign/0001.png', 'train/malignant/0000.png']);
    expect(more.images.every((v) => v >= -1 && v <= 1)).toBe(true);
  });

  it('matches what synthesize writes, up to JPEG loss', async () => {
    const out = path.join(tmp, 'png');
    await synthesize({ ...small, out, format: 'png', seed: 9 });
    const ds = await loadImageFolder(out, { size: 16 });
    const mem = synthImageSet({ size: 16, counts: [2, 1], seed: 9, split: 'test' });
    expect(ds.test.images).toEqual(mem.images);
  });

  it('separates the classes above chance but far from perfectly (logistic regression on ABCD-style features), and imbalance hurts', () => {
    const train = synthImageSet({ size: 32, counts: [110, 110], seed: 1, split: 'train' });
    const test = synthImageSet({ size: 32, counts: [90, 90], seed: 1, split: 'test' });
    const balanced = proxyAccuracy(train, test);
    expect(balanced).toBeGreaterThan(0.6);
    expect(balanced).toBeLessThan(0.9);
    // 110 benign + 6 malignant: the rare class is barely learnt.
    const imbalanced = proxyAccuracy(subsetImageSet(train, Array.from({ length: 116 }, (_, i) => i)), test);
    expect(imbalanced).toBeLessThan(balanced - 0.05);
    // Without class overlap the same features do better: the overlap is what caps accuracy.
    const clean = proxyAccuracy(synthImageSet({ size: 32, counts: [110, 110], seed: 1, overlap: 0 }), synthImageSet({ size: 32, counts: [90, 90], seed: 1, overlap: 0, split: 'test' }));
    expect(clean).toBeGreaterThan(balanced + 0.05);
  });
});
