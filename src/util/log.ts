/**
 * Structured logs: one JSON object per line, `log.info({fields}, 'constant message')`, child
 * loggers that carry context, and redaction of secret-looking fields. No global logger: the
 * composition root creates one and passes it down.
 */
import { systemClock } from './clock.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

const LEVELS: Readonly<Record<LogLevel, number>> = { debug: 10, info: 20, warn: 30, error: 40 };
const REDACTED_KEYS = /pass(word)?|secret|token|authorization|credential|session/i;

export interface Logger {
  debug(fields: Readonly<Record<string, unknown>>, msg: string): void;
  info(fields: Readonly<Record<string, unknown>>, msg: string): void;
  warn(fields: Readonly<Record<string, unknown>>, msg: string): void;
  error(fields: Readonly<Record<string, unknown>>, msg: string): void;
  child(fields: Readonly<Record<string, unknown>>): Logger;
}

export function createLogger(options: { write: (line: string) => void; level?: LogLevel; base?: Readonly<Record<string, unknown>>; now?: () => number }): Logger {
  const min = LEVELS[options.level ?? 'info'];
  const now = options.now ?? ((): number => systemClock.now());
  const make = (base: Readonly<Record<string, unknown>>): Logger => {
    const emit = (level: LogLevel, fields: Readonly<Record<string, unknown>>, msg: string): void => {
      if (LEVELS[level] < min) return;
      options.write(`${JSON.stringify({ time: new Date(now()).toISOString(), level, msg, ...redact(base), ...redact(fields) })}\n`);
    };
    return {
      debug: (f, m) => emit('debug', f, m),
      info: (f, m) => emit('info', f, m),
      warn: (f, m) => emit('warn', f, m),
      error: (f, m) => emit('error', f, m),
      child: (f) => make({ ...base, ...f }),
    };
  };
  return make(options.base ?? {});
}

/** A logger that drops everything (tests that do not look at logs). */
export const silentLogger: Logger = createLogger({ write: () => undefined, level: 'error', base: {} });

function redact(fields: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) {
    if (REDACTED_KEYS.test(k)) out[k] = '[redacted]';
    else if (v instanceof Error) out[k] = serializeError(v);
    else out[k] = v;
  }
  return out;
}

function serializeError(err: Error): Record<string, unknown> {
  const e = err as Error & { code?: unknown; retryable?: unknown; details?: unknown };
  return { name: e.name, message: e.message, ...(e.code !== undefined ? { code: e.code } : {}), ...(e.retryable !== undefined ? { retryable: e.retryable } : {}) };
}
