/**
 * The decoded-folder cache: one binary file per (folder, size, fit, folder state), written atomically.
 *
 * Key: SHA-256 of the sorted (relative path, byte size, mtime) of every image file plus the decode
 * settings. Adding, removing or rewriting a file changes it. mtime rather than contents because the
 * key must be computed before deciding to decode, and reading every byte of a large set (HAM10000
 * is ~2.5 GB) just to look up a cache would cost most of what the cache saves; a rewrite that keeps
 * both the byte size and the nanosecond mtime is the one change it misses. The dataset's content
 * hash (Dataset.hash) is computed from the bytes when decoding and stored in the cache.
 *
 * Layout: 8 bytes magic "GSDCACHE", u32 version, u32 header length, header JSON
 * { fingerprint, hash, size, fit, warnings, skipped, trainBytes, testBytes, bodySha256 }, then the
 * train and test sets as encodeImageSet(..., { pixels: 'uint8' }) (exact for 8-bit sources).
 * A file that fails any check (magic, version, fingerprint, lengths, body checksum) is discarded
 * with a log line and rebuilt, never trusted.
 */
import { createHash } from 'crypto';
import { promises as fs } from 'fs';
import * as path from 'path';
import { writeFileAtomic } from '@gan-study/core';
import { decodeImageSet, encodeImageSet } from './codec';
import type { ImageSet } from './types';

const MAGIC = 'GSDCACHE';
const VERSION = 1;

export interface CacheEntry {
  fingerprint: string;
  hash: string;
  size: number;
  fit: string;
  warnings: string[];
  skipped: Array<{ file: string; reason: string }>;
  train: ImageSet;
  test: ImageSet;
}

function rootTag(root: string): string {
  return createHash('sha256').update(root).digest('hex').slice(0, 12);
}

/** The cache file for this folder state; files of the same folder and settings share the prefix. */
export function cacheFileFor(cacheDir: string, root: string, size: number, fit: string, fingerprint: string): string {
  return path.join(path.resolve(cacheDir), `imagefolder-${rootTag(root)}-${size}px-${fit}-${fingerprint.slice(0, 16)}.gsdc`);
}

/** Returns the cached sets, or null (missing, or discarded with a log line). */
export async function readCache(file: string, fingerprint: string, log: (line: string) => void): Promise<CacheEntry | null> {
  let bytes: Buffer;
  try {
    bytes = await fs.readFile(file);
  } catch {
    return null;
  }
  try {
    if (bytes.length < 16 || bytes.toString('latin1', 0, 8) !== MAGIC) throw new Error('bad magic');
    const version = bytes.readUInt32LE(8);
    if (version !== VERSION) throw new Error(`version ${version}, this build reads ${VERSION}`);
    const headerLength = bytes.readUInt32LE(12);
    if (16 + headerLength > bytes.length) throw new Error('header runs past the end');
    const header = JSON.parse(bytes.toString('utf8', 16, 16 + headerLength)) as Omit<CacheEntry, 'train' | 'test'> & { trainBytes: number; testBytes: number; bodySha256: string };
    if (header.fingerprint !== fingerprint) throw new Error('fingerprint does not match the folder');
    const bodyAt = 16 + headerLength;
    if (bodyAt + header.trainBytes + header.testBytes !== bytes.length) throw new Error(`length ${bytes.length} does not match its header`);
    const body = bytes.subarray(bodyAt);
    if (createHash('sha256').update(body).digest('hex') !== header.bodySha256) throw new Error('body checksum mismatch');
    const train = decodeImageSet(body.subarray(0, header.trainBytes), `${file} (train)`);
    const test = decodeImageSet(body.subarray(header.trainBytes), `${file} (test)`);
    if (!Array.isArray(header.warnings) || !Array.isArray(header.skipped) || typeof header.hash !== 'string') throw new Error('header fields missing');
    return { fingerprint, hash: header.hash, size: header.size, fit: header.fit, warnings: header.warnings, skipped: header.skipped, train, test };
  } catch (err) {
    log(`data cache discard ${file}: ${(err as Error).message}`);
    await fs.rm(file, { force: true });
    return null;
  }
}

/** Writes the entry atomically and removes older cache files of the same folder and settings. */
export async function writeCache(file: string, entry: CacheEntry): Promise<void> {
  const train = encodeImageSet(entry.train, { pixels: 'uint8' });
  const test = encodeImageSet(entry.test, { pixels: 'uint8' });
  const bodySha256 = createHash('sha256').update(train).update(test).digest('hex');
  const header = Buffer.from(
    JSON.stringify({
      fingerprint: entry.fingerprint,
      hash: entry.hash,
      size: entry.size,
      fit: entry.fit,
      warnings: entry.warnings,
      skipped: entry.skipped,
      trainBytes: train.length,
      testBytes: test.length,
      bodySha256,
    }),
    'utf8',
  );
  const head = Buffer.alloc(16);
  head.write(MAGIC, 0, 'latin1');
  head.writeUInt32LE(VERSION, 8);
  head.writeUInt32LE(header.length, 12);
  await writeFileAtomic(file, Buffer.concat([head, header, train, test]));
  const base = path.basename(file);
  const prefix = base.slice(0, base.lastIndexOf('-') + 1);
  for (const name of await fs.readdir(path.dirname(file))) {
    if (name !== base && name.startsWith(prefix) && name.endsWith('.gsdc')) await fs.rm(path.join(path.dirname(file), name), { force: true });
  }
}
