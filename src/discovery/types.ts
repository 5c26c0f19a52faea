/**
 * Shared types of the discovery layer: what a source emits (full snapshots and health), and the
 * small injected logger every source and the aggregator write to.
 */

/** One server as a discovery source reports it (validated before it leaves the source). */
export interface DiscoveredServer {
  /** An IPv4 or IPv6 literal (never a host name: HAProxy resolves names only at start). */
  readonly address: string;
  /** 1-65535. */
  readonly port: number;
  /** 0-256 (HAProxy's range). Absent: the backend's default weight. */
  readonly weight?: number;
  /** Optional stable name ([A-Za-z0-9._:-], 1-64 characters). */
  readonly name?: string;
}

/** A full, validated, canonically sorted list of a source's servers at one moment. */
export interface Snapshot {
  /** The source's name in the spec. */
  readonly source: string;
  readonly servers: readonly DiscoveredServer[];
  /** Clock time (ms) at which the source read it. */
  readonly at: number;
}

/**
 * How a source is doing.
 * - `ok`: the last read succeeded and its data was valid.
 * - `stale`: the last read failed or returned invalid data; the last good snapshot still stands.
 * - `failed`: no good snapshot was ever read (nothing to keep).
 * - `starting`: no read has finished yet.
 */
export interface SourceHealth {
  readonly state: 'starting' | 'ok' | 'stale' | 'failed';
  /** Clock time of the last successful, valid read. */
  readonly lastSuccessAt?: number;
  /** Error code and message of the last failure, cleared by the next success. */
  readonly lastError?: { readonly code: string; readonly message: string; readonly at: number };
  /** Consecutive failures since the last success. */
  readonly failures: number;
}

/** What a running source reports. */
export type SourceEvent =
  | { readonly kind: 'snapshot'; readonly snapshot: Snapshot }
  | { readonly kind: 'health'; readonly source: string; readonly health: SourceHealth };

/** A running discovery source: `run` resolves when `signal` aborts, and never throws otherwise. */
export interface DiscoverySourceRunner {
  readonly name: string;
  run(options: { readonly signal: AbortSignal; readonly onEvent: (event: SourceEvent) => void }): Promise<void>;
  /** Current health (the same value as the last `health` event). */
  health(): SourceHealth;
}

/** pino-style structured logger: `log.warn({fields}, 'constant message')`. */
export interface Logger {
  info(fields: Readonly<Record<string, unknown>>, message: string): void;
  warn(fields: Readonly<Record<string, unknown>>, message: string): void;
  error(fields: Readonly<Record<string, unknown>>, message: string): void;
}

/** A logger that drops everything (the default when none is injected). */
export const silentLogger: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };

