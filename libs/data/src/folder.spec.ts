import { promises as fs } from 'fs';
import * as os from 'os';
import * as path from 'path';
import lockfile from 'proper-lockfile';
import sharp, { type JpegOptions } from 'sharp';
import { UserInputError } from '@gan-study/core';
import { countImageFolder, decodeImageInto, jpegDecodesAsIs, loadImageFolder } from './folder';
import { decodeJpegWasm } from './jpeg-wasm';
import { writeImageFolder, type FixtureImage } from './testing';

let tmp: string;
beforeEach(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'gan-data-folder-'));
});
afterEach(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

/** Two classes, 3 train + 2 test images each, 16x16. */
function basic(extra: FixtureImage[] = []): FixtureImage[] {
  const items: FixtureImage[] = [];
  for (const cls of ['benign', 'malignant']) {
    for (let i = 0; i < 3; i++) items.push({ rel: `train/${cls}/${i}.png` });
    for (let i = 0; i < 2; i++) items.push({ rel: `test/${cls}/${i}.png` });
  }
  return [...items, ...extra];
}

async function expectUserError(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(UserInputError);
  expect((err as Error).message).toMatch(pattern);
}

describe('loadImageFolder', () => {
  it('decodes every image to NHWC RGB in [-1, 1] with labels and relative paths', async () => {
    const root = await writeImageFolder(path.join(tmp, 'ds'), basic());
    const ds = await loadImageFolder(root, { size: 16 });
    expect(ds.classes).toEqual(['benign', 'malignant']);
    expect(ds.train.images.length).toBe(6 * 16 * 16 * 3);
    expect(Array.from(ds.train.labels)).toEqual([0, 0, 0, 1, 1, 1]);
    expect(ds.train.files).toEqual(['train/benign/0.png', 'train/benign/1.png', 'train/benign/2.png', 'train/malignant/0.png', 'train/malignant/1.png', 'train/malignant/2.png']);
    expect(ds.test.labels.length).toBe(4);
    expect(ds.warnings).toEqual([]);
    expect(ds.hash).toMatch(/^[0-9a-f]{64}$/);
    // PNG is lossless and no resize happens: the values are exactly the file's bytes mapped to [-1, 1].
    const { data } = await sharp(path.join(root, 'train/malignant/1.png')).raw().toBuffer({ resolveWithObject: true });
    const stride = 16 * 16 * 3;
    for (let i = 0; i < stride; i++) expect(ds.train.images[4 * stride + i]).toBeCloseTo(data[i] / 127.5 - 1, 6);
  });

  it('converts grayscale and RGBA to RGB, accepts upper-case extensions, resizes mixed sizes and says so once', async () => {
    const root = await writeImageFolder(
      path.join(tmp, 'ds'),
      basic([
        { rel: 'train/benign/gray.png', channels: 1 },
        { rel: 'train/benign/alpha.png', channels: 4 },
        { rel: 'train/malignant/big.JPG', width: 40, height: 24 },
        { rel: 'train/malignant/big2.jpeg', width: 40, height: 24 },
      ]),
    );
    const lines: string[] = [];
    const ds = await loadImageFolder(root, { size: 8, log: (l) => lines.push(l) });
    expect(ds.train.labels.length).toBe(10);
    expect(ds.train.images.length).toBe(10 * 8 * 8 * 3);
    for (const v of ds.train.images) expect(v >= -1 && v <= 1).toBe(true);
    const gray = ds.train.files.indexOf('train/benign/gray.png');
    const px = ds.train.images.subarray(gray * 192, (gray + 1) * 192);
    for (let p = 0; p < 64; p++) {
      expect(px[p * 3]).toBe(px[p * 3 + 1]);
      expect(px[p * 3]).toBe(px[p * 3 + 2]);
    }
    const mixed = ds.warnings.filter((w) => /different sizes/.test(w));
    expect(mixed).toHaveLength(1);
    expect(mixed[0]).toMatch(/2 different sizes.*most common 16x16: 12; 2 of other sizes, e\.g\. 40x24.*8x8/);
    expect(lines.filter((l) => /different sizes/.test(l))).toHaveLength(1);
  });

  it('skips a corrupt or truncated image by default, names it in warnings and the log', async () => {
    const good = await sharp(Buffer.alloc(64 * 64 * 3, 90), { raw: { width: 64, height: 64, channels: 3 } }).jpeg().toBuffer();
    const root = await writeImageFolder(
      path.join(tmp, 'ds'),
      basic([
        { rel: 'train/malignant/truncated.jpg', bytes: good.subarray(0, Math.floor(good.length * 0.7)) },
        { rel: 'test/benign/garbage.png', bytes: 'not a png at all' },
      ]),
    );
    const lines: string[] = [];
    const ds = await loadImageFolder(root, { size: 16, log: (l) => lines.push(l) });
    expect(ds.train.labels.length).toBe(6);
    expect(ds.test.labels.length).toBe(4);
    expect(ds.train.files).not.toContain('train/malignant/truncated.jpg');
    expect(ds.warnings.some((w) => /skipped 2 corrupt or truncated images: test\/benign\/garbage\.png, train\/malignant\/truncated\.jpg/.test(w))).toBe(true);
    expect(lines.filter((l) => /^data skip /.test(l))).toHaveLength(2);
  });

  it("with onCorrupt 'error', a corrupt image is an error naming the file", async () => {
    const root = await writeImageFolder(path.join(tmp, 'ds'), basic([{ rel: 'train/benign/bad.jpg', bytes: 'garbage' }]));
    await expectUserError(loadImageFolder(root, { size: 16, onCorrupt: 'error' }), /train[/\\]benign[/\\]bad\.jpg: corrupt or truncated image/);
  });

  it('ignores non-image files and says so once with the count', async () => {
    const root = await writeImageFolder(
      path.join(tmp, 'ds'),
      basic([
        { rel: 'train/benign/notes.txt', bytes: 'hello' },
        { rel: 'train/malignant/.DS_Store', bytes: 'x' },
        { rel: 'test/README', bytes: 'y' },
      ]),
    );
    const ds = await loadImageFolder(root, { size: 16 });
    expect(ds.train.labels.length).toBe(6);
    const ignored = ds.warnings.filter((w) => /ignored/.test(w));
    expect(ignored).toHaveLength(1);
    expect(ignored[0]).toMatch(/ignored 3 entries/);
  });

  it('rejects a path that does not exist', async () => {
    await expectUserError(loadImageFolder(path.join(tmp, 'nope'), { size: 16 }), /nope does not exist/);
  });

  it('rejects a missing split, naming its path', async () => {
    const root = await writeImageFolder(path.join(tmp, 'ds'), [{ rel: 'train/a/0.png' }]);
    await expectUserError(loadImageFolder(root, { size: 16 }), new RegExp(`${path.join(root, 'test').replace(/[\\/.]/g, '.')}: missing split folder`));
  });

  it('rejects an empty class folder, naming it', async () => {
    const root = await writeImageFolder(path.join(tmp, 'ds'), basic([{ rel: 'train/empty/readme.txt', bytes: 'x' }]));
    await expectUserError(loadImageFolder(root, { size: 16 }), /train[/\\]empty: class folder has no images/);
  });

  it('rejects a class present in test but not in train', async () => {
    const root = await writeImageFolder(path.join(tmp, 'ds'), basic([{ rel: 'test/extra/0.png' }]));
    await expectUserError(countImageFolder(root), /class "extra" is in test but not in train/);
  });

  it('rejects a class whose every image is corrupt', async () => {
    const root = await writeImageFolder(path.join(tmp, 'ds'), basic([{ rel: 'train/c/0.png', bytes: 'bad' }, { rel: 'test/c/0.png' }]));
    await expectUserError(loadImageFolder(root, { size: 16 }), /train[/\\]c: every image of the class is corrupt/);
  });

  it('rejects bad options with the value', async () => {
    const root = await writeImageFolder(path.join(tmp, 'ds'), basic());
    await expectUserError(loadImageFolder(root, { size: 0 }), /size must be an integer in \[1, 4096\], got 0/);
    await expectUserError(loadImageFolder(root, { size: 8, concurrency: 0 }), /concurrency must be a positive integer, got 0/);
    await expectUserError(loadImageFolder(root, { size: 8, lockWaitMs: -1 }), /lockWaitMs must be a positive number of milliseconds, got -1/);
  });
});

describe('decodeImageInto', () => {
  /** The full decoding chain, step by step, as the reference. */
  async function reference(bytes: Buffer, size: number): Promise<Float32Array> {
    const { data } = await sharp(bytes)
      .rotate()
      .flatten({ background: { r: 0, g: 0, b: 0 } })
      .toColourspace('srgb')
      .resize(size, size, { fit: 'cover', position: 'centre', kernel: 'lanczos3' })
      .removeAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    return Float32Array.from(data, (v) => v / 127.5 - 1);
  }

  it('gives what the full chain gives, whether the image needs its steps or is already as asked', async () => {
    const noise = (w: number, h: number, channels: 1 | 3 | 4): Buffer => Buffer.from(Array.from({ length: w * h * channels }, (_, i) => (i * 97 + (i >> 3) * 31) % 256));
    const raw = (w: number, h: number, channels: 1 | 3 | 4) => sharp(noise(w, h, channels), { raw: { width: w, height: h, channels } });
    const cases: Record<string, Buffer> = {
      'jpeg at size': await raw(16, 16, 3).jpeg({ quality: 90 }).toBuffer(),
      'png at size': await raw(16, 16, 3).png().toBuffer(),
      'jpeg at size, EXIF orientation 6': await raw(16, 16, 3).jpeg().withMetadata({ orientation: 6 }).toBuffer(),
      'jpeg at size, Display P3 profile': await raw(16, 16, 3).jpeg().withIccProfile('p3').toBuffer(),
      'png at size with alpha': await raw(16, 16, 4).png().toBuffer(),
      'grey png at size': await raw(16, 16, 1).png().toBuffer(),
      'palette png at size': await raw(16, 16, 3).png({ palette: true, colours: 16 }).toBuffer(),
      'progressive jpeg at size, 4:4:4': await raw(16, 16, 3).jpeg({ progressive: true, chromaSubsampling: '4:4:4' }).toBuffer(),
      'grey jpeg at size': await raw(16, 16, 1).toColourspace('b-w').jpeg().toBuffer(),
      'cmyk jpeg at size': await raw(16, 16, 3).toColourspace('cmyk').jpeg().toBuffer(),
      'jpeg larger, not square': await raw(40, 24, 3).jpeg().toBuffer(),
      'png smaller': await raw(8, 8, 3).png().toBuffer(),
    };
    // The header check may only say 'as is' where sharp's metadata does: it skips that call.
    const fast = Object.keys(cases).filter((name) => jpegDecodesAsIs(cases[name], 16));
    expect(fast).toEqual(['jpeg at size', 'progressive jpeg at size, 4:4:4']);
    for (const name of fast) {
      const m = await sharp(cases[name]).metadata();
      const seen = { name, width: m.width, height: m.height, channels: m.channels, space: m.space, depth: m.depth, alpha: m.hasAlpha, profile: m.hasProfile, orientation: m.orientation };
      expect(seen).toEqual({ name, width: 16, height: 16, channels: 3, space: 'srgb', depth: 'uchar', alpha: false, profile: false, orientation: undefined });
    }
    for (const [name, bytes] of Object.entries(cases)) {
      const out = new Float32Array(2 * 16 * 16 * 3);
      await decodeImageInto(bytes, 16, 'cover', out, 768);
      expect({ name, values: Array.from(out.subarray(768)) }).toEqual({ name, values: Array.from(await reference(bytes, 16)) });
      expect(out.subarray(0, 768).every((v) => v === 0)).toBe(true);
    }
  });
});

describe('decodeJpegWasm', () => {
  const noise = (size: number, seed: number): Buffer => Buffer.from(Array.from({ length: size * size * 3 }, (_, i) => ((i * 97 + (i >> 3) * 31 + seed * 13) % 256) ^ ((i * seed) % 7 === 0 ? 0x3c : 0)));
  const jpeg = (size: number, seed: number, opts: JpegOptions) => sharp(noise(size, seed), { raw: { width: size, height: size, channels: 3 } }).jpeg(opts).toBuffer();
  const rgbOf = (img: { data: ArrayLike<number> }, n: number) => Buffer.from(Array.from({ length: n * 3 }, (_, i) => img.data[Math.floor(i / 3) * 4 + (i % 3)]));

  it('gives the pixels sharp gives, on baseline and progressive JPEGs, every chroma subsampling, quality and encoder', async () => {
    let checked = 0;
    for (const size of [16, 33, 224]) {
      for (const quality of [40, 90, 100]) {
        for (const chromaSubsampling of ['4:2:0', '4:4:4']) {
          for (const progressive of [false, true]) {
            for (const mozjpeg of [false, true]) {
              if (size === 224 && (quality !== 90 || mozjpeg)) continue; // a few at the paper's size
              const bytes = await jpeg(size, checked, { quality, chromaSubsampling, progressive, mozjpeg });
              expect(jpegDecodesAsIs(bytes, size)).toBe(true);
              const img = await decodeJpegWasm(bytes);
              expect(img).not.toBeNull();
              expect([img!.width, img!.height]).toEqual([size, size]);
              const want = await sharp(bytes).raw().toBuffer();
              expect({ size, quality, chromaSubsampling, progressive, mozjpeg, same: rgbOf(img!, size * size).equals(want) }).toEqual({ size, quality, chromaSubsampling, progressive, mozjpeg, same: true });
              checked++;
            }
          }
        }
      }
    }
    expect(checked).toBe(2 * 3 * 2 * 2 * 2 + 2 * 2);
  });

  it('returns null on a warning or an error, so sharp names the file; calls in flight together keep their own answers', async () => {
    const good = await Promise.all([0, 1, 2, 3].map((i) => jpeg(16, 50 + i, { quality: 90 })));
    const truncated = good[0].subarray(0, Math.floor(good[0].length * 0.7));
    const badTable = Buffer.from(good[1]);
    const dht = badTable.indexOf(Buffer.from([0xff, 0xc4]));
    badTable.fill(0xff, dht + 5, dht + 21); // Huffman code counts that overflow
    expect(jpegDecodesAsIs(truncated, 16)).toBe(true); // the header alone cannot tell
    const results = await Promise.all([truncated, good[2], badTable, good[3], truncated].map((b) => decodeJpegWasm(b)));
    expect(results.map((r) => r === null)).toEqual([true, false, true, false, true]);
    expect(rgbOf(results[1]!, 256).equals(await sharp(good[2]).raw().toBuffer())).toBe(true);
    expect(rgbOf(results[3]!, 256).equals(await sharp(good[3]).raw().toBuffer())).toBe(true);
    // After a fatal error the next call still decodes.
    expect(await decodeJpegWasm(good[2])).not.toBeNull();
    // decodeImageInto hands the truncated file to sharp, which says what is wrong with it.
    await expect(decodeImageInto(truncated, 16, 'cover', new Float32Array(768), 0)).rejects.toThrow(/premature end of JPEG/i);
  });
});

describe('countImageFolder', () => {
  it('counts images per split and class without decoding', async () => {
    const root = await writeImageFolder(path.join(tmp, 'ds'), basic([{ rel: 'train/benign/x.txt', bytes: 'x' }, { rel: 'train/benign/bad.jpg', bytes: 'corrupt' }]));
    expect(await countImageFolder(root)).toEqual({
      classes: ['benign', 'malignant'],
      counts: { train: { benign: 4, malignant: 3 }, test: { benign: 2, malignant: 2 } },
    });
  });
});

describe('the decoded-set cache', () => {
  it('hits on a second load with identical arrays, and a changed folder invalidates it', async () => {
    const root = await writeImageFolder(path.join(tmp, 'ds'), basic());
    const cacheDir = path.join(tmp, 'cache');
    const lines: string[] = [];
    const log = (l: string): number => lines.push(l);
    const first = await loadImageFolder(root, { size: 8, cacheDir, log });
    expect(lines.some((l) => /cache write/.test(l))).toBe(true);
    lines.length = 0;
    const second = await loadImageFolder(root, { size: 8, cacheDir, log });
    expect(lines.filter((l) => /cache/.test(l))).toEqual([expect.stringMatching(/cache hit/)]);
    expect(second.train.images).toEqual(first.train.images);
    expect(second.test.labels).toEqual(first.test.labels);
    expect(second.train.files).toEqual(first.train.files);
    expect(second.hash).toBe(first.hash);

    // Another size is another cache entry.
    lines.length = 0;
    await loadImageFolder(root, { size: 4, cacheDir, log });
    expect(lines.some((l) => /cache hit/.test(l))).toBe(false);

    // Adding a file: a miss, a new hash, and the old entry for this size replaced.
    await writeImageFolder(root, [{ rel: 'train/benign/new.png', seed: 5 }]);
    lines.length = 0;
    const third = await loadImageFolder(root, { size: 8, cacheDir, log });
    expect(lines.some((l) => /cache hit/.test(l))).toBe(false);
    expect(third.train.labels.length).toBe(7);
    expect(third.hash).not.toBe(first.hash);
    expect((await fs.readdir(cacheDir)).filter((f) => f.includes('-8px-'))).toHaveLength(1);

    // Modifying a file (new bytes, new mtime): a miss.
    const target = path.join(root, 'train/benign/0.png');
    await writeImageFolder(root, [{ rel: 'train/benign/0.png', seed: 99, width: 12 }]);
    await fs.utimes(target, new Date(), new Date(Date.now() + 5000));
    lines.length = 0;
    const fourth = await loadImageFolder(root, { size: 8, cacheDir, log });
    expect(lines.some((l) => /cache hit/.test(l))).toBe(false);
    expect(fourth.hash).not.toBe(third.hash);

    // Removing a file: a miss.
    await fs.rm(path.join(root, 'train/benign/new.png'));
    lines.length = 0;
    const fifth = await loadImageFolder(root, { size: 8, cacheDir, log });
    expect(lines.some((l) => /cache hit/.test(l))).toBe(false);
    expect(fifth.train.labels.length).toBe(6);
  });

  it('decodes a folder once when several loads ask at once: the others wait for the lock and read the cache', async () => {
    const root = await writeImageFolder(path.join(tmp, 'ds'), basic());
    const cacheDir = path.join(tmp, 'cache');
    const lines: string[][] = [[], [], []];
    const decoded = [0, 0, 0];
    const sets = await Promise.all(
      lines.map((mine, k) =>
        loadImageFolder(root, {
          size: 8,
          cacheDir,
          log: (l) => void mine.push(l),
          onProgress: (done, _total, stage) => {
            if (stage.startsWith('decode') && done > 0) decoded[k]++;
          },
        }),
      ),
    );
    // One load decoded the 10 images and wrote the cache; the others decoded none (without the lock each would).
    expect([...decoded].sort((a, b) => a - b)).toEqual([0, 0, 10]);
    const all = lines.flat();
    expect(all.filter((l) => /cache write/.test(l))).toHaveLength(1);
    expect(all.filter((l) => /cache hit/.test(l))).toHaveLength(2);
    expect(all.filter((l) => /^data waiting for another process decoding the image folder at .*\.gsdc \(lock .*\.gsdc\.lock\)$/.test(l))).toHaveLength(2);
    for (const d of sets.slice(1)) expect(d.train.images).toEqual(sets[0].train.images);
    expect((await fs.readdir(cacheDir)).filter((f) => f.endsWith('.lock'))).toEqual([]); // released
    // A cache that is there is read without the lock: a load finds it while another process holds the lock.
    const [file] = (await fs.readdir(cacheDir)).filter((f) => f.endsWith('.gsdc'));
    const release = await lockfile.lock(path.join(cacheDir, file), { realpath: false, lockfilePath: path.join(cacheDir, `${file}.lock`) });
    try {
      const late: string[] = [];
      const again = await loadImageFolder(root, { size: 8, cacheDir, lockWaitMs: 200, log: (l) => void late.push(l) });
      expect(again.train.images).toEqual(sets[0].train.images);
      expect(late.filter((l) => /waiting/.test(l))).toEqual([]);
      expect(late.filter((l) => /cache hit/.test(l))).toHaveLength(1);
    } finally {
      await release();
    }
  });

  it('discards a corrupt cache file with a log line and rebuilds it', async () => {
    const root = await writeImageFolder(path.join(tmp, 'ds'), basic());
    const cacheDir = path.join(tmp, 'cache');
    const first = await loadImageFolder(root, { size: 8, cacheDir });
    const [file] = await fs.readdir(cacheDir);
    const bytes = await fs.readFile(path.join(cacheDir, file));
    bytes[bytes.length - 10] ^= 0xff;
    await fs.writeFile(path.join(cacheDir, file), bytes);
    const lines: string[] = [];
    const again = await loadImageFolder(root, { size: 8, cacheDir, log: (l) => lines.push(l) });
    expect(lines.some((l) => /cache discard .*checksum/.test(l))).toBe(true);
    expect(again.train.images).toEqual(first.train.images);
    // Truncated cache file: also discarded.
    await fs.writeFile(path.join(cacheDir, file), bytes.subarray(0, 40));
    lines.length = 0;
    await loadImageFolder(root, { size: 8, cacheDir, log: (l) => lines.push(l) });
    expect(lines.some((l) => /cache discard/.test(l))).toBe(true);
  });

  it("replays the skipped-file warnings on a hit, and onCorrupt 'error' still fails on a hit", async () => {
    const root = await writeImageFolder(path.join(tmp, 'ds'), basic([{ rel: 'train/benign/bad.jpg', bytes: 'garbage' }]));
    const cacheDir = path.join(tmp, 'cache');
    const first = await loadImageFolder(root, { size: 8, cacheDir });
    const lines: string[] = [];
    const second = await loadImageFolder(root, { size: 8, cacheDir, log: (l) => lines.push(l) });
    expect(lines.some((l) => /cache hit/.test(l))).toBe(true);
    expect(second.warnings).toEqual(first.warnings);
    expect(second.warnings.join()).toMatch(/bad\.jpg/);
    await expectUserError(loadImageFolder(root, { size: 8, cacheDir, onCorrupt: 'error' }), /bad\.jpg: corrupt or truncated image/);
  });
});
