/**
 * A Dataset as bytes, for trainers without a shared filesystem: a msgpack map holding the dataset's
 * identity (root, hash, classes, warnings) and each split as @gan-study/data's compact image-set
 * bytes with uint8 pixels (exact for images decoded from 8-bit files, a quarter of float32).
 * Decoding validates the envelope with zod and each split with the data library's own checks.
 */
import { Packr } from 'msgpackr';
import { z } from 'zod';
import { decodeImageSet, encodeImageSet, type Dataset } from '@gan-study/data';

const packr = new Packr({ useRecords: false, mapsAsObjects: true });
const bytes = z.custom<Uint8Array>((v) => v instanceof Uint8Array, { message: 'expected binary bytes' });

const envelope = z.strictObject({
  format: z.literal('gan-study-dataset/1'),
  root: z.string(),
  hash: z.string(),
  classes: z.array(z.string()),
  warnings: z.array(z.string()),
  train: bytes,
  test: bytes,
});

export function encodeDataset(d: Dataset): Uint8Array {
  return packr.pack({
    format: 'gan-study-dataset/1',
    root: d.root,
    hash: d.hash,
    classes: d.classes,
    warnings: d.warnings,
    train: encodeImageSet(d.train, { pixels: 'uint8' }),
    test: encodeImageSet(d.test, { pixels: 'uint8' }),
  });
}

export function decodeDataset(data: Uint8Array, source = 'dataset bytes'): Dataset {
  let raw: unknown;
  try {
    raw = packr.unpack(data);
  } catch (err) {
    throw new Error(`${source}: not msgpack: ${(err as Error).message}`);
  }
  const parsed = envelope.safeParse(raw);
  if (!parsed.success) throw new Error(`${source}: ${parsed.error.issues[0].path.join('.')}: ${parsed.error.issues[0].message}`);
  const e = parsed.data;
  return { root: e.root, hash: e.hash, classes: e.classes, warnings: e.warnings, train: decodeImageSet(e.train, `${source} (train)`), test: decodeImageSet(e.test, `${source} (test)`) };
}
