// The lab's EC2 API driven by Debian's aws CLI v2 (/usr/bin/aws), exactly as an operator types it.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { buildExampleCloud, type ExampleCloud } from '../../src/lab/ec2/example.js';
import { ALLOW_ALL_POLICY, type LabCredential } from '../../src/lab/ec2/policy.js';
import { startEc2Api } from '../../src/lab/ec2/server.js';
import { awsCli, awsCliSkip as skip, type CliResult } from '../helpers/aws-cli.js';

const REGION = 'eu-west-1';
const ADMIN: LabCredential = { accessKeyId: 'AKIALABADMIN0000001', secretAccessKey: 'admin-secret', principal: 'admin', policy: ALLOW_ALL_POLICY };

async function start(t: TestContext): Promise<{ lab: ExampleCloud; url: string; aws: (args: readonly string[], creds?: { key: string; secret: string }) => Promise<CliResult> }> {
  const lab = buildExampleCloud({ region: REGION });
  const controller = new AbortController();
  const limited: LabCredential = {
    accessKeyId: 'AKIALABLIMITED00001', secretAccessKey: 'limited-secret', principal: 'limited',
    policy: {
      Statement: [
        { Effect: 'Allow', Action: 'ec2:Describe*', Resource: '*' },
        { Effect: 'Allow', Action: 'ec2:ReplaceRoute', Resource: `arn:aws:ec2:${REGION}:*:route-table/*`, Condition: { StringEquals: { 'ec2:Vpc': lab.cloud.arn('vpc', lab.ids.vpc) } } },
      ],
    },
  };
  const api = await startEc2Api({ cloud: lab.cloud, host: '127.0.0.1', port: 0, signal: controller.signal, credentials: [ADMIN, limited] });
  // The machine's own aws config must not leak in (see test/helpers/aws-cli.ts).
  const cli = await awsCli({ region: REGION, creds: { key: ADMIN.accessKeyId, secret: ADMIN.secretAccessKey } });
  t.after(async () => {
    controller.abort();
    await api.close();
    await cli.close();
  });
  const aws = (args: readonly string[], creds = { key: ADMIN.accessKeyId, secret: ADMIN.secretAccessKey }): Promise<CliResult> => cli.run(args, creds);
  return { lab, url: api.url, aws };
}

void test('aws ec2 replace-route, typed as in the original design, moves the VIP route', { skip }, async (t) => {
  const { lab, url, aws } = await start(t);
  const version = await aws(['--version']);
  assert.match(version.stdout, /^aws-cli\/2\./);
  const replaced = await aws(['ec2', 'replace-route', '--route-table-id', lab.ids.routeTableA, '--destination-cidr-block', lab.vip, '--network-interface-id', lab.ids.lb2Eni, '--endpoint-url', url]);
  assert.deepEqual(replaced, { code: 0, stdout: '', stderr: '' });
  const described = await aws(['ec2', 'describe-route-tables', '--route-table-ids', lab.ids.routeTableA, '--endpoint-url', url, '--output', 'json']);
  assert.equal(described.code, 0, described.stderr);
  const parsed = JSON.parse(described.stdout) as { RouteTables: { Routes: { DestinationCidrBlock: string; NetworkInterfaceId?: string; InstanceId?: string; Origin: string; State: string }[] }[] };
  assert.deepEqual(parsed.RouteTables[0]?.Routes[1], {
    DestinationCidrBlock: lab.vip, InstanceId: lab.ids.lb2, InstanceOwnerId: '123456789012', NetworkInterfaceId: lab.ids.lb2Eni, Origin: 'CreateRoute', State: 'active',
  });
  assert.equal(lab.cloud.view().routeTables[lab.ids.routeTableA]?.routes[1]?.target.kind, 'eni');
});

void test('aws ec2 describe-* with filters, --query and automatic pagination', { skip }, async (t) => {
  const { lab, url, aws } = await start(t);
  const owned = await aws(['ec2', 'describe-route-tables', '--filters', 'Name=tag:overlay-lb,Values=owned', `Name=vpc-id,Values=${lab.ids.vpc}`,
    '--query', 'RouteTables[].RouteTableId', '--output', 'text', '--endpoint-url', url]);
  assert.equal(owned.code, 0, owned.stderr);
  assert.deepEqual(owned.stdout.trim().split(/\s+/).sort(), [lab.ids.routeTableA, lab.ids.routeTableB].sort());
  for (let i = 0; i < 8; i += 1) lab.cloud.createRouteTable({ vpcId: lab.ids.vpc });
  const paged = await aws(['ec2', 'describe-route-tables', '--page-size', '5', '--query', 'length(RouteTables)', '--output', 'text', '--endpoint-url', url]);
  assert.equal(paged.code, 0, paged.stderr);
  // --query applies per page: three pages of 5, 5 and 2 tables prove the CLI followed NextToken.
  assert.deepEqual(paged.stdout.trim().split(/\s+/), ['5', '5', '2']);
  const instances = await aws(['ec2', 'describe-instances', '--filters', 'Name=tag:Name,Values=lb2', '--query', 'Reservations[].Instances[].[InstanceId,PrivateIpAddress,Placement.AvailabilityZone,NetworkInterfaces[0].NetworkInterfaceId]',
    '--output', 'text', '--endpoint-url', url]);
  assert.equal(instances.code, 0, instances.stderr);
  assert.deepEqual(instances.stdout.trim().split(/\s+/), [lab.ids.lb2, '10.0.2.10', 'eu-west-1b', lab.ids.lb2Eni]);
  const sdc = await aws(['ec2', 'modify-instance-attribute', '--instance-id', lab.ids.lb1, '--no-source-dest-check', '--endpoint-url', url]);
  assert.equal(sdc.code, 0, sdc.stderr);
  assert.equal(lab.cloud.view().networkInterfaces[lab.ids.lb1Eni]?.sourceDestCheck, false);
});

void test('aws CLI sees the EC2 error codes: DryRun, UnauthorizedOperation, AuthFailure, missing route', { skip }, async (t) => {
  const { lab, url, aws } = await start(t);
  const limited = { key: 'AKIALABLIMITED00001', secret: 'limited-secret' };
  const dry = await aws(['ec2', 'replace-route', '--dry-run', '--route-table-id', lab.ids.routeTableA, '--destination-cidr-block', lab.vip, '--network-interface-id', lab.ids.lb2Eni, '--endpoint-url', url], limited);
  assert.equal(dry.code, 254);
  assert.match(dry.stderr, /An error occurred \(DryRunOperation\) when calling the ReplaceRoute operation(?: \(reached max retries: 0\))?: Request would have succeeded, but DryRun flag is set\./);
  const denied = await aws(['ec2', 'replace-route', '--route-table-id', lab.ids.otherRouteTable, '--destination-cidr-block', lab.vip, '--network-interface-id', lab.ids.otherEni, '--endpoint-url', url], limited);
  assert.equal(denied.code, 254);
  assert.match(denied.stderr, /An error occurred \(UnauthorizedOperation\) when calling the ReplaceRoute operation(?: \(reached max retries: 0\))?: You are not authorized to perform this operation\./);
  const badSecret = await aws(['ec2', 'describe-vpcs', '--endpoint-url', url], { key: ADMIN.accessKeyId, secret: 'wrong' });
  assert.equal(badSecret.code, 254);
  assert.match(badSecret.stderr, /An error occurred \(AuthFailure\) when calling the DescribeVpcs operation/);
  const missing = await aws(['ec2', 'delete-route', '--route-table-id', lab.ids.routeTableA, '--destination-cidr-block', '192.168.100.77/32', '--endpoint-url', url]);
  assert.match(missing.stderr, /An error occurred \(InvalidRoute\.NotFound\) when calling the DeleteRoute operation/);
  const multi = await aws(['ec2', 'replace-route', '--route-table-id', lab.ids.routeTableA, '--destination-cidr-block', lab.vip, '--instance-id', lab.ids.multi, '--endpoint-url', url]);
  assert.match(multi.stderr, /An error occurred \(InvalidInstanceID\) when calling the ReplaceRoute operation(?: \(reached max retries: 0\))?: There are multiple interfaces attached/);
});
