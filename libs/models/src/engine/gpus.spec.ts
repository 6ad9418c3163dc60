import { listGpus, NVIDIA_SMI_ARGS, parseNvidiaSmiCsv, type CommandRunner } from './gpus';

describe('parseNvidiaSmiCsv', () => {
  it('reads one GPU a line, names with commas included', () => {
    expect(parseNvidiaSmiCsv('0, NVIDIA A100-SXM4-40GB, 40960 MiB\n1, Tesla T4, rev, 2, 15360 MiB\n\n')).toEqual([
      { index: 0, name: 'NVIDIA A100-SXM4-40GB', memoryMiB: 40960 },
      { index: 1, name: 'Tesla T4, rev, 2', memoryMiB: 15360 },
    ]);
    expect(parseNvidiaSmiCsv('')).toEqual([]);
  });

  it('names the line it cannot read', () => {
    expect(() => parseNvidiaSmiCsv('0, GPU, [N/A]')).toThrow("nvidia-smi output line is not 'index, name, memory MiB': '0, GPU, [N/A]'");
  });
});

describe('listGpus', () => {
  const runner = (r: ReturnType<CommandRunner>): CommandRunner & { seen: string[][] } => {
    const seen: string[][] = [];
    return Object.assign((cmd: string, args: string[]) => (seen.push([cmd, ...args]), r), { seen });
  };

  it('runs nvidia-smi with the CSV query', () => {
    const run = runner({ status: 0, stdout: '0, NVIDIA L4, 23034 MiB\n', stderr: '' });
    expect(listGpus(run)).toEqual({ found: true, gpus: [{ index: 0, name: 'NVIDIA L4', memoryMiB: 23034 }] });
    expect(run.seen).toEqual([['nvidia-smi', ...NVIDIA_SMI_ARGS]]);
  });

  it("says 'nvidia-smi not found' when it is not installed", () => {
    const error = Object.assign(new Error('spawnSync nvidia-smi ENOENT'), { code: 'ENOENT' });
    expect(listGpus(runner({ status: null, stdout: '', stderr: '', error }))).toEqual({ found: false, gpus: [], error: 'nvidia-smi not found' });
  });

  it('reports a failing driver with its first line', () => {
    const r = listGpus(runner({ status: 9, stdout: '', stderr: 'NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver.\nMore' }));
    expect(r).toEqual({ found: false, gpus: [], error: 'nvidia-smi exited with 9: NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver.' });
  });
});
