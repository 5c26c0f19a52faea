// DescribeAvailabilityZones, DescribeImages (the lab's one Debian 12 image) and
// DescribeInstanceAttribute, driven by the AWS SDK v3 and by /usr/bin/aws, with their errors.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import {
  DescribeAvailabilityZonesCommand, DescribeImagesCommand, DescribeInstanceAttributeCommand, DescribeSubnetsCommand, EC2Client, ModifyInstanceAttributeCommand,
} from '@aws-sdk/client-ec2';
import { buildExampleCloud, type ExampleCloud } from '../../src/lab/ec2/example.js';
import { ALLOW_ALL_POLICY, type LabCredential } from '../../src/lab/ec2/policy.js';
import { startEc2Api } from '../../src/lab/ec2/server.js';
import { LAB_IMAGE_ID } from '../../src/lab/ec2/state.js';
import { awsCli, awsCliSkip } from '../helpers/aws-cli.js';

const REGION = 'eu-west-1';
const ADMIN: LabCredential = { accessKeyId: 'AKIALABADMIN0000001', secretAccessKey: 'admin-secret', principal: 'admin', policy: ALLOW_ALL_POLICY };

async function start(t: TestContext): Promise<{ lab: ExampleCloud; url: string; ec2: EC2Client }> {
  const lab = buildExampleCloud({ region: REGION });
  const controller = new AbortController();
  const api = await startEc2Api({ cloud: lab.cloud, host: '127.0.0.1', port: 0, signal: controller.signal, credentials: [ADMIN] });
  const ec2 = new EC2Client({ region: REGION, endpoint: api.url, maxAttempts: 1, credentials: { accessKeyId: ADMIN.accessKeyId, secretAccessKey: ADMIN.secretAccessKey } });
  t.after(async () => {
    ec2.destroy();
    controller.abort();
    await api.close();
  });
  return { lab, url: api.url, ec2 };
}

async function rejectsWith(promise: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  await assert.rejects(promise, (error: Error) => {
    assert.equal(error.name, code, `${error.name}: ${error.message}`);
    if (message !== undefined) assert.match(error.message, message);
    return true;
  });
}

void test('DescribeAvailabilityZones: the subnets\' zones with AWS-style zone ids, by name, id and filter', async (t) => {
  const { ec2 } = await start(t);
  const zones = (await ec2.send(new DescribeAvailabilityZonesCommand({}))).AvailabilityZones ?? [];
  assert.deepEqual(zones.map((z) => [z.ZoneName, z.ZoneId, z.State, z.RegionName, z.ZoneType]), [
    ['eu-west-1a', 'euw1-az1', 'available', REGION, 'availability-zone'], ['eu-west-1b', 'euw1-az2', 'available', REGION, 'availability-zone'],
  ]);
  const subnets = (await ec2.send(new DescribeSubnetsCommand({ Filters: [{ Name: 'availability-zone', Values: ['eu-west-1b'] }] }))).Subnets ?? [];
  assert.deepEqual([...new Set(subnets.map((s) => s.AvailabilityZoneId))], ['euw1-az2']);
  const byFilter = await ec2.send(new DescribeAvailabilityZonesCommand({ Filters: [{ Name: 'zone-id', Values: ['euw1-az2'] }] }));
  assert.deepEqual(byFilter.AvailabilityZones?.map((z) => z.ZoneName), ['eu-west-1b']);
  await rejectsWith(ec2.send(new DescribeAvailabilityZonesCommand({ ZoneNames: ['eu-west-1z'] })), 'InvalidParameterValue', /The zone 'eu-west-1z' does not exist/);
});

void test('DescribeImages: one Debian 12 image, found by id, owner and name; unknown and malformed ids answer EC2\'s errors', async (t) => {
  const { ec2 } = await start(t);
  const images = (await ec2.send(new DescribeImagesCommand({ Owners: ['136693071363'], Filters: [{ Name: 'name', Values: ['debian-12-amd64-*'] }] }))).Images ?? [];
  assert.equal(images.length, 1);
  assert.equal(images[0]?.ImageId, LAB_IMAGE_ID);
  assert.equal(images[0]?.Architecture, 'x86_64');
  assert.equal(images[0]?.State, 'available');
  assert.equal((await ec2.send(new DescribeImagesCommand({ ImageIds: [LAB_IMAGE_ID] }))).Images?.[0]?.Name, images[0]?.Name);
  assert.deepEqual((await ec2.send(new DescribeImagesCommand({ Owners: ['self'] }))).Images, []);
  assert.deepEqual((await ec2.send(new DescribeImagesCommand({ Filters: [{ Name: 'name', Values: ['ubuntu-*'] }] }))).Images, []);
  await rejectsWith(ec2.send(new DescribeImagesCommand({ ImageIds: ['ami-0123456789abcdef0'] })), 'InvalidAMIID.NotFound', /The image id '\[ami-0123456789abcdef0\]' does not exist/);
  await rejectsWith(ec2.send(new DescribeImagesCommand({ ImageIds: ['ami-nothex'] })), 'InvalidAMIID.Malformed');
});

void test('DescribeInstanceAttribute follows ModifyInstanceAttribute (sourceDestCheck); unknown attribute and instance are refused', async (t) => {
  const { lab, ec2 } = await start(t);
  const read = async (): Promise<boolean | undefined> =>
    (await ec2.send(new DescribeInstanceAttributeCommand({ InstanceId: lab.ids.lb1, Attribute: 'sourceDestCheck' }))).SourceDestCheck?.Value;
  assert.equal(await read(), true);
  await ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: lab.ids.lb1, SourceDestCheck: { Value: false } }));
  assert.equal(await read(), false);
  const type = await ec2.send(new DescribeInstanceAttributeCommand({ InstanceId: lab.ids.lb1, Attribute: 'instanceType' }));
  assert.deepEqual([type.InstanceId, type.InstanceType?.Value], [lab.ids.lb1, 't3.micro']);
  await rejectsWith(ec2.send(new DescribeInstanceAttributeCommand({ InstanceId: lab.ids.lb1, Attribute: 'bogus' as 'instanceType' })), 'InvalidParameterValue', /bogus/);
  await rejectsWith(ec2.send(new DescribeInstanceAttributeCommand({ InstanceId: 'i-0123456789abcdef0', Attribute: 'instanceType' })), 'InvalidInstanceID.NotFound');
});

void test('aws ec2 describe-availability-zones, describe-images, describe-instance-attribute', { skip: awsCliSkip }, async (t) => {
  const { lab, url } = await start(t);
  const cli = await awsCli({ region: REGION, creds: { key: ADMIN.accessKeyId, secret: ADMIN.secretAccessKey } });
  t.after(() => cli.close());
  assert.match((await cli.run(['--version'])).stdout, /^aws-cli\/2\./);
  const aws = (args: readonly string[]): ReturnType<typeof cli.run> => cli.run([...args, '--endpoint-url', url, '--output', 'text']);
  const zones = await aws(['ec2', 'describe-availability-zones', '--query', 'AvailabilityZones[].ZoneName']);
  assert.deepEqual(zones.stdout.trim().split(/\s+/), ['eu-west-1a', 'eu-west-1b']);
  const image = await aws(['ec2', 'describe-images', '--owners', '136693071363', '--filters', 'Name=name,Values=debian-12-*', '--query', 'Images[].ImageId']);
  assert.equal(image.stdout.trim(), LAB_IMAGE_ID);
  const missing = await aws(['ec2', 'describe-images', '--image-ids', 'ami-0123456789abcdef0']);
  assert.match(missing.stderr, /\(InvalidAMIID\.NotFound\) when calling the DescribeImages operation/);
  const attr = await aws(['ec2', 'describe-instance-attribute', '--instance-id', lab.ids.lb1, '--attribute', 'sourceDestCheck', '--query', 'SourceDestCheck.Value']);
  assert.equal(attr.stdout.trim(), 'True');
  const bad = await aws(['ec2', 'describe-availability-zones', '--zone-names', 'eu-west-1z']);
  assert.match(bad.stderr, /\(InvalidParameterValue\).*eu-west-1z/);
});
