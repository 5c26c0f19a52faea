/**
 * The agent's failover parts that need the instance identity (ENI, region, role credentials from
 * IMDS) before they exist: the controller gets these stand-ins at once, so that a slow or failing
 * IMDS never holds the agent back (keepalived attach, /status, the health track file) and never
 * stops it. Calls wait for the real part (or their signal); the controller's own latest-wins
 * aborts cancel a wait like any claim.
 */
import type { Claimer, ClaimOutcome, ResourceView } from '../failover/types.js';
import type { MasterHeartbeat } from '../failover/heartbeat.js';
import type { Ec2InstanceDescriber } from '../discovery/ec2-tags-source.js';
import { OverlayError } from '../util/errors.js';

/** A value set once, awaited with a signal. */
class Later<T> {
  #value: T | null = null;
  #waiters: ((v: T) => void)[] = [];

  get value(): T | null {
    return this.#value;
  }

  set(value: T): void {
    this.#value = value;
    for (const w of this.#waiters.splice(0)) w(value);
  }

  get(signal: AbortSignal): Promise<T> {
    if (this.#value !== null) return Promise.resolve(this.#value);
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => reject(signal.reason as Error);
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push((v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      });
    });
  }
}

/** A claimer whose real implementation arrives later (`set`); `mode` is known from the spec. */
export class DeferredClaimer implements Claimer {
  readonly mode: Claimer['mode'];
  readonly #real = new Later<Claimer>();

  constructor(mode: Claimer['mode']) {
    this.mode = mode;
  }

  /** The real claimer, once set. */
  get real(): Claimer | null {
    return this.#real.value;
  }

  set(claimer: Claimer): void {
    this.#real.set(claimer);
  }

  async list(signal: AbortSignal): Promise<readonly string[]> {
    return (await this.#real.get(signal)).list(signal);
  }

  async claim(resources: readonly string[], signal: AbortSignal): Promise<readonly ClaimOutcome[]> {
    return (await this.#real.get(signal)).claim(resources, signal);
  }

  async inspect(resources: readonly string[], signal: AbortSignal): Promise<readonly ResourceView[]> {
    return (await this.#real.get(signal)).inspect(resources, signal);
  }
}

/** A master heartbeat whose real implementation arrives later; until then a peer never looks stale. */
export class DeferredHeartbeat implements MasterHeartbeat {
  readonly #real = new Later<MasterHeartbeat>();

  set(heartbeat: MasterHeartbeat): void {
    this.#real.set(heartbeat);
  }

  async beat(signal: AbortSignal): Promise<void> {
    return (await this.#real.get(signal)).beat(signal);
  }

  async stale(networkInterfaceId: string, signal: AbortSignal): Promise<boolean> {
    const real = this.#real.value;
    // Without our identity we cannot read the tag yet: "not stale" is the safe answer (never
    // take a resource from a higher-priority holder on a guess).
    return real === null ? false : real.stale(networkInterfaceId, signal);
  }
}

/**
 * The provider's `instances` capability for discovery's `ec2-tags` sources: the same client as
 * failover, known once the instance identity (region, role credentials) is. Until then (or when
 * the provider has none) a lookup fails at once with CLOUD_UNAVAILABLE, which the source reports
 * and retries like any failed read.
 */
export class DeferredInstances implements Ec2InstanceDescriber {
  #real: Ec2InstanceDescriber | null = null;

  set(instances: Ec2InstanceDescriber | null): void {
    this.#real = instances;
  }

  describeInstancesByTags(...args: Parameters<Ec2InstanceDescriber['describeInstancesByTags']>): ReturnType<Ec2InstanceDescriber['describeInstancesByTags']> {
    return this.#real === null
      ? Promise.reject(new OverlayError('CLOUD_UNAVAILABLE', 'DescribeInstances: the EC2 client is not ready (the instance identity is not known yet)'))
      : this.#real.describeInstancesByTags(...args);
  }
}
