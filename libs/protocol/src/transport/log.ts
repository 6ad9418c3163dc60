/**
 * The logging surface the transport needs: pino's `(fields, message)` call shape, so a pino logger
 * (or a child carrying job/trainer/host/device) can be passed straight in.
 */
export interface EventLog {
  info(fields: object, msg: string): void;
  warn(fields: object, msg: string): void;
  debug(fields: object, msg: string): void;
}

/** A log that drops everything (tests that do not look at logs). */
export const silentLog: EventLog = { info: () => undefined, warn: () => undefined, debug: () => undefined };
