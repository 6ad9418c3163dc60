import { promises as fs } from 'fs';
import * as path from 'path';

/**
 * Writes a file atomically: the bytes go to a temporary file beside the target, are flushed to disk,
 * then renamed over it, so a reader (or a resumed run after a crash) sees the old file or the new one,
 * never half of one.
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  const dir = path.dirname(file);
  await fs.mkdir(dir, { recursive: true });
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Date.now()}.${Math.random().toString(36).slice(2)}.tmp`);
  const handle = await fs.open(tmp, 'w');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await fs.rename(tmp, file);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
  try {
    const dirHandle = await fs.open(dir, 'r');
    try {
      await dirHandle.sync();
    } finally {
      await dirHandle.close();
    }
  } catch {
    // Some filesystems cannot fsync a directory; the rename itself is still atomic.
  }
}

/** Writes JSON atomically, pretty-printed with a trailing newline. */
export async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  await writeFileAtomic(file, JSON.stringify(value, null, 2) + '\n');
}

/** Reads and parses a JSON file; a parse error names the file. */
export async function readJson(file: string): Promise<unknown> {
  const text = await fs.readFile(file, 'utf8');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UserInputError(`${file}: not valid JSON: ${(err as Error).message}`);
  }
}

/**
 * Bad input from a user (a file, a flag, a config key): the message names what is at fault. Not retried.
 */
export class UserInputError extends Error {
  override name = 'UserInputError';
}

/** A job that fails for a reason another attempt cannot fix (bad data, bad config). Not retried. */
export class PermanentJobError extends Error {
  override name = 'PermanentJobError';
}
