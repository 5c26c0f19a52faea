/**
 * The one derivation of the nodes' role policy for `overlay-lb up` and the CDK construct
 * (src/cloud/aws/provision/node-policy.ts), and the release location that user-data and launch
 * take as a parameter (the construct passes its S3 assets'; up's own output is unchanged).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { lbNodePolicy } from '../../src/cloud/aws/iam-policy.js';
import { nodeLaunchInput } from '../../src/cloud/aws/provision/instance-launch.js';
import { resourceNames } from '../../src/cloud/aws/provision/names.js';
import { ec2Arn, nodeRolePolicy } from '../../src/cloud/aws/provision/node-policy.js';
import { nodeUserData } from '../../src/cloud/aws/provision/user-data.js';
import { parseSpec } from '../../src/speclang/parse.js';

const file = fileURLToPath(new URL('../../../examples/provision.yaml', import.meta.url));
const parsed = parseSpec(readFileSync(file, 'utf8'), { file });
if (!parsed.ok) throw new Error('examples/provision.yaml is invalid');
const spec = parsed.spec;
const names = resourceNames(spec);

void test('nodeRolePolicy is lbNodePolicy filled in from the spec, the account, the region and the release objects', () => {
  assert.equal(ec2Arn({ region: 'us-east-1', account: '123456789012' })('vpc', 'vpc-1'), 'arn:aws:ec2:us-east-1:123456789012:vpc/vpc-1');
  assert.deepEqual(nodeRolePolicy(spec, { region: 'us-east-1', account: '123456789012', release: names }), lbNodePolicy({
    arn: (type, id) => `arn:aws:ec2:us-east-1:123456789012:${type}/${id}`,
    vpcId: 'vpc-0de30000000000001',
    eipAllocationId: null,
    release: { bucket: 'overlay-lb-demo-releases', keys: ['demo/spec.yaml', 'demo/overlay-lb.deb'], rollout: { pointers: 'demo/desired/*.json', statuses: 'demo/status/*.json' } },
  }));
  // Without the rollout's keys (the CDK construct's assets): the release read only.
  assert.equal(nodeRolePolicy(spec, { region: 'us-east-1', account: '123456789012', release: { bucket: names.bucket, specKey: names.specKey, packageKey: names.packageKey } }).Statement.some((s) => s.Sid === 'FollowRollout' || s.Sid === 'PublishStatus'), false);
  const other = { bucket: 'cdk-hnb659fds-assets-123456789012-us-east-1', specKey: 'a.yaml', packageKey: 'b.deb' };
  const read = nodeRolePolicy(spec, { region: 'us-east-1', account: '123456789012', release: other }).Statement.find((s) => s.Sid === 'ReadRelease');
  assert.deepEqual(read?.Resource, ['arn:aws:s3:::cdk-hnb659fds-assets-123456789012-us-east-1/a.yaml', 'arn:aws:s3:::cdk-hnb659fds-assets-123456789012-us-east-1/b.deb']);
});

void test('user-data and launch: up\'s location by default, another one when given, quoted the same way', () => {
  assert.equal(nodeUserData(spec, 'lb-a', { release: names }), nodeUserData(spec, 'lb-a'));
  const other = { bucket: 'cdk-assets', specKey: 'a.yaml', packageKey: 'b.deb' };
  const text = nodeUserData(spec, 'lb-a', { release: other });
  assert.match(text, /^bucket='cdk-assets'\nspec_key='a.yaml'\npackage_key='b.deb'$/m);
  // A release without pointers (the construct's assets): no pointer read, no --follow-release.
  assert.equal(text.replace("bucket='cdk-assets'\nspec_key='a.yaml'\npackage_key='b.deb'", "bucket='overlay-lb-demo-releases'\nspec_key='demo/spec.yaml'\npackage_key='demo/overlay-lb.deb'")
    .replace("pointer_key=''", "pointer_key='demo/desired/lb-a.json'").replace("agent_args=''", "agent_args='--follow-release'"), nodeUserData(spec, 'lb-a'));
  assert.throws(() => nodeUserData(spec, 'lb-a', { release: { ...other, bucket: "x'; reboot; '" } }), { code: 'SPEC_UNSAFE_VALUE', message: /the bucket "x'; reboot; '" cannot be written into the nodes' user-data/ });
  const launch = { subnetId: 'subnet-1', securityGroupId: 'sg-1', instanceProfile: 'p' };
  const decoded = (input: { UserData?: string | undefined }): string => Buffer.from(input.UserData ?? '', 'base64').toString('utf8');
  assert.equal(decoded(nodeLaunchInput(spec, 'lb-a', launch)), nodeUserData(spec, 'lb-a'));
  assert.equal(decoded(nodeLaunchInput(spec, 'lb-a', { ...launch, release: other })), text);
  // up's launch (and its idempotency token) is what it was without the option.
  assert.deepEqual(nodeLaunchInput(spec, 'lb-a', { ...launch, release: names }), nodeLaunchInput(spec, 'lb-a', launch));
});
