// The instance lifecycle of the lab's EC2 API driven by Debian's aws CLI v2 (/usr/bin/aws), as an
// operator types it: run-instances (with --user-data from a file, base64-encoded by the CLI),
// describe-instances with filters and pagination, get-console-output (decoded by the CLI),
// stop/start/terminate, the instance attributes, and the documented errors.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { buildExampleCloud, type ExampleCloud } from '../../src/lab/ec2/example.js';
import { ALLOW_ALL_POLICY, type LabCredential } from '../../src/lab/ec2/policy.js';
import { startEc2Api } from '../../src/lab/ec2/server.js';
import { EC2_TRUST_POLICY } from '../../src/lab/iam/model.js';
import { LAB_IMAGE_ID } from '../../src/lab/ec2/state.js';
import { awsCli, awsCliSkip as skip, type AwsCli, type CliResult } from '../helpers/aws-cli.js';

const REGION = 'eu-west-1';
const ADMIN: LabCredential = { accessKeyId: 'AKIALABADMIN0000001', secretAccessKey: 'admin-secret', principal: 'admin', policy: ALLOW_ALL_POLICY };
const LIMITED: LabCredential = {
  accessKeyId: 'AKIALABLIMITED00001', secretAccessKey: 'limited-secret', principal: 'limited',
  policy: { Statement: [{ Effect: 'Allow', Action: ['ec2:RunInstances', 'ec2:Describe*'], Resource: '*' }] },
};

async function start(t: TestContext): Promise<{ lab: ExampleCloud; cli: AwsCli; url: string; aws: (args: readonly string[], creds?: LabCredential) => Promise<CliResult> }> {
  const lab = buildExampleCloud({ region: REGION });
  lab.cloud.iam.createRole({ roleName: 'web', assumeRolePolicyDocument: EC2_TRUST_POLICY });
  lab.cloud.iam.createInstanceProfile({ instanceProfileName: 'web' });
  lab.cloud.iam.addRoleToInstanceProfile({ instanceProfileName: 'web', roleName: 'web' });
  const controller = new AbortController();
  const api = await startEc2Api({ cloud: lab.cloud, host: '127.0.0.1', port: 0, signal: controller.signal, credentials: [ADMIN, LIMITED] });
  const cli = await awsCli({ region: REGION, creds: { key: ADMIN.accessKeyId, secret: ADMIN.secretAccessKey } });
  t.after(async () => {
    controller.abort();
    await api.close();
    await cli.close();
  });
  const aws = (args: readonly string[], creds = ADMIN): Promise<CliResult> =>
    cli.run([...args, '--endpoint-url', api.url, '--output', 'json'], { key: creds.accessKeyId, secret: creds.secretAccessKey });
  return { lab, cli, url: api.url, aws };
}

const json = <T>(r: CliResult): T => {
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as T;
};

interface CliInstance { InstanceId: string; State: { Name: string; Code: number }; PrivateIpAddress?: string; Tags?: { Key: string; Value: string }[]; MetadataOptions?: { HttpTokens: string } }
interface Reservations { Reservations: { ReservationId: string; Instances: CliInstance[] }[]; NextToken?: string }

async function waitForState(aws: (args: readonly string[]) => Promise<CliResult>, id: string, state: string): Promise<CliInstance> {
  for (let i = 0; i < 100; i += 1) {
    const found = json<Reservations>(await aws(['ec2', 'describe-instances', '--instance-ids', id])).Reservations[0]?.Instances[0];
    if (found?.State.Name === state) return found;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`${id} never reached ${state}`);
}

void test('aws ec2 run-instances with --user-data file://, describe-instances filters, get-console-output decoded, stop/start/terminate', { skip }, async (t) => {
  const { lab, cli, url, aws } = await start(t);
  assert.match((await cli.run(['--version'])).stdout, /^aws-cli\/2\./);
  const script = join(cli.home, 'user-data.sh');
  await writeFile(script, '#!/bin/sh\necho hello\n');
  const run = json<{ ReservationId: string; Instances: CliInstance[] }>(await aws([
    'ec2', 'run-instances', '--image-id', LAB_IMAGE_ID, '--instance-type', 't3.small', '--count', '2', '--subnet-id', lab.ids.subnetA,
    '--iam-instance-profile', 'Name=web', '--user-data', `file://${script}`, '--metadata-options', 'HttpTokens=required,HttpEndpoint=enabled',
    '--tag-specifications', 'ResourceType=instance,Tags=[{Key=Name,Value=cli},{Key=tier,Value=web}]', '--client-token', 'cli-1',
  ]));
  assert.equal(run.Instances.length, 2);
  assert.deepEqual(run.Instances.map((i) => i.State), [{ Code: 0, Name: 'pending' }, { Code: 0, Name: 'pending' }]);
  assert.equal(run.Instances[0]?.MetadataOptions?.HttpTokens, 'required');
  const ids = run.Instances.map((i) => i.InstanceId);
  // The CLI base64-encodes --user-data for run-instances: the model holds the script's base64.
  assert.equal(Buffer.from(lab.cloud.view().instances[ids[0]!]?.userData ?? '', 'base64').toString('utf8'), '#!/bin/sh\necho hello\n');
  // The same client token and parameters: the same reservation, no new instance.
  const again = json<{ ReservationId: string }>(await aws([
    'ec2', 'run-instances', '--image-id', LAB_IMAGE_ID, '--instance-type', 't3.small', '--count', '2', '--subnet-id', lab.ids.subnetA,
    '--iam-instance-profile', 'Name=web', '--user-data', `file://${script}`, '--metadata-options', 'HttpTokens=required,HttpEndpoint=enabled',
    '--tag-specifications', 'ResourceType=instance,Tags=[{Key=Name,Value=cli},{Key=tier,Value=web}]', '--client-token', 'cli-1',
  ]));
  assert.equal(again.ReservationId, run.ReservationId);
  const mismatch = await aws(['ec2', 'run-instances', '--image-id', LAB_IMAGE_ID, '--count', '1', '--subnet-id', lab.ids.subnetA, '--client-token', 'cli-1']);
  assert.equal(mismatch.code, 254);
  assert.match(mismatch.stderr, /\(IdempotentParameterMismatch\) when calling the RunInstances operation/);
  for (const id of ids) await waitForState(aws, id, 'running');

  const filtered = json<Reservations>(await aws(['ec2', 'describe-instances', '--filters', 'Name=tag:tier,Values=web', 'Name=instance-state-name,Values=running']));
  assert.deepEqual(filtered.Reservations.flatMap((r) => r.Instances.map((i) => i.InstanceId)).sort(), [...ids].sort());
  const byKey = await aws(['ec2', 'describe-instances', '--filters', 'Name=tag-key,Values=tier', `Name=subnet-id,Values=${lab.ids.subnetA}`, `Name=vpc-id,Values=${lab.ids.vpc}`,
    '--query', 'Reservations[].Instances[].PrivateIpAddress']);
  assert.deepEqual(json<string[]>(byKey), ['10.0.1.4', '10.0.1.5']);
  const byIp = json<Reservations>(await aws(['ec2', 'describe-instances', '--filters', 'Name=private-ip-address,Values=10.0.1.5']));
  assert.equal(byIp.Reservations[0]?.Instances[0]?.InstanceId, ids[1]);
  // Pagination: the CLI follows NextToken page by page (--page-size), --max-items stops early.
  const pages = await cli.run(['ec2', 'describe-instances', '--page-size', '5', '--query', 'length(Reservations[].Instances[])', '--output', 'text', '--endpoint-url', url]);
  assert.equal(pages.code, 0, pages.stderr);
  // --query applies per page: pages of 5 and 1 instances (4 seeded, 2 launched) prove the CLI followed NextToken.
  assert.deepEqual(pages.stdout.trim().split(/\s+/), ['5', '1']);
  const tooSmall = await aws(['ec2', 'describe-instances', '--max-results', '4']);
  assert.match(tooSmall.stderr, /\(InvalidParameterValue\)/);

  lab.cloud.appendConsoleOutput(ids[0]!, 'hello\n');
  const console_ = json<{ InstanceId: string; Output: string }>(await aws(['ec2', 'get-console-output', '--instance-id', ids[0]!, '--latest']));
  assert.equal(console_.Output, 'hello\n');

  const attribute = json<{ UserData: { Value: string } }>(await aws(['ec2', 'describe-instance-attribute', '--instance-id', ids[0]!, '--attribute', 'userData']));
  assert.equal(Buffer.from(attribute.UserData.Value, 'base64').toString('utf8'), '#!/bin/sh\necho hello\n');
  assert.equal((await aws(['ec2', 'modify-instance-attribute', '--instance-id', ids[0]!, '--no-source-dest-check'])).code, 0);
  const sdc = json<{ SourceDestCheck: { Value: boolean } }>(await aws(['ec2', 'describe-instance-attribute', '--instance-id', ids[0]!, '--attribute', 'sourceDestCheck']));
  assert.equal(sdc.SourceDestCheck.Value, false);

  const stop = json<{ StoppingInstances: { InstanceId: string; CurrentState: { Name: string }; PreviousState: { Name: string } }[] }>(await aws(['ec2', 'stop-instances', '--instance-ids', ids[0]!]));
  assert.deepEqual(stop.StoppingInstances[0]?.CurrentState.Name, 'stopping');
  await waitForState(aws, ids[0]!, 'stopped');
  const startOut = json<{ StartingInstances: { CurrentState: { Name: string } }[] }>(await aws(['ec2', 'start-instances', '--instance-ids', ids[0]!]));
  assert.equal(startOut.StartingInstances[0]?.CurrentState.Name, 'pending');
  await waitForState(aws, ids[0]!, 'running');
  const term = json<{ TerminatingInstances: { CurrentState: { Code: number; Name: string } }[] }>(await aws(['ec2', 'terminate-instances', '--instance-ids', ...ids]));
  assert.deepEqual(term.TerminatingInstances.map((i) => i.CurrentState), [{ Code: 32, Name: 'shutting-down' }, { Code: 32, Name: 'shutting-down' }]);
  for (const id of ids) await waitForState(aws, id, 'terminated');
  const stopGone = await aws(['ec2', 'stop-instances', '--instance-ids', ids[0]!]);
  assert.match(stopGone.stderr, /\(IncorrectInstanceState\) when calling the StopInstances operation.*not in a state from which it can be stopped/);
});

void test('aws ec2 run-instances errors: unknown image, bad type, missing subnet, bad profile, PassRole denied, dry run', { skip }, async (t) => {
  const { lab, aws } = await start(t);
  const before = lab.cloud.snapshot();
  const runWith = (extra: readonly string[], creds?: LabCredential): Promise<CliResult> =>
    aws(['ec2', 'run-instances', '--count', '1', ...extra], creds);
  const cases: [readonly string[], RegExp][] = [
    [['--image-id', 'ami-0123456789abcdef0', '--subnet-id', lab.ids.subnetA], /\(InvalidAMIID\.NotFound\).*The image id '\[ami-0123456789abcdef0\]' does not exist/],
    [['--image-id', LAB_IMAGE_ID, '--instance-type', 'z9.huge', '--subnet-id', lab.ids.subnetA], /\(InvalidParameterValue\).*Invalid value 'z9\.huge' for InstanceType\./],
    [['--image-id', LAB_IMAGE_ID], /\(VPCIdNotSpecified\)/],
    [['--image-id', LAB_IMAGE_ID, '--subnet-id', 'subnet-00000000000000999'], /\(InvalidSubnetID\.NotFound\)/],
    [['--image-id', LAB_IMAGE_ID, '--subnet-id', lab.ids.subnetA, '--private-ip-address', '10.0.1.10'], /\(InvalidIPAddress\.InUse\).*Address 10\.0\.1\.10 is in use\./],
    [['--image-id', LAB_IMAGE_ID, '--subnet-id', lab.ids.subnetA, '--iam-instance-profile', 'Name=nope'], /\(InvalidParameterValue\).*Value \(nope\) for parameter iamInstanceProfile\.name is invalid\. Invalid IAM Instance Profile name/],
    [['--image-id', LAB_IMAGE_ID, '--subnet-id', lab.ids.subnetA, '--security-group-ids', 'web-sg'], /\(InvalidGroupId\.Malformed\)/],
  ];
  for (const [extra, message] of cases) {
    const r = await runWith(extra);
    assert.equal(r.code, 254, r.stdout);
    assert.match(r.stderr, message);
  }
  const passRole = await runWith(['--image-id', LAB_IMAGE_ID, '--subnet-id', lab.ids.subnetA, '--iam-instance-profile', 'Name=web'], LIMITED);
  assert.match(passRole.stderr, /\(UnauthorizedOperation\).*iam:PassRole on resource: arn:aws:iam::123456789012:role\/web/);
  const dry = await runWith(['--image-id', LAB_IMAGE_ID, '--subnet-id', lab.ids.subnetA, '--dry-run']);
  assert.match(dry.stderr, /\(DryRunOperation\)/);
  assert.equal(lab.cloud.snapshot(), before);
  const missing = await aws(['ec2', 'get-console-output', '--instance-id', 'i-00000000000000999']);
  assert.match(missing.stderr, /\(InvalidInstanceID\.NotFound\)/);
});
