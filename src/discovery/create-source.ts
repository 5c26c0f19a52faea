/**
 * Builds the runtime source for a spec's `DiscoverySource`. Settings the spec does not carry
 * (resolver address, intervals, limits) come from {@link SourceDeps}, with defaults per source.
 */
import type { DiscoverySource } from '../model/spec.js';
import { systemClock, type Clock } from '../util/clock.js';
import { OverlayError, UserError } from '../util/errors.js';
import { createConsulSource } from './consul-source.js';
import { createDnsSource } from './dns-source.js';
import { type Ec2InstanceDescriber, createEc2TagsSource } from './ec2-tags-source.js';
import { createEtcdSource } from './etcd-source.js';
import { createFileSource } from './file-source.js';
import type { BackoffOptions } from './source-runner.js';
import { type DiscoverySourceRunner, type Logger, type SourceHealth, silentLogger } from './types.js';

export interface SourceDeps {
  readonly clock?: Clock;
  readonly logger?: Logger;
  readonly backoff?: BackoffOptions;
  /** @default 10000 */
  readonly maxEntries?: number;
  /** DNS resolvers (`ip[:port]`). @default the system's */
  readonly dnsServers?: readonly string[];
  /** Required for `ec2-tags` sources. */
  readonly ec2?: Ec2InstanceDescriber;
}

/**
 * Creates the runner of one configured source.
 * @throws UserError SPEC_CONFLICT for an `ec2-tags` source without an EC2 describer (provider none),
 *   SPEC_REQUIRED for an A/AAAA source without a port. The agent uses {@link createDiscoverySourceOrFailed}.
 */
export function createDiscoverySource(config: DiscoverySource, deps: SourceDeps = {}): DiscoverySourceRunner {
  const common = {
    name: config.name,
    ...(deps.clock ? { clock: deps.clock } : {}),
    ...(deps.logger ? { logger: deps.logger } : {}),
    ...(deps.backoff ? { backoff: deps.backoff } : {}),
    ...(deps.maxEntries === undefined ? {} : { maxEntries: deps.maxEntries }),
  };
  switch (config.type) {
    case 'file':
      return createFileSource({ ...common, path: config.path });
    case 'dns':
      return createDnsSource({
        ...common,
        query: config.query,
        recordType: config.recordType,
        ...(config.port === undefined ? {} : { port: config.port }),
        ...(deps.dnsServers ? { servers: deps.dnsServers } : {}),
      });
    case 'etcd':
      return createEtcdSource({ ...common, endpoints: config.endpoints, prefix: config.prefix });
    case 'consul':
      return createConsulSource({ ...common, address: config.address, service: config.service, ...(config.tag === undefined ? {} : { tag: config.tag }) });
    case 'ec2-tags':
      if (!deps.ec2) {
        throw new UserError('SPEC_CONFLICT', `ec2-tags source ${config.name} needs the EC2 API, but cluster.cloud.provider is none: set it to aws (or lab), or use another discovery source type for this backend`);
      }
      return createEc2TagsSource({ ...common, tags: config.tags, port: config.port, describer: deps.ec2 });
  }
}

/**
 * Like {@link createDiscoverySource}, but never throws: a source that cannot be built (a setting
 * it needs is missing, a bug) becomes a runner that reports `failed` health with the cause and
 * does nothing else. A valid spec must never stop the agent: the backends of that source keep
 * their last servers, the other sources run, and the failure shows in status, metrics and the log.
 */
export function createDiscoverySourceOrFailed(config: DiscoverySource, deps: SourceDeps = {}): DiscoverySourceRunner {
  try {
    return createDiscoverySource(config, deps);
  } catch (err) {
    const code = err instanceof OverlayError ? err.code : 'INTERNAL';
    const message = `${config.type} source ${config.name} could not start: ${err instanceof Error ? err.message : String(err)}`;
    (deps.logger ?? silentLogger).error({ event: 'discovery-source-failed', source: config.name, type: config.type, code, error: message }, 'discovery source could not start; its backends keep their last servers');
    return failedSource(config.name, { code, message, at: (deps.clock ?? systemClock).now() });
  }
}

/** A source that never started: reports `failed` with `error` once, then waits for the stop. */
function failedSource(name: string, error: NonNullable<SourceHealth['lastError']>): DiscoverySourceRunner {
  const health: SourceHealth = { state: 'failed', lastError: error, failures: 1 };
  return {
    name,
    health: () => health,
    run: async ({ signal, onEvent }) => {
      onEvent({ kind: 'health', source: name, health });
      if (signal.aborted) return;
      await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    },
  };
}
