import { parsePredictionsCsv, splitCsvLine } from './csv';
import { MetricsInputError } from './errors';

describe('splitCsvLine', () => {
  it.each([
    { line: 'a,b,c', fields: ['a', 'b', 'c'] },
    { line: ' a , b ,c ', fields: ['a', 'b', 'c'] },
    { line: '"x,y",0.5', fields: ['x,y', '0.5'] },
    { line: '"say ""hi""", 1', fields: ['say "hi"', '1'] },
    { line: 'a,,', fields: ['a', '', ''] },
  ])('$line', ({ line, fields }) => {
    expect(splitCsvLine(line, 'f:1')).toEqual(fields);
  });

  it('rejects an unterminated quote and text after a closing quote', () => {
    expect(() => splitCsvLine('"abc,1', 'f.csv:3')).toThrow('f.csv:3: unterminated quoted field starting at character 1');
    expect(() => splitCsvLine('"a"b,1', 'f.csv:3')).toThrow('f.csv:3: unexpected text after the quoted field at character 4');
  });
});

describe('parsePredictionsCsv: good files', () => {
  it('score column with class names: classes sorted, positive = second', () => {
    const t = parsePredictionsCsv('label,score\nmalignant,0.9\nbenign,0.2\r\n\nmalignant,0.4\n', 'p.csv');
    expect(t.classNames).toEqual(['benign', 'malignant']);
    expect(t.labels).toEqual([1, 0, 1]);
    expect(t.probs).toEqual([
      [1 - 0.9, 0.9],
      [0.8, 0.2],
      [0.6, 0.4],
    ]);
    expect(t.format).toBe('score');
    expect(t.lines).toEqual([2, 3, 5]);
  });

  it('score column with index labels; integer names sort numerically', () => {
    expect(parsePredictionsCsv('label,score\n1,0.7\n0,0.1\n', 'p.csv')).toMatchObject({ classNames: ['0', '1'], labels: [1, 0] });
    expect(parsePredictionsCsv('label,score\n10,0.7\n9,0.1\n', 'p.csv')).toMatchObject({ classNames: ['9', '10'], labels: [1, 0] });
  });

  it('p_<class> columns, reordered into sorted class order, labels by name or by index', () => {
    const byName = parsePredictionsCsv('label,p_nevus,p_bcc,p_melanoma\nbcc,0.2,0.7,0.1\nnevus,0.5,0.2,0.3\n', 'm.csv');
    expect(byName.classNames).toEqual(['bcc', 'melanoma', 'nevus']);
    expect(byName.labels).toEqual([0, 2]);
    expect(byName.probs).toEqual([
      [0.7, 0.1, 0.2],
      [0.2, 0.3, 0.5],
    ]);
    const byIndex = parsePredictionsCsv('p_b,label,p_a\n0.3,1,0.7\n0.6,0,0.4\n', 'm.csv');
    expect(byIndex).toMatchObject({ classNames: ['a', 'b'], labels: [1, 0], format: 'per-class' });
    expect(byIndex.probs).toEqual([
      [0.7, 0.3],
      [0.4, 0.6],
    ]);
  });

  it('ignores a leading byte-order mark', () => {
    expect(parsePredictionsCsv('\uFEFFlabel,score\na,0.1\nb,0.9\n', 'p.csv').labels).toEqual([0, 1]);
  });

  it('quoted fields', () => {
    expect(parsePredictionsCsv('"label","score"\n"a, b",0.5\nc,"0.25"\n', 'q.csv')).toMatchObject({
      classNames: ['a, b', 'c'],
      labels: [0, 1],
    });
  });
});

describe('parsePredictionsCsv: bad files name the file, line and column', () => {
  it.each([
    ['', 'p.csv: empty file'],
    ['label,score\n', 'p.csv: no data rows after the header'],
    ['score\n0.5\n', "p.csv:1: missing column 'label'"],
    ['label\na\n', "p.csv:1: missing column 'score' (two classes) or 'p_<class>' columns"],
    ['label,prob\na,0.5\n', "p.csv:1: unknown column 'prob' (column 2)"],
    ['label,score,score\na,0.5,0.5\n', "p.csv:1: column 'score' appears twice"],
    ['label,score,p_a\na,0.5,0.5\n', "p.csv:1: both 'score' and 'p_<class>' columns"],
    ['label,p_a\na,0.5\n', "p.csv:1: only one 'p_<class>' column (p_a)"],
    ['label,score\na,0.5\nb,0.5,7\n', 'p.csv:3: 3 columns, expected 2 as in the header'],
    ['label,score\na,0.5\nb\n', 'p.csv:3: 1 columns, expected 2 as in the header'],
    ['label,score\na,0.5\nb,high\n', "p.csv:3: column 2 (score): non-numeric value 'high'"],
    ['label,score\na,0.5\n\nb,\n', 'p.csv:4: column 2 (score): empty value, expected a probability'],
    ['label,score\na,NaN\nb,0.5\n', "p.csv:2: column 2 (score): value 'NaN' is not finite"],
    ['label,score\na,0.1\nb,-inf\n', "p.csv:3: column 2 (score): value '-inf' is not finite"],
    ['label,score\na,0.1\nb,1.5\n', 'p.csv:3: column 2 (score): probability 1.5 is outside [0, 1]'],
    ['label,score\na,0.1\n,0.2\n', 'p.csv:3: column 1 (label): empty label'],
    ['label,score\na,0.1\na,0.2\n', "p.csv: column label has one class only ('a'); AUC needs both classes"],
    ['label,score\na,0.1\nb,0.2\nc,0.3\n', "p.csv: a 'score' column is for two classes, but column label has 3 (a, b, c)"],
    ['label,p_a,p_b\na,0.5,0.5\nc,0.5,0.5\n', "p.csv:3: column 1 (label): label 'c' is neither a class name (a, b) nor a class index 0..1"],
    ['label,p_a,p_b\n0,0.5,0.5\n2,0.5,0.5\n', "p.csv:3: column 1 (label): label '2' is neither a class name (a, b) nor a class index 0..1"],
    ['label,p_a,p_b\na,0.5,0.5\n1,0.5,0.5\n', "p.csv:3: column 1 (label): label '1' is a class index but line 2 uses a class name"],
  ])('%j', (text, message) => {
    expect(() => parsePredictionsCsv(text, 'p.csv')).toThrow(MetricsInputError);
    expect(() => parsePredictionsCsv(text, 'p.csv')).toThrow(message);
  });
});
