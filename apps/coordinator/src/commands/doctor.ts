/**
 * `study doctor [--json]`: what this host can run. Node version, the tfjs backends that load and
 * the one `auto` would pick (probe logic in @gan-study/models, engine/probe.ts), the GPUs
 * nvidia-smi lists and whether libtensorflow sees them, and the versions of the native pieces
 * (tfjs, zeromq with CURVE support, sharp/libvips), and the data-set cache trainers here would
 * make the synthetic set in, with the key of the default study's set (hosts whose keys differ
 * would write other files, so their trainers ask the coordinator for the images). A library that
 * fails to load is reported, not thrown: diagnosing a broken install is the point of this command.
 */
import { promises as fs, constants as fsConstants } from 'fs';
import { createRequire } from 'module';
import * as path from 'path';
import { Command } from 'commander';
import { studyCacheDir } from '@gan-study/core';
import { probeBackends, type BackendsReport, type ProbeOptions } from '@gan-study/models';
import { profileDefaults } from '@gan-study/protocol';
import { syntheticRecipe } from '../coordinator/dataset';

export interface LibraryVersion {
  /** Version string, or null when the library did not load. */
  version: string | null;
  /** Why it did not load. */
  error?: string;
}

/** What `--json` prints. */
export interface DoctorReport {
  node: string;
  platform: string;
  backends: BackendsReport['backends'];
  /** The backend `--backend auto` would pick. */
  auto: BackendsReport['auto'];
  gpus: { nvidiaSmi: 'found' | 'not found' | 'failed'; list: Array<{ index: number; name: string; memoryMiB: number }>; error?: string };
  /** Whether libtensorflow runs on a GPU; null when the GPU binding is not loaded. */
  libtensorflowSeesGpu: boolean | null;
  versions: { tfjs: string; tfjsBackendWasm: string; zeromq: LibraryVersion & { libzmq?: string }; sharp: LibraryVersion & { libvips?: string } };
  /** ZeroMQ CURVE (encryption and authentication of coordinator/trainer links). */
  zeromqCurve: boolean | null;
  /**
   * The data-set cache (studyCacheDir; null: off), whether this user can write it (or make it), and
   * the key of the quick profile's synthetic set here (null when sharp did not load).
   */
  dataCache: { dir: string | null; writable: boolean | null; error?: string; quickSetKey: string | null };
}

function failure(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0];
}

async function zeromqInfo(): Promise<{ version: DoctorReport['versions']['zeromq']; curve: boolean | null }> {
  try {
    const zmq = await import('zeromq');
    const pkg = createRequire(__filename)('zeromq/package.json') as { version?: string };
    return { version: { version: pkg.version ?? null, libzmq: zmq.version }, curve: zmq.capability.curve === true };
  } catch (err) {
    return { version: { version: null, error: failure(err) }, curve: null };
  }
}

async function sharpInfo(): Promise<DoctorReport['versions']['sharp']> {
  try {
    const sharp = (await import('sharp')).default;
    return { version: sharp.versions.sharp ?? null, libvips: sharp.versions.vips };
  } catch (err) {
    return { version: null, error: failure(err) };
  }
}

async function dataCacheInfo(env: NodeJS.ProcessEnv): Promise<DoctorReport['dataCache']> {
  const dir = studyCacheDir(env);
  let quickSetKey: string | null = null;
  try {
    quickSetKey = (await import('@gan-study/data')).synthKey(syntheticRecipe(profileDefaults('quick')));
  } catch {
    // sharp did not load: reported on its own line
  }
  if (dir === null) return { dir, writable: null, quickSetKey };
  // The folder, or the nearest existing folder above it (where it would be made): no side effects.
  let probe = dir;
  for (;;) {
    try {
      await fs.access(probe, fsConstants.W_OK);
      return { dir, writable: true, quickSetKey };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' || path.dirname(probe) === probe) return { dir, writable: false, error: `${probe}: ${code ?? failure(err)}`, quickSetKey };
      probe = path.dirname(probe);
    }
  }
}

/** Collects the report. `probe` options let tests simulate bindings and nvidia-smi; `env` sets the cache. */
export async function collectDoctorReport(probe: ProbeOptions = {}, env: NodeJS.ProcessEnv = process.env): Promise<DoctorReport> {
  const b = await probeBackends(probe);
  const zmq = await zeromqInfo();
  const gpus: DoctorReport['gpus'] = b.gpus.found
    ? { nvidiaSmi: 'found', list: b.gpus.gpus }
    : { nvidiaSmi: b.gpus.error === 'nvidia-smi not found' ? 'not found' : 'failed', list: [], error: b.gpus.error };
  return {
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    backends: b.backends,
    auto: b.auto,
    gpus,
    libtensorflowSeesGpu: b.libtensorflowSeesGpu,
    versions: { tfjs: b.versions.tfjs, tfjsBackendWasm: b.versions.tfjsBackendWasm, zeromq: zmq.version, sharp: await sharpInfo() },
    zeromqCurve: zmq.curve,
    dataCache: await dataCacheInfo(env),
  };
}

const yesNo = (v: boolean | null, unknown: string) => (v === null ? unknown : v ? 'yes' : 'no');
const lib = (v: LibraryVersion, extra?: string) => (v.version === null ? `failed to load (${v.error})` : extra ? `${v.version} (${extra})` : v.version);

/** The human-readable form: one fact a line. */
export function formatDoctorReport(r: DoctorReport): string {
  const lines = [`node        ${r.node} (${r.platform})`, 'backends'];
  for (const b of r.backends) lines.push(`  ${b.available ? 'ok ' : '-- '} ${b.name.padEnd(15)} ${b.detail}`);
  lines.push(`auto        ${r.auto}`);
  if (r.gpus.nvidiaSmi === 'found') {
    lines.push(`gpus        ${r.gpus.list.length === 0 ? 'none listed by nvidia-smi' : r.gpus.list.map((g) => `${g.index}: ${g.name} (${g.memoryMiB} MiB)`).join('; ')}`);
  } else {
    lines.push(`gpus        ${r.gpus.error}`);
  }
  lines.push(`libtensorflow sees GPU  ${yesNo(r.libtensorflowSeesGpu, 'n/a (tfjs-node-gpu not loaded)')}`);
  lines.push(`tfjs        ${r.versions.tfjs} (wasm backend ${r.versions.tfjsBackendWasm})`);
  lines.push(`zeromq      ${lib(r.versions.zeromq, r.versions.zeromq.libzmq && `libzmq ${r.versions.zeromq.libzmq}`)}`);
  lines.push(`zmq CURVE   ${yesNo(r.zeromqCurve, 'unknown (zeromq did not load)')}`);
  lines.push(`sharp       ${lib(r.versions.sharp, r.versions.sharp.libvips && `libvips ${r.versions.sharp.libvips}`)}`);
  const c = r.dataCache;
  lines.push(`data cache  ${c.dir === null ? 'off (STUDY_CACHE_DIR=off): trainers here ask the coordinator for synthetic images' : `${c.dir} (${c.writable ? 'writable' : `not writable: ${c.error}; trainers here ask the coordinator for synthetic images`})`}`);
  lines.push(`synthetic set key (quick profile)  ${c.quickSetKey ?? 'n/a (sharp did not load)'}: hosts with the same key make the same files`);
  return lines.join('\n') + '\n';
}

export function register(program: Command): void {
  program
    .command('doctor')
    .description('check this host: node, tfjs backends (and which auto picks), GPUs, zeromq/CURVE, sharp, the data-set cache')
    .option('--json', 'print one JSON object instead of text', false)
    .action(async (opts: { json: boolean }) => {
      const report = await collectDoctorReport();
      process.stdout.write(opts.json ? JSON.stringify(report, null, 2) + '\n' : formatDoctorReport(report));
    });
}
