/**
 * The trainer's log: pino JSON lines, or (default) a compact line per event on stderr in the same
 * form as the coordinator's console: `01:02:03 [t1] job gan-dcgan-b50-malignant done in 12.3 s`.
 */
import pino from 'pino';

export function createTrainerLog(opts: { id: string; json: boolean; out?: { write(s: string): unknown } }): pino.Logger {
  const out = opts.out ?? process.stderr;
  const base = { level: 'info' as const, base: undefined, timestamp: pino.stdTimeFunctions.isoTime };
  if (opts.json) return pino(base, { write: (line: string) => out.write(line) });
  return pino(base, {
    write: (line: string) => {
      let rec: Record<string, unknown>;
      try {
        rec = JSON.parse(line) as Record<string, unknown>;
      } catch {
        out.write(line);
        return;
      }
      const time = typeof rec.time === 'string' ? rec.time.slice(11, 19) : '';
      const level = Number(rec.level) >= 50 ? 'ERROR ' : Number(rec.level) >= 40 ? 'WARN ' : '';
      out.write(`${time} [${opts.id}] ${level}${String(rec.msg ?? '')}\n`);
    },
  });
}
