/**
 * Structured logs: one JSON object per line, `log.info({fields}, 'constant message')`, child
 * loggers that carry context, and redaction of secret-looking fields. No global logger: the
 * composition root creates one and passes it down.
 *
 * Errors keep what an operator needs to find the fault: name, message, code, retryable, the
 * stack, and the whole `cause` chain (each cause serialized the same way, a few levels deep).
 *
 * Under systemd (stdout connected to the journal, `JOURNAL_STREAM` set) every line starts with
 * the syslog priority in angle brackets (`<3>` error, `<4>` warning, `<6>` info, `<7>` debug), which
 * journald strips and stores as the entry's PRIORITY (systemd.exec(5), SyslogLevelPrefix=): the
 * stored message stays pure JSON and `journalctl -p warning` works. Anywhere else (a terminal, a
 * file, a test) the lines are pure JSON.
 */
import { systemClock } from './clock.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

const LEVELS: Readonly<Record<LogLevel, number>> = { debug: 10, info: 20, warn: 30, error: 40 };
/** syslog(3) priorities, as journald reads them from a `<N>` line prefix. */
export const SYSLOG_PRIORITY: Readonly<Record<LogLevel, number>> = { debug: 7, info: 6, warn: 4, error: 3 };
const REDACTED_KEYS = /pass(word)?|secret|token|authorization|credential|session/i;
/** How many `cause` levels are kept: enough for every wrap this project does, bounded against cycles. */
const MAX_CAUSE_DEPTH = 5;

export interface Logger {
  debug(fields: Readonly<Record<string, unknown>>, msg: string): void;
  info(fields: Readonly<Record<string, unknown>>, msg: string): void;
  warn(fields: Readonly<Record<string, unknown>>, msg: string): void;
  error(fields: Readonly<Record<string, unknown>>, msg: string): void;
  child(fields: Readonly<Record<string, unknown>>): Logger;
}

export interface CreateLoggerOptions {
  readonly write: (line: string) => void;
  /** @default 'info' */
  readonly level?: LogLevel;
  readonly base?: Readonly<Record<string, unknown>>;
  readonly now?: () => number;
  /**
   * Prefix each line with its syslog priority `<N>` for journald. Pass `journaldPrefix()` for a
   * process's stdout. @default false
   */
  readonly syslogPrefix?: boolean;
}

export function createLogger(options: CreateLoggerOptions): Logger {
  const min = LEVELS[options.level ?? 'info'];
  const now = options.now ?? ((): number => systemClock.now());
  const prefix = options.syslogPrefix === true;
  const make = (base: Readonly<Record<string, unknown>>): Logger => {
    const emit = (level: LogLevel, fields: Readonly<Record<string, unknown>>, msg: string): void => {
      if (LEVELS[level] < min) return;
      const json = JSON.stringify({ time: new Date(now()).toISOString(), level, msg, ...redact(base), ...redact(fields) });
      options.write(`${prefix ? `<${SYSLOG_PRIORITY[level]}>` : ''}${json}\n`);
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

/**
 * Whether this process's stdout is a journald stream: systemd sets `JOURNAL_STREAM` to the
 * device and inode of that stream (systemd.exec(5)). Compared with stdout's own, so a child that
 * inherited the variable but writes to a pipe or a file is not fooled.
 */
export function stdoutIsJournal(env: NodeJS.ProcessEnv, stdoutStat: { readonly dev: number; readonly ino: number } | null): boolean {
  const stream = env['JOURNAL_STREAM'];
  if (stream === undefined || stdoutStat === null) return false;
  const [dev, ino] = stream.split(':');
  return dev === String(stdoutStat.dev) && ino === String(stdoutStat.ino);
}

/** A logger that drops everything (tests that do not look at logs). */
export const silentLogger: Logger = createLogger({ write: () => undefined, level: 'error', base: {} });

function redact(fields: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) {
    if (REDACTED_KEYS.test(k)) out[k] = '[redacted]';
    else if (v instanceof Error) out[k] = serializeError(v, 0);
    else out[k] = v;
  }
  return out;
}

/**
 * An error as a JSON object: name, message, code, retryable, fault, stack, and its `cause`
 * (an Error serialized the same way, anything else as its string). AggregateErrors keep `errors`.
 */
export function serializeError(err: Error, depth = 0): Record<string, unknown> {
  const e = err as Error & { code?: unknown; retryable?: unknown; fault?: unknown; errors?: unknown };
  const out: Record<string, unknown> = { name: e.name, message: e.message };
  if (e.code !== undefined) out['code'] = e.code;
  if (e.retryable !== undefined) out['retryable'] = e.retryable;
  if (e.fault !== undefined) out['fault'] = e.fault;
  if (typeof e.stack === 'string') out['stack'] = e.stack;
  if (e.cause !== undefined) {
    if (depth >= MAX_CAUSE_DEPTH) out['cause'] = '[cause chain truncated]';
    else out['cause'] = e.cause instanceof Error ? serializeError(e.cause, depth + 1) : safeString(e.cause);
  }
  if (Array.isArray(e.errors) && depth < MAX_CAUSE_DEPTH) {
    out['errors'] = e.errors.slice(0, 10).map((x: unknown) => (x instanceof Error ? serializeError(x, depth + 1) : safeString(x)));
  }
  return out;
}

function safeString(v: unknown): string {
  if (typeof v === 'string') return v;
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

/**
 * Routes the process's warnings (`process.emitWarning`: Node's MaxListenersExceededWarning and
 * deprecations, the AWS SDK's NodeVersionSupportWarning) into `log` as one JSON line each, with
 * the warning's name, code and stack, instead of Node's multi-line text on stderr. Removes Node's
 * own printer (the default `warning` listener); call once, in a process's composition root.
 * Returns a function that puts things back (tests).
 */
export function routeProcessWarnings(proc: NodeJS.Process, log: Logger): () => void {
  const defaults = proc.listeners('warning');
  proc.removeAllListeners('warning');
  const onWarning = (w: Error): void => {
    // Multi-line warning texts (the SDK's) become one message; the stack keeps where it came from.
    const message = w.message.split('\n').map((l) => l.trim()).filter((l) => l !== '').join(' ');
    log.warn({ event: 'process-warning', warning: { ...serializeError(w), message } }, 'process warning');
  };
  proc.on('warning', onWarning);
  return () => {
    proc.off('warning', onWarning);
    for (const l of defaults) proc.on('warning', l);
  };
}
