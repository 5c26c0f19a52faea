// The OverlayLb construct's template, resource by resource, with aws-cdk-lib/assertions, and held
// to `overlay-lb up`'s definitions: the role's policy is up's document (tokens resolved to a test
// account and region), the group's rules are `securityGroupIngress`, each node's launch is
// `nodeLaunchInput` with user-data byte-identical to `nodeUserData` for the assets' location.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Match } from 'aws-cdk-lib/assertions';
import { EC2_TRUST_POLICY, lbNodePolicy } from '../../src/cloud/aws/iam-policy.js';
import { canonicalJson } from '../../src/cloud/aws/provision/iam-resources.js';
import { nodeLaunchInput, NODE_TAG } from '../../src/cloud/aws/provision/instance-launch.js';
import { NODE_POLICY_NAME, OWNER_TAG, resourceNames } from '../../src/cloud/aws/provision/names.js';
import { nodeRolePolicy } from '../../src/cloud/aws/provision/node-policy.js';
import { permissionKeys, securityGroupIngress, type IpPermission } from '../../src/cloud/aws/provision/security-group-rules.js';
import { nodeUserData } from '../../src/cloud/aws/provision/user-data.js';
import { parseSpec } from '../../src/speclang/parse.js';
import { resolveCfn, resolveString, resourcesOfType } from '../../test/helpers/cfn-resolve.js';
import { deployedValues, FIXTURE_PACKAGE, FIXTURE_SPEC, synthExample, TEST_ACCOUNT, TEST_REGION } from './synth.js';
import type { OverlayLb } from '../src/index.js';
import type { App } from 'aws-cdk-lib';

const specText = readFileSync(FIXTURE_SPEC, 'utf8');
const parsed = parseSpec(specText, { file: FIXTURE_SPEC });
if (!parsed.ok) throw new Error('the fixture spec is invalid');
const spec = parsed.spec;
const { stack, template, json } = synthExample();
const values = deployedValues(json);
const assetBucket = `cdk-hnb659fds-assets-${TEST_ACCOUNT}-${TEST_REGION}`;
const lb = stack.node.findChild('Lb') as OverlayLb;
// The assets' keys (content hashes, literal in the template; the asset test checks their bytes).
const release = { bucket: assetBucket, specKey: stack.resolve(lb.specAsset.s3ObjectKey) as string, packageKey: stack.resolve(lb.packageAsset.s3ObjectKey) as string };
const ownership = { Key: OWNER_TAG, Value: 'demo' };

void test('one role, one profile, one group, a launch template and an instance per node, a VIP route per selected table', () => {
  template.resourceCountIs('AWS::IAM::Role', 1);
  template.resourceCountIs('AWS::IAM::InstanceProfile', 1);
  template.resourceCountIs('AWS::EC2::SecurityGroup', 1);
  // VRRP and the handoff between the nodes, port 80 from the two client CIDRs.
  template.resourceCountIs('AWS::EC2::SecurityGroupIngress', 4);
  template.resourceCountIs('AWS::EC2::LaunchTemplate', 2);
  template.resourceCountIs('AWS::EC2::Instance', 2);
  // discover: all -> every route table of the VPC's subnets (examples/cdk/stack.ts: six).
  template.resourceCountIs('AWS::EC2::Route', 6);
  // Nothing else: no bucket (the assets live in the bootstrap bucket), no Lambda, no policy resource.
  const types = new Set(Object.values(json.Resources).map((r) => r.Type));
  assert.deepEqual([...types].sort(), ['AWS::EC2::Instance', 'AWS::EC2::LaunchTemplate', 'AWS::EC2::Route', 'AWS::EC2::SecurityGroup', 'AWS::EC2::SecurityGroupIngress', 'AWS::IAM::InstanceProfile', 'AWS::IAM::Role']);
});

void test('the role trusts EC2 only, carries the ownership tag, and its profile holds it', () => {
  const [[roleId]] = resourcesOfType(json, 'AWS::IAM::Role') as [[string, unknown]];
  template.hasResourceProperties('AWS::IAM::Role', {
    AssumeRolePolicyDocument: EC2_TRUST_POLICY,
    Policies: [{ PolicyName: NODE_POLICY_NAME, PolicyDocument: Match.anyValue() }],
    Tags: [ownership],
  });
  template.hasResourceProperties('AWS::IAM::InstanceProfile', { Roles: [{ Ref: roleId }] });
});

void test('the role\'s policy is overlay-lb up\'s document for the same account, region and objects', () => {
  const [[, role]] = resourcesOfType(json, 'AWS::IAM::Role') as [[string, { Policies: { PolicyDocument: unknown }[] }]];
  const policies = role.Policies;
  assert.equal(policies.length, 1);
  const resolved = resolveCfn(policies[0]!.PolicyDocument, values);
  // up's derivation (kinds.ts calls nodeRolePolicy with the caller's account and the spec's region) ...
  const ups = nodeRolePolicy(spec, { region: TEST_REGION, account: TEST_ACCOUNT, release });
  assert.deepEqual(resolved, ups);
  // ... which is lbNodePolicy, the one policy source, written out as up fills it in.
  assert.deepEqual(resolved, lbNodePolicy({
    arn: (type, id) => `arn:aws:ec2:${TEST_REGION}:${TEST_ACCOUNT}:${type}/${id}`,
    vpcId: 'vpc-0de30000000000001',
    eipAllocationId: null,
    release: { bucket: assetBucket, keys: [release.specKey, release.packageKey] },
  }));
  // The same document as IAM compares them (up's drift check: canonical JSON).
  assert.equal(canonicalJson(resolved), canonicalJson(ups));
  // Least privilege holds: the release objects are exactly the two assets.
  const read = (resolved as { readonly Statement: readonly { readonly Sid?: string; readonly Resource: unknown }[] }).Statement.find((s) => s.Sid === 'ReadRelease');
  assert.deepEqual(read?.Resource, [`arn:aws:s3:::${assetBucket}/${release.specKey}`, `arn:aws:s3:::${assetBucket}/${release.packageKey}`]);
  // And the construct exposes the same document it declares.
  assert.deepEqual(resolveCfn(stack.resolve(lb.policyDocument), values), ups);
});

void test('the security group has exactly up\'s rules: VRRP and UDP 4789 from itself, each frontend port from its clients', () => {
  const [[groupId]] = resourcesOfType(json, 'AWS::EC2::SecurityGroup') as [[string, unknown]];
  template.hasResourceProperties('AWS::EC2::SecurityGroup', { VpcId: 'vpc-0de30000000000001', Tags: [ownership], SecurityGroupIngress: Match.absent(), SecurityGroupEgress: Match.absent() });
  const self = { 'Fn::GetAtt': [groupId, 'GroupId'] };
  template.hasResourceProperties('AWS::EC2::SecurityGroupIngress', { GroupId: self, IpProtocol: '112', SourceSecurityGroupId: self, FromPort: Match.absent() });
  template.hasResourceProperties('AWS::EC2::SecurityGroupIngress', { GroupId: self, IpProtocol: 'udp', FromPort: 4789, ToPort: 4789, SourceSecurityGroupId: self });
  const groupIdValue = values[`${groupId}.GroupId`]!;
  const declared: IpPermission[] = resourcesOfType(json, 'AWS::EC2::SecurityGroupIngress').map(([, p]) => {
    const r = resolveCfn(p, values) as { IpProtocol: string; FromPort?: number; ToPort?: number; CidrIp?: string; SourceSecurityGroupId?: string; GroupId: string };
    assert.equal(r.GroupId, groupIdValue);
    return {
      IpProtocol: r.IpProtocol,
      ...(r.FromPort === undefined ? {} : { FromPort: r.FromPort, ToPort: r.ToPort! }),
      ...(r.CidrIp === undefined ? {} : { IpRanges: [{ CidrIp: r.CidrIp }] }),
      ...(r.SourceSecurityGroupId === undefined ? {} : { UserIdGroupPairs: [{ GroupId: r.SourceSecurityGroupId }] }),
    };
  });
  assert.deepEqual(permissionKeys(declared), permissionKeys(securityGroupIngress(spec, groupIdValue)));
  assert.deepEqual(permissionKeys(declared), [
    `112 from ${groupIdValue}`, 'tcp:80-80 from 10.0.0.0/16', 'tcp:80-80 from 10.1.0.0/16', `udp:4789-4789 from ${groupIdValue}`,
  ]);
});

void test('each node: its launch template and instance are nodeLaunchInput (IMDSv2, subnet, address, group, profile, tags), source/dest check off', () => {
  const templates = new Map(resourcesOfType(json, 'AWS::EC2::LaunchTemplate'));
  const subnets: Record<string, string> = { 'lb-a': 'subnet-8403c28dda82b7052', 'lb-b': 'subnet-aa9cc7000dca0fc79' };
  const instances = resourcesOfType(json, 'AWS::EC2::Instance');
  assert.equal(instances.length, spec.cluster.nodes.length);
  for (const [index, node] of spec.cluster.nodes.entries()) {
    const [instanceId, instance] = instances[index]!;
    const tags = [{ Key: 'Name', Value: `demo-${node.name}` }, ownership, { Key: NODE_TAG, Value: node.name }];
    template.hasResourceProperties('AWS::EC2::Instance', { SourceDestCheck: false, SubnetId: subnets[node.name], PrivateIpAddress: node.address, SecurityGroupIds: [{ 'Fn::GetAtt': [Match.stringLikeRegexp('^LbSecurityGroup'), 'GroupId'] }], Tags: tags, LaunchTemplate: Match.objectLike({ Version: Match.objectLike({ 'Fn::GetAtt': Match.arrayWith(['LatestVersionNumber']) }) }) });
    assert.deepEqual(json.Resources[instanceId]!.DependsOn, resourcesOfType(json, 'AWS::IAM::InstanceProfile').map(([id]) => id));
    const templateId = (instance['LaunchTemplate'] as { LaunchTemplateId: { Ref: string } }).LaunchTemplateId.Ref;
    const launch = templates.get(templateId)!;
    assert.deepEqual(launch['TagSpecifications'], [{ ResourceType: 'launch-template', Tags: [ownership] }]);
    const data = launch['LaunchTemplateData'] as Record<string, unknown>;
    assert.deepEqual(data['MetadataOptions'], { HttpTokens: 'required', HttpEndpoint: 'enabled', HttpPutResponseHopLimit: 1 });
    // The primary interface is the instance's (subnet, address, group), not the template's.
    assert.equal(data['NetworkInterfaces'], undefined);
    assert.deepEqual([instance['SubnetId'], instance['PrivateIpAddress']], [subnets[node.name], node.address]);
    // The whole launch, tokens resolved: exactly what up's RunInstances would send for it.
    const resolved = resolveCfn(data, values) as Record<string, unknown>;
    const onInstance = resolveCfn({ SubnetId: instance['SubnetId'], PrivateIpAddress: instance['PrivateIpAddress'], SecurityGroupIds: instance['SecurityGroupIds'] }, values) as { SubnetId: string; PrivateIpAddress: string; SecurityGroupIds: string[] };
    const { MinCount, MaxCount, ClientToken, ...ups } = nodeLaunchInput(spec, node.name, {
      subnetId: subnets[node.name]!, securityGroupId: values[Object.keys(values).find((k) => k.endsWith('.GroupId'))!]!, instanceProfile: 'overlay-lb-test-profile', release,
    });
    assert.deepEqual({ ...resolved, ...onInstance }, ups);
    assert.deepEqual([MinCount, MaxCount, typeof ClientToken], [1, 1, 'string']);
  }
});

void test('the user-data is nodeUserData byte for byte, for the assets\' bucket and keys', () => {
  const templates = new Map(resourcesOfType(json, 'AWS::EC2::LaunchTemplate'));
  for (const [, instance] of resourcesOfType(json, 'AWS::EC2::Instance')) {
    const launch = templates.get((instance['LaunchTemplate'] as { LaunchTemplateId: { Ref: string } }).LaunchTemplateId.Ref)!;
    const data = launch['LaunchTemplateData'] as { UserData: unknown };
    const node = spec.cluster.nodes.find((n) => n.address === instance['PrivateIpAddress'])!;
    const text = Buffer.from(resolveString(data.UserData, values), 'base64').toString('utf8');
    assert.equal(text, nodeUserData(spec, node.name, { release }));
    // Only the release location differs from what up writes for its own bucket, and the agent's
    // arguments and the pointer: the construct's nodes do not follow up's release bucket (no
    // --follow-release) and install the newest spec (no desired-version pointer to read).
    const ups = nodeUserData(spec, node.name);
    const names = resourceNames(spec);
    assert.equal(text.replace(`bucket='${release.bucket}'`, `bucket='${names.bucket}'`).replace(`spec_key='${release.specKey}'`, `spec_key='${names.specKey}'`).replace(`package_key='${release.packageKey}'`, `package_key='${names.packageKey}'`).replace("agent_args=''", "agent_args='--follow-release'").replace("pointer_key=''", `pointer_key='${names.rollout.pointers.replace('*', node.name)}'`), ups);
  }
});

void test('the spec and the package are file assets with the bytes given, at the keys the policy and user-data name', () => {
  const cloud = (stack.node.root as App).synth();
  const manifest = JSON.parse(readFileSync(join(cloud.directory, `${stack.artifactId}.assets.json`), 'utf8')) as {
    files: Record<string, { source: { path: string; packaging: string }; destinations: Record<string, { bucketName: string; objectKey: string }> }>;
  };
  // Besides the template itself (deployed as an asset too), exactly the spec and the package.
  const files = Object.values(manifest.files).filter((f) => !f.source.path.endsWith('.template.json')).map((f) => ({
    bytes: readFileSync(join(cloud.directory, f.source.path), 'utf8'),
    packaging: f.source.packaging,
    at: Object.values(f.destinations).map((d) => [resolveString({ 'Fn::Sub': d.bucketName }, values), d.objectKey]),
  }));
  assert.deepEqual(files.sort((a, b) => a.bytes.localeCompare(b.bytes)), [
    { bytes: readFileSync(FIXTURE_PACKAGE, 'utf8'), packaging: 'file', at: [[assetBucket, release.packageKey]] },
    { bytes: specText, packaging: 'file', at: [[assetBucket, release.specKey]] },
  ].sort((a, b) => a.bytes.localeCompare(b.bytes)));
});

void test('the VIP route is in every selected table, to the preferred node (highest priority)', () => {
  const [[firstInstance]] = resourcesOfType(json, 'AWS::EC2::Instance') as [[string, unknown]];
  const tables = resourcesOfType(json, 'AWS::EC2::Route').map(([, p]) => {
    assert.deepEqual(p['InstanceId'], { Ref: firstInstance });
    assert.equal(p['DestinationCidrBlock'], '192.168.100.10/32');
    return p['RouteTableId'];
  });
  assert.deepEqual(tables, ['rtb-2a1a102f3ac17badc', 'rtb-6e989b13d3f257eef', 'rtb-de80ee58cf0640717', 'rtb-9bd3ca242c48f361d', 'rtb-e6b57474b18ecc5fb', 'rtb-155a952be0f2211fa']);
});

void test('outputs: the VIP, the bucket and keys, each node\'s instance id', () => {
  const outputs = Object.values(json.Outputs ?? {}).map((o) => [o.Description, resolveCfn(o.Value, values)]);
  const instances = resourcesOfType(json, 'AWS::EC2::Instance').map(([id]) => values[id]);
  assert.deepEqual(outputs, [
    ['The VIP of cluster demo', '192.168.100.10'],
    ['The bucket of the spec and the package the nodes read', assetBucket],
    ['The spec\'s key in the bucket', release.specKey],
    ['The package\'s key in the bucket', release.packageKey],
    ['The instance of node lb-a', instances[0]],
    ['The instance of node lb-b', instances[1]],
  ]);
});
