import { OverlayError } from '../../util/errors.js';
import type { ErrorCode } from '../../util/errors.js';
import type { CloudErrorOutcome } from '../types.js';

/**
 * The one table from EC2 error codes to ours, with retryability
 * (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html).
 * Unknown client errors are not retried; unknown server errors are.
 */
const AWS_ERRORS: Readonly<Record<string, ErrorCode>> = {
  RequestLimitExceeded: 'CLOUD_THROTTLED',
  Throttling: 'CLOUD_THROTTLED',
  ThrottlingException: 'CLOUD_THROTTLED',
  InternalError: 'CLOUD_UNAVAILABLE',
  InternalFailure: 'CLOUD_UNAVAILABLE',
  ServiceUnavailable: 'CLOUD_UNAVAILABLE',
  Unavailable: 'CLOUD_UNAVAILABLE',
  RequestTimeout: 'CLOUD_UNAVAILABLE',
  UnauthorizedOperation: 'CLOUD_UNAUTHORIZED',
  AuthFailure: 'CLOUD_AUTH_FAILURE',
  InvalidClientTokenId: 'CLOUD_AUTH_FAILURE',
  SignatureDoesNotMatch: 'CLOUD_AUTH_FAILURE',
  RequestExpired: 'CLOUD_AUTH_FAILURE',
  ExpiredToken: 'CLOUD_AUTH_FAILURE',
  'InvalidRouteTableID.NotFound': 'CLOUD_NOT_FOUND',
  'InvalidRouteTableId.NotFound': 'CLOUD_NOT_FOUND',
  'InvalidRoute.NotFound': 'CLOUD_NOT_FOUND',
  'InvalidNetworkInterfaceID.NotFound': 'CLOUD_NOT_FOUND',
  'InvalidInstanceID.NotFound': 'CLOUD_NOT_FOUND',
  'InvalidAllocationID.NotFound': 'CLOUD_NOT_FOUND',
  'InvalidVpcID.NotFound': 'CLOUD_NOT_FOUND',
  RouteAlreadyExists: 'CLOUD_CONFLICT',
  'Resource.AlreadyAssociated': 'CLOUD_CONFLICT',
  InvalidParameterValue: 'CLOUD_INVALID_REQUEST',
  InvalidParameterCombination: 'CLOUD_INVALID_REQUEST',
  MissingParameter: 'CLOUD_INVALID_REQUEST',
  'InvalidInstanceID': 'CLOUD_INVALID_REQUEST',
  DryRunOperation: 'CLOUD_DRY_RUN_OK',
  // IAM and S3 (overlay-lb up): the SDK names IAM's errors with an `Exception` suffix.
  AccessDenied: 'CLOUD_UNAUTHORIZED',
  AccessDeniedException: 'CLOUD_UNAUTHORIZED',
  InvalidAccessKeyId: 'CLOUD_AUTH_FAILURE',
  InvalidToken: 'CLOUD_AUTH_FAILURE',
  NoSuchEntity: 'CLOUD_NOT_FOUND',
  NoSuchEntityException: 'CLOUD_NOT_FOUND',
  NoSuchBucket: 'CLOUD_NOT_FOUND',
  NoSuchKey: 'CLOUD_NOT_FOUND',
  NoSuchTagSet: 'CLOUD_NOT_FOUND',
  NotFound: 'CLOUD_NOT_FOUND',
  EntityAlreadyExists: 'CLOUD_CONFLICT',
  EntityAlreadyExistsException: 'CLOUD_CONFLICT',
  BucketAlreadyOwnedByYou: 'CLOUD_CONFLICT',
  BucketAlreadyExists: 'CLOUD_CONFLICT',
  PreconditionFailed: 'CLOUD_CONFLICT',
  // overlay-lb down: a role still in a profile or with policies, a bucket not empty.
  DeleteConflict: 'CLOUD_CONFLICT',
  DeleteConflictException: 'CLOUD_CONFLICT',
  BucketNotEmpty: 'CLOUD_CONFLICT',
  NoSuchVersion: 'CLOUD_NOT_FOUND',
  ServiceFailure: 'CLOUD_UNAVAILABLE',
  ServiceFailureException: 'CLOUD_UNAVAILABLE',
};

interface SdkErrorShape {
  name?: string;
  Code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number; requestId?: string };
  $fault?: 'client' | 'server';
}

/**
 * Wraps an error from the AWS SDK or the agent's own clients (AwsApiError, aws-http.ts: the same
 * shape) once, at the boundary, keeping it as `cause` and the EC2 error
 * code and request id in `details` (`awsCode`, `requestId`, `httpStatus`). `signal` is the call's:
 * the SDK reports every abort as "AbortError: Request aborted", so the message says why instead
 * (e.g. the call's timeout: no answer from the API).
 */
export function wrapAwsError(err: unknown, action: string, signal?: AbortSignal): OverlayError {
  if (err instanceof OverlayError) return err;
  const e = (err ?? {}) as SdkErrorShape;
  const awsCode = e.Code ?? e.name ?? 'Unknown';
  const status = e.$metadata?.httpStatusCode;
  const abort = awsCode === 'AbortError' || awsCode === 'TimeoutError';
  let code: ErrorCode | undefined = AWS_ERRORS[awsCode];
  if (code === undefined) {
    // Network errors (ECONNREFUSED, ECONNRESET, timeouts) and unknown 5xx: the API is unavailable.
    code = abort || e.$fault === 'server' || status === undefined || status >= 500 ? 'CLOUD_UNAVAILABLE' : 'CLOUD_INVALID_REQUEST';
  }
  const outcome = neutralOutcome(awsCode, e.message ?? '');
  const details = { awsCode, action, ...(outcome === undefined ? {} : { outcome }), ...(status !== undefined ? { httpStatus: status } : {}), ...(e.$metadata?.requestId ? { requestId: e.$metadata.requestId } : {}) };
  const reason: unknown = abort && signal?.aborted ? signal.reason : undefined;
  if (reason instanceof Error) {
    const why = reason.name === 'TimeoutError' ? `no answer from the EC2 API (${reason.message})` : `aborted (${reason.message})`;
    return new OverlayError(code, `${action}: ${why}`, { cause: err, details });
  }
  return new OverlayError(code, `${action}: ${awsCode}${e.message ? `: ${e.message}` : ''}`, { cause: err, details });
}

/**
 * EC2's errors that the claim acts on, as neutral outcomes (src/cloud/types.ts). ReplaceRoute on
 * a table without the route answers InvalidParameterValue ("There is no route defined for
 * '<cidr>' in the route table. Please use CreateRoute instead."), not InvalidRoute.NotFound
 * (that one is DeleteRoute's).
 */
function neutralOutcome(awsCode: string, message: string): CloudErrorOutcome | undefined {
  if (awsCode === 'InvalidRoute.NotFound' || (awsCode === 'InvalidParameterValue' && /no route defined/i.test(message))) return 'route-missing';
  if (awsCode === 'RouteAlreadyExists') return 'route-exists';
  return undefined;
}
