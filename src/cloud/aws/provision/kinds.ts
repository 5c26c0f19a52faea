/**
 * The registry of resource kinds `overlay-lb up` provisions on AWS (and in the lab), in
 * dependency order: each entry builds the resources of its kind from the spec. The kinds still to
 * come are listed with what they wait for, so every plan says what it does not provision yet.
 * Recipe for a new kind (docs/provisioning.md): a builder file beside these, one entry here, its
 * desired state derived by a pure function with table tests.
 */
import type { Spec } from '../../../model/spec.js';
import type { PendingKind, ProvisionResource } from '../../provision-kind.js';
import { iamResources } from './iam-resources.js';
import { resourceNames } from './names.js';
import { nodeRolePolicy } from './node-policy.js';
import { s3Resources } from './s3-resources.js';
import type { ProvisionSession } from './session.js';

/** What the resources are built from besides the spec. */
export interface ProvisionInputs {
  readonly spec: Spec;
  /** The spec file's bytes, as the nodes will read them. */
  readonly specText: Uint8Array;
  /** The Debian package's bytes (scripts/build-deb.sh). */
  readonly packageBytes: Uint8Array;
  readonly session: ProvisionSession;
  /** The account of the session's credentials (ARNs of the role policy). */
  readonly account: string;
}

interface KindEntry {
  readonly kinds: readonly string[];
  readonly build: (inputs: ProvisionInputs) => ProvisionResource[];
}

/** The registry: one entry per group of kinds that are built together, in dependency order. */
const KINDS: readonly KindEntry[] = [
  {
    kinds: ['iam-role', 'iam-role-policy', 'iam-instance-profile', 'iam-profile-role'],
    build: ({ spec, session, account }) => {
      const names = resourceNames(spec);
      const policy = nodeRolePolicy(spec, { region: session.region, account, release: names });
      return iamResources({ session, account, cluster: spec.cluster.name, roleName: names.role, profileName: names.instanceProfile, policy });
    },
  },
  {
    kinds: ['s3-bucket', 's3-object'],
    build: ({ spec, session, specText, packageBytes }) => {
      const names = resourceNames(spec);
      return s3Resources({
        session, cluster: spec.cluster.name, bucket: names.bucket,
        objects: [
          { what: 'the spec', key: names.specKey, body: specText, contentType: 'application/yaml' },
          { what: 'the package', key: names.packageKey, body: packageBytes, contentType: 'application/vnd.debian.binary-package' },
        ],
      });
    },
  },
];

/** Kinds `up` will provision once the lab (and this registry) has them. */
export const PENDING_KINDS: readonly PendingKind[] = [
  { kind: 'security-group', label: 'security group', why: 'the rules are derived (security-group-rules.ts); creating the group waits for the lab\'s security groups (issue 18 item 3)' },
  { kind: 'instances', label: 'one instance per node (IMDSv2, source/dest check off, user-data)', why: 'the user-data is derived (user-data.ts); launching waits for the lab\'s RunInstances (issue 18 item 2)' },
  { kind: 'vip-routes', label: 'the VIP route in every selected route table', why: 'needs the instances\' network interfaces' },
];

/** Every kind the registry provisions today, in order. */
export const PROVISIONED_KINDS: readonly string[] = KINDS.flatMap((k) => k.kinds);

/** The resources of every provisioned kind for these inputs, in dependency order. */
export function provisionResources(inputs: ProvisionInputs): ProvisionResource[] {
  return KINDS.flatMap((k) => k.build(inputs));
}
