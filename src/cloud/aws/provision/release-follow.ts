/**
 * The node's side of the release bucket (docs/provisioning.md "Rolling a spec out"): with the
 * instance role's credentials (IMDSv2), read this node's desired-version pointer cheaply
 * (GetObject with `If-None-Match`: an unchanged pointer costs a 304 and no body), fetch the spec
 * version it names, and publish this node's status beside the spec. Exactly the calls the role's
 * policy allows (iam-policy.ts `ReadRelease`, `FollowRollout`, `PublishStatus`), through the agent's
 * own S3 client (../s3-rest.ts, not the SDK: issue 17 item 7). No retries: the agent polls again on
 * its interval.
 */
import { S3RestClient } from '../s3-rest.js';
import { timeoutSignal } from '../../../util/abort.js';
import { OverlayError } from '../../../util/errors.js';
import { wrapAwsError } from '../errors.js';
import { ImdsClient } from '../imds.js';
import { desiredKey, OWNER_METADATA, statusKey } from './names.js';

/** What a poll of the pointer found (the agent's port: `ReleaseFollowApi`, src/agent/spec-follow.ts). */
type DesiredRead =
  | { readonly kind: 'unchanged' }
  | { readonly kind: 'absent' }
  | { readonly kind: 'found'; readonly etag: string; readonly body: string };

/** Per S3 call: the agent's poll must never hang on an unreachable endpoint. */
const CALL_TIMEOUT_MS = 5_000;

/** The release bucket, with the instance role's credentials from IMDSv2. */
export function s3ReleaseFollow(options: {
  readonly bucket: string;
  /** The provision prefix ("" or ending in `/`). */
  readonly prefix: string;
  readonly specKey: string;
  readonly node: string;
  /** The cluster's name: the status object carries it as the ownership metadata, so `overlay-lb down` removes it. */
  readonly cluster: string;
  readonly region: string;
  /** @default AWS's own */
  readonly endpoint?: string;
  /** @default http://169.254.169.254 */
  readonly imdsEndpoint?: string;
  /** Bounds the credential lookups. */
  readonly signal: AbortSignal;
}): {
  readonly where: string;
  readDesired(options: { readonly etag: string | null; readonly signal: AbortSignal }): Promise<DesiredRead>;
  readSpecVersion(versionId: string, options: { readonly signal: AbortSignal }): Promise<string>;
  publishStatus(body: string, options: { readonly signal: AbortSignal }): Promise<void>;
  destroy(): void;
} {
  const imds = new ImdsClient(options.imdsEndpoint === undefined ? {} : { endpoint: options.imdsEndpoint });
  // Path-style at a configured endpoint (the lab: an IP address has no bucket subdomains).
  const client = new S3RestClient({ region: options.region, credentials: imds.roleCredentials({ signal: options.signal }), ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }) });
  const { bucket } = options;
  const pointerKey = desiredKey(options.prefix, options.node);
  const ownStatusKey = statusKey(options.prefix, options.node);
  const call = async <T>(action: string, signal: AbortSignal, fn: (abortSignal: AbortSignal) => Promise<T>): Promise<T> => {
    const abortSignal = timeoutSignal(CALL_TIMEOUT_MS, signal);
    try {
      return await fn(abortSignal);
    } catch (err) {
      throw wrapAwsError(err, action, abortSignal);
    }
  };
  return {
    where: `s3://${bucket}/${options.prefix}`,
    readDesired: async ({ etag, signal }) => {
      try {
        const r = await call('s3:GetObject', signal, (abortSignal) => client.getObject({ bucket, key: pointerKey, ...(etag === null ? {} : { ifNoneMatch: etag }) }, abortSignal));
        return { kind: 'found', etag: r.etag, body: r.body };
      } catch (err) {
        if (!(err instanceof OverlayError)) throw err;
        const { httpStatus, awsCode } = err.details;
        // A 304 has no body: the client names the error by its status.
        if (httpStatus === 304 || awsCode === 'NotModified') return { kind: 'unchanged' };
        if (awsCode === 'NoSuchKey' || awsCode === 'NotFound') return { kind: 'absent' };
        throw err;
      }
    },
    readSpecVersion: async (versionId, { signal }) => {
      const r = await call('s3:GetObjectVersion', signal, (abortSignal) => client.getObject({ bucket, key: options.specKey, versionId }, abortSignal));
      return r.body;
    },
    publishStatus: async (body, { signal }) => {
      await call('s3:PutObject', signal, (abortSignal) => client.putObject({ bucket, key: ownStatusKey, body, contentType: 'application/json', metadata: { [OWNER_METADATA]: options.cluster } }, abortSignal));
    },
    destroy: () => client.destroy(),
  };
}
