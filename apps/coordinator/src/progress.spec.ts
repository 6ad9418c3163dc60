import { terminalProgress } from './progress';

describe('terminal progress', () => {
  it('draws on a terminal and stays silent otherwise', () => {
    const writes: string[] = [];
    const spy = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      writes.push(String(chunk));
      return true;
    });
    try {
      const quiet = terminalProgress('decoding', 'images', false);
      quiet.update(1, 10);
      quiet.stop();
      expect(writes).toEqual([]);
      const bar = terminalProgress('decoding', 'images', true);
      bar.update(5, 10, 'train');
      bar.update(10, 10, 'train');
      bar.stop();
      expect(writes.join('')).toContain('decoding train [');
      expect(writes.join('')).toContain('10/10 images 100%');
    } finally {
      spy.mockRestore();
    }
  });
});
