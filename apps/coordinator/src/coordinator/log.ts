/**
 * The coordinator's logs: JSON lines to DIR/coordinator.log (pino, written synchronously so a crash
 * loses nothing), and a compact line per event on the console. Every event carries `event`, `job`,
 * `trainer`, `host` and `device` (null where they do not apply), so `grep '"job":"gan-dcgan-b50'`
 * or `jq 'select(.trainer=="t2")'` finds everything about one job or trainer.
 *
 * Console form (one line per event, greppable):
 *   01:02:03 job gan-dcgan-b50-malignant step 40/300 d=0.6931 g=1.2040 38 img/s eta 1m12s [t1 on node3/cpu]
 *   01:02:04 WARN trainer t2 on node4/GPU 0 lost: no heartbeat for 5.0 s; its job clf-baseline-b50-r0 goes back to the queue
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import pino from 'pino';

export type CoordinatorLogger = pino.Logger;

/** The fields every coordinator event carries. */
export interface EventFields {
  event: string;
  job: string | null;
  trainer: string | null;
  host: string | null;
  device: string | null;
  [key: string]: unknown;
}

export interface LogOptions {
  /** coordinator.log path; null for no file. */
  file: string | null;
  /** Where the compact form goes (process.stderr); null for none. */
  console: { write(text: string): unknown } | null;
  level?: pino.Level;
}

const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: '', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

/** One JSON log line as the console shows it: time, level (when not info), message, who. */
export function formatConsoleLine(json: string): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json.trimEnd();
  }
  const time = typeof rec.time === 'string' ? rec.time.slice(11, 19) : new Date().toISOString().slice(11, 19);
  const level = LEVEL_NAMES[Number(rec.level)] ?? '';
  const where = rec.trainer && !String(rec.msg).includes(String(rec.trainer)) ? ` [${String(rec.trainer)} on ${String(rec.host)}/${String(rec.device)}]` : '';
  const err = rec.err && typeof rec.err === 'object' ? ` (${String((rec.err as Record<string, unknown>).message)})` : '';
  return `${time} ${level ? `${level} ` : ''}${String(rec.msg ?? '')}${where}${err}`;
}

export async function createCoordinatorLog(opts: LogOptions): Promise<CoordinatorLogger> {
  const streams: pino.StreamEntry[] = [];
  if (opts.file) {
    await fs.mkdir(path.dirname(opts.file), { recursive: true });
    streams.push({ level: 'debug', stream: pino.destination({ dest: opts.file, sync: true, append: true }) });
  }
  if (opts.console) {
    const out = opts.console;
    // Console: info and up, compact; debug stays in the file.
    streams.push({ level: 'info', stream: { write: (line: string) => out.write(formatConsoleLine(line) + '\n') } });
  }
  return pino({ level: opts.level ?? 'debug', base: undefined, timestamp: pino.stdTimeFunctions.isoTime }, pino.multistream(streams));
}

/** A logger that writes nowhere (tests that do not look at logs). */
export function silentCoordinatorLog(): CoordinatorLogger {
  return pino({ level: 'silent' });
}

/** `1m12s`, `4h03m`, `42s`, `3.4s`. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '?';
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** `d=0.6931 g=1.2040`. */
export function formatLosses(losses: Record<string, number>): string {
  return Object.entries(losses)
    .map(([k, v]) => `${k}=${Number.isFinite(v) ? v.toFixed(4) : String(v)}`)
    .join(' ');
}
