/**
 * End-to-end test harness: real `study` processes (bin/study.js, as a user runs them) on tcp
 * loopback, a run directory in a temporary folder, and bounded waits on the coordinator's log.
 */
import { spawn, type ChildProcess } from 'child_process';
import { promises as fs } from 'fs';
import * as os from 'os';
import * as path from 'path';
import { pathToFileURL } from 'url';

export const REPO = path.resolve(__dirname, '..', '..', '..', '..');
const STUDY = path.join(REPO, 'apps', 'coordinator', 'bin', 'study.js');

export interface StudyProcess {
  child: ChildProcess;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running = new Set<ChildProcess>();

const TSX = (): string => pathToFileURL(require.resolve('tsx')).href;

/**
 * `study ARGS`, as a user runs it, minus bin/study.js's re-exec under `--import tsx` (done here
 * directly, so the process the test holds, and may kill, is the coordinator itself).
 */
export function study(args: string[]): StudyProcess {
  return start(['--import', TSX(), STUDY, ...args], { STUDY_TSX_LOADED: '1', TSX_TSCONFIG_PATH: path.join(REPO, 'tsconfig.base.json'), STUDY_CACHE_DIR: E2E_CACHE });
}

/** The data-set cache of end-to-end studies: shared by them (as by a user's studies), not the user's own. */
const E2E_CACHE = process.env.STUDY_CACHE_DIR ?? path.join(os.tmpdir(), 'gan-study-e2e-cache');

/** A trainer process started directly (what `study trainer` and `study run` do), one process fewer than `study trainer`. */
export function trainer(args: string[]): StudyProcess {
  return start(['--import', TSX(), path.join(REPO, 'apps', 'trainer', 'src', 'main.ts'), ...args], { TSX_TSCONFIG_PATH: path.join(REPO, 'tsconfig.base.json') });
}

function start(argv: string[], env: Record<string, string> = {}): StudyProcess {
  const child = spawn(process.execPath, argv, { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FORCE_COLOR: '0', ...env } });
  running.add(child);
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    }),
  );
  return { child, output: () => out, exited };
}

/** Kills every process a test started that is still running (afterEach). */
export async function killAll(): Promise<void> {
  const waits = [...running].map((c) => new Promise<void>((resolve) => (c.exitCode !== null || c.signalCode !== null ? resolve() : c.once('exit', () => resolve()))));
  for (const c of running) c.kill('SIGKILL');
  await Promise.all(waits);
}

export type LogRecord = Record<string, unknown> & { event?: string; msg?: string; job?: string | null; trainer?: string | null };

export async function readLog(runDir: string): Promise<LogRecord[]> {
  let text = '';
  try {
    text = await fs.readFile(path.join(runDir, 'coordinator.log'), 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((l) => l.trim())
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as LogRecord];
      } catch {
        return [];
      }
    });
}

/** Polls the coordinator's log until `pick` returns something, or fails after `timeoutMs`. */
export async function waitForLog<T>(runDir: string, pick: (log: LogRecord[]) => T | undefined | null | false, timeoutMs: number, what: string, proc?: StudyProcess): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const found = pick(await readLog(runDir));
    if (found) return found;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${proc ? `\n--- output ---\n${proc.output().slice(-4000)}` : ''}`);
    if (proc && (proc.child.exitCode !== null || proc.child.signalCode !== null)) {
      const again = pick(await readLog(runDir));
      if (again) return again;
      throw new Error(`process exited (${proc.child.exitCode ?? proc.child.signalCode}) while waiting for ${what}\n--- output ---\n${proc.output().slice(-4000)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Waits for a process to exit within `timeoutMs` (else kills it and fails). */
export async function finish(p: StudyProcess, timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      p.child.kill('SIGKILL');
      reject(new Error(`process did not finish within ${timeoutMs} ms\n--- output ---\n${p.output().slice(-4000)}`));
    }, timeoutMs);
  });
  try {
    return await Promise.race([p.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export interface Results {
  rows: Array<{ id: string; scenario: string; gan: string | null; budget: number | null; accuracy: number; auc: number; replicas: number }>;
  missing: string[];
}

export async function readResults(runDir: string): Promise<Results> {
  return JSON.parse(await fs.readFile(path.join(runDir, 'results.json'), 'utf8')) as Results;
}

export async function readPlanJobs(runDir: string): Promise<Array<{ id: string; kind: string }>> {
  return (JSON.parse(await fs.readFile(path.join(runDir, 'plan.json'), 'utf8')) as { jobs: Array<{ id: string; kind: string }> }).jobs;
}
