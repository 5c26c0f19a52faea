/**
 * Errors of the lab's S3 API as the wire sees them (`<Error><Code/><Message/>...</Error>`), with S3's
 * codes and statuses: https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html
 * Protocol answers, not overlay-lb errors (no ERROR_CODES).
 */
import { Ec2ApiError } from '../ec2/errors.js';
import type { SigV4Failure } from '../ec2/sigv4.js';

/** An S3 error: code, status, message, and the extra elements S3 adds (`BucketName`, `Key`). */
export class S3ApiError extends Ec2ApiError {
  readonly details: Readonly<Record<string, string>>;
  /** Headers S3 sends with this error (`x-amz-delete-marker`). */
  readonly headers: Readonly<Record<string, string>>;

  constructor(options: { code: string; message: string; status: number; details?: Record<string, string>; headers?: Record<string, string> }) {
    super(options);
    this.name = 'S3ApiError';
    this.details = options.details ?? {};
    this.headers = options.headers ?? {};
  }
}

const e = (code: string, status: number, message: string, details?: Record<string, string>, headers?: Record<string, string>): S3ApiError =>
  new S3ApiError({ code, status, message, ...(details === undefined ? {} : { details }), ...(headers === undefined ? {} : { headers }) });

export const s3Errors = {
  noSuchBucket: (bucket: string) => e('NoSuchBucket', 404, 'The specified bucket does not exist', { BucketName: bucket }),
  noSuchKey: (key: string, headers?: Record<string, string>) => e('NoSuchKey', 404, 'The specified key does not exist.', { Key: key }, headers),
  noSuchVersion: (key: string, versionId: string) => e('NoSuchVersion', 404, 'The specified version does not exist.', { Key: key, VersionId: versionId }),
  methodNotAllowed: (headers?: Record<string, string>) => e('MethodNotAllowed', 405, 'The specified method is not allowed against this resource.', undefined, headers),
  noSuchLifecycleConfiguration: (bucket: string) => e('NoSuchLifecycleConfiguration', 404, 'The lifecycle configuration does not exist', { BucketName: bucket }),
  noSuchTagSet: (bucket: string) => e('NoSuchTagSet', 404, 'The TagSet does not exist', { BucketName: bucket }),
  invalidTag: (message: string) => e('InvalidTag', 400, message),
  bucketNotEmpty: (bucket: string) => e('BucketNotEmpty', 409, 'The bucket you tried to delete is not empty', { BucketName: bucket }),
  bucketAlreadyOwnedByYou: (bucket: string) => e('BucketAlreadyOwnedByYou', 409, 'Your previous request to create the named bucket succeeded and you already own it.', { BucketName: bucket }),
  invalidBucketName: (bucket: string) => e('InvalidBucketName', 400, 'The specified bucket is not valid.', { BucketName: bucket }),
  illegalLocationConstraint: (constraint: string | undefined) => e('IllegalLocationConstraintException', 400,
    `The ${constraint ?? 'unspecified'} location constraint is incompatible for the region specific endpoint this request was sent to.`),
  preconditionFailed: (condition: string) => e('PreconditionFailed', 412, 'At least one of the pre-conditions you specified did not hold', { Condition: condition }),
  notImplemented: (header: string) => e('NotImplemented', 501, 'A header you provided implies functionality that is not implemented', { Header: header }),
  badDigest: (what: string) => e('BadDigest', 400, `The ${what} you specified did not match the calculated checksum.`),
  invalidDigest: () => e('InvalidDigest', 400, 'The Content-MD5 you specified is not valid.'),
  contentSha256Mismatch: () => e('XAmzContentSHA256Mismatch', 400, 'The provided \'x-amz-content-sha256\' header does not match what was computed.'),
  incompleteBody: () => e('IncompleteBody', 400, 'You did not provide the number of bytes specified by the Content-Length HTTP header.'),
  entityTooLarge: (max: number) => e('EntityTooLarge', 400, `Your proposed upload exceeds the maximum allowed size (the lab's limit is ${max} bytes).`),
  invalidRange: () => e('InvalidRange', 416, 'The requested range is not satisfiable'),
  malformedXml: () => e('MalformedXML', 400, 'The XML you provided was not well-formed or did not validate against our published schema'),
  invalidArgument: (message: string, details?: Record<string, string>) => e('InvalidArgument', 400, message, details),
  invalidRequest: (message: string) => e('InvalidRequest', 400, message),
  accessDenied: () => e('AccessDenied', 403, 'Access Denied'),
  signatureDoesNotMatch: () => e('SignatureDoesNotMatch', 403, 'The request signature we calculated does not match the signature you provided. Check your key and signing method.'),
  internalError: () => e('InternalError', 500, 'We encountered an internal error. Please try again.'),
  notSupported: (what: string) => e('NotImplemented', 501, `The lab's S3 does not implement ${what}.`),
} as const;

/** How S3 refuses a signature. */
export function s3SigV4Error(reason: SigV4Failure, message: string | undefined): Error {
  switch (reason) {
    case 'missing': return s3Errors.accessDenied();
    case 'unknown-key': return e('InvalidAccessKeyId', 403, 'The AWS Access Key Id you provided does not exist in our records.');
    case 'token': return e('InvalidToken', 400, 'The provided token is malformed or otherwise invalid.');
    case 'scope':
    case 'malformed': return e('AuthorizationHeaderMalformed', 400, `The authorization header is malformed; ${message ?? 'it does not parse'}`);
    case 'signature': return s3Errors.signatureDoesNotMatch();
  }
}
