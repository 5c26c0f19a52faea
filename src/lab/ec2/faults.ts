/**
 * Fault injection for the lab's EC2 API, as a programmatic object (the `lab fault` CLI and tests
 * drive it): per-action latency, throttling by EC2's token buckets, a seeded 5xx rate, eventual
 * consistency of describes, callers for whom the API is unreachable, and a clock running ahead.
 *
 * Bucket sizes are EC2's documented defaults
 * (https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html): mutating actions
 * 50 tokens refilled 5/s, non-mutating (Describe*) 100 tokens refilled 20/s. Time comes from the
 * cloud's clock, so tests advance it instead of sleeping.
 */
import { ec2Errors, type Ec2ApiError } from './errors.js';
import type { LabCloud } from './state.js';
import { mulberry32 } from '../../util/mulberry32.js';

export interface BucketSize {
  readonly capacity: number;
  readonly refillPerSecond: number;
}

/** EC2's default request-token buckets. */
export const EC2_THROTTLE_BUCKETS: Readonly<Record<'mutating' | 'nonMutating', BucketSize>> = {
  mutating: { capacity: 50, refillPerSecond: 5 },
  nonMutating: { capacity: 100, refillPerSecond: 20 },
};

/** How an unreachable caller is treated: connection reset at once, or accepted and never answered. */
export type UnreachableMode = 'drop' | 'hang';

class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(readonly size: BucketSize, now: number) {
    this.tokens = size.capacity;
    this.last = now;
  }

  take(now: number): boolean {
    const elapsed = Math.max(0, now - this.last) / 1000;
    this.tokens = Math.min(this.size.capacity, this.tokens + elapsed * this.size.refillPerSecond);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}


/** The faults currently set, for `lab fault status`. */
export interface ApiFaultStatus {
  readonly latencyMs: Readonly<Record<string, number>>;
  readonly throttling: boolean;
  readonly errorRate: number;
  readonly consistencyDelayMs: number;
  readonly unreachable: UnreachableMode | null;
  /** Added to every S3 operation's answer. */
  readonly s3LatencyMs: number;
  /** S3 requests (whoever sends them) are reset or never answered; EC2 and IAM still answer. */
  readonly s3Unreachable: UnreachableMode | null;
  /** How far the API's clock (its answers' `Date` header) runs ahead of the hosts'. */
  readonly clockSkewMs: number;
}

/** The faults of one API server. Every setter takes effect on the next request. */
export class ApiFaults {
  private latency = new Map<string, number>();
  private buckets: { mutating: TokenBucket; nonMutating: TokenBucket } | null = null;
  private errorRate = 0;
  private random: () => number = mulberry32(1);
  private errorCodes: readonly ('InternalError' | 'Unavailable')[] = ['InternalError', 'Unavailable'];
  private consistencyDelayMs = 0;
  private unreachable: { predicate: (remoteAddress: string) => boolean; mode: UnreachableMode } | null = null;
  private s3LatencyMs = 0;
  private s3Unreachable: UnreachableMode | null = null;
  private clockSkewMs = 0;

  constructor(private readonly cloud: LabCloud) {}

  /** Delay answers to `action` (or every action with `*`) by `ms`. 0 removes it. */
  setLatency(action: string, ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`latency ${ms} ms must be a finite number >= 0`);
    if (ms === 0) this.latency.delete(action);
    else this.latency.set(action, ms);
  }

  /** The delay for one action: its own, else the `*` one, else 0. */
  latencyFor(action: string): number {
    return this.latency.get(action) ?? this.latency.get('*') ?? 0;
  }

  /**
   * Turn throttling on (full buckets, EC2's sizes unless given) or off. Turning it on again
   * refills the buckets.
   */
  setThrottling(options: { enabled: boolean; mutating?: BucketSize; nonMutating?: BucketSize }): void {
    const now = this.cloud.clock();
    this.buckets = options.enabled
      ? {
        mutating: new TokenBucket(options.mutating ?? EC2_THROTTLE_BUCKETS.mutating, now),
        nonMutating: new TokenBucket(options.nonMutating ?? EC2_THROTTLE_BUCKETS.nonMutating, now),
      }
      : null;
  }

  /** Answer this fraction (0..1) of requests with InternalError (500) or Unavailable (503), from a seeded sequence. */
  setErrorRate(options: { rate: number; seed?: number; codes?: readonly ('InternalError' | 'Unavailable')[] }): void {
    if (!(options.rate >= 0 && options.rate <= 1)) throw new RangeError(`error rate ${options.rate} must lie in [0, 1]`);
    this.errorRate = options.rate;
    this.random = mulberry32(options.seed ?? 1);
    this.errorCodes = options.codes !== undefined && options.codes.length > 0 ? options.codes : ['InternalError', 'Unavailable'];
  }

  /** Describes see a mutation only `ms` after it happened (0: at once). */
  setConsistencyDelay(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`consistency delay ${ms} ms must be a finite number >= 0`);
    this.consistencyDelayMs = ms;
    // Keep a little more history than the delay so a read at the window's edge finds its copy.
    this.cloud.retainHistory(ms > 0 ? ms + 1000 : 0);
  }

  /** The time whose state a describe now sees. */
  describeTime(): number {
    return this.cloud.clock() - this.consistencyDelayMs;
  }

  /**
   * Make the API unreachable for callers whose address satisfies the predicate (for example the
   * addresses of one AZ's subnets). null makes it reachable again.
   */
  setUnreachable(predicate: ((remoteAddress: string) => boolean) | null, mode: UnreachableMode = 'drop'): void {
    this.unreachable = predicate === null ? null : { predicate, mode };
  }

  /** How to treat a caller: null when it is reachable. */
  unreachableMode(remoteAddress: string): UnreachableMode | null {
    return this.unreachable !== null && this.unreachable.predicate(remoteAddress) ? this.unreachable.mode : null;
  }

  /**
   * S3 slow: every S3 operation answers `ms` later (on top of any `setLatency` of the operation),
   * as a congested gateway endpoint or a slow S3 would. 0 removes it.
   */
  setS3Latency(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`S3 latency ${ms} ms must be a finite number >= 0`);
    this.s3LatencyMs = ms;
  }

  /** The extra delay of S3 answers. */
  s3Latency(): number {
    return this.s3LatencyMs;
  }

  /**
   * S3 unreachable: every S3 request (recognized by its signature's service) is reset (`drop`) or
   * never answered (`hang`), while EC2 and IAM on the same endpoint still answer. null clears it.
   */
  setS3Unreachable(mode: UnreachableMode | null): void {
    this.s3Unreachable = mode;
  }

  /** How S3 requests are treated now: null when S3 is reachable. */
  s3UnreachableMode(): UnreachableMode | null {
    return this.s3Unreachable;
  }

  /**
   * The API's clock runs `ms` ahead of the hosts' (0: in sync): every answer's `Date` header shows
   * it, as AWS's answers show AWS's clock while a node's clock lags by `ms`. A network namespace
   * shares the host's wall clock (time namespaces cover only the monotonic and boot clocks), so a
   * node's clock cannot lag in the lab; the API's runs ahead instead, which is the same skew seen
   * from the node. The lab checks no request's signing time, so only the header changes.
   */
  setClockSkew(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`clock skew ${ms} ms must be a finite number >= 0`);
    this.clockSkewMs = ms;
  }

  /** The `Date` header value of an answer now, or undefined when the API's clock is the host's (Node's own header). */
  dateHeader(): string | undefined {
    return this.clockSkewMs === 0 ? undefined : new Date(Date.now() + this.clockSkewMs).toUTCString();
  }

  /** A throttling error if the action's bucket is empty (a token is taken otherwise). */
  throttle(options: { mutating: boolean }): Ec2ApiError | null {
    if (this.buckets === null) return null;
    const bucket = options.mutating ? this.buckets.mutating : this.buckets.nonMutating;
    return bucket.take(this.cloud.clock()) ? null : ec2Errors.requestLimitExceeded();
  }

  /** An injected server error, or null. */
  serverError(): Ec2ApiError | null {
    if (this.errorRate <= 0) return null;
    const roll = this.random();
    if (roll >= this.errorRate) return null;
    const code = this.errorCodes[Math.floor((roll / this.errorRate) * this.errorCodes.length)] ?? 'InternalError';
    return code === 'InternalError' ? ec2Errors.internalError() : ec2Errors.unavailable();
  }

  /** Remove every fault. */
  clear(): void {
    this.latency.clear();
    this.buckets = null;
    this.errorRate = 0;
    this.setConsistencyDelay(0);
    this.unreachable = null;
    this.s3LatencyMs = 0;
    this.s3Unreachable = null;
    this.clockSkewMs = 0;
  }

  status(): ApiFaultStatus {
    return {
      latencyMs: Object.fromEntries(this.latency), throttling: this.buckets !== null, errorRate: this.errorRate,
      consistencyDelayMs: this.consistencyDelayMs, unreachable: this.unreachable?.mode ?? null,
      s3LatencyMs: this.s3LatencyMs, s3Unreachable: this.s3Unreachable, clockSkewMs: this.clockSkewMs,
    };
  }
}
