import { decodeGenerated, encodeGenerated } from './jobs';

describe('generated images artifact', () => {
  const images = new Float32Array([-1, 1, 0, 0.5, -0.5, 0.25, 1, -1, 0.1, 0.2, 0.3, 0.4]);
  const g = { count: 1, size: 2, images };

  it('round-trips uint8 within one quantisation step', () => {
    const back = decodeGenerated(encodeGenerated(g, 'uint8'));
    expect(back.count).toBe(1);
    expect(back.size).toBe(2);
    for (let i = 0; i < images.length; i++) expect(Math.abs(back.images[i] - images[i])).toBeLessThanOrEqual(1 / 127.5);
    expect(back.images[0]).toBe(-1);
    expect(back.images[1]).toBe(1);
  });

  it('round-trips float32 exactly', () => {
    const back = decodeGenerated(encodeGenerated(g, 'float32'));
    expect(Array.from(back.images)).toEqual(Array.from(images));
  });

  it('uint8 is a quarter of float32 plus the header', () => {
    expect(encodeGenerated(g, 'uint8').length).toBe(20 + 12);
    expect(encodeGenerated(g, 'float32').length).toBe(20 + 48);
  });

  it('rejects a wrong value count, bad magic, and truncated bytes', () => {
    expect(() => encodeGenerated({ count: 2, size: 2, images })).toThrow(/expected 2x2x2x3 = 24 values, got 12/);
    expect(() => decodeGenerated(new Uint8Array(30), 'gan-x/generated.bin')).toThrow(/gan-x\/generated.bin: not a GIMG/);
    const bytes = encodeGenerated(g);
    expect(() => decodeGenerated(bytes.subarray(0, bytes.length - 1))).toThrow(/expected 32 bytes/);
  });
});
