/**
 * Where an LB node reaches the cloud's APIs. Kept apart from driver.ts: the agent imports this
 * module on demand (the release bucket's S3 endpoint), and so does the CLI's provisioning, whose
 * modules reach the AWS SDK (src/ops/sea-bundle.ts, test/packaging/sea-bundle). Pure.
 */
import type { Spec } from '../../model/spec.js';

/** The lab's EC2-compatible API, as seen from an LB node (a link-local address the lab relays). */
export const LAB_EC2_ENDPOINT = 'http://169.254.169.250';

/** Where the nodes reach S3: the spec's endpoint (the lab's API also serves S3), else AWS's own. */
export function nodeS3Endpoint(spec: Spec): string | null {
  const { cloud } = spec.cluster;
  return cloud.endpoint ?? (cloud.provider === 'lab' ? LAB_EC2_ENDPOINT : null);
}
