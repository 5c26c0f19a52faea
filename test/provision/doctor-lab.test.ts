/**
 * `overlay-lb doctor` against a real lab (`lab up --bare`, root, under the shared lock): the two LB
 * nodes are instances launched through the API at the spec's addresses, in the group `up` derives
 * (securityGroupIngress), IMDSv2 required, source/destination check off, the agents' published
 * statuses in the release bucket. Doctor, run as the CLI process with the real AWS SDK, passes;
 * then each test breaks exactly one thing through the lab's API (source/dest check on, the
 * protocol 112 rule revoked, the UDP 4789 rule revoked, a spec whose VIP lies in the VPC, operator
 * credentials without ec2:ReplaceRoute, a node relaunched with IMDSv1 allowed, a node on another
 * spec) and sees doctor name it with its fix and exit 1. Where the fix is an aws command, the test
 * runs it with /usr/bin/aws and doctor passes again.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  AuthorizeSecurityGroupIngressCommand, CreateRouteCommand, CreateSecurityGroupCommand, DescribeInstancesCommand, DescribeSubnetsCommand, EC2Client,
  ModifyInstanceAttributeCommand, RevokeSecurityGroupIngressCommand, RunInstancesCommand, TerminateInstancesCommand, type Instance,
} from '@aws-sdk/client-ec2';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { LAB_IMAGE_ID } from '../../src/lab/ec2/state.js';
import { toSdk } from '../../src/cloud/aws/provision/security-group-resource.js';
import { securityGroupIngress } from '../../src/cloud/aws/provision/security-group-rules.js';
import { ownershipTags, releaseKeys, statusKey } from '../../src/cloud/aws/provision/names.js';
import { lbNodePolicy } from '../../src/cloud/aws/iam-policy.js';
import { loadSpecFile } from '../../src/ops/load-spec.js';
import type { Spec } from '../../src/model/spec.js';
import { needsRoot, startBareLab, waitFor, type BareLab } from '../helpers/bare-lab.js';
import { awsCli, awsCliSkip, type AwsCli } from '../helpers/aws-cli.js';

const EXAMPLE = fileURLToPath(new URL('../../../examples/provision.yaml', import.meta.url));
const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const skip = needsRoot !== false ? needsRoot : awsCliSkip;
/** The nodes' role and instance profile, with the product's least-privilege policy. */
const NODE_ROLE = 'overlay-lb-demo';

interface Check { readonly id: string; readonly status: 'pass' | 'warn' | 'fail'; readonly subject: string; readonly message: string; readonly fix: string | null }
interface Run { readonly code: number; readonly checks: Check[]; readonly stderr: string }
interface Creds { readonly accessKeyId: string; readonly secretAccessKey: string; readonly sessionToken?: string }

/** The lab and the cluster in it, shared by the tests of this file (one lab: they run in order). */
interface World {
  readonly bare: BareLab;
  readonly spec: Spec;
  readonly specFile: string;
  readonly specHash: string;
  readonly groupId: string;
  readonly instances: Map<string, string>;
  readonly ec2: EC2Client;
  readonly s3: S3Client;
  readonly aws: AwsCli;
}
let world: World;

/** `overlay-lb doctor SPEC --json` as a process, with `creds` (default the lab's admin). */
function doctor(specFile: string, creds?: Creds, extra: readonly string[] = []): Promise<Run> {
  return doctorProcess(specFile, creds, ['--json', ...extra]).then((r) => {
    try {
      return { code: r.code, checks: (JSON.parse(r.stdout) as { checks: Check[] }).checks, stderr: r.stderr };
    } catch {
      throw new Error(`doctor exited ${r.code} without JSON: ${r.stdout} ${r.stderr}`);
    }
  });
}

/** `overlay-lb doctor SPEC ARGS...` as a process: exit status and output as printed. */
function doctorProcess(specFile: string, creds: Creds | undefined, extra: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const c: Creds = creds ?? world.bare.lab.adminCredentials;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [MAIN, 'doctor', specFile, '--endpoint-url', world.bare.lab.apiUrl, ...extra], {
      signal: AbortSignal.timeout(120_000),
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: '/nonexistent', AWS_ACCESS_KEY_ID: c.accessKeyId, AWS_SECRET_ACCESS_KEY: c.secretAccessKey, ...(c.sessionToken === undefined ? {} : { AWS_SESSION_TOKEN: c.sessionToken }), AWS_EC2_METADATA_DISABLED: 'true' },
    }, (error, stdout, stderr) => {
      if (error !== null && typeof error.code !== 'number') return reject(new Error(`doctor did not run: ${error.message}`, { cause: error }));
      resolve({ code: error === null ? 0 : Number(error.code), stdout, stderr });
    });
  });
}

const notPassing = (r: Run): string[] => r.checks.filter((c) => c.status !== 'pass').map((c) => `${c.status} ${c.id} ${c.subject}`);

/** Splits a fix's aws command into argv (single quotes group), without its "(or ...)" tail. */
function awsArgv(fix: string): string[] {
  const command = fix.replace(/ \(or run overlay-lb up.*\)$/, '');
  const argv = [...command.matchAll(/'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2] ?? '');
  assert.equal(argv[0], 'aws', `the fix is an aws command: ${fix}`);
  return argv.slice(1);
}

/** Runs doctor's fix with /usr/bin/aws (the lab's admin) and waits for the data path. */
async function applyFix(fix: string | null): Promise<void> {
  assert.ok(fix !== null);
  const r = await world.aws.run([...awsArgv(fix), '--endpoint-url', world.bare.lab.apiUrl]);
  assert.equal(r.code, 0, `${fix}: ${r.stderr}`);
  await world.bare.lab.settled();
}

async function launchNode(name: string, options: { readonly httpTokens: 'required' | 'optional' }): Promise<Instance> {
  const { ec2, spec } = world;
  const node = spec.cluster.nodes.find((n) => n.name === name)!;
  const subnets = (await ec2.send(new DescribeSubnetsCommand({ Filters: [{ Name: 'vpc-id', Values: [spec.cluster.cloud.vpcId!] }, { Name: 'availability-zone', Values: [node.zone] }] }))).Subnets ?? [];
  const subnet = subnets.find((s) => s.CidrBlock !== undefined && node.address.startsWith(s.CidrBlock.replace(/0\/24$/, '')))!;
  const run = await ec2.send(new RunInstancesCommand({
    ImageId: LAB_IMAGE_ID, InstanceType: 't3.micro', MinCount: 1, MaxCount: 1, SubnetId: subnet.SubnetId, PrivateIpAddress: node.address,
    SecurityGroupIds: [world.groupId], IamInstanceProfile: { Name: NODE_ROLE }, MetadataOptions: { HttpTokens: options.httpTokens, HttpPutResponseHopLimit: 1 },
    TagSpecifications: [{ ResourceType: 'instance', Tags: [...ownershipTags(spec.cluster.name), { Key: 'Name', Value: name }] }],
  }));
  const id = run.Instances![0]!.InstanceId!;
  world.instances.set(name, id);
  await ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: id, SourceDestCheck: { Value: false } }));
  const instance = await waitFor(`${name} running`, async () => (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }))).Reservations?.[0]?.Instances?.[0], (i) => i?.State?.Name === 'running');
  return instance!;
}

/** What an agent publishes (PublishedNodeStatus): the parts doctor reads, the rest as an idle agent shows it. */
async function publishStatus(node: string, specHash: string): Promise<void> {
  const p = world.spec.provision!;
  const body = { format: 1, publishedAt: Date.now(), intervalMs: 600_000, specVersion: null, status: { node, specHash }, traffic: { currentSessions: 0, totalSessions: 0 } };
  await world.s3.send(new PutObjectCommand({ Bucket: p.bucket, Key: statusKey(p.prefix, node), Body: JSON.stringify(body), ContentType: 'application/json' }));
}

const scenarios: [string, () => Promise<void>][] = [];
scenarios.push(['everything right: doctor passes, exit 0, every check named', async () => {
  const r = await doctor(world.specFile);
  assert.deepEqual(notPassing(r), []);
  assert.equal(r.code, 0, r.stderr);
  const ids = new Set(r.checks.map((c) => c.id));
  for (const id of ['vpc', 'instance', 'source-dest-check', 'sg-vrrp', 'sg-handoff', 'sg-frontend', 'vip-outside', 'route-permission', 'imds-options', 'spec-hash']) assert.ok(ids.has(id), id);
  const perms = r.checks.filter((c) => c.id === 'route-permission').map((c) => c.message);
  assert.ok(perms.includes('DryRun ec2:ReplaceRoute of the VIP route is allowed') && perms.includes('DryRun ec2:CreateRoute of the VIP route is allowed'), perms.join('\n'));
}]);

/** `overlay-lb doctor SPEC --local --json` inside a node's instance, with its instance role (the SDK's default chain). */
async function doctorOnNode(node: string): Promise<Run> {
  const r = await world.bare.lab.exec(world.instances.get(node)!, [process.execPath, MAIN, 'doctor', world.specFile, '--local', '--json', '--endpoint-url', 'http://169.254.169.250'], { signal: AbortSignal.timeout(120_000), allowFailure: true, timeoutMs: 120_000 });
  try {
    return { code: r.code ?? -1, checks: (JSON.parse(r.stdout) as { checks: Check[] }).checks, stderr: r.stderr };
  } catch {
    throw new Error(`doctor --local on ${node} exited ${r.code} without JSON: ${r.stdout} ${r.stderr}`);
  }
}

scenarios.push(['on a node (--local, its instance role): IMDSv2, the API, the clock and the time match pass; the API unreachable from its AZ is named', async () => {
  const r = await doctorOnNode('lb-b');
  assert.equal(r.code, 0, r.stderr);
  const local = r.checks.filter((c) => ['imds-reachable', 'api-reachable', 'clock', 'iptables-time'].includes(c.id)).map((c) => `${c.status} ${c.id} ${c.subject}`);
  assert.deepEqual(local, ['pass imds-reachable lb-b', 'pass api-reachable lb-b', 'pass clock lb-b', 'pass iptables-time lb-b']);
  // The DryRun now asks with the nodes' role: the product's policy allows the route writes.
  assert.ok(r.checks.filter((c) => c.id === 'route-permission').every((c) => c.status === 'pass'));
  // The role reads the spec and the package only: the statuses are a warning, not a failure.
  assert.deepEqual(notPassing(r), ['warn spec-hash lb-a', 'warn spec-hash lb-b']);

  const az = world.spec.cluster.nodes.find((n) => n.name === 'lb-b')!.zone;
  await world.bare.lab.faults.inject({ kind: 'api-unreachable', az, mode: 'drop' });
  try {
    const cut = await doctorOnNode('lb-b');
    assert.equal(cut.code, 1);
    const api = cut.checks.find((c) => c.id === 'api-reachable')!;
    assert.equal(api.status, 'fail');
    assert.match(api.message, /^the EC2 API at http:\/\/169\.254\.169\.250 does not answer from this node: .*; a failover could not move the VIP route$/);
    assert.equal(api.fix, "give this node's subnet a way to the EC2 API: an interface VPC endpoint for com.amazonaws.us-east-1.ec2 with private DNS, or a route to a NAT gateway");
  } finally {
    await world.bare.lab.faults.clear({ kind: 'api-unreachable', az, mode: 'drop' });
  }
}]);

scenarios.push(['source/destination check on: named with the command, which fixes it', async () => {
  const id = world.instances.get('lb-b')!;
  await world.ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: id, SourceDestCheck: { Value: true } }));
  const r = await doctor(world.specFile);
  assert.equal(r.code, 1);
  assert.deepEqual(notPassing(r), ['fail source-dest-check lb-b']);
  const c = r.checks.find((x) => x.status === 'fail')!;
  assert.equal(c.fix, `aws ec2 modify-instance-attribute --instance-id ${id} --no-source-dest-check`);
  // As a person reads it: one line per check, the failing one with its fix, and a summary.
  const text = await doctorProcess(world.specFile, undefined, []);
  assert.equal(text.code, 1);
  const lines = text.stdout.trimEnd().split('\n');
  assert.ok(lines.includes(`fail source-dest-check lb-b: ${c.message}. Fix: ${c.fix}`), text.stdout);
  assert.ok(lines.includes('pass instance lb-a: ' + r.checks.find((x) => x.id === 'instance' && x.subject === 'lb-a')!.message), text.stdout);
  assert.match(lines.at(-1) ?? '', /^doctor: cluster demo: \d+ passed, 0 warning\(s\), 1 failed$/);
  await applyFix(c.fix);
  assert.deepEqual(notPassing(await doctor(world.specFile)), []);
}]);

for (const [what, permission, id] of [
  ['VRRP (protocol 112)', { IpProtocol: '112' }, 'sg-vrrp'],
  ['the handoff port (UDP 4789)', { IpProtocol: 'udp', FromPort: 4789, ToPort: 4789 }, 'sg-handoff'],
] as const) {
  scenarios.push([`${what} revoked from the group: both directions named, the authorize command fixes it`, async () => {
    await world.ec2.send(new RevokeSecurityGroupIngressCommand({ GroupId: world.groupId, IpPermissions: [{ ...permission, UserIdGroupPairs: [{ GroupId: world.groupId }] }] }));
    const r = await doctor(world.specFile);
    assert.equal(r.code, 1);
    assert.deepEqual(notPassing(r), [`fail ${id} lb-a -> lb-b`, `fail ${id} lb-b -> lb-a`]);
    const c = r.checks.find((x) => x.status === 'fail')!;
    assert.match(c.message, new RegExp(`is blocked: lb-b's security groups \\(${world.groupId}\\) do not let it in from lb-a \\(10\\.0\\.1\\.10\\)`));
    await applyFix(c.fix);
    assert.deepEqual(notPassing(await doctor(world.specFile)), []);
  }]);
}

scenarios.push(['a spec whose VIP lies inside the VPC (its vpcCidrs narrower than the VPC): the VPC block is named', async () => {
  // validate cannot see it: the spec says the VPC is 10.0.0.0/17 and the VIP 10.0.200.10 is outside that.
  const file = join(await world.bare.tempDir('vip'), 'spec.yaml');
  await writeFile(file, (await readFile(world.specFile, 'utf8')).replace('vip: 192.168.100.10', 'vip: 10.0.200.10').replace('vpcCidrs: [10.0.0.0/16]', 'vpcCidrs: [10.0.0.0/17]'));
  const r = await doctor(file);
  assert.equal(r.code, 1);
  const vip = r.checks.find((c) => c.id === 'vip-outside')!;
  assert.equal(vip.status, 'fail');
  assert.match(vip.message, /^the VIP 10\.0\.200\.10 lies inside 10\.0\.0\.0\/16 \(a CIDR block of VPC vpc-[0-9a-f]+\)/);
  assert.match(vip.fix ?? '', /^change cluster\.vip to an address outside/);
  assert.equal(r.checks.find((c) => c.id === 'vpc-cidrs')?.status, 'warn');
}]);

scenarios.push(['operator credentials without ec2:ReplaceRoute: the table with the VIP route is named with that exact action', async () => {
  const cloud = world.bare.lab.controller.cloud;
  cloud.putRolePolicy('doctor-no-replace', { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }, { Effect: 'Deny', Action: 'ec2:ReplaceRoute', Resource: '*' }] });
  const c = cloud.issueRoleCredentials('doctor-no-replace');
  const r = await doctor(world.specFile, { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey, sessionToken: c.sessionToken });
  assert.equal(r.code, 1);
  const table = world.bare.lab.plan.subnets.find((s) => s.role === 'lb')!.routeTableId;
  assert.deepEqual(notPassing(r), [`fail route-permission ${table}`]);
  const f = r.checks.find((x) => x.status === 'fail')!;
  assert.match(f.message, /^DryRun ec2:ReplaceRoute was refused: ec2:ReplaceRoute: UnauthorizedOperation/);
  assert.equal(f.fix, `grant ec2:ReplaceRoute on arn:aws:ec2:*:*:route-table/${table} (the nodes' role: docs/install.md's policy allows ec2:ReplaceRoute and ec2:CreateRoute on the VPC's route tables)`);
  // CreateRoute is still allowed where the route is missing.
  assert.ok(r.checks.some((x) => x.id === 'route-permission' && x.status === 'pass' && x.message.includes('ec2:CreateRoute')));
}]);

scenarios.push(['a node on another spec: the spec hashes are named', async () => {
  await publishStatus('lb-b', 'f'.repeat(64));
  const r = await doctor(world.specFile);
  assert.equal(r.code, 1);
  assert.deepEqual(notPassing(r), ['fail spec-hash cluster']);
  assert.equal(r.checks.find((c) => c.status === 'fail')?.message, `the nodes run different specs: lb-a ${world.specHash.slice(0, 12)}, lb-b ffffffffffff`);
  await publishStatus('lb-b', world.specHash);
  assert.deepEqual(notPassing(await doctor(world.specFile)), []);
}]);

scenarios.push(['a node relaunched with IMDSv1 allowed (HttpTokens optional): named with the command; --node filters', async () => {
  const old = world.instances.get('lb-b')!;
  await world.ec2.send(new TerminateInstancesCommand({ InstanceIds: [old] }));
  await waitFor('lb-b terminated', async () => (await world.ec2.send(new DescribeInstancesCommand({ InstanceIds: [old] }))).Reservations?.[0]?.Instances?.[0]?.State?.Name, (s) => s === 'terminated');
  const fresh = await launchNode('lb-b', { httpTokens: 'optional' });
  const r = await doctor(world.specFile);
  assert.equal(r.code, 1);
  assert.deepEqual(notPassing(r), ['fail imds-options lb-b']);
  assert.equal(r.checks.find((c) => c.status === 'fail')?.fix, `aws ec2 modify-instance-metadata-options --instance-id ${fresh.InstanceId!} --http-tokens required`);
  // Only lb-a's checks (and the cluster's): nothing fails there.
  const a = await doctor(world.specFile, undefined, ['--node', 'lb-a']);
  assert.equal(a.code, 0);
  assert.ok(!a.checks.some((c) => c.subject === 'lb-b'));
}]);

void test('doctor in a lab: passes on a right cluster, names each thing broken with its fix', { skip, timeout: 1_500_000 }, async (t) => {
  const bare = await startBareLab(t, { tag: 'olbd' });
  const dir = await bare.tempDir('spec');
  const specFile = join(dir, 'spec.yaml');
  await writeFile(specFile, await readFile(EXAMPLE, 'utf8'));
  const loaded = await loadSpecFile(specFile, {});
  const config = { region: bare.region, endpoint: bare.lab.apiUrl, maxAttempts: 1, credentials: bare.lab.adminCredentials };
  const s3 = new S3Client({ ...config, forcePathStyle: true });
  const aws = await awsCli({ region: bare.region, creds: { key: bare.lab.adminCredentials.accessKeyId, secret: bare.lab.adminCredentials.secretAccessKey } });
  t.after(async () => {
    s3.destroy();
    await aws.close();
  });
  assert.match((await aws.run(['--version'])).stdout, /^aws-cli\/2\./);
  const spec = loaded.spec;
  const { GroupId: groupId } = await bare.ec2.send(new CreateSecurityGroupCommand({ GroupName: `overlay-lb-${spec.cluster.name}`, Description: 'overlay-lb nodes', VpcId: spec.cluster.cloud.vpcId }));
  assert.ok(groupId !== undefined);
  // The rules up derives from the spec (VRRP and the handoff by self-reference, each frontend's port).
  await bare.ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: groupId, IpPermissions: toSdk(securityGroupIngress(spec, groupId)) }));
  world = { bare, spec, specFile, specHash: loaded.hash, groupId, instances: new Map(), ec2: bare.ec2, s3, aws };
  const cloud = bare.lab.controller.cloud;
  const p = spec.provision!;
  cloud.putRolePolicy(NODE_ROLE, lbNodePolicy({ arn: (type, id) => cloud.arn(type, id), vpcId: spec.cluster.cloud.vpcId!, eipAllocationId: null, release: { bucket: p.bucket, keys: Object.values(releaseKeys(p.prefix)) } }));
  const a = await launchNode('lb-a', { httpTokens: 'required' });
  await launchNode('lb-b', { httpTokens: 'required' });
  // The VIP route in one table (a claim made it): doctor tries ReplaceRoute there, CreateRoute elsewhere.
  const lbSubnet = bare.lab.plan.subnets.find((s) => s.role === 'lb')!;
  await bare.ec2.send(new CreateRouteCommand({ RouteTableId: lbSubnet.routeTableId, DestinationCidrBlock: `${spec.cluster.vip}/32`, NetworkInterfaceId: a.NetworkInterfaces![0]!.NetworkInterfaceId! }));
  await s3.send(new CreateBucketCommand({ Bucket: spec.provision!.bucket }));
  for (const n of spec.cluster.nodes) await publishStatus(n.name, loaded.hash);
  await bare.lab.settled();
  for (const [name, run] of scenarios) await t.test(name, run);
  // doctor itself leaves nothing: the lab down, the machine is as before.
  await bare.lab.close();
  assert.deepEqual(await bare.leftovers(), bare.before);
});
