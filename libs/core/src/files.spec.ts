import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import * as path from 'path';
import { readJson, writeFileAtomic, writeJsonAtomic } from './files';

describe('atomic writes', () => {
  it('replaces a file whole and leaves no temporary behind', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'core-'));
    const file = path.join(dir, 'sub', 'a.json');
    await writeJsonAtomic(file, { a: 1 });
    await writeFileAtomic(file, '{"a":2}');
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ a: 2 });
    expect(readdirSync(path.dirname(file))).toEqual(['a.json']);
  });

  it('names the file when JSON is malformed', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'core-'));
    const file = path.join(dir, 'bad.json');
    writeFileSync(file, '{oops');
    await expect(readJson(file)).rejects.toThrow(`${file}: not valid JSON`);
  });
});
