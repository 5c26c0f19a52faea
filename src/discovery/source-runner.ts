/**
 * The part every discovery source shares: a reconnect loop with jittered backoff (through the one
 * retry helper), validation of every snapshot, health, and the rule that a broken source never
 * empties a backend: failures and invalid data keep the last good snapshot and report `stale`.
 *
 * A source only writes a *session*: connect, read, call `emit` with each full raw list, and
 * return or throw when the connection is lost. The runner does the rest.
 */
import { systemClock, type Clock } from '../util/clock.js';
import { OverlayError, SystemError } from '../util/errors.js';
import { retry } from '../util/retry.js';
import { type DiscoverySourceRunner, type Logger, type Snapshot, type SourceEvent, type SourceHealth, silentLogger } from './types.js';
import { canonicalServers, validateSnapshot } from './validate.js';

/** What a session gets from the runner. */
export interface SessionContext {
  /** Aborted when the runner stops. Pass it to every I/O call. */
  readonly signal: AbortSignal;
  /**
   * Offers one full raw list (the parsed document or the records read). Validated here; returns
   * whether it was accepted. Invalid data is logged and does not end the session.
   */
  emit(raw: unknown): boolean;
  /**
   * The source answered with data that cannot be parsed (bad JSON/YAML, a value that is not a
   * server): logged and reported like an invalid list; the last good snapshot stays.
   */
  invalid(message: string): void;
  /** The source answered and nothing changed (a blocking query timed out, a poll saw the same data). */
  alive(): void;
  readonly clock: Clock;
  readonly logger: Logger;
}

/** Reconnect backoff: full jitter in [0, min(maxMs, baseMs * 2^n)], reset after a successful read. */
export interface BackoffOptions {
  /** @default 200 */
  readonly baseMs?: number;
  /** @default 30000 */
  readonly maxMs?: number;
}

export interface SourceRunnerOptions {
  /** The source's name in the spec. */
  readonly name: string;
  /** The source type, for logs (`file`, `dns`...). */
  readonly type: string;
  /** Runs one connection until it is lost (throw) or ends (return): both reconnect after a backoff. */
  readonly session: (ctx: SessionContext) => Promise<void>;
  readonly clock?: Clock;
  readonly logger?: Logger;
  /** Largest accepted snapshot. @default 10000 */
  readonly maxEntries?: number;
  readonly backoff?: BackoffOptions;
  /** Random in [0, 1) for the backoff jitter. @default Math.random */
  readonly random?: () => number;
}

/** The runner settings every source accepts and passes through unchanged. */
export type CommonSourceOptions = Pick<SourceRunnerOptions, 'clock' | 'logger' | 'maxEntries' | 'backoff'>;

/** Copies the common settings that are set (`exactOptionalPropertyTypes` forbids explicit undefined). */
export function commonRunnerOptions(options: CommonSourceOptions): CommonSourceOptions {
  return {
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.backoff ? { backoff: options.backoff } : {}),
    ...(options.maxEntries === undefined ? {} : { maxEntries: options.maxEntries }),
  };
}

/** Wraps a session into a {@link DiscoverySourceRunner}. */
export function createSourceRunner(options: SourceRunnerOptions): DiscoverySourceRunner {
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? silentLogger;
  const log = { source: options.name, type: options.type };
  let health: SourceHealth = { state: 'starting', failures: 0 };
  let lastGood: { snapshot: Snapshot; canonical: string } | undefined;

  const run = async ({ signal, onEvent }: { readonly signal: AbortSignal; readonly onEvent: (event: SourceEvent) => void }): Promise<void> => {
    const setHealth = (next: SourceHealth): void => {
      const changed = next.state !== health.state || next.lastError?.message !== health.lastError?.message;
      health = next;
      if (changed) onEvent({ kind: 'health', source: options.name, health });
    };
    const fail = (code: string, message: string): void => {
      const failures = health.failures + 1;
      setHealth({
        state: lastGood ? 'stale' : 'failed',
        ...(health.lastSuccessAt === undefined ? {} : { lastSuccessAt: health.lastSuccessAt }),
        lastError: { code, message, at: clock.now() },
        failures,
      });
    };
    const succeed = (): void => setHealth({ state: 'ok', lastSuccessAt: clock.now(), failures: 0 });

    const attemptSession = async (): Promise<void> => {
      let progressed = false;
      const ctx: SessionContext = {
        signal,
        clock,
        logger,
        emit: (raw) => {
          progressed = true;
          const result = validateSnapshot(raw, options.maxEntries === undefined ? {} : { maxEntries: options.maxEntries });
          if (!result.ok) {
            logger.warn({ ...log, code: result.code, problems: result.problems, problemCount: result.problemCount, keptServers: lastGood?.snapshot.servers.length ?? 0 }, 'discovery snapshot rejected');
            fail(result.code, result.message);
            return false;
          }
          const canonical = canonicalServers(result.servers);
          succeed();
          if (lastGood?.canonical !== canonical) {
            lastGood = { snapshot: { source: options.name, servers: result.servers, at: clock.now() }, canonical };
            logger.info({ ...log, servers: result.servers.length }, 'discovery snapshot');
            onEvent({ kind: 'snapshot', snapshot: lastGood.snapshot });
          }
          return true;
        },
        invalid: (message) => {
          progressed = true;
          const full = `discovery data rejected: ${message}; the previous snapshot is kept until the source returns valid data`;
          logger.warn({ ...log, code: 'DISCOVERY_INVALID_DATA', error: message, keptServers: lastGood?.snapshot.servers.length ?? 0 }, 'discovery snapshot rejected');
          fail('DISCOVERY_INVALID_DATA', full);
        },
        alive: () => {
          progressed = true;
          // Invalid data stays invalid until the source sends something new: only a healthy source is refreshed.
          if (health.state === 'ok') health = { ...health, lastSuccessAt: clock.now() };
        },
      };
      let error: unknown;
      try {
        await options.session(ctx);
        error = new SystemError('DISCOVERY_UNAVAILABLE', `${options.type} source ${options.name}: the connection ended; reconnecting`, { retryable: true });
      } catch (err) {
        error = err;
      }
      if (signal.aborted) throw signal.reason;
      const code = error instanceof OverlayError ? error.code : 'DISCOVERY_UNAVAILABLE';
      const message = error instanceof Error ? error.message : String(error);
      logger.warn({ ...log, code, error: message, keptServers: lastGood?.snapshot.servers.length ?? 0 }, 'discovery source failed');
      fail(code, message);
      // A session that read something before it broke reconnects at once with a fresh backoff.
      if (progressed) return;
      throw error;
    };

    while (!signal.aborted) {
      try {
        await retry(attemptSession, {
          signal,
          clock,
          baseMs: options.backoff?.baseMs ?? 200,
          maxMs: options.backoff?.maxMs ?? 30_000,
          isRetryable: () => true,
          ...(options.random ? { random: options.random } : {}),
        });
      } catch (err) {
        if (signal.aborted) break;
        // retry() only gives up on abort here; anything else is a bug worth a log line, then go on.
        logger.error({ ...log, error: err instanceof Error ? err.message : String(err) }, 'discovery runner error');
        await clock.sleep(options.backoff?.maxMs ?? 30_000, signal).catch(() => undefined);
      }
    }
  };

  return { name: options.name, run, health: () => health };
}

/** Wraps a foreign error of a source once, keeping it as `cause`. */
export function unavailable(source: { readonly name: string; readonly type: string }, what: string, cause: unknown): SystemError {
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new SystemError('DISCOVERY_UNAVAILABLE', `${source.type} source ${source.name}: ${what}: ${detail}`, { cause, retryable: true });
}
