/**
 * What `overlay-lb up` calls the resources it makes, and how it marks them as its own: every name
 * derives from the cluster name (so two clusters in one account never share a resource) and every
 * resource carries the ownership tag (objects: the same as metadata, S3 objects have no tags in
 * the lab). Pure.
 */
import type { Spec } from '../../../model/spec.js';

/** The ownership tag: its value is the cluster name. Nothing without it is ever changed or deleted. */
export const OWNER_TAG = 'overlay-lb:cluster';
/** The same, as S3 object metadata (`x-amz-meta-overlay-lb-cluster`; metadata keys are lower case, no `:`). */
export const OWNER_METADATA = 'overlay-lb-cluster';
/** The SHA-256 (hex) of an object's content, as metadata: what up compares to tell a change. */
export const DIGEST_METADATA = 'overlay-lb-sha256';
/** The object keys under the prefix (docs/provisioning.md). */
export const SPEC_OBJECT = 'spec.yaml';
export const PACKAGE_OBJECT = 'overlay-lb.deb';
/** Where each agent publishes its status (`PublishedNodeStatus`, src/agent-api/contract.ts), under the prefix. */
export const STATUS_OBJECT_DIR = 'status/';
/**
 * Where `overlay-lb apply --cluster` tells each node which spec version to run (a
 * `DesiredSpecPointer`, src/agent-api/contract.ts), under the prefix: one object per node, read by
 * that node's agent only, so the CLI advances the nodes one at a time.
 */
export const DESIRED_OBJECT_DIR = 'desired/';
/** The inline policy of the nodes' role (one policy: src/cloud/aws/iam-policy.ts). */
export const NODE_POLICY_NAME = 'overlay-lb-node';

/** The names `up` gives the resources of `spec`'s cluster. */
export interface ResourceNames {
  /** IAM role and instance profile (IAM names: at most 64 characters; cluster names have at most 32). */
  readonly role: string;
  readonly instanceProfile: string;
  readonly securityGroup: string;
  readonly bucket: string;
  readonly specKey: string;
  readonly packageKey: string;
  /** The key patterns of the nodes' desired-version pointers and published statuses (`*` for the node). */
  readonly rollout: { readonly pointers: string; readonly statuses: string };
}

/** The release objects' keys under `prefix` ("" or ending in `/`). */
export function releaseKeys(prefix: string): { readonly specKey: string; readonly packageKey: string } {
  return { specKey: `${prefix}${SPEC_OBJECT}`, packageKey: `${prefix}${PACKAGE_OBJECT}` };
}

/** The key of node `node`'s published status under `prefix` ("" or ending in `/`). */
export function statusKey(prefix: string, node: string): string {
  return `${prefix}${STATUS_OBJECT_DIR}${node}.json`;
}

/** The key of node `node`'s desired-version pointer under `prefix` ("" or ending in `/`). */
export function desiredKey(prefix: string, node: string): string {
  return `${prefix}${DESIRED_OBJECT_DIR}${node}.json`;
}

/** Every name of the cluster's resources. Throws (a bug) for a spec without `provision`. */
export function resourceNames(spec: Spec): ResourceNames {
  const p = spec.provision;
  if (p === undefined) throw new Error('resourceNames: the spec has no provision section');
  const base = `overlay-lb-${spec.cluster.name}`;
  return { role: base, instanceProfile: base, securityGroup: base, bucket: p.bucket, ...releaseKeys(p.prefix), rollout: { pointers: desiredKey(p.prefix, '*'), statuses: statusKey(p.prefix, '*') } };
}

/** The ownership tags of a resource of `cluster` (AWS's `Tags` shape). */
export function ownershipTags(cluster: string): { Key: string; Value: string }[] {
  return [{ Key: OWNER_TAG, Value: cluster }];
}

/** Whether tags (AWS's shape, possibly absent) mark a resource as owned by `cluster`. */
export function ownedBy(tags: readonly { readonly Key?: string | undefined; readonly Value?: string | undefined }[] | undefined, cluster: string): boolean {
  return (tags ?? []).some((t) => t.Key === OWNER_TAG && t.Value === cluster);
}
