/**
 * The run directory's journal: append-only JSON lines, each fsynced before `append` resolves. A
 * finished job is journaled BEFORE the trainer is acknowledged, so after a coordinator crash
 * `study run --resume DIR` knows exactly which jobs are done. A torn last line (a crash mid-write)
 * is ignored with a warning; a torn line elsewhere is an error naming the file and line.
 */
import { promises as fs } from 'fs';
import { z } from 'zod';
import { UserInputError } from '@gan-study/core';

const entrySchema = z.discriminatedUnion('event', [
  z.strictObject({ t: z.string(), event: z.literal('start'), run: z.string(), resumed: z.boolean() }),
  z.strictObject({ t: z.string(), event: z.literal('done'), job: z.string(), attempt: z.number().int(), trainer: z.string(), result: z.unknown() }),
  z.strictObject({ t: z.string(), event: z.literal('failed'), job: z.string(), attempt: z.number().int(), error: z.string(), permanent: z.boolean() }),
  z.strictObject({ t: z.string(), event: z.literal('finished'), done: z.number().int(), failed: z.number().int() }),
]);
export type JournalEntry = z.infer<typeof entrySchema>;
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

export class Journal {
  private handle: fs.FileHandle | null = null;
  private tail: Promise<void> = Promise.resolve();

  constructor(readonly file: string) {}

  async open(): Promise<void> {
    this.handle = await fs.open(this.file, 'a');
  }

  /** Appends one entry and fsyncs; entries are written in call order. */
  append(entry: DistributiveOmit<JournalEntry, 't'>): Promise<void> {
    const line = JSON.stringify({ t: new Date().toISOString(), ...entry }) + '\n';
    const next = this.tail.then(async () => {
      if (!this.handle) throw new Error(`journal ${this.file} is not open`);
      await this.handle.appendFile(line);
      await this.handle.sync();
    });
    this.tail = next.catch(() => undefined);
    return next;
  }

  async close(): Promise<void> {
    await this.tail;
    await this.handle?.close();
    this.handle = null;
  }

  /** Reads a journal; a missing file is an empty journal. `warn` hears about a torn last line. */
  static async read(file: string, warn: (msg: string) => void = () => undefined): Promise<JournalEntry[]> {
    let text: string;
    try {
      text = await fs.readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const lines = text.split('\n');
    const entries: JournalEntry[] = [];
    lines.forEach((line, i) => {
      if (!line.trim()) return;
      // Only a final line without its newline can be torn; anything else that does not parse is damage.
      const torn = i === lines.length - 1 && !text.endsWith('\n');
      let raw: unknown;
      try {
        raw = JSON.parse(line);
      } catch {
        if (torn) {
          warn(`${file}:${i + 1}: torn last line ignored (a crash while writing it)`);
          return;
        }
        throw new UserInputError(`${file}:${i + 1}: not a JSON line`);
      }
      const parsed = entrySchema.safeParse(raw);
      if (!parsed.success) throw new UserInputError(`${file}:${i + 1}: not a journal entry: ${parsed.error.issues[0].message}`);
      entries.push(parsed.data);
    });
    return entries;
  }
}
