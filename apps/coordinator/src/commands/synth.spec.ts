import { mkdtempSync, readdirSync, rmSync, existsSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { Command } from 'commander';
import { UserInputError } from '@gan-study/core';
import { parseCounts, register } from './synth';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'study-synth-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function program(): Command {
  const p = new Command('study').exitOverride();
  register(p);
  return p;
}

describe('parseCounts', () => {
  it('reads the named, positional and per-class forms', () => {
    expect(parseCounts('train:1440,1197/test:360,300', 2)).toEqual({ train: [1440, 1197], test: [360, 300] });
    expect(parseCounts('test:3,4/train:1,2', 2)).toEqual({ train: [1, 2], test: [3, 4] });
    expect(parseCounts('10,20,30/1,2,3', 3)).toEqual({ train: [10, 20, 30], test: [1, 2, 3] });
    expect(parseCounts('300/100', 4)).toEqual({ train: [300, 300, 300, 300], test: [100, 100, 100, 100] });
  });

  it('rejects malformed specs, quoting them', () => {
    expect(() => parseCounts('1440,1197', 2)).toThrow(UserInputError);
    expect(() => parseCounts('1440,1197', 2)).toThrow(/--counts must look like .* got '1440,1197'/);
    expect(() => parseCounts('1,2,3/4,5', 2)).toThrow(/train has 3 counts for 2 classes/);
    expect(() => parseCounts('train:1,x/test:1,1', 2)).toThrow(/train counts must be positive integers, got '1,x'/);
    expect(() => parseCounts('train:1,2/train:1,1', 2)).toThrow(/name both halves/);
    expect(() => parseCounts('0/1', 2)).toThrow(/positive integers/);
  });
});

describe('study synth', () => {
  it('writes the set and prints a summary that says it is not medical data', async () => {
    const out = join(dir, 'set');
    const writes: string[] = [];
    const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      writes.push(String(chunk));
      return true;
    });
    try {
      await program().parseAsync(['synth', '--out', out, '--size', '16', '--counts', 'train:3,2/test:1,1', '--seed', '5', '--preview', join(dir, 'p.png')], { from: 'user' });
    } finally {
      spy.mockRestore();
    }
    expect(readdirSync(join(out, 'train', 'benign'))).toEqual(['0000.jpg', '0001.jpg', '0002.jpg']);
    expect(readdirSync(join(out, 'test', 'malignant'))).toEqual(['0000.jpg']);
    expect(existsSync(join(dir, 'p.png'))).toBe(true);
    const text = writes.join('');
    expect(text).toMatch(/wrote 7 images to .*set \(16x16 jpg, seed 5, overlap 0\.3\)/);
    expect(text).toMatch(/benign\s+3\s+1/);
    expect(text).toMatch(/malignant\s+2\s+1/);
    expect(text).toMatch(/not medical results/);
  });

  it('rejects a bad flag value with the value', async () => {
    await expect(program().parseAsync(['synth', '--out', join(dir, 'x'), '--size', '7'], { from: 'user' })).rejects.toThrow(/--size must be an integer in \[8, 1024\], got '7'/);
    await expect(program().parseAsync(['synth', '--out', join(dir, 'x'), '--classes', 'benign,wart', '--size', '16'], { from: 'user' })).rejects.toThrow(/synthetic class "wart" has no lesion profile/);
  });
});
