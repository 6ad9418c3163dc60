/**
 * GPUs as the NVIDIA driver sees them, through
 * `nvidia-smi --query-gpu=index,name,memory.total --format=csv,noheader`.
 */
import { spawnSync } from 'child_process';

export interface GpuInfo {
  index: number;
  name: string;
  /** Total memory in MiB. */
  memoryMiB: number;
}

export type GpuListing = { found: true; gpus: GpuInfo[] } | { found: false; gpus: []; error: string };

/** Runs a command and returns its stdout; throws with code 'ENOENT' when the command is missing. */
export type CommandRunner = (cmd: string, args: string[]) => { status: number | null; stdout: string; stderr: string; error?: NodeJS.ErrnoException };

export const NVIDIA_SMI_ARGS = ['--query-gpu=index,name,memory.total', '--format=csv,noheader'];

const runCommand: CommandRunner = (cmd, args) => {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 10_000 });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '', error: r.error as NodeJS.ErrnoException | undefined };
};

/**
 * Parses nvidia-smi's CSV, one GPU a line: `0, NVIDIA A100-SXM4-40GB, 40960 MiB`.
 * Throws naming the line when one does not have that form.
 */
export function parseNvidiaSmiCsv(text: string): GpuInfo[] {
  const gpus: GpuInfo[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    const parts = line.split(',').map((p) => p.trim());
    // GPU names may contain commas: index first, memory last, the name is everything between.
    const index = Number(parts[0]);
    const mem = /^(\d+)\s*MiB$/.exec(parts[parts.length - 1] ?? '');
    if (parts.length < 3 || !Number.isInteger(index) || !mem) throw new Error(`nvidia-smi output line is not 'index, name, memory MiB': '${line}'`);
    gpus.push({ index, name: parts.slice(1, -1).join(', '), memoryMiB: Number(mem[1]) });
  }
  return gpus;
}

/** Lists GPUs with nvidia-smi; `found: false` with the reason when it is absent or fails. */
export function listGpus(run: CommandRunner = runCommand): GpuListing {
  const r = run('nvidia-smi', NVIDIA_SMI_ARGS);
  if (r.error) {
    return { found: false, gpus: [], error: r.error.code === 'ENOENT' ? 'nvidia-smi not found' : `nvidia-smi failed: ${r.error.message}` };
  }
  if (r.status !== 0) return { found: false, gpus: [], error: `nvidia-smi exited with ${r.status}: ${(r.stderr || r.stdout).trim().split('\n')[0]}` };
  try {
    return { found: true, gpus: parseNvidiaSmiCsv(r.stdout) };
  } catch (err) {
    return { found: false, gpus: [], error: (err as Error).message };
  }
}
