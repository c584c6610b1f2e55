// The last line of defence of a running server: an exception or a rejected promise that nothing
// caught is logged, and the server keeps serving its other sessions instead of dropping every
// call at once. Everything the server runs from timers and events catches its own errors (a
// listener that throws is logged by TypedEmitter); this guard is for the bug nobody saw coming.
//
// Continuing after an uncaught exception is only safe while it stays rare: a storm of them
// (more than `maxExceptions` within `windowMs`) means the process is in a state no one planned
// for, and it exits (code 70, EX_SOFTWARE) so that its supervisor restarts it cleanly. Rejections
// are logged and never end the process (the promise's work just did not happen).

import type { Logger } from './logger.js';

export interface ProcessGuardOptions {
  /** Uncaught exceptions tolerated within `windowMs` before the process exits (default 10). */
  maxExceptions?: number;
  windowMs?: number;
  /** How to end the process when it must (tests replace it). */
  exit?: (code: number) => void;
}

export const GUARD_EXIT_CODE = 70;

/** Installs the handlers; returns a function that removes them. Install once, in the process's entry point. */
export function installProcessGuard(logger: Logger, options: ProcessGuardOptions = {}): () => void {
  const maxExceptions = options.maxExceptions ?? 10;
  const windowMs = options.windowMs ?? 60_000;
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const log = logger.child({ module: 'process' });
  let recent: number[] = [];

  const onException = (err: Error, origin: string): void => {
    const now = performance.now();
    recent = recent.filter((t) => now - t < windowMs);
    recent.push(now);
    if (recent.length > maxExceptions) {
      log.fatal({ err, origin, count: recent.length, windowMs }, 'too many uncaught exceptions; exiting so the supervisor restarts the server');
      exit(GUARD_EXIT_CODE);
      return;
    }
    log.error({ err, origin }, 'uncaught exception (a bug); the server keeps serving');
  };
  const onRejection = (reason: unknown): void => {
    log.error({ err: reason }, 'unhandled promise rejection (a bug); the server keeps serving');
  };
  process.on('uncaughtException', onException);
  process.on('unhandledRejection', onRejection);
  return () => {
    process.off('uncaughtException', onException);
    process.off('unhandledRejection', onRejection);
  };
}
