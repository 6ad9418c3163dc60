import { spawnSync } from 'child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { profileDefaults } from '@gan-study/protocol';
import { prepareDataset } from '../coordinator/dataset';
import { collectDoctorReport, formatDoctorReport, type DoctorReport } from './doctor';

const notInstalled = (name: string) => {
  throw Object.assign(new Error(`Cannot find module '${name}'`), { code: 'MODULE_NOT_FOUND' });
};

/** The JSON contract of `study doctor --json`: every key, with its type. */
function expectReportShape(r: DoctorReport): void {
  expect(Object.keys(r).sort()).toEqual(['auto', 'backends', 'dataCache', 'gpus', 'libtensorflowSeesGpu', 'node', 'platform', 'versions', 'zeromqCurve']);
  expect(r.dataCache.quickSetKey).toMatch(/^[0-9a-f]{16}$/);
  expect(r.node).toBe(process.version);
  expect(r.backends.map((b) => b.name)).toEqual(['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu']);
  for (const b of r.backends) {
    expect(typeof b.available).toBe('boolean');
    expect(b.detail.length).toBeGreaterThan(0);
  }
  // auto picks the first available backend in order of preference
  expect(r.auto).toBe(r.backends.find((b) => b.available)?.name);
  expect(['found', 'not found', 'failed']).toContain(r.gpus.nvidiaSmi);
  expect(Array.isArray(r.gpus.list)).toBe(true);
  expect(r.versions.tfjs).toMatch(/^\d+\.\d+\.\d+/);
  expect(r.versions.zeromq.version).toMatch(/^\d+\.\d+\.\d+/);
  expect(r.versions.zeromq.libzmq).toMatch(/^\d+\.\d+\.\d+/);
  expect(r.versions.sharp.version).toMatch(/^\d+\.\d+\.\d+/);
  expect(typeof r.zeromqCurve).toBe('boolean');
}

describe('study doctor', () => {
  it('collects backends, auto choice, GPUs, libtensorflow, versions and CURVE', async () => {
    const r = await collectDoctorReport({
      loadModule: notInstalled,
      listGpus: () => ({ found: true, gpus: [{ index: 0, name: 'NVIDIA L4', memoryMiB: 23034 }] }),
    });
    expectReportShape(r);
    expect(r.backends.slice(0, 2).map((b) => [b.available, b.detail])).toEqual([
      [false, '@tensorflow/tfjs-node-gpu not installed'],
      [false, '@tensorflow/tfjs-node not installed'],
    ]);
    expect(r.auto).toBe('wasm');
    expect(r.gpus).toEqual({ nvidiaSmi: 'found', list: [{ index: 0, name: 'NVIDIA L4', memoryMiB: 23034 }] });
    expect(r.libtensorflowSeesGpu).toBeNull();

    const text = formatDoctorReport(r);
    expect(text).toContain(`node        ${process.version}`);
    expect(text).toContain('auto        wasm');
    expect(text).toContain('gpus        0: NVIDIA L4 (23034 MiB)');
    expect(text).toContain('libtensorflow sees GPU  n/a (tfjs-node-gpu not loaded)');
    expect(text).toMatch(/zmq CURVE {3}(yes|no)\n/);
  });

  it("says 'nvidia-smi not found' when it is absent, and why when it fails", async () => {
    const absent = await collectDoctorReport({ loadModule: notInstalled, listGpus: () => ({ found: false, gpus: [], error: 'nvidia-smi not found' }) });
    expect(absent.gpus).toEqual({ nvidiaSmi: 'not found', list: [], error: 'nvidia-smi not found' });
    expect(formatDoctorReport(absent)).toContain('gpus        nvidia-smi not found');
    const failed = await collectDoctorReport({ loadModule: notInstalled, listGpus: () => ({ found: false, gpus: [], error: 'nvidia-smi exited with 9: no driver' }) });
    expect(failed.gpus.nvidiaSmi).toBe('failed');
  });

  it('names the data-set cache, whether it can be written, and the key of the quick profile\'s synthetic set', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'doctor-'));
    try {
      const fresh = await collectDoctorReport({ loadModule: notInstalled }, { STUDY_CACHE_DIR: join(tmp, 'not', 'yet') });
      expect(fresh.dataCache).toEqual({ dir: join(tmp, 'not', 'yet'), writable: true, quickSetKey: expect.stringMatching(/^[0-9a-f]{16}$/) });
      // The key a study on the quick profile sends its trainers.
      const study = await prepareDataset(profileDefaults('quick'), join(tmp, 'run'), () => undefined, { cacheDir: join(tmp, 'cache') });
      expect(fresh.dataCache.quickSetKey).toBe(study.syntheticSet?.key);
      expect(formatDoctorReport(fresh)).toContain(`data cache  ${join(tmp, 'not', 'yet')} (writable)\nsynthetic set key (quick profile)  ${study.syntheticSet?.key}: hosts with the same key make the same files`);

      writeFileSync(join(tmp, 'file'), 'x');
      const blocked = await collectDoctorReport({ loadModule: notInstalled }, { STUDY_CACHE_DIR: join(tmp, 'file', 'cache') });
      expect(blocked.dataCache).toMatchObject({ writable: false, error: `${join(tmp, 'file', 'cache')}: ENOTDIR` });
      expect(formatDoctorReport(blocked)).toContain('not writable: ');

      const off = await collectDoctorReport({ loadModule: notInstalled }, { STUDY_CACHE_DIR: 'off' });
      expect(off.dataCache).toMatchObject({ dir: null, writable: null });
      expect(formatDoctorReport(off)).toContain('data cache  off (STUDY_CACHE_DIR=off): trainers here ask the coordinator for synthetic images');
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('`study doctor --json` prints the report as one JSON object', () => {
    const bin = join(__dirname, '..', '..', 'bin', 'study.js');
    const r = spawnSync(process.execPath, [bin, 'doctor', '--json'], { encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).not.toContain('fatal');
    expect(r.status).toBe(0);
    expectReportShape(JSON.parse(r.stdout) as DoctorReport);
  });
});
