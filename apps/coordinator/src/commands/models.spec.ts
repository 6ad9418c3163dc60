import * as tf from '@tensorflow/tfjs';
import { Command } from 'commander';
import { UserInputError } from '@gan-study/core';
import { describeModelAt, parseModelList, register, runModels, selectedModels } from './models';

beforeAll(async () => {
  await tf.setBackend('cpu');
  // tfjs warns once (console.warn) on its first tensor; let that happen before stdout is captured.
  tf.tensor1d([1]).dispose();
});
afterAll(async () => {
  await tf.setBackend('cpu');
});

function program(): Command {
  const p = new Command('study').exitOverride();
  p.commands.forEach((c) => c.exitOverride());
  register(p);
  p.commands.forEach((c) => c.exitOverride());
  return p;
}

async function stdoutOf(argv: string[]): Promise<string> {
  const writes: string[] = [];
  const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    writes.push(String(chunk));
    return true;
  });
  try {
    await program().parseAsync(argv, { from: 'user' });
  } finally {
    spy.mockRestore();
  }
  return writes.join('');
}

describe('study models', () => {
  it('prints the documented JSON for one model at the reference size: pytorch/examples DCGAN counts', async () => {
    const out = await stdoutOf(['models', '--model', 'dcgan', '--json', '--backend', 'wasm']);
    expect(JSON.parse(out)).toEqual({ model: 'dcgan', size: 64, networks: { generator: { params: 3_576_704 }, discriminator: { params: 2_765_568 } } });
  }, 120_000);

  it('honours --size, counting parameters that change with it', async () => {
    const out = JSON.parse(await stdoutOf(['models', '--model', 'classifier', '--size', '16', '--json', '--backend', 'cpu']));
    // conv1 3*32*9+32, conv2 32*64*9+64, fc1 (4*4*64)*128+128, out 128*2+2
    expect(out).toEqual({ model: 'classifier', size: 16, networks: { classifier: { params: 896 + 18_496 + 131_200 + 258 } } });
    const dcgan = JSON.parse(await stdoutOf(['models', '--model', 'dcgan', '--size', '16', '--json']));
    // G: 100*16*128 + bn 256, 4*4*128*64 + bn 128, 4*4*64*3; D: 4*4*3*64, 4*4*64*128 + bn 256, 4*4*128
    expect(dcgan.networks).toEqual({ generator: { params: 204_800 + 256 + 131_072 + 128 + 3072 }, discriminator: { params: 3072 + 131_072 + 256 + 2048 } });
  });

  it('prints a table of layers, output shapes and parameters', async () => {
    const text = await stdoutOf(['models', '--model', 'dcgan', '--size', '16']);
    expect(text).toMatch(/^dcgan at 16x16 px: 475,776 trainable parameters$/m);
    expect(text).toMatch(/^ {2}generator: 339,328 trainable parameters$/m);
    expect(text).toMatch(/^ {4}proj\+bn\+relu\s+\[-1, 4, 4, 128\]\s+205,056$/m);
    expect(text).toMatch(/^ {4}out\s+\[-1, 1, 1, 1\]\s+2,048$/m);
  });

  it('prints an array in --json for a list of models, and selects all four without --model', async () => {
    // All four at once cost a PGGAN at full width (tens of millions of weights), so the array form is
    // checked on three models; the default selection is the four in order.
    expect(selectedModels(undefined)).toEqual(['classifier', 'dcgan', 'pggan', 'cyclegan']);
    const writes: string[] = [];
    const described = await runModels({ model: ['cyclegan', 'classifier', 'dcgan'], json: true, size: 32, backend: 'wasm' }, { write: (t) => writes.push(t) });
    expect(tf.getBackend()).toBe('wasm');
    const json = JSON.parse(writes.join(''));
    expect(Array.isArray(json)).toBe(true);
    expect(json.map((j: { model: string; size: number }) => [j.model, j.size])).toEqual([
      ['cyclegan', 32],
      ['classifier', 32],
      ['dcgan', 32],
    ]);
    // Each entry is exactly {"model", "size", "networks": {"<name>": {"params": N}}}, with the describe() counts.
    json.forEach((j: { networks: Record<string, { params: number }> }, i: number) => {
      expect(Object.keys(j).sort()).toEqual(['model', 'networks', 'size']);
      expect(j.networks).toEqual(Object.fromEntries(described[i].networks.map((n) => [n.name, { params: n.params }])));
    });
    expect(Object.keys(json[0].networks).length).toBe(4); // two generators, two discriminators
    expect(json[2].networks.generator.params).toBe(1_068_928); // DCGAN at 32 px: 100*16*256 + 512 + 4*4*256*128 + 256 + 4*4*128*64 + 128 + 4*4*64*3
    expect(parseModelList('dcgan')).toBe('dcgan');
    expect(parseModelList('dcgan, pggan')).toEqual(['dcgan', 'pggan']);
  }, 180_000);

  it('rejects a size a model cannot take, and unknown models, as bad input', async () => {
    expect(() => describeModelAt('dcgan', 48)).toThrow(UserInputError);
    expect(() => describeModelAt('dcgan', 48)).toThrow('--size 48 does not fit dcgan: dcgan resolution must be a power of two >= 16, got 48');
    expect(() => describeModelAt('cyclegan', 16)).toThrow(/--size 16 does not fit cyclegan: .*too small/);
    await expect(stdoutOf(['models', '--size', 'big'])).rejects.toThrow("--size must be an integer in [4, 4096] (pixels), got 'big'");
    await expect(stdoutOf(['models', '--model', 'vgg'])).rejects.toThrow("--model must name one or more of classifier, dcgan, pggan, cyclegan (comma-separated), got 'vgg'");
    expect(() => parseModelList('dcgan,dcgan')).toThrow("--model names a model twice: 'dcgan,dcgan'");
  });
});
