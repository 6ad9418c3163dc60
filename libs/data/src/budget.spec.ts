import { UserInputError } from '@gan-study/core';
import { classIndices, indicesOfFiles, selectBudget, selectBudgetFiles, subsetImageSet } from './budget';
import { fakeImageSet } from './testing';

describe('subsetImageSet', () => {
  it('copies the chosen images, labels and files in the given order', () => {
    const set = fakeImageSet({ size: 4, perClass: [3, 2] });
    const sub = subsetImageSet(set, [4, 0]);
    const stride = 4 * 4 * 3;
    expect(Array.from(sub.labels)).toEqual([1, 0]);
    expect(sub.files).toEqual([set.files[4], set.files[0]]);
    expect(sub.images.subarray(0, stride)).toEqual(set.images.subarray(4 * stride, 5 * stride));
    expect(sub.images.subarray(stride)).toEqual(set.images.subarray(0, stride));
    sub.images[0] = 42;
    expect(set.images[4 * stride]).not.toBe(42);
  });

  it('rejects an index out of range', () => {
    expect(() => subsetImageSet(fakeImageSet(), [0, 8])).toThrow(/subset index 8 is out of range \(set has 8 images\)/);
  });
});

describe('budgets', () => {
  const set = fakeImageSet({ size: 2, classes: ['benign', 'malignant'], perClass: [30, 600] });

  it('classIndices lists one class, and an unknown class is an error naming it', () => {
    expect(classIndices(set, 'benign')).toEqual(Array.from({ length: 30 }, (_, i) => i));
    expect(() => classIndices(set, 'nevus')).toThrow(UserInputError);
    expect(() => classIndices(set, 'nevus')).toThrow(/unknown class "nevus" \(classes: benign, malignant\)/);
  });

  it('are nested, sorted, of the class only, and deterministic per seed', () => {
    const chosen = [50, 100, 200, 500].map((k) => selectBudget(set, 'malignant', k, 7));
    for (let j = 0; j < chosen.length; j++) {
      expect(new Set(chosen[j]).size).toBe([50, 100, 200, 500][j]);
      expect(chosen[j]).toEqual(chosen[j].slice().sort((a, b) => a - b));
      for (const i of chosen[j]) expect(set.labels[i]).toBe(1);
      if (j > 0) for (const i of chosen[j - 1]) expect(chosen[j]).toContain(i);
    }
    expect(selectBudget(set, 'malignant', 100, 7)).toEqual(chosen[1]);
    expect(selectBudget(set, 'malignant', 100, 8)).not.toEqual(chosen[1]);
    // Not simply the first files.
    expect(chosen[0]).not.toEqual(Array.from({ length: 50 }, (_, i) => 30 + i));
  });

  it('depend on file names, not on the order of the set', () => {
    const reversed = subsetImageSet(set, Array.from({ length: set.labels.length }, (_, i) => set.labels.length - 1 - i));
    expect(selectBudgetFiles(reversed, 'malignant', 50, 3)).toEqual(selectBudgetFiles(set, 'malignant', 50, 3));
    const files = selectBudgetFiles(set, 'malignant', 50, 3);
    expect(files).toEqual(files.slice().sort());
    expect(indicesOfFiles(set, files)).toEqual(selectBudget(set, 'malignant', 50, 3));
    expect(() => indicesOfFiles(set, ['train/x/1.png'])).toThrow(/file train\/x\/1\.png is not in the image set/);
  });

  it('reject a budget larger than the class or not an integer', () => {
    expect(() => selectBudget(set, 'benign', 31, 0)).toThrow(/budget 31 for class "benign" exceeds its 30 images/);
    expect(() => selectBudget(set, 'benign', 2.5, 0)).toThrow(/budget must be a non-negative integer, got 2.5/);
    expect(selectBudget(set, 'benign', 0, 0)).toEqual([]);
  });
});
