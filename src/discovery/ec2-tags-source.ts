/**
 * `ec2-tags` source: the running instances that carry every given tag, each as its private IP
 * with the configured port, polled through an injected describe function. The AWS SDK stays in
 * src/cloud/aws, which implements {@link Ec2InstanceDescriber} (DescribeInstances with
 * `tag:<key>` filters, paginated).
 */
import type { Clock } from '../util/clock.js';
import type { InstanceDescriber as Ec2InstanceDescriber, InstanceSummary as Ec2InstanceSummary } from '../cloud/types.js';
import { type BackoffOptions, createSourceRunner, unavailable, commonRunnerOptions } from './source-runner.js';
import type { DiscoverySourceRunner, Logger } from './types.js';
import { timeoutSignal } from '../util/abort.js';
import { OverlayError } from '../util/errors.js';

/** What the source needs from the cloud layer (src/cloud/types.ts; a provider's `instances` capability). Throws OverlayError (CLOUD_*) on failure. */
export type { Ec2InstanceDescriber, Ec2InstanceSummary };

export interface Ec2TagsSourceOptions {
  readonly name: string;
  readonly tags: Readonly<Record<string, string>>;
  readonly port: number;
  readonly describer: Ec2InstanceDescriber;
  /** Poll interval (DescribeInstances is a throttled API). @default 30000 */
  readonly intervalMs?: number;
  /** Timeout of one describe call. @default 10000 */
  readonly requestTimeoutMs?: number;
  readonly clock?: Clock;
  readonly logger?: Logger;
  readonly backoff?: BackoffOptions;
  readonly maxEntries?: number;
}

/** Creates an `ec2-tags` source. */
export function createEc2TagsSource(options: Ec2TagsSourceOptions): DiscoverySourceRunner {
  const source = { name: options.name, type: 'ec2-tags' };
  return createSourceRunner({
    ...source,
    ...commonRunnerOptions(options),
    session: async (ctx) => {
      for (;;) {
        let instances: readonly Ec2InstanceSummary[];
        try {
          const signal = timeoutSignal(options.requestTimeoutMs ?? 10_000, ctx.signal);
          instances = await options.describer.describeInstancesByTags(options.tags, { signal });
        } catch (err) {
          ctx.signal.throwIfAborted();
          const what = `DescribeInstances by tags ${JSON.stringify(options.tags)} failed`;
          // A cloud error keeps its code (CLOUD_UNAUTHORIZED says whose fault it is and the fix).
          if (err instanceof OverlayError && err.code.startsWith('CLOUD_')) {
            const fix = err.code === 'CLOUD_UNAUTHORIZED' ? ' (the node role needs ec2:DescribeInstances on Resource "*": docs/install.md)' : '';
            throw new OverlayError(err.code, `${source.type} source ${source.name}: ${what}: ${err.message}${fix}`, { cause: err, details: err.details });
          }
          throw unavailable(source, what, err);
        }
        // Only running instances serve; pending ones have no app yet, stopping ones are leaving.
        ctx.emit(
          instances
            .filter((i) => i.state === 'running' && i.privateIp !== undefined)
            .map((i) => ({ address: i.privateIp, port: options.port, name: i.instanceId })),
        );
        await ctx.clock.sleep(options.intervalMs ?? 30_000, ctx.signal);
      }
    },
  });
}
