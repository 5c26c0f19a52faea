/**
 * Errors of the lab's EC2-compatible API, as the wire sees them: an EC2 error code, its HTTP
 * status and message. These are protocol answers sent to clients (the SDK and the CLI map them to
 * their own exceptions), not overlay-lb errors, so they do not go through ERROR_CODES.
 *
 * Codes and statuses follow https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html
 */

/** One EC2 API error answer. Thrown inside the lab's action handlers, turned into XML by the server. */
export class Ec2ApiError extends Error {
  readonly code: string;
  readonly status: number;

  constructor(options: { code: string; message: string; status?: number }) {
    super(options.message);
    this.name = 'Ec2ApiError';
    this.code = options.code;
    this.status = options.status ?? 400;
  }
}

/** Constructors for every error the lab answers, so messages stay the same everywhere. */
export const ec2Errors = {
  notFound: (code: string, noun: string, id: string): Ec2ApiError =>
    new Ec2ApiError({ code, message: `The ${noun} ID '${id}' does not exist` }),
  malformed: (code: string, id: string): Ec2ApiError =>
    new Ec2ApiError({ code, message: `Invalid id: "${id}"` }),
  missingParameter: (name: string): Ec2ApiError =>
    new Ec2ApiError({ code: 'MissingParameter', message: `The request must contain the parameter ${name}` }),
  invalidParameterValue: (message: string): Ec2ApiError =>
    new Ec2ApiError({ code: 'InvalidParameterValue', message }),
  invalidParameterCombination: (message: string): Ec2ApiError =>
    new Ec2ApiError({ code: 'InvalidParameterCombination', message }),
  invalidAction: (action: string): Ec2ApiError =>
    new Ec2ApiError({ code: 'InvalidAction', message: `The action ${action} is not valid for this web service.` }),
  dryRun: (): Ec2ApiError =>
    new Ec2ApiError({ code: 'DryRunOperation', message: 'Request would have succeeded, but DryRun flag is set.', status: 412 }),
  unauthorized: (): Ec2ApiError =>
    new Ec2ApiError({ code: 'UnauthorizedOperation', message: 'You are not authorized to perform this operation.', status: 403 }),
  authFailure: (message = 'AWS was not able to validate the provided access credentials'): Ec2ApiError =>
    new Ec2ApiError({ code: 'AuthFailure', message, status: 401 }),
  missingAuth: (): Ec2ApiError =>
    new Ec2ApiError({
      code: 'MissingAuthenticationToken',
      message: 'The request must contain either a valid (registered) AWS access key ID or X.509 certificate.',
      status: 401,
    }),
  requestLimitExceeded: (): Ec2ApiError =>
    new Ec2ApiError({ code: 'RequestLimitExceeded', message: 'Request limit exceeded.', status: 503 }),
  internalError: (): Ec2ApiError =>
    new Ec2ApiError({ code: 'InternalError', message: 'An internal error has occurred.', status: 500 }),
  unavailable: (): Ec2ApiError =>
    new Ec2ApiError({ code: 'Unavailable', message: "The server is overloaded and can't handle the request.", status: 503 }),
} as const;
