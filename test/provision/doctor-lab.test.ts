/**
 * `overlay-lb doctor` against a real lab (`lab up --bare`, root, under the shared lock): the two LB
 * nodes are instances launched through the API at the spec's addresses, in the group `up` derives
 * (securityGroupIngress), IMDSv2 required, source/destination check off, the agents' published
 * statuses in the release bucket. Doctor, run as the CLI process with the real AWS SDK, passes;
 * then each scenario breaks exactly one thing, through the lab's API or on a node, sees doctor name
 * exactly that check with its fix and exit 1 while the others pass, and restores it: where the fix
 * is an aws command, the test runs it with /usr/bin/aws and doctor passes again. docs/provisioning.md
 * ("Each check, and the lab test that breaks it") maps every check to its scenario here.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  AuthorizeSecurityGroupEgressCommand, AuthorizeSecurityGroupIngressCommand, CreateRouteCommand, CreateSecurityGroupCommand, DescribeInstancesCommand, DescribeSubnetsCommand, EC2Client,
  ModifyInstanceAttributeCommand, ModifyInstanceMetadataOptionsCommand, RevokeSecurityGroupEgressCommand, RevokeSecurityGroupIngressCommand, RunInstancesCommand, TerminateInstancesCommand, type Instance,
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
async function doctorOnNode(node: string, options: { readonly env?: readonly string[]; readonly wrap?: readonly string[]; readonly extra?: readonly string[] } = {}): Promise<Run> {
  const argv = [process.execPath, MAIN, 'doctor', world.specFile, '--local', '--json', '--endpoint-url', 'http://169.254.169.250', ...(options.extra ?? [])];
  const env = options.env === undefined ? [] : ['env', ...options.env];
  const r = await world.bare.lab.exec(world.instances.get(node)!, [...(options.wrap ?? []), ...env, ...argv], { signal: AbortSignal.timeout(120_000), allowFailure: true, timeoutMs: 120_000 });
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

scenarios.push(['an on-premises network behind a virtual private gateway holds the VIP: the route to it is named; removing it fixes doctor', async () => {
  const { aws } = world;
  const url = world.bare.lab.apiUrl;
  const cli = async (args: readonly string[]): Promise<string> => {
    const r = await aws.run([...args, '--endpoint-url', url, '--output', 'text']);
    assert.equal(r.code, 0, `aws ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  };
  const vgw = await cli(['ec2', 'create-vpn-gateway', '--type', 'ipsec.1', '--query', 'VpnGateway.VpnGatewayId']);
  await cli(['ec2', 'attach-vpn-gateway', '--vpn-gateway-id', vgw, '--vpc-id', world.spec.cluster.cloud.vpcId!]);
  // A client subnet's table sends the on-premises 192.168.0.0/16 (where the spec's VIP lies) to the VPN.
  const client = world.bare.lab.plan.routeTables.find((t) => !t.main && t.id !== world.bare.lab.plan.subnets.find((s) => s.role === 'lb')!.routeTableId)!;
  await cli(['ec2', 'create-route', '--route-table-id', client.id, '--destination-cidr-block', '192.168.0.0/16', '--gateway-id', vgw]);
  await world.bare.lab.settled();
  // The router drops it (no VPN behind the gateway); the VIP's /32 stays the more specific route.
  const kernel = await world.bare.lab.exec('router', ['ip', 'route', 'show', 'table', String(client.tableNumber)], { signal: AbortSignal.timeout(10_000) });
  assert.match(kernel.stdout, /^blackhole 192\.168\.0\.0\/16/m);
  const r = await doctor(world.specFile);
  assert.equal(r.code, 1);
  assert.deepEqual(notPassing(r), ['fail vip-outside 192.168.100.10']);
  const vip = r.checks.find((c) => c.id === 'vip-outside')!;
  assert.equal(vip.message.split(':')[0], `the VIP 192.168.100.10 lies inside 192.168.0.0/16 (a network reached through ${vgw} (route table ${client.id}))`);
  assert.match(vip.fix ?? '', /^change cluster\.vip to an address outside every VPC, peered and on-premises network/);
  await cli(['ec2', 'delete-route', '--route-table-id', client.id, '--destination-cidr-block', '192.168.0.0/16']);
  await cli(['ec2', 'detach-vpn-gateway', '--vpn-gateway-id', vgw, '--vpc-id', world.spec.cluster.cloud.vpcId!]);
  await cli(['ec2', 'delete-vpn-gateway', '--vpn-gateway-id', vgw]);
  await world.bare.lab.settled();
  assert.doesNotMatch((await world.bare.lab.exec('router', ['ip', 'route', 'show', 'table', String(client.tableNumber)], { signal: AbortSignal.timeout(10_000) })).stdout, /192\.168\.0\.0\/16/);
  assert.deepEqual(notPassing(await doctor(world.specFile)), []);
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

/** A copy of the spec file with `from` replaced by `to` (a spec the lab's cluster does not match in exactly that). */
async function specVariant(what: string, from: string, to: string): Promise<string> {
  const text = await readFile(world.specFile, 'utf8');
  assert.ok(text.includes(from), from);
  const file = join(await world.bare.tempDir(what), 'spec.yaml');
  await writeFile(file, text.replace(from, to));
  return file;
}

scenarios.push(['a spec naming a VPC the region does not have: vpc is named, nothing else is checked', async () => {
  const vpcId = world.spec.cluster.cloud.vpcId!;
  const r = await doctor(await specVariant('vpc', `vpcId: ${vpcId}`, 'vpcId: vpc-0de3000000000dead'));
  assert.equal(r.code, 1);
  assert.deepEqual(r.checks.map((c) => `${c.status} ${c.id} ${c.subject}`), ['fail vpc vpc-0de3000000000dead']);
  assert.match(r.checks[0]!.fix ?? '', /^set cluster\.cloud\.vpcId and cluster\.cloud\.region/);
}]);

scenarios.push(['a route-table selector naming a table the VPC does not have: route-tables names it', async () => {
  const r = await doctor(await specVariant('rtb', 'routeTables: { discover: all }', 'routeTables: { ids: [rtb-0de3000000000dead] }'));
  assert.equal(r.code, 1);
  // The copy is another spec than the nodes run: spec-hash rightly warns about that.
  assert.deepEqual(notPassing(r), ['fail route-tables rtb-0de3000000000dead', 'warn spec-hash cluster']);
  assert.match(r.checks.find((c) => c.status === 'fail')!.fix ?? '', /^remove rtb-0de3000000000dead from cluster\.cloud\.routeTables\.ids/);
}]);

scenarios.push(['frontend port 80 closed to one client CIDR (10.1.0.0/16): named on both nodes, the authorize command fixes it', async () => {
  await world.ec2.send(new RevokeSecurityGroupIngressCommand({ GroupId: world.groupId, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 80, ToPort: 80, IpRanges: [{ CidrIp: '10.1.0.0/16' }] }] }));
  const r = await doctor(world.specFile);
  assert.equal(r.code, 1);
  assert.deepEqual(notPassing(r), ['fail sg-frontend lb-a web:80', 'fail sg-frontend lb-b web:80']);
  const c = r.checks.find((x) => x.status === 'fail')!;
  assert.equal(c.message, `frontend web's TCP port 80 is closed to 10.1.0.0/16 on lb-a (groups ${world.groupId})`);
  assert.equal(c.fix, `aws ec2 authorize-security-group-ingress --group-id ${world.groupId} --ip-permissions 'IpProtocol=tcp,FromPort=80,ToPort=80,IpRanges=[{CidrIp=10.1.0.0/16}]' (or run overlay-lb up)`);
  await applyFix(c.fix);
  assert.deepEqual(notPassing(await doctor(world.specFile)), []);
}]);

scenarios.push(['VRRP allowed from lb-a\'s address only (one direction): only lb-b -> lb-a is named', async () => {
  const self = { IpProtocol: '112', UserIdGroupPairs: [{ GroupId: world.groupId }] };
  const fromA = { IpProtocol: '112', IpRanges: [{ CidrIp: '10.0.1.10/32' }] };
  await world.ec2.send(new RevokeSecurityGroupIngressCommand({ GroupId: world.groupId, IpPermissions: [self] }));
  await world.ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: world.groupId, IpPermissions: [fromA] }));
  try {
    const r = await doctor(world.specFile);
    assert.equal(r.code, 1);
    assert.deepEqual(notPassing(r), ['fail sg-vrrp lb-b -> lb-a']);
    assert.match(r.checks.find((c) => c.status === 'fail')!.message, /^VRRP \(IP protocol 112\) is blocked: lb-a's security groups \(sg-[0-9a-f]+\) do not let it in from lb-b \(10\.0\.2\.10\): without it both nodes become master$/);
  } finally {
    await world.ec2.send(new RevokeSecurityGroupIngressCommand({ GroupId: world.groupId, IpPermissions: [fromA] }));
    await world.ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: world.groupId, IpPermissions: [self] }));
  }
  assert.deepEqual(notPassing(await doctor(world.specFile)), []);
}]);

scenarios.push(['the group\'s egress rule revoked: VRRP and the handoff named out of each node, with the egress command', async () => {
  const all = { IpProtocol: '-1', IpRanges: [{ CidrIp: '0.0.0.0/0' }] };
  await world.ec2.send(new RevokeSecurityGroupEgressCommand({ GroupId: world.groupId, IpPermissions: [all] }));
  try {
    const r = await doctor(world.specFile);
    assert.equal(r.code, 1);
    assert.deepEqual(notPassing(r), ['fail sg-vrrp lb-a -> lb-b', 'fail sg-vrrp lb-b -> lb-a', 'fail sg-handoff lb-a -> lb-b', 'fail sg-handoff lb-b -> lb-a']);
    const c = r.checks.find((x) => x.status === 'fail')!;
    assert.match(c.message, /^VRRP \(IP protocol 112\) is blocked: lb-a's security groups \(sg-[0-9a-f]+\) do not let it out to lb-b \(10\.0\.2\.10\)/);
    assert.equal(c.fix, `aws ec2 authorize-security-group-egress --group-id ${world.groupId} --ip-permissions 'IpProtocol=112,UserIdGroupPairs=[{GroupId=${world.groupId}}]' (or run overlay-lb up, whose group has it)`);
  } finally {
    await world.ec2.send(new AuthorizeSecurityGroupEgressCommand({ GroupId: world.groupId, IpPermissions: [all] }));
  }
  assert.deepEqual(notPassing(await doctor(world.specFile)), []);
}]);

scenarios.push(['operator credentials without ec2:CreateRoute: every table without the VIP route is named with that action', async () => {
  const cloud = world.bare.lab.controller.cloud;
  cloud.putRolePolicy('doctor-no-create', { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }, { Effect: 'Deny', Action: 'ec2:CreateRoute', Resource: '*' }] });
  const c = cloud.issueRoleCredentials('doctor-no-create');
  const r = await doctor(world.specFile, { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey, sessionToken: c.sessionToken });
  assert.equal(r.code, 1);
  const withVip = world.bare.lab.plan.subnets.find((s) => s.role === 'lb')!.routeTableId;
  const perms = r.checks.filter((x) => x.id === 'route-permission');
  assert.ok(perms.length >= 2, String(perms.length));
  assert.deepEqual(notPassing(r), perms.filter((x) => x.subject !== withVip).map((x) => `fail route-permission ${x.subject}`));
  assert.equal(perms.find((x) => x.subject === withVip)?.message, 'DryRun ec2:ReplaceRoute of the VIP route is allowed');
  for (const f of perms.filter((x) => x.status === 'fail')) {
    assert.match(f.message, /^DryRun ec2:CreateRoute was refused: ec2:CreateRoute: UnauthorizedOperation/);
    assert.equal(f.fix, `grant ec2:CreateRoute on arn:aws:ec2:*:*:route-table/${f.subject} (the nodes' role: docs/install.md's policy allows ec2:ReplaceRoute and ec2:CreateRoute on the VPC's route tables)`);
  }
}]);

scenarios.push(['the metadata endpoint disabled on lb-a: imds-options names it, the printed command fixes it', async () => {
  const id = world.instances.get('lb-a')!;
  await world.ec2.send(new ModifyInstanceMetadataOptionsCommand({ InstanceId: id, HttpEndpoint: 'disabled' }));
  const r = await doctor(world.specFile);
  assert.equal(r.code, 1);
  assert.deepEqual(notPassing(r), ['fail imds-options lb-a']);
  const c = r.checks.find((x) => x.status === 'fail')!;
  assert.equal(c.message, `the metadata service is off for ${id}: the agent cannot learn its identity or its role's credentials`);
  assert.equal(c.fix, `aws ec2 modify-instance-metadata-options --instance-id ${id} --http-endpoint enabled --http-tokens required`);
  await applyFix(c.fix);
  assert.deepEqual(notPassing(await doctor(world.specFile)), []);
}]);

/** What does not pass in a right cluster seen from a node: its role may not read the published statuses. */
const localBaseline = ['warn spec-hash lb-a', 'warn spec-hash lb-b'];

scenarios.push(['on a node whose clock is 270 s behind the API\'s (the lab\'s api-clock-skew fault): clock is named with chrony as the fix', async () => {
  const fault = { kind: 'api-clock-skew', ms: 270_000 } as const;
  await world.bare.lab.faults.inject(fault);
  try {
    const r = await doctorOnNode('lb-b');
    assert.equal(r.code, 1);
    assert.deepEqual(notPassing(r), [...localBaseline, 'fail clock lb-b']);
    const c = r.checks.find((x) => x.id === 'clock')!;
    assert.match(c.message, /^the clock is 2(69|70|71) s behind the API's clock: AWS refuses requests signed more than 5 minutes off, so failover calls fail$/);
    assert.match(c.fix ?? '', /^synchronise the clock: chrony with the Amazon Time Sync Service \(server 169\.254\.169\.123/);
  } finally {
    await world.bare.lab.faults.clear(fault);
  }
}]);

/** The instance role's credentials as environment variables (the API check then does not depend on IMDS). */
function roleEnv(): string[] {
  const c = world.bare.lab.controller.cloud.issueRoleCredentials(NODE_ROLE);
  return [`AWS_ACCESS_KEY_ID=${c.accessKeyId}`, `AWS_SECRET_ACCESS_KEY=${c.secretAccessKey}`, `AWS_SESSION_TOKEN=${c.sessionToken}`];
}

scenarios.push(['on a node whose firewall rejects the metadata service: imds-reachable is named; the API unsigned, not unreachable; with the role\'s credentials given, only imds-reachable fails', async () => {
  const id = world.instances.get('lb-b')!;
  const rule = ['OUTPUT', '-d', '169.254.169.254/32', '-p', 'tcp', '--dport', '80', '-m', 'comment', '--comment', 'olbd doctor test', '-j', 'REJECT', '--reject-with', 'tcp-reset'];
  await world.bare.lab.exec(id, ['iptables', '-w', '5', '-I', ...rule], { signal: AbortSignal.timeout(30_000) });
  try {
    // With the instance role only (the SDK's chain reads it from IMDS): no call can be signed, and
    // doctor says so instead of blaming the route to the API.
    const unsigned = await doctorOnNode('lb-b', { extra: ['--node', 'lb-b'] });
    assert.equal(unsigned.code, 1);
    assert.deepEqual(unsigned.checks.map((x) => `${x.status} ${x.id} ${x.subject}`), ['fail imds-reachable lb-b', 'fail api-reachable lb-b', 'pass iptables-time lb-b']);
    const api = unsigned.checks.find((x) => x.id === 'api-reachable')!;
    assert.match(api.message, /^no call to the EC2 API at http:\/\/169\.254\.169\.250 could be signed: .*CredentialsProviderError/);
    assert.match(api.fix ?? '', /^give the node its instance profile/);
    const r = await doctorOnNode('lb-b', { env: roleEnv(), extra: ['--node', 'lb-b'] });
    assert.equal(r.code, 1);
    assert.deepEqual(notPassing(r), ['warn spec-hash lb-b', 'fail imds-reachable lb-b']);
    const c = r.checks.find((x) => x.id === 'imds-reachable')!;
    assert.match(c.message, /^IMDSv2 does not answer: /);
    assert.match(c.fix ?? '', /^enable the metadata service with tokens required/);
    assert.deepEqual(r.checks.filter((x) => ['api-reachable', 'clock', 'iptables-time', 'imds-options'].includes(x.id)).map((x) => `${x.status} ${x.id}`), ['pass imds-options', 'pass api-reachable', 'pass clock', 'pass iptables-time']);
  } finally {
    await world.bare.lab.exec(id, ['iptables', '-w', '5', '-D', ...rule], { signal: AbortSignal.timeout(30_000) });
  }
}]);

scenarios.push(['on a node whose iptables lacks the time match (its extension hidden in doctor\'s mount namespace): iptables-time is named with xt_time as the fix', async () => {
  const lib = '/usr/lib/x86_64-linux-gnu/xtables/libxt_time.so';
  const r = await doctorOnNode('lb-b', { wrap: ['unshare', '--mount', '--propagation', 'private', '--', 'sh', '-c', `mount --bind /dev/null ${lib} && exec "$@"`, 'sh'] });
  assert.equal(r.code, 1);
  assert.deepEqual(notPassing(r), [...localBaseline, 'fail iptables-time lb-b']);
  const c = r.checks.find((x) => x.id === 'iptables-time')!;
  assert.match(c.message, /^iptables cannot load the time match: .*time.*; a switchover's connection handoff cannot start$/);
  assert.match(c.fix ?? '', /^install a kernel with the xt_time module/);
}]);

scenarios.push(['lb-b terminated: instance is named; relaunched with IMDSv1 allowed (HttpTokens optional): imds-options is named with the command; --node filters', async () => {
  const old = world.instances.get('lb-b')!;
  await world.ec2.send(new TerminateInstancesCommand({ InstanceIds: [old] }));
  await waitFor('lb-b terminated', async () => (await world.ec2.send(new DescribeInstancesCommand({ InstanceIds: [old] }))).Reservations?.[0]?.Instances?.[0]?.State?.Name, (s) => s === 'terminated');
  // No instance holds lb-b's address: instance names it (the checks of lb-b's instance cannot run).
  const gone = await doctor(world.specFile);
  assert.equal(gone.code, 1);
  assert.deepEqual(notPassing(gone), ['fail instance lb-b']);
  assert.match(gone.checks.find((c) => c.status === 'fail')!.fix ?? '', /^run overlay-lb up SPEC --yes, or correct cluster\.nodes\[lb-b\]\.address/);
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
