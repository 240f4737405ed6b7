import { pino } from 'pino';

/** The logger surface every component receives; pino satisfies it. */
export interface Logger {
  debug(obj: object | string, msg?: string): void;
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
  child(bindings: Record<string, unknown>): Logger;
}

export interface LoggerOptions {
  level?: string;
  name?: string;
  /** Pretty output; defaults to "stdout is a terminal". */
  pretty?: boolean;
}

const REDACT = [
  'password',
  '*.password',
  'token',
  '*.token',
  'paymentToken',
  '*.paymentToken',
  'req.headers.authorization',
  'headers.authorization',
  'privateKey',
  '*.privateKey',
];

export function createLogger(options: LoggerOptions = {}): Logger {
  const pretty = options.pretty ?? process.stdout.isTTY === true;
  return pino({
    name: options.name,
    level: options.level ?? 'info',
    redact: { paths: REDACT, censor: '[redacted]' },
    ...(pretty ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l' } } } : {}),
  }) as unknown as Logger;
}

/** For tests: a logger that drops everything. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' }) as unknown as Logger;
}
