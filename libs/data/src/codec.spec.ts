import { decodeImageSet, encodeImageSet } from './codec';
import { fakeImageSet } from './testing';

describe('encodeImageSet / decodeImageSet', () => {
  const set = fakeImageSet({ size: 5, classes: ['a', 'b', 'c'], perClass: [2, 1, 3], seed: 3 });

  it('round-trips float32 pixels exactly', () => {
    const back = decodeImageSet(encodeImageSet(set));
    expect(back).toEqual(set);
  });

  it('round-trips uint8 pixels to within half a level, and is about four times smaller', () => {
    const f = encodeImageSet(set);
    const u = encodeImageSet(set, { pixels: 'uint8' });
    expect(u.length).toBeLessThan(f.length / 2.5);
    const back = decodeImageSet(u);
    expect(back.files).toEqual(set.files);
    expect(back.labels).toEqual(set.labels);
    for (let i = 0; i < set.images.length; i++) expect(Math.abs(back.images[i] - set.images[i])).toBeLessThanOrEqual(0.5 / 127.5 + 1e-6);
  });

  it('decodes from a Buffer at an odd offset (copied, not viewed)', () => {
    const bytes = encodeImageSet(set);
    const padded = Buffer.alloc(bytes.length + 3);
    padded.set(bytes, 3);
    expect(decodeImageSet(padded.subarray(3))).toEqual(set);
  });

  it('rejects malformed bytes, naming the source and the fault', () => {
    const bytes = encodeImageSet(set);
    expect(() => decodeImageSet(bytes.subarray(0, bytes.length - 1), 'job 7 data')).toThrow(/job 7 data: length \d+ bytes, expected \d+ for 6 images of 5x5/);
    const bad = bytes.slice();
    bad[0] = 0x41;
    expect(() => decodeImageSet(bad)).toThrow(/bad magic/);
    expect(() => decodeImageSet(new Uint8Array(4))).toThrow(/too short/);
    const wrongLabel = { ...set, labels: Int32Array.from(set.labels) };
    wrongLabel.labels[0] = 9;
    expect(() => encodeImageSet(wrongLabel)).toThrow(/label 9 of image 0/);
  });
});
