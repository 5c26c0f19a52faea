/**
 * The registry of resource kinds `overlay-lb up` provisions on AWS (and in the lab), in
 * dependency order: each entry builds the resources of its kind from the spec (and, for the VIP
 * routes, from the route tables the spec selects: a read). Kinds still to come would be listed in
 * PENDING_KINDS with what they wait for, so every plan says what it does not provision yet.
 * Recipe for a new kind (docs/provisioning.md): a builder file beside these, one entry here, its
 * desired state derived by a pure function with table tests.
 */
import type { Spec } from '../../../model/spec.js';
import type { PendingKind, ProvisionResource } from '../../provision-kind.js';
import { iamResources } from './iam-resources.js';
import { instanceLabel, instanceResources, type PlaceNodes } from './instance-resources.js';
import { securityGroupLabel, securityGroupResource } from './security-group-resource.js';
import { selectedRouteTables, vipRouteResources } from './vip-route-resources.js';
import { desiredKey, resourceNames, STATUS_OBJECT_DIR, statusKey } from './names.js';
import { nodeRolePolicy } from './node-policy.js';
import { s3PublishedObjects, s3Resources, type S3ResourceOptions } from './s3-resources.js';
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
  /** Where each node goes among the VPC's subnets (src/provision/subnets.ts' nodeSubnets for the spec). */
  readonly placeNodes: PlaceNodes;
}

interface KindEntry {
  readonly kinds: readonly string[];
  /** `earlier`: the resources of the entries before this one (what it may depend on). */
  readonly build: (inputs: ProvisionInputs, earlier: readonly ProvisionResource[], options: { readonly signal: AbortSignal }) => ProvisionResource[] | Promise<ProvisionResource[]>;
}

const ec2Scope = ({ spec, session, account }: ProvisionInputs) => ({ session, account, vpcId: spec.cluster.cloud.vpcId ?? '', cluster: spec.cluster.name });

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
    build: (inputs) => s3Resources(s3Options(inputs)),
  },
  {
    kinds: ['security-group'],
    build: (inputs) => [securityGroupResource(ec2Scope(inputs), inputs.spec, resourceNames(inputs.spec).securityGroup)],
  },
  {
    kinds: ['instance'],
    // After everything the user-data and the launch need: the group, the role with its policy in
    // the profile, the objects the nodes read.
    build: (inputs, earlier) => {
      const names = resourceNames(inputs.spec);
      return instanceResources({
        scope: ec2Scope(inputs), placeNodes: inputs.placeNodes, spec: inputs.spec, groupName: names.securityGroup, instanceProfile: names.instanceProfile,
        dependsOn: [securityGroupLabel(names.securityGroup), ...earlier.filter((r) => r.kind !== 'security-group').map((r) => r.label)],
      });
    },
  },
  {
    kinds: ['vip-route'],
    // Failover mode `route` only (`eip` moves an Elastic IP instead).
    build: async (inputs, _earlier, { signal }) => {
      const { spec } = inputs;
      if (spec.cluster.cloud.failover !== 'route') return [];
      const scope = ec2Scope(inputs);
      const tableIds = await selectedRouteTables(scope, spec.cluster.cloud.routeTables, signal);
      return vipRouteResources({ scope, spec, tableIds, dependsOn: spec.cluster.nodes.map((n) => instanceLabel(spec, n.name)) });
    },
  },
];

/**
 * The release bucket, up's two objects, and what the deployment writes there at run time, marked
 * as the cluster's (down removes their marked versions): each agent's published status and each
 * node's desired-version pointer (`apply --cluster`, `rollback`).
 */
function s3Options({ spec, session, specText, packageBytes }: ProvisionInputs): S3ResourceOptions {
  const names = resourceNames(spec);
  const prefix = spec.provision?.prefix ?? '';
  return {
    session, cluster: spec.cluster.name, bucket: names.bucket, statusPrefix: `${prefix}${STATUS_OBJECT_DIR}`,
    objects: [
      { what: 'the spec', key: names.specKey, body: specText, contentType: 'application/yaml' },
      { what: 'the package', key: names.packageKey, body: packageBytes, contentType: 'application/vnd.debian.binary-package' },
    ],
    published: spec.cluster.nodes.flatMap((n) => [
      { what: `status of node ${n.name}`, key: statusKey(prefix, n.name) },
      { what: `spec version pointer of node ${n.name}`, key: desiredKey(prefix, n.name) },
    ]),
  };
}

/** Kinds `up` will provision but does not yet: none today (the list stays for the next kind). */
export const PENDING_KINDS: readonly PendingKind[] = [];

/** Every kind the registry provisions today, in order. */
export const PROVISIONED_KINDS: readonly string[] = KINDS.flatMap((k) => k.kinds);

/**
 * The resources of every provisioned kind for these inputs, in dependency order. Reads the cloud
 * where the spec selects by discovery (the route tables of `routeTables: { discover: ... }`).
 */
export async function provisionResources(inputs: ProvisionInputs, options: { readonly signal: AbortSignal }): Promise<ProvisionResource[]> {
  const out: ProvisionResource[] = [];
  for (const k of KINDS) out.push(...await k.build(inputs, out, options));
  return out;
}

/**
 * What `overlay-lb down` removes, in dependency order (down goes in reverse): every provisioned
 * resource, and what the deployment writes at run time and marks as the cluster's (each agent's
 * published status, each node's desired-version pointer), which up never creates. They come right
 * after up's objects, so down removes them after the instances (no agent is left to write them
 * again) and before the bucket. The VIP routes come right before the instances, without their
 * dependency on them, so down removes them after the instances: while a node's agent runs it keeps
 * the VIP route true (it would create a removed one again); once the instances are terminated the
 * routes are blackholes, which remove() deletes as the cluster's. (Nor does a foreign VIP route
 * left alone then keep the instances.)
 */
export async function removalResources(inputs: ProvisionInputs, options: { readonly signal: AbortSignal }): Promise<ProvisionResource[]> {
  const resources = await provisionResources(inputs, options);
  const afterS3 = resources.reduce((last, r, i) => (r.kind.startsWith('s3-') ? i + 1 : last), 0);
  const all = [...resources.slice(0, afterS3), ...s3PublishedObjects(s3Options(inputs)), ...resources.slice(afterS3)];
  const routes = all.filter((r) => r.kind === 'vip-route').map((r): ProvisionResource => ({ ...r, dependsOn: [] }));
  const rest = all.filter((r) => r.kind !== 'vip-route');
  const firstInstance = rest.findIndex((r) => r.kind === 'instance');
  const at = firstInstance < 0 ? rest.length : firstInstance;
  return [...rest.slice(0, at), ...routes, ...rest.slice(at)];
}
