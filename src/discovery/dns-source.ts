/**
 * `dns` source: A/AAAA records (every address with the configured port) or SRV records (the
 * targets of the lowest priority with their own ports and weights), re-resolved when the
 * shortest TTL expires, clamped to a floor and a ceiling.
 *
 * NXDOMAIN and NODATA count as failures, not as an empty list: a zone that lost its records is
 * far more often a mistake than a service scaled to zero, and the last good snapshot stays.
 */
import { Resolver } from 'node:dns/promises';
import type { Clock } from '../util/clock.js';
import { UserError } from '../util/errors.js';
import { type BackoffOptions, createSourceRunner, unavailable, commonRunnerOptions } from './source-runner.js';
import type { DiscoverySourceRunner, Logger } from './types.js';

export interface DnsSourceOptions {
  readonly name: string;
  readonly query: string;
  readonly recordType: 'A' | 'AAAA' | 'SRV';
  /** Required for A and AAAA; ignored for SRV (the records carry ports). */
  readonly port?: number;
  /** Resolvers as `ip` or `ip:port` (`[ipv6]:port`). @default the system's resolvers */
  readonly servers?: readonly string[];
  /** Shortest re-resolve interval. @default 1000 */
  readonly ttlFloorMs?: number;
  /** Longest re-resolve interval (also used for SRV, whose TTL node:dns does not return). @default 60000 */
  readonly ttlCeilingMs?: number;
  /** Per-query timeout (node:dns retries `tries` times). @default 2000 */
  readonly timeoutMs?: number;
  readonly clock?: Clock;
  readonly logger?: Logger;
  readonly backoff?: BackoffOptions;
  readonly maxEntries?: number;
}

interface Resolved {
  readonly raw: { address: string; port: number; weight?: number }[];
  /** Shortest TTL seen, seconds (undefined when the records carry none). */
  readonly ttl: number | undefined;
}

/**
 * Creates a `dns` source.
 * @throws UserError SPEC_REQUIRED when an A/AAAA source has no port.
 */
export function createDnsSource(options: DnsSourceOptions): DiscoverySourceRunner {
  const port = options.port;
  if (options.recordType !== 'SRV' && port === undefined) {
    throw new UserError('SPEC_REQUIRED', `dns source ${options.name}: recordType ${options.recordType} needs a port (the records carry only addresses); add port: <1-65535>`);
  }
  const floor = options.ttlFloorMs ?? 1000;
  const ceiling = options.ttlCeilingMs ?? 60_000;
  const source = { name: options.name, type: 'dns' };

  const resolveAddresses = async (resolver: Resolver, host: string, family: 'A' | 'AAAA'): Promise<{ address: string; ttl: number }[]> =>
    family === 'A' ? resolver.resolve4(host, { ttl: true }) : resolver.resolve6(host, { ttl: true });

  const resolveOnce = async (resolver: Resolver): Promise<Resolved> => {
    if (options.recordType !== 'SRV') {
      const records = await resolveAddresses(resolver, options.query, options.recordType);
      return { raw: records.map((r) => ({ address: r.address, port: port as number })), ttl: minTtl(records) };
    }
    const srv = await resolver.resolveSrv(options.query);
    const best = Math.min(...srv.map((r) => r.priority));
    // Higher priorities are backups in SRV terms; a snapshot has no backup flag, so they are left out.
    const chosen = srv.filter((r) => r.priority === best);
    const raw: { address: string; port: number; weight?: number }[] = [];
    let ttl: number | undefined;
    for (const record of chosen) {
      let addresses: { address: string; ttl: number }[];
      try {
        addresses = await resolveAddresses(resolver, record.name, 'A');
      } catch {
        addresses = await resolveAddresses(resolver, record.name, 'AAAA');
      }
      const t = minTtl(addresses);
      if (t !== undefined) ttl = ttl === undefined ? t : Math.min(ttl, t);
      // SRV weights are 0-65535 and 0 means "rarely"; HAProxy's are 0-256 and 0 means "never".
      for (const a of addresses) raw.push({ address: a.address, port: record.port, weight: Math.min(256, Math.max(1, record.weight)) });
    }
    return { raw, ttl };
  };

  return createSourceRunner({
    ...source,
    ...commonRunnerOptions(options),
    session: async (ctx) => {
      const resolver = new Resolver({ timeout: options.timeoutMs ?? 2000, tries: 2 });
      if (options.servers) resolver.setServers([...options.servers]);
      const cancel = (): void => resolver.cancel();
      ctx.signal.addEventListener('abort', cancel, { once: true });
      try {
        for (;;) {
          let resolved: Resolved;
          try {
            resolved = await resolveOnce(resolver);
          } catch (err) {
            ctx.signal.throwIfAborted();
            throw unavailable(source, `resolving ${options.recordType} ${options.query} failed`, err);
          }
          ctx.emit(resolved.raw);
          const wait = resolved.ttl === undefined ? ceiling : Math.min(ceiling, Math.max(floor, resolved.ttl * 1000));
          await ctx.clock.sleep(wait, ctx.signal);
        }
      } finally {
        ctx.signal.removeEventListener('abort', cancel);
      }
    },
  });
}

function minTtl(records: readonly { ttl: number }[]): number | undefined {
  return records.length === 0 ? undefined : Math.min(...records.map((r) => r.ttl));
}
