/**
 * `OverlayLb`: the deployment `overlay-lb up` makes, declared as an AWS CDK construct for teams
 * that provision with reviewed infrastructure code (docs/cdk.md). Every definition comes from the
 * main package, the one source `up` uses too: the role's policy (`nodeRolePolicy` ->
 * `lbNodePolicy`), the trust policy, the security group's rules (`securityGroupIngress`), each
 * node's launch (`nodeLaunchInput`: image, type, subnet, address, IMDSv2, tags) and user-data
 * (`nodeUserData`), the names and ownership tags (`names.ts`), the subnet choice (`nodeSubnets`).
 * What the CDK adds: S3 assets for the spec and the package (their bucket and keys are passed to
 * those functions), a launch template per node (CloudFormation's instance has no IMDS options or
 * interface tags), and the VIP routes to the preferred node.
 */
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Aws, CfnOutput, CfnResource, FileSystem, Fn, Stack, Token, aws_ec2 as ec2, aws_iam as iam } from 'aws-cdk-lib';
import { Asset } from 'aws-cdk-lib/aws-s3-assets';
import { Construct } from 'constructs';
import type { ClusterNode, Spec } from '../../src/model/spec.js';
import type { IamPolicyDocument } from '../../src/cloud/aws/iam-policy.js';
import { EC2_TRUST_POLICY } from '../../src/cloud/aws/iam-policy.js';
import { nodeLaunchInput } from '../../src/cloud/aws/provision/instance-launch.js';
import { NODE_POLICY_NAME, ownershipTags, type ReleaseLocation } from '../../src/cloud/aws/provision/names.js';
import { nodeRolePolicy } from '../../src/cloud/aws/provision/node-policy.js';
import { securityGroupIngress, type IpPermission } from '../../src/cloud/aws/provision/security-group-rules.js';
import { OverlayError } from '../../src/util/errors.js';
import { placeNodes, selectRouteTables } from './placement.js';
import { propsError } from './props-error.js';
import { loadSpec, type OverlayLbSpec } from './spec-source.js';

export interface OverlayLbProps {
  /**
   * The VPC of the spec's `cluster.cloud.vpcId`. Its id must be known at synth (the agents read
   * it from the spec, and the role's policy names it): import it with `ec2.Vpc.fromVpcAttributes`
   * (ids, zones, subnet CIDRs and route tables: no account needed) or `ec2.Vpc.fromLookup`.
   */
  readonly vpc: ec2.IVpc;
  /**
   * The spec, validated at synth by overlay-lb's own validator (what `overlay-lb validate` runs);
   * it needs a `provision` section (image, instance type, client CIDRs: docs/spec.md). Uploaded
   * as an S3 asset, byte for byte, for the nodes to read.
   */
  readonly spec: OverlayLbSpec;
  /** The Debian package the nodes install (scripts/build-deb.sh), uploaded as an S3 asset. */
  readonly packageFile: string;
  /**
   * Node name -> the subnet it is launched in.
   * @default the spec's `provision.subnets` for the node's zone, else the VPC's subnet in that
   * zone whose CIDR holds the node's address (the choice `overlay-lb up` makes)
   */
  readonly nodeSubnets?: Readonly<Record<string, ec2.ISubnet>>;
  /** The nodes' EC2 instance type. @default the spec's `provision.instanceType` (t3.small) */
  readonly instanceType?: string;
  /**
   * The route tables that get the VIP's /32 route (to the preferred node; the agents move it on
   * failover). @default the spec's `cluster.cloud.routeTables`: the ids listed, or for
   * `discover: all` every route table of the VPC's subnets but `exclude`; a tag selection needs
   * this prop (tags cannot be read at synth)
   */
  readonly routeTableIds?: readonly string[];
}

/** Placeholders the user-data is rendered with, replaced by the assets' bucket and keys (tokens). */
const RELEASE_PLACEHOLDERS: ReleaseLocation = {
  bucket: 'overlay-lb-cdk-asset-bucket',
  specKey: 'overlay-lb-cdk-asset-spec-key',
  packageKey: 'overlay-lb-cdk-asset-package-key',
};

/** The RunInstances fields of `nodeLaunchInput` a launch template holds (same names, same shapes); the interface goes on the instance. */
const LAUNCH_TEMPLATE_FIELDS = new Set(['ImageId', 'InstanceType', 'IamInstanceProfile', 'MetadataOptions', 'UserData', 'TagSpecifications']);
/** RunInstances fields of the node's primary interface: set on the instance itself, beside SourceDestCheck (a launch template's interface cannot carry them with an instance-level SourceDestCheck). */
const INSTANCE_FIELDS = new Set(['SubnetId', 'PrivateIpAddress', 'SecurityGroupIds']);
/** RunInstances fields that are about the call, not the instance. */
const CALL_FIELDS = new Set(['MinCount', 'MaxCount', 'ClientToken']);

const INSTANCE_TYPE = /^[a-z][a-z0-9-]*\.[a-z0-9]+$/;

/** A CloudFormation-safe id part of a node or rule ("lb-a" -> "LbA"). */
function idPart(text: string): string {
  return text.split(/[^A-Za-z0-9]+/).filter((p) => p !== '').map((p) => p[0]!.toUpperCase() + p.slice(1)).join('');
}

/** `text` with each placeholder (present exactly once) replaced by its value (a token). */
function fillPlaceholders(text: string, values: readonly (readonly [string, string])[]): string {
  let out = text;
  for (const [placeholder, value] of values) {
    const parts = out.split(placeholder);
    if (parts.length !== 2) throw new OverlayError('INTERNAL', `the user-data has ${parts.length - 1} copies of ${placeholder}, not one: nodeUserData changed how it writes the release location`);
    out = parts.join(value);
  }
  return out;
}

/**
 * An overlay-lb cluster: the nodes' role and instance profile, their security group, one instance
 * per node of the spec that boots overlay-lb from S3, and the VIP's route in every selected route
 * table. Errors in props or spec stop the synth with CONSTRUCT_PROPS naming the prop and the fix.
 */
export class OverlayLb extends Construct {
  /** The validated spec (what the nodes run). */
  readonly spec: Spec;
  /** The nodes' role: trusts EC2 only; its one inline policy is {@link OverlayLb.policyDocument}. */
  readonly role: iam.CfnRole;
  readonly instanceProfile: iam.CfnInstanceProfile;
  /** The nodes' inline policy, `overlay-lb up`'s document (ARNs with the stack's account and region). */
  readonly policyDocument: IamPolicyDocument;
  readonly securityGroup: ec2.CfnSecurityGroup;
  /** The spec and package as the nodes read them. */
  readonly specAsset: Asset;
  readonly packageAsset: Asset;
  /** Node name -> its instance. */
  readonly instances: ReadonlyMap<string, ec2.CfnInstance>;
  /** The node whose instance the VIP routes point at first (the highest priority). */
  readonly preferredNode: string;
  /** Route table id -> its VIP route. */
  readonly routes: ReadonlyMap<string, ec2.CfnRoute>;

  constructor(scope: Construct, id: string, props: OverlayLbProps) {
    super(scope, id);
    const where = this.node.path;
    const loaded = loadSpec(props.spec, where);
    const stack = Stack.of(this);
    if (!Token.isUnresolved(stack.region) && stack.region !== loaded.region) {
      throw propsError(where, 'stack region', stack.region, `is not the spec's cluster.cloud.region ${loaded.region}`, 'deploy the stack in the spec\'s region (env: { region }) or change cluster.cloud.region');
    }
    if (Token.isUnresolved(props.vpc.vpcId)) {
      throw propsError(where, 'vpc', 'a VPC created in this app', 'has no id at synth, but the spec\'s cluster.cloud.vpcId must name it (the agents and the role\'s policy use it)', 'deploy the VPC first and import it with ec2.Vpc.fromVpcAttributes({ vpcId, ... })');
    }
    if (props.vpc.vpcId !== loaded.vpcId) {
      throw propsError(where, 'vpc', props.vpc.vpcId, `is not the spec's cluster.cloud.vpcId ${loaded.vpcId}`, 'give the spec\'s VPC, or change cluster.cloud.vpcId');
    }
    const instanceType = props.instanceType ?? loaded.spec.provision?.instanceType ?? '';
    if (!INSTANCE_TYPE.test(instanceType)) throw propsError(where, 'instanceType', instanceType, 'is not an EC2 instance type', 'give one such as t3.small');
    if (!existsSync(props.packageFile) || !statSync(props.packageFile).isFile()) {
      throw propsError(where, 'packageFile', props.packageFile, 'is not a file', `give the Debian package built by scripts/build-deb.sh (dist/deb/overlay-lb_<version>_<arch>.deb), relative to ${process.cwd()}`);
    }
    const provision = loaded.spec.provision!;
    const spec: Spec = { ...loaded.spec, provision: { ...provision, instanceType } };
    this.spec = loaded.spec;
    const subnets = placeNodes(spec, props.vpc, props.nodeSubnets ?? {}, where);
    const routeTables = selectRouteTables(spec, props.vpc, props.routeTableIds, where);
    const cluster = spec.cluster.name;
    const tags = ownershipTags(cluster).map((t) => ({ key: t.Key, value: t.Value }));

    // The release: the spec's bytes as validated, and the package.
    let specFile = loaded.file;
    if (specFile === undefined) {
      specFile = join(FileSystem.mkdtemp('overlay-lb-spec'), 'spec.yaml');
      writeFileSync(specFile, loaded.text);
    }
    this.specAsset = new Asset(this, 'Spec', { path: specFile });
    this.packageAsset = new Asset(this, 'Package', { path: props.packageFile });
    const release: ReleaseLocation = { bucket: this.specAsset.s3BucketName, specKey: this.specAsset.s3ObjectKey, packageKey: this.packageAsset.s3ObjectKey };

    // The role and its instance profile: exactly up's policy.
    this.policyDocument = nodeRolePolicy(spec, { region: Aws.REGION, account: Aws.ACCOUNT_ID, release });
    this.role = new iam.CfnRole(this, 'Role', {
      assumeRolePolicyDocument: EC2_TRUST_POLICY,
      policies: [{ policyName: NODE_POLICY_NAME, policyDocument: this.policyDocument }],
      description: `overlay-lb LB nodes of cluster ${cluster} (OverlayLb construct)`,
      tags,
    });
    this.instanceProfile = new iam.CfnInstanceProfile(this, 'InstanceProfile', { roles: [this.role.ref] });

    // The security group: up's rules; the node-to-node ones refer to the group itself.
    this.securityGroup = new ec2.CfnSecurityGroup(this, 'SecurityGroup', {
      groupDescription: `overlay-lb LB nodes of cluster ${cluster}`,
      vpcId: props.vpc.vpcId,
      tags,
    });
    this.#ingress(securityGroupIngress(spec, this.securityGroup.attrGroupId));

    // One instance per node, launched as up launches it.
    const instances = new Map<string, ec2.CfnInstance>();
    for (const node of spec.cluster.nodes) instances.set(node.name, this.#instance(spec, node, subnets.get(node.name) ?? '', release));
    this.instances = instances;

    // The VIP's route in every selected table, to the preferred node (the agents move it later).
    const preferred = spec.cluster.nodes.reduce((best, n) => (n.priority > best.priority ? n : best));
    this.preferredNode = preferred.name;
    const target = instances.get(preferred.name)!;
    const routes = new Map<string, ec2.CfnRoute>();
    for (const table of routeTables) {
      routes.set(table, new ec2.CfnRoute(this, `VipRoute${idPart(table)}`, { routeTableId: table, destinationCidrBlock: `${spec.cluster.vip}/32`, instanceId: target.ref }));
    }
    this.routes = routes;

    new CfnOutput(this, 'Vip', { value: spec.cluster.vip, description: `The VIP of cluster ${cluster}` });
    new CfnOutput(this, 'Bucket', { value: this.specAsset.s3BucketName, description: 'The bucket of the spec and the package the nodes read' });
    new CfnOutput(this, 'SpecKey', { value: this.specAsset.s3ObjectKey, description: 'The spec\'s key in the bucket' });
    new CfnOutput(this, 'PackageKey', { value: this.packageAsset.s3ObjectKey, description: 'The package\'s key in the bucket' });
    for (const [name, instance] of instances) {
      new CfnOutput(this, `Node${idPart(name)}InstanceId`, { value: instance.ref, description: `The instance of node ${name}` });
    }
  }

  /** One ingress resource per (rule, source): AWS::EC2::SecurityGroupIngress takes one source. */
  #ingress(rules: readonly IpPermission[]): void {
    for (const rule of rules) {
      const to = rule.ToPort ?? rule.FromPort;
      const ports = rule.FromPort === undefined ? '' : to === rule.FromPort ? `${rule.FromPort}` : `${rule.FromPort}To${to}`;
      const base = { groupId: this.securityGroup.attrGroupId, ipProtocol: rule.IpProtocol, ...(rule.FromPort === undefined ? {} : { fromPort: rule.FromPort, toPort: to ?? rule.FromPort }) };
      const protocol = rule.IpProtocol === '112' ? 'Vrrp' : idPart(rule.IpProtocol);
      for (const range of rule.IpRanges ?? []) {
        new ec2.CfnSecurityGroupIngress(this, `Ingress${protocol}${ports}From${idPart(range.CidrIp)}`, { ...base, cidrIp: range.CidrIp, ...(range.Description === undefined ? {} : { description: range.Description }) });
      }
      for (const pair of rule.UserIdGroupPairs ?? []) {
        new ec2.CfnSecurityGroupIngress(this, `Ingress${protocol}${ports}FromNodes`, { ...base, sourceSecurityGroupId: pair.GroupId, ...(pair.Description === undefined ? {} : { description: pair.Description }) });
      }
    }
  }

  /**
   * Node `node`'s instance, launched as `nodeLaunchInput` says: its primary interface (subnet,
   * address, group) on the instance, with source/dest check off (the instance attribute, as the
   * CDK's NAT instances set it); the rest (image, type, profile, IMDSv2, the instance's and the
   * interface's tags, the user-data rendered by `nodeUserData` with the assets' location) in a
   * launch template: CloudFormation's AWS::EC2::Instance has no metadata options or interface
   * tags (the CDK's own `requireImdsv2` uses a launch template too).
   */
  #instance(spec: Spec, node: ClusterNode, subnetId: string, release: ReleaseLocation): ec2.CfnInstance {
    const input = nodeLaunchInput(spec, node.name, { subnetId, securityGroupId: this.securityGroup.attrGroupId, instanceProfile: this.instanceProfile.ref, release: RELEASE_PLACEHOLDERS });
    const data: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(input)) {
      if (CALL_FIELDS.has(key) || INSTANCE_FIELDS.has(key) || value === undefined) continue;
      if (!LAUNCH_TEMPLATE_FIELDS.has(key)) throw new OverlayError('INTERNAL', `nodeLaunchInput sets ${key}, which the OverlayLb construct does not map into a launch template yet: add it to LAUNCH_TEMPLATE_FIELDS (constructs/src/overlay-lb.ts) if LaunchTemplateData has it`);
      data[key] = value;
    }
    if (input.SubnetId === undefined || input.PrivateIpAddress === undefined || input.SecurityGroupIds === undefined || input.NetworkInterfaces !== undefined) {
      throw new OverlayError('INTERNAL', `nodeLaunchInput's primary interface changed (${JSON.stringify({ SubnetId: input.SubnetId, PrivateIpAddress: input.PrivateIpAddress, SecurityGroupIds: input.SecurityGroupIds, NetworkInterfaces: input.NetworkInterfaces })}): map it onto the instance in constructs/src/overlay-lb.ts`);
    }
    const script = Buffer.from(input.UserData ?? '', 'base64').toString('utf8');
    data['UserData'] = Fn.base64(fillPlaceholders(script, [
      [RELEASE_PLACEHOLDERS.bucket, release.bucket],
      [RELEASE_PLACEHOLDERS.specKey, release.specKey],
      [RELEASE_PLACEHOLDERS.packageKey, release.packageKey],
    ]));
    const id = idPart(node.name);
    const template = new CfnResource(this, `Node${id}LaunchTemplate`, {
      type: 'AWS::EC2::LaunchTemplate',
      properties: {
        LaunchTemplateData: data,
        TagSpecifications: [{ ResourceType: 'launch-template', Tags: ownershipTags(spec.cluster.name) }],
      },
    });
    const instanceTags = input.TagSpecifications?.find((t) => t.ResourceType === 'instance')?.Tags ?? [];
    const instance = new ec2.CfnInstance(this, `Node${id}`, {
      launchTemplate: { launchTemplateId: template.ref, version: template.getAtt('LatestVersionNumber').toString() },
      subnetId: input.SubnetId,
      privateIpAddress: input.PrivateIpAddress,
      securityGroupIds: input.SecurityGroupIds,
      sourceDestCheck: false,
      tags: instanceTags.map((t) => ({ key: t.Key ?? '', value: t.Value ?? '' })),
    });
    // The role must be in its profile before EC2 is asked to launch with it.
    instance.addResourceDependency(this.instanceProfile, "the role is in its profile before EC2 launches with it");
    return instance;
  }
}
