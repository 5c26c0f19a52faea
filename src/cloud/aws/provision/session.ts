/**
 * The operator's side of provisioning: SDK clients for EC2, IAM, S3 and STS with the operator's
 * credentials (the SDK's default chain: environment, profile, SSO... or the ones given), the
 * account they belong to, and the one way each provisioning call is made (`call`: the guarded
 * call of src/cloud/guarded-call.ts, errors wrapped once with the IAM permission the call needs,
 * so a refusal names the exact action).
 */
import { EC2Client } from '@aws-sdk/client-ec2';
import { IAMClient } from '@aws-sdk/client-iam';
import { S3Client } from '@aws-sdk/client-s3';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import type { Clock } from '../../../util/clock.js';
import { systemClock } from '../../../util/clock.js';
import { OverlayError } from '../../../util/errors.js';
import { TokenBucket } from '../../../util/token-bucket.js';
import { guardedCall } from '../../guarded-call.js';
import type { CloudCallEvent } from '../../guarded-call.js';
import { wrapAwsError } from '../errors.js';

export interface ProvisionSessionOptions {
  readonly region: string;
  /** An endpoint for EC2, IAM, S3 and STS together (the lab serves all four on one). @default AWS's own */
  readonly endpoint?: string | undefined;
  /** @default the SDK's default credential chain */
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string; readonly sessionToken?: string } | undefined;
  readonly clock?: Clock;
  /** Undefined like absent: the commands pass their own options through as they are. */
  readonly onEvent?: ((event: CloudCallEvent) => void) | undefined;
  /**
   * The session's own pace (a token bucket every call takes from). Against AWS the default is
   * right; the lab answers in milliseconds and throttles only when a test injects the fault, so
   * its tests may give a faster pace (CALL_PACE_LAB) and not wait out the bucket on every call.
   * Undefined like absent. @default CALL_PACE_AWS
   */
  readonly pace?: CallPace | undefined;
}

/** A client-side call pace: up to `capacity` calls at once, then `perSecond`. */
export interface CallPace {
  readonly capacity: number;
  readonly perSecond: number;
}

/** Against AWS: IAM's and S3's limits are far above what up sends; the bucket only paces retries. */
export const CALL_PACE_AWS: CallPace = { capacity: 20, perSecond: 10 };

/**
 * Against the lab (tests, benchmarks): its API answers a call in milliseconds, so the AWS pace
 * would make a provisioning run wait on the bucket, not on the API.
 */
export const CALL_PACE_LAB: CallPace = { capacity: 500, perSecond: 500 };

/**
 * Per call: the answer may take long (the package upload), so 120 s; retried (retryable errors
 * only: throttling, 5xx, network) for up to 3 minutes.
 */
const CALL_TIMEOUT_MS = 120_000;
const CALL_DEADLINE_MS = 180_000;

export class ProvisionSession {
  readonly ec2: EC2Client;
  readonly iam: IAMClient;
  readonly s3: S3Client;
  readonly sts: STSClient;
  readonly region: string;
  readonly #clock: Clock;
  readonly #bucket: TokenBucket;
  readonly #onEvent: ((event: CloudCallEvent) => void) | undefined;

  constructor(options: ProvisionSessionOptions) {
    const common = {
      region: options.region,
      maxAttempts: 1,
      ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
      ...(options.credentials === undefined ? {} : { credentials: { ...options.credentials } }),
    };
    this.ec2 = new EC2Client(common);
    this.iam = new IAMClient(common);
    // Path-style at a custom endpoint (the lab: an IP address has no bucket subdomains).
    this.s3 = new S3Client({ ...common, ...(options.endpoint === undefined ? {} : { forcePathStyle: true }) });
    this.sts = new STSClient(common);
    this.region = options.region;
    this.#clock = options.clock ?? systemClock;
    const pace = options.pace ?? CALL_PACE_AWS;
    this.#bucket = new TokenBucket({ capacity: pace.capacity, refillPerSec: pace.perSecond, clock: this.#clock });
    this.#onEvent = options.onEvent;
  }

  /**
   * One provisioning call. `permission` is the IAM action it needs (`iam:CreateRole`,
   * `s3:PutObject`) and names the call in errors and events; `resource` the ARN it acts on.
   */
  call<T>(permission: string, resource: string, fn: (signal: AbortSignal) => Promise<T>, options: { readonly signal: AbortSignal }): Promise<T> {
    return guardedCall({
      action: permission, bucket: this.#bucket, signal: options.signal, deadline: this.#clock.now() + CALL_DEADLINE_MS,
      callTimeoutMs: CALL_TIMEOUT_MS, attempts: 5, clock: this.#clock, ...(this.#onEvent === undefined ? {} : { onEvent: this.#onEvent }),
    }, async (signal) => {
      try {
        return await fn(signal);
      } catch (err) {
        const e = wrapAwsError(err, permission, signal);
        if (e.code !== 'CLOUD_UNAUTHORIZED') throw e;
        // A call may need another action too (RunInstances with a role: iam:PassRole): AWS names it.
        const named = /not authorized to perform: ([a-z0-9-]+:[A-Za-z0-9]+) on resource: (\S+)/.exec(e.message);
        const [needs, on] = named !== null && named[1] !== permission ? [named[1]!, named[2]!] : [permission, resource];
        const call = needs === permission ? `call ${permission}` : `call ${permission}: it needs ${needs}`;
        throw new OverlayError('CLOUD_UNAUTHORIZED', `the credentials running overlay-lb up may not ${call} on ${on} (${e.message}): grant ${needs} on that resource to the user or role running it (docs/provisioning.md lists every action up needs)`, { cause: e, details: { ...e.details, permission: needs, resource: on } });
      }
    });
  }

  /** The session's clock (waits for instances and dependencies). */
  get clock(): Clock {
    return this.#clock;
  }

  /** The account the credentials belong to (STS GetCallerIdentity: needs no permission). */
  async account(options: { readonly signal: AbortSignal }): Promise<string> {
    const who = await this.call('sts:GetCallerIdentity', '*', (abortSignal) => this.sts.send(new GetCallerIdentityCommand({}), { abortSignal }), options);
    if (who.Account === undefined) throw new OverlayError('CLOUD_INVALID_REQUEST', 'STS GetCallerIdentity answered no account');
    return who.Account;
  }

  destroy(): void {
    this.ec2.destroy();
    this.iam.destroy();
    this.s3.destroy();
    this.sts.destroy();
  }
}

/** Whether a wrapped error is one of AWS's `codes` (IAM's as the SDK names them too: `NoSuchEntityException`). */
export function isAwsError(err: unknown, ...codes: readonly string[]): boolean {
  if (!(err instanceof OverlayError)) return false;
  const code = err.details['awsCode'];
  return typeof code === 'string' && codes.includes(code.replace(/Exception$/, ''));
}
