import { promises as fs } from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Command } from 'commander';
import { writeFixtureRun } from '../report/fixture';
import { register } from './status';

jest.setTimeout(30_000);

let tmp: string;
beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'status-cmd-'));
});
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

async function run(args: string[]): Promise<string> {
  const program = new Command('study').exitOverride();
  register(program);
  let out = '';
  const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  try {
    await program.parseAsync(args, { from: 'user' });
  } finally {
    spy.mockRestore();
  }
  return out;
}

it('study status DIR prints the table; --json prints the snapshot with its source and age', async () => {
  const fx = await writeFixtureRun(path.join(tmp, 'done'));
  const text = await run(['status', fx.dir]);
  expect(text).toMatch(/^status done: jobs 29\/29 done, 0 running, 0 queued, 0 waiting, 0 failed, 0 skipped/);
  expect(text).toContain(`study finished; report: study report ${fx.dir}`);
  const json = JSON.parse(await run(['status', fx.dir, '--json'])) as Record<string, unknown>;
  expect(json.counts).toMatchObject({ done: 29, total: 29 });
  expect(json.snapshotSource).toBe('status.json');
  expect(json.stale).toBe(false);
  expect(typeof json.snapshotAgeMs).toBe('number');
});
