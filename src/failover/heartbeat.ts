/**
 * The master's heartbeat in the cloud: while MASTER, a node rewrites the tag `overlay-lb:heartbeat`
 * on its own ENI once per re-check period. Another master that yields a resource to a
 * higher-priority holder it cannot reach (a partition: two masters) reads the holder's tag: while it
 * moves, the holder is alive and master, and yielding is what lets the routes settle; once it has
 * not moved for `staleAfterMs`, the holder is gone (crashed, hung, lost its data plane), and
 * yielding would black-hole the VIP for as long as the partition lasts: the resource is retaken.
 *
 * Staleness is judged by this node's own clock (how long the value has stayed the same since this
 * node first saw it), never by comparing the writer's timestamp: the nodes' clocks may differ.
 * A read that fails says nothing (not stale): a cloud API outage must not make anyone retake.
 */
import { countCloudCall, guardedCall } from '../cloud/guarded-call.js';
import { HEARTBEAT_TAG } from '../cloud/types.js';
import type { HeartbeatApi } from '../cloud/types.js';
import type { Clock } from '../util/clock.js';
import { systemClock } from '../util/clock.js';
import type { TokenBucket } from '../util/token-bucket.js';
import type { FailoverMetrics } from './metrics.js';

/** The ENI tag that carries a master's heartbeat (defined by the cloud layer, which the IAM policy names). */
export { HEARTBEAT_TAG };

/** What the failover controller needs of a heartbeat. */
export interface MasterHeartbeat {
  /** Marks this node alive as master (one write; throws when the API refuses or fails). */
  beat(signal: AbortSignal): Promise<void>;
  /**
   * Whether the heartbeat on `networkInterfaceId` has stayed the same for the stale period, as
   * seen from here (false on the first look, and when it cannot be read).
   */
  stale(networkInterfaceId: string, signal: AbortSignal): Promise<boolean>;
}

/** A provider without a heartbeat: nothing is written, and no holder is ever stale. */
export const NO_HEARTBEAT: MasterHeartbeat = {
  beat: () => Promise.resolve(),
  stale: () => Promise.resolve(false),
};

export interface EniHeartbeatOptions {
  readonly api: HeartbeatApi;
  /** Our ENI: the tag is written there. */
  readonly networkInterfaceId: string;
  /** A holder whose tag has not changed for this long is gone. Three re-check periods is right: masters beat once per period. */
  readonly staleAfterMs: number;
  readonly buckets: { readonly mutating: TokenBucket; readonly describe: TokenBucket };
  readonly clock?: Clock;
  readonly metrics?: FailoverMetrics;
  /** @default 3000 */
  readonly callTimeoutMs?: number;
}

export class EniHeartbeat implements MasterHeartbeat {
  readonly #o: EniHeartbeatOptions;
  readonly #clock: Clock;
  /** Per ENI: the value last read and since when (our clock) it has been that value. */
  readonly #seen = new Map<string, { value: string; since: number }>();

  constructor(options: EniHeartbeatOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
  }

  /** One attempt (the controller writes again at the next re-check). */
  async beat(signal: AbortSignal): Promise<void> {
    await this.#call('CreateTags', this.#o.buckets.mutating, signal, (s) =>
      this.#o.api.tagNetworkInterface({ networkInterfaceId: this.#o.networkInterfaceId, key: HEARTBEAT_TAG, value: String(this.#clock.now()) }, { signal: s }));
  }

  async stale(networkInterfaceId: string, signal: AbortSignal): Promise<boolean> {
    let tags: Map<string, string>;
    try {
      tags = await this.#call('DescribeNetworkInterfaces', this.#o.buckets.describe, signal, (s) =>
        this.#o.api.networkInterfaceTags({ networkInterfaceIds: [networkInterfaceId], key: HEARTBEAT_TAG }, { signal: s }));
    } catch (err) {
      if (signal.aborted) throw err;
      return false;
    }
    const now = this.#clock.now();
    // An ENI that no longer exists has no heartbeat either: '' like an ENI without the tag.
    const value = tags.get(networkInterfaceId) ?? '';
    const seen = this.#seen.get(networkInterfaceId);
    if (seen === undefined || seen.value !== value) {
      this.#seen.set(networkInterfaceId, { value, since: now });
      return false;
    }
    return now - seen.since >= this.#o.staleAfterMs;
  }

  /** One guarded call (src/cloud/guarded-call.ts), one attempt: a heartbeat is never worth a retry within the re-check. */
  #call<T>(action: string, bucket: TokenBucket, signal: AbortSignal, fn: (s: AbortSignal) => Promise<T>): Promise<T> {
    const onEvent = countCloudCall(this.#o.metrics);
    return guardedCall({
      action, bucket, signal, deadline: this.#clock.now(), attempts: 1, clock: this.#clock,
      ...(this.#o.callTimeoutMs === undefined ? {} : { callTimeoutMs: this.#o.callTimeoutMs }),
      ...(onEvent ? { onEvent } : {}),
    }, fn);
  }
}
