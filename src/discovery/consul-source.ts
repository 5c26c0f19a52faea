/**
 * `consul` source: `GET /v1/health/service/<service>?passing=true` with blocking queries
 * (https://developer.hashicorp.com/consul/api-docs/features/blocking). Index handling follows
 * that page's implementation notes:
 * - the index is opaque: only equality and "went backwards" are meaningful;
 * - if `X-Consul-Index` goes backwards, reset to 0 (a full, non-blocking read);
 * - an index of 0 or less after a read is reset to 1, or every request would return at once;
 * - loops are rate-limited (`minIntervalMs`), since a blocking query may return without a change.
 */
import type { Clock } from '../util/clock.js';
import { type BackoffOptions, createSourceRunner, unavailable, commonRunnerOptions } from './source-runner.js';
import type { DiscoverySourceRunner, Logger } from './types.js';
import { timeoutSignal } from '../util/abort.js';

export interface ConsulSourceOptions {
  readonly name: string;
  /** Agent address: `http://host:port` (a bare `host:port` gets `http://`). */
  readonly address: string;
  readonly service: string;
  readonly tag?: string;
  /** Longest blocking wait (Consul caps it at 10 min). @default 60000 */
  readonly waitMs?: number;
  /** Shortest time between two requests. @default 100 */
  readonly minIntervalMs?: number;
  readonly clock?: Clock;
  readonly logger?: Logger;
  readonly backoff?: BackoffOptions;
  readonly maxEntries?: number;
}

interface HealthEntry {
  readonly Node?: { readonly Address?: string };
  readonly Service?: { readonly Address?: string; readonly Port?: number; readonly Weights?: { readonly Passing?: number } };
}

/** The next index to send after a response carrying `received`, per Consul's reset rules. */
export function nextConsulIndex(previous: number, received: number): number {
  if (received < previous) return 0;
  if (received <= 0) return 1;
  return received;
}

/** Creates a `consul` source. */
export function createConsulSource(options: ConsulSourceOptions): DiscoverySourceRunner {
  const source = { name: options.name, type: 'consul' };
  const base = (/^https?:\/\//.test(options.address) ? options.address : `http://${options.address}`).replace(/\/+$/, '');
  const waitMs = options.waitMs ?? 60_000;
  const minIntervalMs = options.minIntervalMs ?? 100;

  return createSourceRunner({
    ...source,
    ...commonRunnerOptions(options),
    session: async (ctx) => {
      let index = 0;
      for (;;) {
        const started = ctx.clock.now();
        const params = new URLSearchParams({ passing: 'true' });
        if (options.tag !== undefined) params.set('tag', options.tag);
        if (index > 0) {
          params.set('index', String(index));
          params.set('wait', `${Math.ceil(waitMs / 1000)}s`);
        }
        const url = `${base}/v1/health/service/${encodeURIComponent(options.service)}?${params.toString()}`;
        // Consul adds up to wait/16 of jitter; allow that plus a margin before calling it dead.
        const signal = timeoutSignal(waitMs + waitMs / 16 + 5000, ctx.signal);
        let res: Response;
        let body: unknown;
        try {
          res = await fetch(url, { signal });
          if (!res.ok) throw new Error(`HTTP ${res.status} ${(await res.text()).slice(0, 200)}`);
          body = await res.json().catch((err: unknown) => ({ parseError: err }));
        } catch (err) {
          ctx.signal.throwIfAborted();
          throw unavailable(source, `GET ${url}`, err);
        }
        const received = Number(res.headers.get('x-consul-index'));
        if (!Number.isFinite(received)) throw unavailable(source, `GET ${url}`, new Error('response has no numeric X-Consul-Index header'));
        const changed = received !== index;
        index = nextConsulIndex(index, received);
        if (!Array.isArray(body)) {
          ctx.invalid(`GET ${url} did not return a JSON list of health entries`);
        } else if (changed) {
          ctx.emit(
            (body as HealthEntry[]).map((e) => {
              const address = e.Service?.Address !== undefined && e.Service.Address !== '' ? e.Service.Address : e.Node?.Address;
              const weight = e.Service?.Weights?.Passing;
              return { address, port: e.Service?.Port, ...(weight === undefined ? {} : { weight: Math.min(256, weight) }) };
            }),
          );
        } else {
          ctx.alive();
        }
        const elapsed = ctx.clock.now() - started;
        if (elapsed < minIntervalMs) await ctx.clock.sleep(minIntervalMs - elapsed, ctx.signal);
      }
    },
  });
}
