/**
 * Builds the runtime source for a spec's `DiscoverySource`. Settings the spec does not carry
 * (resolver address, intervals, limits) come from {@link SourceDeps}, with defaults per source.
 */
import type { DiscoverySource } from '../model/spec.js';
import type { Clock } from '../util/clock.js';
import { UserError } from '../util/errors.js';
import { createConsulSource } from './consul-source.js';
import { createDnsSource } from './dns-source.js';
import { type Ec2InstanceDescriber, createEc2TagsSource } from './ec2-tags-source.js';
import { createEtcdSource } from './etcd-source.js';
import { createFileSource } from './file-source.js';
import type { BackoffOptions } from './source-runner.js';
import type { DiscoverySourceRunner, Logger } from './types.js';

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
 * @throws UserError SPEC_REQUIRED for an `ec2-tags` source without an EC2 describer, or an A/AAAA source without a port.
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
      if (!deps.ec2) throw new UserError('SPEC_REQUIRED', `ec2-tags source ${config.name} needs the EC2 API: set cluster.cloud.provider to aws or lab`);
      return createEc2TagsSource({ ...common, tags: config.tags, port: config.port, describer: deps.ec2 });
  }
}
