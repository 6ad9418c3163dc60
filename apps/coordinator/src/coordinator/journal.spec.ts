import { promises as fs } from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Journal } from './journal';

describe('Journal', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'journal-spec-'));
  });
  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('appends entries in order and reads them back; a missing journal is empty', async () => {
    const file = path.join(dir, 'journal.jsonl');
    expect(await Journal.read(file)).toEqual([]);
    const j = new Journal(file);
    await j.open();
    await Promise.all([
      j.append({ event: 'start', run: 'r', resumed: false }),
      j.append({ event: 'done', job: 'a', attempt: 1, trainer: 't1', result: { id: 'a' } }),
      j.append({ event: 'failed', job: 'b', attempt: 2, error: 'boom', permanent: true }),
    ]);
    await j.close();
    const entries = await Journal.read(file);
    expect(entries.map((e) => e.event)).toEqual(['start', 'done', 'failed']);
    expect(entries[1]).toMatchObject({ job: 'a', result: { id: 'a' } });
  });

  it('ignores a torn last line (with a warning) but refuses damage elsewhere, naming the line', async () => {
    const file = path.join(dir, 'journal.jsonl');
    const good = JSON.stringify({ t: 'x', event: 'done', job: 'a', attempt: 1, trainer: 't', result: {} });
    await fs.writeFile(file, `${good}\n{"t":"x","event":"do`);
    const warnings: string[] = [];
    expect((await Journal.read(file, (w) => warnings.push(w))).length).toBe(1);
    expect(warnings).toEqual([expect.stringMatching(/journal\.jsonl:2: torn last line ignored/)]);
    await fs.writeFile(file, `{"t":"x","event":"do\n${good}\n`);
    await expect(Journal.read(file)).rejects.toThrow(/journal\.jsonl:1: not a JSON line/);
    await fs.writeFile(file, `${JSON.stringify({ t: 'x', event: 'teleport' })}\n`);
    await expect(Journal.read(file)).rejects.toThrow(/journal\.jsonl:1: not a journal entry/);
  });
});
