import { mkdtempSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { Command } from 'commander';
import { UserInputError } from '@gan-study/core';
import { computeMetrics, register, runMetrics } from './metrics';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'study-metrics-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const BINARY = 'label,score\nmalignant,0.8\nbenign,0.1\nmalignant,0.4\nbenign,0.4\nbenign,0.8\nmalignant,0.8\n';
const opts = (input: string, json = true) => ({ input, json, bootstrap: 200, seed: 0 });

describe('study metrics', () => {
  it('--json prints one object with the headline metrics, per-class metrics and CIs (hand-computed binary case)', () => {
    const out = JSON.parse(runMetrics(opts(file('p.csv', BINARY))));
    // positives .8 .4 .8 vs negatives .1 .4 .8: (1 + .5 + 1 ... ) -> 6.5 of 9; predictions (> .5): m b b b m m
    expect(out.auc).toBeCloseTo(6.5 / 9, 12);
    expect(out.accuracy).toBeCloseTo(4 / 6, 12);
    expect(out.balancedAccuracy).toBeCloseTo(2 / 3, 12);
    expect(out.confusionMatrix).toEqual([
      [2, 1],
      [1, 2],
    ]);
    expect(out.classNames).toEqual(['benign', 'malignant']);
    expect(out.positiveClass).toBe('malignant');
    expect(out.perClass.benign).toEqual({ precision: 2 / 3, recall: 2 / 3, f1: 2 / 3, support: 3 });
    expect(out.ci.auc.lower).toBeLessThanOrEqual(out.auc);
    expect(out.ci.auc.upper).toBeGreaterThanOrEqual(out.auc);
    expect(out.bootstrap).toEqual({ resamples: 200, seed: 0, confidence: 0.95, method: 'percentile' });
    expect(out.rocCurves.malignant.thresholds[0]).toBeNull(); // +Infinity in JSON
  });

  it('multi-class: auc is the macro one-vs-rest AUC', () => {
    const csv = 'label,p_a,p_b,p_c\na,0.6,0.3,0.1\nb,0.2,0.5,0.3\nc,0.1,0.3,0.6\na,0.3,0.4,0.3\nb,0.4,0.3,0.3\nc,0.3,0.3,0.4\n';
    const out = computeMetrics(opts(file('m.csv', csv)));
    expect(out.auc).toBeCloseTo((6.5 / 8 + 5.5 / 8 + 1) / 3, 12);
    expect(out.aucMethod).toBe('macro-ovr');
  });

  it('prints a readable table without --json', () => {
    const text = runMetrics(opts(file('p.csv', BINARY), false));
    expect(text).toContain('accuracy            0.6667  95% CI [');
    expect(text).toContain('auc                 0.7222');
    expect(text).toContain('confusion matrix (rows true, columns predicted):');
    expect(text).toMatch(/malignant\s+1\s+2\n/);
  });

  it.each([
    ['label,score\na,0.5\nb,x\n', /bad\.csv:3: column 2 \(score\): non-numeric value 'x'/],
    ['label,p_a\na,0.5\n', /bad\.csv:1: only one 'p_<class>' column/],
    ['label,score\na,0.5\nb,0.5,1\n', /bad\.csv:3: 3 columns, expected 2/],
    ['lbl,score\na,0.5\n', /bad\.csv:1: unknown column 'lbl'/],
    ['label,score\na,0.5\na,0.7\n', /bad\.csv: column label has one class only/],
    ['label,p_a,p_b,p_c\na,0.5,0.3,0.2\nb,0.5,0.3,0.2\n', /bad\.csv: one-vs-rest AUC of class 2 is undefined/],
  ])('bad CSV %j is a UserInputError naming the file', (csv, message) => {
    const input = file('bad.csv', csv);
    expect(() => computeMetrics(opts(input))).toThrow(UserInputError);
    expect(() => computeMetrics(opts(input))).toThrow(message);
  });

  it('a missing file is a UserInputError', () => {
    expect(() => computeMetrics(opts(join(dir, 'none.csv')))).toThrow(/cannot read --input .*none\.csv: no such file/);
  });

  it('is registered on the program, parses its flags and writes to stdout', async () => {
    const program = new Command('study').exitOverride();
    register(program);
    const write = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      await program.parseAsync(['metrics', '--input', file('p.csv', BINARY), '--json', '--bootstrap', '20', '--seed', '3'], { from: 'user' });
      const out = JSON.parse(String(write.mock.calls[0][0]));
      expect(out.bootstrap).toMatchObject({ resamples: 20, seed: 3 });
    } finally {
      write.mockRestore();
    }
    const bad = new Command('study').exitOverride();
    register(bad);
    await expect(bad.parseAsync(['metrics', '--input', 'x.csv', '--bootstrap', '0'], { from: 'user' })).rejects.toThrow(
      "--bootstrap must be an integer >= 1, got '0'",
    );
  });
});
