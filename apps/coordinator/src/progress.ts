/**
 * Progress bars for long local work (synthesis, decoding a data set): drawn on a terminal only, so
 * logs and pipes stay quiet. One bar at a time, on stderr.
 */
import { SingleBar } from 'cli-progress';

export type ProgressFn = (done: number, total: number, stage?: string) => void;

export interface TerminalProgress {
  /** Feed this to an `onProgress` option. A new stage starts a new bar. */
  update: ProgressFn;
  stop(): void;
}

/** A bar labelled `label` when `tty` is true; a no-op otherwise. */
export function terminalProgress(label: string, unit: string, tty: boolean = process.stderr.isTTY === true): TerminalProgress {
  if (!tty) return { update: () => undefined, stop: () => undefined };
  let bar: SingleBar | null = null;
  let current: string | undefined;
  const stop = () => {
    bar?.stop();
    bar = null;
  };
  return {
    update: (done, total, stage) => {
      if (bar === null || stage !== current) {
        stop();
        current = stage;
        bar = new SingleBar({ format: `${label}${stage ? ` ${stage}` : ''} [{bar}] {value}/{total} ${unit} {percentage}% eta {eta_formatted}`, hideCursor: true, stream: process.stderr, noTTYOutput: true });
        bar.start(total, done);
      } else {
        bar.update(done);
      }
    },
    stop,
  };
}
