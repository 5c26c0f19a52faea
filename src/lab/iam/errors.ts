/**
 * Errors of the lab's IAM API as the wire sees them (the Query protocol's `<ErrorResponse>`), with
 * IAM's codes and statuses: https://docs.aws.amazon.com/IAM/latest/APIReference/CommonErrors.html
 * and each action's "Errors" section. Protocol answers, not overlay-lb errors (no ERROR_CODES).
 */
import { Ec2ApiError } from '../ec2/errors.js';
import type { SigV4Failure } from '../ec2/sigv4.js';

/** IAM reuses the lab's API error (code, status, message); only the XML around it differs. */
export const iamErrors = {
  noSuchEntity: (message: string): Ec2ApiError => new Ec2ApiError({ code: 'NoSuchEntity', message, status: 404 }),
  entityAlreadyExists: (message: string): Ec2ApiError => new Ec2ApiError({ code: 'EntityAlreadyExists', message, status: 409 }),
  deleteConflict: (message: string): Ec2ApiError => new Ec2ApiError({ code: 'DeleteConflict', message, status: 409 }),
  limitExceeded: (message: string): Ec2ApiError => new Ec2ApiError({ code: 'LimitExceeded', message, status: 409 }),
  malformedPolicyDocument: (message: string): Ec2ApiError => new Ec2ApiError({ code: 'MalformedPolicyDocument', message, status: 400 }),
  invalidInput: (message: string): Ec2ApiError => new Ec2ApiError({ code: 'InvalidInput', message, status: 400 }),
  /** The Query protocol's constraint violation, worded as AWS words it. */
  validation: (message: string): Ec2ApiError => new Ec2ApiError({ code: 'ValidationError', message: `1 validation error detected: ${message}`, status: 400 }),
  invalidAction: (action: string, version = '2010-05-08'): Ec2ApiError =>
    new Ec2ApiError({ code: 'InvalidAction', message: `Could not find operation ${action} for version ${version}`, status: 400 }),
  accessDenied: (options: { principalArn: string; action: string; resource: string }): Ec2ApiError =>
    new Ec2ApiError({
      code: 'AccessDenied', status: 403,
      message: `User: ${options.principalArn} is not authorized to perform: ${options.action} on resource: ${options.resource} because no identity-based policy allows the ${options.action} action`,
    }),
  serviceFailure: (): Ec2ApiError => new Ec2ApiError({ code: 'ServiceFailure', message: 'The request processing has failed because of an unknown error, exception or failure.', status: 500 }),
} as const;

/** How IAM (and STS) refuse a signature. */
export function iamSigV4Error(reason: SigV4Failure, message: string | undefined): Error {
  switch (reason) {
    case 'missing':
      return new Ec2ApiError({ code: 'MissingAuthenticationToken', message: 'Request is missing Authentication Token', status: 403 });
    case 'unknown-key':
    case 'token':
      return new Ec2ApiError({ code: 'InvalidClientTokenId', message: 'The security token included in the request is invalid.', status: 403 });
    case 'malformed':
      return new Ec2ApiError({ code: 'IncompleteSignature', message: message ?? 'The request signature does not conform to AWS standards.', status: 400 });
    case 'scope':
    case 'signature':
      return new Ec2ApiError({
        code: 'SignatureDoesNotMatch', status: 403,
        message: message ?? 'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.',
      });
  }
}
