// OT.setLogLevel and the SDK's own logging, with OpenTok.js's levels (OT.NONE … OT.DEBUG).

export const LogLevels = { NONE: 0, ERROR: 1, WARN: 2, INFO: 3, LOG: 4, DEBUG: 5 } as const;
export type LogLevel = (typeof LogLevels)[keyof typeof LogLevels];

let level: number = LogLevels.ERROR;

export function setLogLevel(value: number): void {
  if (Number.isInteger(value) && value >= LogLevels.NONE && value <= LogLevels.DEBUG) level = value;
}

export function getLogLevel(): number {
  return level;
}

export const log = {
  error: (...args: unknown[]): void => void (level >= LogLevels.ERROR && console.error('OT.error', ...args)),
  warn: (...args: unknown[]): void => void (level >= LogLevels.WARN && console.warn('OT.warn', ...args)),
  info: (...args: unknown[]): void => void (level >= LogLevels.INFO && console.info('OT.info', ...args)),
  debug: (...args: unknown[]): void => void (level >= LogLevels.DEBUG && console.debug('OT.debug', ...args)),
};
