/**
 * `overlay-lb up` against the lab's bare account (`lab up --bare`): the engine and the CLI drive the
 * lab's IAM, S3 and STS with the real AWS SDK; write calls are counted in the lab's own request log.
 * First up creates, a second makes zero write calls, an up interrupted after N write calls (and a
 * CLI process killed midway) converges on the next run, a foreign resource is left untouched, a
 * missing permission is reported with the exact action, the nodes' role reads exactly the spec and
 * the package, and /usr/bin/aws reads what up made. Real kernel, root, under the shared lock.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CreateRoleCommand, GetInstanceProfileCommand, GetRoleCommand, GetRolePolicyCommand, IAMClient, ListRoleTagsCommand, PutRolePolicyCommand } from '@aws-sdk/client-iam';
import { AuthorizeSecurityGroupIngressCommand, CreateRouteCommand, DeleteRouteCommand, DescribeSubnetsCommand, RunInstancesCommand, ModifyInstanceAttributeCommand, RevokeSecurityGroupIngressCommand, GetConsoleOutputCommand, DescribeInstancesCommand, DescribeNetworkInterfacesCommand, DescribeRouteTablesCommand, DescribeSecurityGroupsCommand, EC2Client, type Instance, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { CreateBucketCommand, GetBucketTaggingCommand, GetBucketVersioningCommand, GetObjectCommand, HeadBucketCommand, HeadObjectCommand, ListObjectVersionsCommand, PutBucketVersioningCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { startLab, stopLab, type LabHandle } from '../../src/lab/lab.js';
import { LAB_IMAGE_ID } from '../../src/lab/ec2/state.js';
import { up, type UpResult } from '../../src/provision/up.js';
import { provisionResources } from '../../src/cloud/aws/provision/kinds.js';
import { CALL_PACE_LAB, ProvisionSession } from '../../src/cloud/aws/provision/session.js';
import { nodeSubnets } from '../../src/provision/subnets.js';
import { lbNodePolicy } from '../../src/cloud/aws/iam-policy.js';
import { parseSpec } from '../../src/speclang/parse.js';
import { OverlayError } from '../../src/util/errors.js';
import { leftovers } from '../helpers/lab-leftovers.js';
import { awsCli, awsCliSkip } from '../helpers/aws-cli.js';

const EXAMPLE = fileURLToPath(new URL('../../../examples/provision.yaml', import.meta.url));
const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const skip = process.getuid?.() === 0 ? false : 'needs root';
/** Reads: every other action the lab logs is a write. */
const READ = /^(Get|List|Head|Describe)/;

interface Logged { readonly action: string | undefined; readonly status: number; readonly principal: string | undefined }

let lab: LabHandle;
let dir: string;
let labDir: string;
let stateFile: string;
let prefix: string;
let before0: Awaited<ReturnType<typeof leftovers>>;
const log: Logged[] = [];
/** Called for every API request the lab answers (the interruption tests hook in here). */
let onApiRequest: (entry: Logged) => void = () => undefined;
let iam: IAMClient;
let s3: S3Client;
let ec2: EC2Client;
/** The VPC's route tables (discover: all selects each), sorted. */
let tables: string[];
let packageFile: string;
let packageBytes: Buffer;

before(async () => {
  if (skip !== false) return;
  dir = await mkdtemp(join(tmpdir(), 'olbu-'));
  labDir = await mkdtemp(join(tmpdir(), 'olbu-lab-'));
  prefix = `olbu${process.pid}`.slice(0, 12);
  stateFile = join(labDir, `${prefix}state.json`);
  before0 = await leftovers(prefix, labDir);
  lab = await startLab({
    specFile: EXAMPLE, prefix, stateDir: labDir, bare: true, signal: AbortSignal.timeout(180_000),
    log: {
      info: (fields, message) => {
        if (message !== 'lab api request') return;
        const entry = { action: fields['action'] as string | undefined, status: fields['status'] as number, principal: fields['principal'] as string | undefined };
        log.push(entry);
        onApiRequest(entry);
      },
      error: () => undefined,
    },
  });
  const config = { region: lab.adminCredentials.region, endpoint: lab.apiUrl, maxAttempts: 1, credentials: lab.adminCredentials };
  iam = new IAMClient(config);
  s3 = new S3Client({ ...config, forcePathStyle: true });
  ec2 = new EC2Client(config);
  tables = ((await ec2.send(new DescribeRouteTablesCommand({}))).RouteTables ?? []).map((t) => t.RouteTableId ?? '').sort();
  // A real (small) Debian package: up stores bytes, the nodes' apt installs them (issue 18 item 2).
  const root = join(dir, 'pkg');
  await mkdir(join(root, 'DEBIAN'), { recursive: true });
  await writeFile(join(root, 'DEBIAN/control'), 'Package: overlay-lb\nVersion: 0.0.1-test\nArchitecture: all\nMaintainer: tests <t@example.com>\nDescription: a stand-in package for the up test\n');
  packageFile = join(dir, 'overlay-lb_0.0.1-test_all.deb');
  await run('dpkg-deb', ['--build', '--root-owner-group', root, packageFile]);
  packageBytes = await readFile(packageFile);
});

after(async () => {
  if (skip !== false) return;
  iam?.destroy();
  s3?.destroy();
  ec2?.destroy();
  await lab?.close();
  await stopLab(stateFile, { signal: AbortSignal.timeout(60_000) });
  assert.deepEqual(await leftovers(prefix, labDir), before0);
  await rm(dir, { recursive: true, force: true });
  await rm(labDir, { recursive: true, force: true });
});

function run(cmd: string, args: readonly string[], env?: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, [...args], { timeout: 180_000, ...(env === undefined ? {} : { env }) }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr });
    });
  });
}

/** Cluster name -> its number: each cluster gets its own node addresses and VIP in the one lab. */
const clusterNumbers = new Map<string, number>();

/**
 * A spec file for cluster `name` (its own role, bucket and prefix, node addresses .N and VIP
 * 192.168.100.N), in the lab's VPC.
 */
async function specFile(name: string, edit: (text: string) => string = (t) => t): Promise<string> {
  const k = clusterNumbers.get(name) ?? 20 + clusterNumbers.size;
  clusterNumbers.set(name, k);
  const text = (await readFile(EXAMPLE, 'utf8'))
    .replace('name: demo', `name: ${name}`)
    .replace('vip: 192.168.100.10', `vip: 192.168.100.${k}`)
    .replace('address: 10.0.1.10', `address: 10.0.1.${k}`)
    .replace('address: 10.0.2.10', `address: 10.0.2.${k}`)
    .replace('virtualRouterId: 51', `virtualRouterId: ${(name.length * 7) % 200 + 1}`)
    .replace('bucket: overlay-lb-demo-releases', `bucket: ${name}-releases`);
  const file = join(dir, `${name}.yaml`);
  await writeFile(file, edit(text));
  return file;
}

/** Runs up with the lab's admin credentials (or `credentials`), returning its result and the API requests it made. */
async function upIn(file: string, mode: 'plan' | 'apply', options: { credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string }; signal?: AbortSignal } = {}): Promise<{ result: UpResult; requests: Logged[] }> {
  const start = log.length;
  // The lab's pace: the AWS one would make each run wait on the session's bucket, not on the API (the CLI runs below keep the AWS pace).
  const result = await up({ specFile: file, packageFile, mode, endpoint: lab.apiUrl, credentials: options.credentials ?? lab.adminCredentials, pace: CALL_PACE_LAB, signal: options.signal ?? AbortSignal.timeout(120_000) });
  return { result, requests: log.slice(start) };
}

const writes = (requests: readonly Logged[]): string[] => requests.filter((r) => !READ.test(r.action ?? '')).map((r) => r.action ?? `(status ${r.status})`);
const actions = (r: UpResult): string[] => r.plan.steps.map((s) => `${s.action} ${s.label}`);

/** The write calls of a first up: IAM and S3, then the group, each node's launch, the VIP routes. */
const FIRST_WRITES_IAM_S3 = ['CreateRole', 'PutRolePolicy', 'CreateInstanceProfile', 'AddRoleToInstanceProfile', 'CreateBucket', 'PutBucketVersioning', 'PutBucketLifecycleConfiguration', 'PutObject', 'PutObject'];
const firstWrites = (): string[] => [
  ...FIRST_WRITES_IAM_S3, 'CreateSecurityGroup', 'AuthorizeSecurityGroupIngress',
  'RunInstances', 'ModifyInstanceAttribute', 'CreateTags', 'RunInstances', 'ModifyInstanceAttribute', 'CreateTags', ...tables.map(() => 'CreateRoute'),
];

/** The plan labels of cluster `name`'s EC2 resources (`k`: its number). */
const ec2Labels = (name: string, action: string, k = clusterNumbers.get(name) ?? 0): string[] => [
  `${action} security group overlay-lb-${name}`,
  `${action} instance of node lb-a (10.0.1.${k}, az-a)`, `${action} instance of node lb-b (10.0.2.${k}, az-b)`,
  ...tables.map((t) => `${action} VIP route 192.168.100.${k}/32 in route table ${t}`),
];

/** The network interface of one of the lab's own instances (a backend or client): no cluster's node. */
async function foreignEni(): Promise<string> {
  const enis = (await ec2.send(new DescribeNetworkInterfacesCommand({}))).NetworkInterfaces ?? [];
  const eni = enis.find((e) => !(e.TagSet ?? []).some((t) => t.Key === 'overlay-lb:cluster'))?.NetworkInterfaceId;
  assert.ok(eni !== undefined);
  return eni;
}

/** Cluster `name`'s instances (any state), read through the SDK. */
async function instancesOf(name: string): Promise<Instance[]> {
  const out = await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'tag:overlay-lb:cluster', Values: [name] }] }));
  return (out.Reservations ?? []).flatMap((r) => r.Instances ?? []);
}

/** What up made in EC2 for cluster `name`: the group's ingress, the live instances, the VIP routes' targets. */
async function ec2Account(name: string): Promise<Record<string, unknown>> {
  const group = (await ec2.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'group-name', Values: [`overlay-lb-${name}`] }] }))).SecurityGroups?.[0];
  const live = (await instancesOf(name)).filter((i) => i.State?.Name !== 'terminated' && i.State?.Name !== 'shutting-down');
  const k = clusterNumbers.get(name) ?? 0;
  const routes = ((await ec2.send(new DescribeRouteTablesCommand({}))).RouteTables ?? []).map((t) => [t.RouteTableId, (t.Routes ?? []).find((r) => r.DestinationCidrBlock === `192.168.100.${k}/32`)?.NetworkInterfaceId ?? null]);
  return {
    groupTags: group?.Tags,
    ingress: (group?.IpPermissions ?? []).map((p) => ({ proto: p.IpProtocol, from: p.FromPort, to: p.ToPort, cidrs: (p.IpRanges ?? []).map((r) => r.CidrIp), groups: (p.UserIdGroupPairs ?? []).map((g) => g.GroupId === group?.GroupId ? 'self' : g.GroupId) }))
      .sort((a, b) => `${a.proto}:${a.from}`.localeCompare(`${b.proto}:${b.from}`)),
    instances: live.map((i) => ({
      node: i.Tags?.find((t) => t.Key === 'overlay-lb:node')?.Value, state: i.State?.Name, ip: i.PrivateIpAddress, sourceDestCheck: i.SourceDestCheck,
      tokens: i.MetadataOptions?.HttpTokens, profile: i.IamInstanceProfile?.Arn?.split('/').at(-1), groups: i.SecurityGroups?.map((g) => g.GroupName),
    })).sort((a, b) => String(a.node).localeCompare(String(b.node))),
    routes: Object.fromEntries(routes.map(([t, eni]) => [t, eni === null ? null : live.find((i) => i.NetworkInterfaces?.some((e) => e.NetworkInterfaceId === eni))?.Tags?.find((x) => x.Key === 'overlay-lb:node')?.Value ?? eni])),
  };
}

/**
 * Removes cluster `name`'s EC2 resources through the kinds' own remove() (routes, instances, the
 * group, in that order), so the lab does not run every test's nodes at once.
 */
async function removeEc2(file: string): Promise<void> {
  const text = await readFile(file, 'utf8');
  const parsed = parseSpec(text, { file });
  assert.ok(parsed.ok);
  const spec = parsed.spec;
  const session = new ProvisionSession({ region: lab.adminCredentials.region, endpoint: lab.apiUrl, credentials: lab.adminCredentials, pace: CALL_PACE_LAB });
  try {
    const signal = AbortSignal.timeout(300_000);
    const account = await session.account({ signal });
    const resources = await provisionResources({ spec, specText: Buffer.from(text), packageBytes, session, account, placeNodes: (subnets) => nodeSubnets(spec, subnets) }, { signal });
    for (const r of resources.filter((x) => ['vip-route', 'instance', 'security-group'].includes(x.kind)).reverse()) await r.remove?.({ signal });
  } finally {
    session.destroy();
  }
}

/** What up made for cluster `name`, read through the SDK: role, policy, profile, bucket, objects. */
async function account(name: string): Promise<Record<string, unknown>> {
  const role = `overlay-lb-${name}`;
  const bucket = `${name}-releases`;
  const got = (await iam.send(new GetRoleCommand({ RoleName: role }))).Role;
  const tags = (await iam.send(new ListRoleTagsCommand({ RoleName: role }))).Tags;
  const policy = JSON.parse(decodeURIComponent((await iam.send(new GetRolePolicyCommand({ RoleName: role, PolicyName: 'overlay-lb-node' }))).PolicyDocument ?? '')) as unknown;
  const profile = (await iam.send(new GetInstanceProfileCommand({ InstanceProfileName: role }))).InstanceProfile;
  const versioning = (await s3.send(new GetBucketVersioningCommand({ Bucket: bucket }))).Status;
  const bucketTags = (await s3.send(new GetBucketTaggingCommand({ Bucket: bucket }))).TagSet;
  const objects: Record<string, unknown> = {};
  for (const key of ['demo/spec.yaml', 'demo/overlay-lb.deb']) {
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    objects[key] = { etag: head.ETag, metadata: head.Metadata };
  }
  return {
    trust: JSON.parse(decodeURIComponent(got?.AssumeRolePolicyDocument ?? '')) as unknown, tags, policy,
    profileRoles: profile?.Roles?.map((r) => r.RoleName), profileTags: profile?.Tags, versioning, bucketTags, objects,
  };
}

const md5 = (b: Buffer | string): string => `"${createHash('md5').update(b).digest('hex')}"`;
const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

void test('first up creates every resource, tagged; the second makes zero write calls and says so (library and CLI)', { skip }, async () => {
  const file = await specFile('first');
  // GIVEN a route for another destination in a table up writes the VIP route into: never touched.
  await ec2.send(new CreateRouteCommand({ RouteTableId: tables[0], DestinationCidrBlock: '203.0.113.0/24', NetworkInterfaceId: await foreignEni() }));
  const otherRoute = async (): Promise<unknown> => ((await ec2.send(new DescribeRouteTablesCommand({ RouteTableIds: [tables[0]!] }))).RouteTables?.[0]?.Routes ?? []).find((r) => r.DestinationCidrBlock === '203.0.113.0/24');
  const otherBefore = await otherRoute();
  const planned = await upIn(file, 'plan');
  assert.deepEqual(writes(planned.requests), [], '--plan writes nothing');
  assert.deepEqual(actions(planned.result), [
    'create IAM role overlay-lb-first', 'create IAM inline policy overlay-lb-node of role overlay-lb-first', 'create IAM instance profile overlay-lb-first',
    'create role overlay-lb-first in instance profile overlay-lb-first', 'create S3 bucket first-releases',
    'create S3 object s3://first-releases/demo/spec.yaml (the spec)', 'create S3 object s3://first-releases/demo/overlay-lb.deb (the package)',
    ...ec2Labels('first', 'create'),
  ]);
  assert.ok(tables.length >= 4, tables.join(' '));
  assert.deepEqual(planned.result.plan.pending, []);

  const first = await upIn(file, 'apply');
  assert.deepEqual(writes(first.requests), firstWrites());
  assert.equal(first.result.applied?.created.length, 10 + tables.length);
  assert.deepEqual(await otherRoute(), otherBefore, 'a route for another destination is left as it was');

  // The group passes VRRP and the handoff between the nodes only, port 80 from the spec's clients;
  // each node runs at its address with IMDSv2, source/dest check off, the role; the VIP routes
  // point at the first node.
  const k = clusterNumbers.get('first');
  assert.deepEqual(await ec2Account('first'), {
    groupTags: [{ Key: 'overlay-lb:cluster', Value: 'first' }],
    ingress: [
      { proto: '112', from: undefined, to: undefined, cidrs: [], groups: ['self'] },
      { proto: 'tcp', from: 80, to: 80, cidrs: ['10.0.0.0/16', '10.1.0.0/16'], groups: [] },
      { proto: 'udp', from: 4789, to: 4789, cidrs: [], groups: ['self'] },
    ],
    instances: ['a', 'b'].map((z, i) => ({ node: `lb-${z}`, state: 'running', ip: `10.0.${i + 1}.${k}`, sourceDestCheck: false, tokens: 'required', profile: 'overlay-lb-first', groups: ['overlay-lb-first'] })),
    routes: Object.fromEntries(tables.map((t) => [t, 'lb-a'])),
  });
  // Each node ran its user-data (the console shows it; the lab runs it as cloud-init would).
  for (const i of (await instancesOf('first'))) {
    const deadline = Date.now() + 120_000;
    let console0 = '';
    while (!console0.includes('overlay-lb user-data: cluster first, node lb-') && Date.now() < deadline) {
      console0 = Buffer.from((await ec2.send(new GetConsoleOutputCommand({ InstanceId: i.InstanceId! }))).Output ?? '', 'base64').toString('utf8');
      if (!console0.includes('overlay-lb user-data')) await new Promise((r) => setTimeout(r, 500));
    }
    assert.match(console0, /overlay-lb user-data: cluster first, node lb-[ab]/);
  }

  // What the account holds now: the policy is the one source's, for this spec.
  const specText = await readFile(file, 'utf8');
  const spec = parseSpec(specText, { file });
  assert.ok(spec.ok);
  const cloudArn = (type: string, id: string): string => lab.controller.cloud.arn(type, id);
  const held = await account('first');
  assert.deepEqual(held, {
    trust: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }] },
    tags: [{ Key: 'overlay-lb:cluster', Value: 'first' }],
    policy: JSON.parse(JSON.stringify(lbNodePolicy({ arn: cloudArn, vpcId: spec.spec.cluster.cloud.vpcId!, eipAllocationId: null, release: { bucket: 'first-releases', keys: ['demo/spec.yaml', 'demo/overlay-lb.deb'], rollout: { pointers: 'demo/desired/*.json', statuses: 'demo/status/*.json' } } }))),
    profileRoles: ['overlay-lb-first'], profileTags: [{ Key: 'overlay-lb:cluster', Value: 'first' }],
    versioning: 'Enabled', bucketTags: [{ Key: 'overlay-lb:cluster', Value: 'first' }],
    objects: {
      'demo/spec.yaml': { etag: md5(specText), metadata: { 'overlay-lb-cluster': 'first', 'overlay-lb-sha256': sha256(specText) } },
      'demo/overlay-lb.deb': { etag: md5(packageBytes), metadata: { 'overlay-lb-cluster': 'first', 'overlay-lb-sha256': sha256(packageBytes) } },
    },
  });

  const second = await upIn(file, 'apply');
  assert.deepEqual(writes(second.requests), [], 'a second up makes no write call');
  assert.ok(second.result.plan.steps.every((s) => s.action === 'leave'), actions(second.result).join('\n'));

  // The CLI, as an operator runs it (credentials from the environment, as `lab env` prints them).
  const env = { PATH: process.env.PATH, HOME: dir, AWS_ACCESS_KEY_ID: lab.adminCredentials.accessKeyId, AWS_SECRET_ACCESS_KEY: lab.adminCredentials.secretAccessKey, AWS_EC2_METADATA_DISABLED: 'true', AWS_CONFIG_FILE: join(dir, 'none'), AWS_SHARED_CREDENTIALS_FILE: join(dir, 'none') };
  const start = log.length;
  const text = await run(process.execPath, [MAIN, 'up', file, '--package', packageFile, '--yes', '--endpoint-url', lab.apiUrl], env);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /^overlay-lb up: cluster first, account \d{12}, region us-east-1\n/);
  assert.match(text.stdout, /= leave {4}IAM role overlay-lb-first\n/);
  assert.match(text.stdout, /= leave {4}instance of node lb-a \(10\.0\.1\.\d+, az-a\)\n/);
  assert.doesNotMatch(text.stdout, /Not provisioned yet/);
  assert.match(text.stdout, /Nothing to do: everything up provisions is up to date \(no write call was made\)\.\n$/);
  const json = await run(process.execPath, [MAIN, 'up', file, '--package', packageFile, '--yes', '--json', '--endpoint-url', lab.apiUrl], env);
  assert.equal(json.code, 0, json.stderr);
  const parsed = JSON.parse(json.stdout) as { upToDate: boolean; counts: Record<string, number>; notProvisioned: { kind: string }[] };
  assert.equal(parsed.upToDate, true);
  assert.deepEqual(parsed.counts, { create: 0, change: 0, leave: 10 + tables.length, conflict: 0, blocked: 0 });
  assert.deepEqual(parsed.notProvisioned, []);
  assert.deepEqual(writes(log.slice(start)), []);

  // Applied through the CLI: the plan first, then each step, then what was done.
  const fresh = await specFile('text');
  const planJson = await run(process.execPath, [MAIN, 'up', fresh, '--package', packageFile, '--plan', '--json', '--endpoint-url', lab.apiUrl], env);
  assert.equal(planJson.code, 0, planJson.stderr);
  const steps = (JSON.parse(planJson.stdout) as { steps: { action: string; label: string }[] }).steps.map((st) => `${st.action} ${st.label}`);
  assert.deepEqual(steps.slice(7), ec2Labels('text', 'create'));
  const applied = await run(process.execPath, [MAIN, 'up', fresh, '--package', packageFile, '--yes', '--endpoint-url', lab.apiUrl], env);
  assert.equal(applied.code, 0, applied.stderr);
  const out = applied.stdout.split('\n');
  const first0 = out.findIndex((l) => l.startsWith('  + create   IAM role overlay-lb-text'));
  const planEnd = out.findIndex((l) => l.startsWith(`Plan: ${10 + tables.length} to create, 0 to change, 0 left alone.`));
  const creating = out.findIndex((l) => l === '  creating IAM role overlay-lb-text');
  assert.ok(first0 > 0 && first0 < planEnd && planEnd < creating, applied.stdout);
  // The plan names each new resource: the group, each node's instance, the VIP route in each table.
  for (const l of ec2Labels('text', '+ create  ')) assert.ok(out.includes(`  ${l}`), `${l}\n${applied.stdout}`);
  assert.equal(out.filter((l) => l.startsWith('  creating ')).length, 10 + tables.length);
  assert.equal(out.at(-2), `Applied: ${10 + tables.length} created, 0 changed.`);
  await removeEc2(fresh);

  // A changed spec changes exactly the spec object (a new version in the versioned bucket).
  await writeFile(file, specText.replace('preemptDelay: 10s', 'preemptDelay: 12s'));
  const changed = await upIn(file, 'apply');
  assert.deepEqual(actions(changed.result).filter((a) => !a.startsWith('leave')), ['change S3 object s3://first-releases/demo/spec.yaml (the spec)']);
  assert.deepEqual(changed.result.plan.steps.find((s) => s.action === 'change')?.changes, ['content']);
  assert.deepEqual(writes(changed.requests), ['PutObject']);
  const versions = await s3.send(new ListObjectVersionsCommand({ Bucket: 'first-releases', Prefix: 'demo/spec.yaml' }));
  assert.equal(versions.Versions?.length, 2);
  await removeEc2(file);
  await ec2.send(new DeleteRouteCommand({ RouteTableId: tables[0], DestinationCidrBlock: '203.0.113.0/24' }));
});

void test('an up interrupted after N write calls converges on the next run (every N), with no second instance, and the run after makes no write call', { skip }, async () => {
  const total = firstWrites().length;
  for (let n = 1; n <= total; n += 1) {
    const name = `cut${n}`;
    const file = await specFile(name);
    const stop = new AbortController();
    let seen = 0;
    onApiRequest = (entry) => {
      if (!READ.test(entry.action ?? '') && (seen += 1) === n) stop.abort(new Error(`interrupted after ${n} write calls`));
    };
    await assert.rejects(upIn(file, 'apply', { signal: stop.signal }), (err: Error) => stop.signal.aborted && err !== undefined);
    onApiRequest = () => undefined;
    const rerun = await upIn(file, 'apply');
    assert.equal(writes(rerun.requests).length, total - n, `after ${n}: ${writes(rerun.requests).join(', ')}`);
    const again = await upIn(file, 'apply');
    assert.deepEqual(writes(again.requests), [], `after ${n}, a third run`);
    const held = await account(name);
    assert.equal(held['versioning'], 'Enabled');
    assert.deepEqual(held['profileRoles'], [`overlay-lb-${name}`]);
    // One instance per node, ever: an interrupted launch was found again, not repeated.
    const all = await instancesOf(name);
    assert.deepEqual(all.map((i) => i.Tags?.find((t) => t.Key === 'overlay-lb:node')?.Value).sort(), ['lb-a', 'lb-b'], `after ${n}`);
    assert.ok(all.every((i) => i.State?.Name === 'running' && i.SourceDestCheck === false), `after ${n}`);
    await removeEc2(file);
  }
});

void test('an up process killed (SIGKILL) in the middle converges on the next run', { skip }, async () => {
  const file = await specFile('killed');
  const env = { PATH: process.env.PATH, HOME: dir, AWS_ACCESS_KEY_ID: lab.adminCredentials.accessKeyId, AWS_SECRET_ACCESS_KEY: lab.adminCredentials.secretAccessKey, AWS_EC2_METADATA_DISABLED: 'true', AWS_CONFIG_FILE: join(dir, 'none'), AWS_SHARED_CREDENTIALS_FILE: join(dir, 'none') };
  const child = spawn(process.execPath, [MAIN, 'up', file, '--package', packageFile, '--yes', '--endpoint-url', lab.apiUrl], { env, stdio: 'ignore' });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
  let seen = 0;
  onApiRequest = (entry) => {
    if (!READ.test(entry.action ?? '') && (seen += 1) === 4) child.kill('SIGKILL');
  };
  assert.equal(await exited, 'SIGKILL');
  onApiRequest = () => undefined;
  const rerun = await upIn(file, 'apply');
  assert.ok(writes(rerun.requests).length <= firstWrites().length - 4, writes(rerun.requests).join(', '));
  assert.deepEqual(writes((await upIn(file, 'apply')).requests), []);
  assert.equal((await account('killed'))['versioning'], 'Enabled');
  assert.equal((await instancesOf('killed')).length, 2);
  await removeEc2(file);
});

void test('foreign resources with up\'s names are conflicts with their fix; nothing is written and they stay as they were', { skip }, async () => {
  const file = await specFile('foreign');
  // GIVEN a role and a bucket with up's names, made by someone else (no ownership tag).
  await iam.send(new CreateRoleCommand({ RoleName: 'overlay-lb-foreign', AssumeRolePolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }] }) }));
  await iam.send(new PutRolePolicyCommand({ RoleName: 'overlay-lb-foreign', PolicyName: 'overlay-lb-node', PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:*', Resource: '*' }] }) }));
  await s3.send(new CreateBucketCommand({ Bucket: 'foreign-releases' }));
  const result = await upIn(file, 'apply');
  assert.deepEqual(writes(result.requests), []);
  assert.equal(result.result.applied, null);
  assert.deepEqual(actions(result.result), [
    'conflict IAM role overlay-lb-foreign', 'blocked IAM inline policy overlay-lb-node of role overlay-lb-foreign', 'create IAM instance profile overlay-lb-foreign',
    'blocked role overlay-lb-foreign in instance profile overlay-lb-foreign', 'conflict S3 bucket foreign-releases',
    'blocked S3 object s3://foreign-releases/demo/spec.yaml (the spec)', 'blocked S3 object s3://foreign-releases/demo/overlay-lb.deb (the package)',
    // The group is independent; the instances need the role and the objects, the routes the instances.
    ...ec2Labels('foreign', 'create').slice(0, 1), ...ec2Labels('foreign', 'blocked').slice(1),
  ]);
  const role = result.result.plan.steps[0]!;
  assert.equal(role.reason, 'an IAM role named overlay-lb-foreign exists without the tag overlay-lb:cluster=foreign');
  assert.match(role.fix ?? '', /delete or rename that role, or give this cluster another name \(cluster\.name\)/);
  // The foreign policy is untouched, and the bucket still unversioned.
  const policy = JSON.parse(decodeURIComponent((await iam.send(new GetRolePolicyCommand({ RoleName: 'overlay-lb-foreign', PolicyName: 'overlay-lb-node' }))).PolicyDocument ?? '')) as { Statement: unknown[] };
  assert.deepEqual(policy.Statement, [{ Effect: 'Allow', Action: 's3:*', Resource: '*' }]);
  assert.equal((await s3.send(new GetBucketVersioningCommand({ Bucket: 'foreign-releases' }))).Status, undefined);
  // The CLI exits 1 and prints the conflicts with their fixes.
  const env = { PATH: process.env.PATH, HOME: dir, AWS_ACCESS_KEY_ID: lab.adminCredentials.accessKeyId, AWS_SECRET_ACCESS_KEY: lab.adminCredentials.secretAccessKey, AWS_EC2_METADATA_DISABLED: 'true', AWS_CONFIG_FILE: join(dir, 'none'), AWS_SHARED_CREDENTIALS_FILE: join(dir, 'none') };
  const cli = await run(process.execPath, [MAIN, 'up', file, '--package', packageFile, '--yes', '--endpoint-url', lab.apiUrl], env);
  assert.equal(cli.code, 1);
  assert.match(cli.stdout, /! conflict IAM role overlay-lb-foreign: an IAM role named overlay-lb-foreign exists without the tag overlay-lb:cluster=foreign\. Fix: /);
  assert.match(cli.stdout, /Nothing was changed: resolve the conflicts above, then run up again\./);
});

void test('drift on owned resources is changed back (policy edited by hand, versioning suspended); a foreign object at up\'s key is a conflict', { skip }, async () => {
  const file = await specFile('drift');
  await upIn(file, 'apply');
  const policyBefore = (await account('drift'))['policy'];
  // GIVEN someone widened the nodes' policy and suspended the bucket's versioning.
  await iam.send(new PutRolePolicyCommand({ RoleName: 'overlay-lb-drift', PolicyName: 'overlay-lb-node', PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'ec2:*', Resource: '*' }] }) }));
  await s3.send(new PutBucketVersioningCommand({ Bucket: 'drift-releases', VersioningConfiguration: { Status: 'Suspended' } }));
  const fixed = await upIn(file, 'apply');
  assert.deepEqual(actions(fixed.result).filter((a) => !a.startsWith('leave')), ['change IAM inline policy overlay-lb-node of role overlay-lb-drift', 'change S3 bucket drift-releases']);
  assert.deepEqual(fixed.result.plan.steps.filter((st) => st.action === 'change').map((st) => st.changes), [['policy document'], ['versioning']]);
  assert.deepEqual(writes(fixed.requests), ['PutRolePolicy', 'PutBucketVersioning']);
  const after = await account('drift');
  assert.deepEqual(after['policy'], policyBefore);
  assert.equal(after['versioning'], 'Enabled');

  // GIVEN an object at the spec's key that up did not write (no ownership metadata), in up's bucket.
  const other = await specFile('drift', (t) => t.replace('prefix: demo/', 'prefix: other/'));
  await s3.send(new PutObjectCommand({ Bucket: 'drift-releases', Key: 'other/spec.yaml', Body: 'not ours\n' }));
  const conflict = await upIn(other, 'apply');
  assert.deepEqual(actions(conflict.result).filter((a) => !a.startsWith('leave')), [
    'change IAM inline policy overlay-lb-node of role overlay-lb-drift',
    // The status rule follows the prefix (other/status/).
    'change S3 bucket drift-releases',
    'conflict S3 object s3://drift-releases/other/spec.yaml (the spec)',
    'create S3 object s3://drift-releases/other/overlay-lb.deb (the package)',
    ...ec2Labels('drift', 'blocked').slice(1),
  ]);
  assert.deepEqual(writes(conflict.requests), []);
  const kept = await s3.send(new GetObjectCommand({ Bucket: 'drift-releases', Key: 'other/spec.yaml' }));
  assert.equal(await kept.Body?.transformToString(), 'not ours\n');
  await removeEc2(file);
});

void test('a permission the operator lacks stops up with the exact action and resource; the nodes\' role reads exactly the spec and the package', { skip }, async () => {
  const file = await specFile('denied');
  const cloud = lab.controller.cloud;
  // GIVEN an operator role allowed everything but s3:PutBucketVersioning.
  cloud.putRolePolicy('operator-no-versioning', { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }, { Effect: 'Deny', Action: 's3:PutBucketVersioning', Resource: '*' }] });
  const c = cloud.issueRoleCredentials('operator-no-versioning');
  const creds = { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey, sessionToken: c.sessionToken };
  await assert.rejects(upIn(file, 'apply', { credentials: creds }), (err: OverlayError) => {
    assert.equal(err.code, 'CLOUD_UNAUTHORIZED');
    assert.match(err.message, /^the credentials running overlay-lb up may not call s3:PutBucketVersioning on arn:aws:s3:::denied-releases \(s3:PutBucketVersioning: AccessDenied: Access Denied\): grant s3:PutBucketVersioning on that resource/);
    return true;
  });
  // IAM names the action too.
  cloud.putRolePolicy('operator-no-policy', { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }, { Effect: 'Deny', Action: 'iam:PutRolePolicy', Resource: '*' }] });
  const d = cloud.issueRoleCredentials('operator-no-policy');
  const file2 = await specFile('denied2');
  await assert.rejects(upIn(file2, 'apply', { credentials: { accessKeyId: d.accessKeyId, secretAccessKey: d.secretAccessKey, sessionToken: d.sessionToken } }), (err: OverlayError) => {
    assert.equal(err.code, 'CLOUD_UNAUTHORIZED');
    assert.match(err.message, /may not call iam:PutRolePolicy on arn:aws:iam::\d{12}:role\/overlay-lb-denied2 \(iam:PutRolePolicy: AccessDenied: User: arn:aws:sts::\d{12}:assumed-role\/operator-no-policy\/operator-no-policy is not authorized to perform: iam:PutRolePolicy/);
    return true;
  });
  // With full rights the same spec converges from where the denied run stopped.
  await upIn(file, 'apply');
  assert.equal((await account('denied'))['versioning'], 'Enabled');
  await removeEc2(file);

  // The role up made is what the lab enforces for its instances: the two objects, nothing else.
  const node = cloud.issueRoleCredentials('overlay-lb-denied');
  const nodeS3 = new S3Client({ region: lab.adminCredentials.region, endpoint: lab.apiUrl, forcePathStyle: true, maxAttempts: 1, credentials: { accessKeyId: node.accessKeyId, secretAccessKey: node.secretAccessKey, sessionToken: node.sessionToken } });
  try {
    const spec = await nodeS3.send(new GetObjectCommand({ Bucket: 'denied-releases', Key: 'demo/spec.yaml' }));
    assert.equal(await spec.Body?.transformToString(), await readFile(file, 'utf8'));
    await nodeS3.send(new HeadObjectCommand({ Bucket: 'denied-releases', Key: 'demo/overlay-lb.deb' }));
    await assert.rejects(nodeS3.send(new GetObjectCommand({ Bucket: 'first-releases', Key: 'demo/spec.yaml' })), { name: 'AccessDenied' });
    await assert.rejects(nodeS3.send(new HeadBucketCommand({ Bucket: 'denied-releases' })), (err: { $metadata?: { httpStatusCode?: number } }) => err.$metadata?.httpStatusCode === 403);
  } finally {
    nodeS3.destroy();
  }
});

void test('/usr/bin/aws reads what up made: the role, its policy and profile, the versioned bucket and the two objects', { skip: skip || awsCliSkip }, async () => {
  const file = await specFile('cli');
  await upIn(file, 'apply');
  const cli = await awsCli({ region: lab.adminCredentials.region, creds: { key: lab.adminCredentials.accessKeyId, secret: lab.adminCredentials.secretAccessKey } });
  try {
    const version = await cli.run(['--version']);
    assert.match(`${version.stdout}${version.stderr}`, /^aws-cli\/2\.\d+\.\d+ /);
    const e = ['--endpoint-url', lab.apiUrl, '--output', 'json'];
    const role = JSON.parse((await cli.run(['iam', 'get-role', '--role-name', 'overlay-lb-cli', ...e])).stdout) as { Role: { Tags?: { Key: string; Value: string }[] } };
    assert.deepEqual(role.Role.Tags, [{ Key: 'overlay-lb:cluster', Value: 'cli' }]);
    const policy = JSON.parse((await cli.run(['iam', 'get-role-policy', '--role-name', 'overlay-lb-cli', '--policy-name', 'overlay-lb-node', ...e])).stdout) as { PolicyDocument: { Statement: { Sid: string }[] } };
    assert.deepEqual(policy.PolicyDocument.Statement.map((s) => s.Sid), ['Discover', 'MoveVipRoute', 'MasterHeartbeat', 'ReadRelease', 'FollowRollout', 'PublishStatus']);
    const profile = JSON.parse((await cli.run(['iam', 'get-instance-profile', '--instance-profile-name', 'overlay-lb-cli', ...e])).stdout) as { InstanceProfile: { Roles: { RoleName: string }[] } };
    assert.deepEqual(profile.InstanceProfile.Roles.map((r) => r.RoleName), ['overlay-lb-cli']);
    const versioning = JSON.parse((await cli.run(['s3api', 'get-bucket-versioning', '--bucket', 'cli-releases', ...e])).stdout) as { Status: string };
    assert.equal(versioning.Status, 'Enabled');
    const tagging = JSON.parse((await cli.run(['s3api', 'get-bucket-tagging', '--bucket', 'cli-releases', ...e])).stdout) as { TagSet: unknown[] };
    assert.deepEqual(tagging.TagSet, [{ Key: 'overlay-lb:cluster', Value: 'cli' }]);
    const head = JSON.parse((await cli.run(['s3api', 'head-object', '--bucket', 'cli-releases', '--key', 'demo/overlay-lb.deb', ...e])).stdout) as { Metadata: Record<string, string>; ETag: string };
    assert.deepEqual(head.Metadata, { 'overlay-lb-cluster': 'cli', 'overlay-lb-sha256': sha256(packageBytes) });
    assert.equal(head.ETag, md5(packageBytes));
    const out = join(cli.home, 'spec.yaml');
    const cp = await cli.run(['s3', 'cp', 's3://cli-releases/demo/spec.yaml', out, '--endpoint-url', lab.apiUrl]);
    assert.equal(cp.code, 0, cp.stderr);
    assert.equal(await readFile(out, 'utf8'), await readFile(file, 'utf8'));
    const deb = join(cli.home, 'overlay-lb.deb');
    assert.equal((await cli.run(['s3', 'cp', 's3://cli-releases/demo/overlay-lb.deb', deb, '--endpoint-url', lab.apiUrl])).code, 0);
    const info = await run('dpkg-deb', ['--field', deb, 'Package', 'Version']);
    assert.equal(info.stdout, 'Package: overlay-lb\nVersion: 0.0.1-test\n');
  } finally {
    await cli.close();
    await removeEc2(file);
  }
});

void test('a VIP route to someone else\'s target is a conflict: nothing is written, it stays; once it is gone up converges', { skip }, async () => {
  const file = await specFile('vipforeign');
  const k = clusterNumbers.get('vipforeign');
  const vip = `192.168.100.${k}/32`;
  const stranger = await foreignEni();
  // GIVEN a route to the cluster's VIP in one selected table, to an interface of no node.
  await ec2.send(new CreateRouteCommand({ RouteTableId: tables[1], DestinationCidrBlock: vip, NetworkInterfaceId: stranger }));
  const result = await upIn(file, 'apply');
  assert.deepEqual(writes(result.requests), []);
  assert.equal(result.result.applied, null);
  const conflicts = result.result.plan.steps.filter((st) => st.action === 'conflict');
  assert.deepEqual(conflicts.map((c) => c.label), [`VIP route ${vip} in route table ${tables[1]}`]);
  assert.equal(conflicts[0]?.reason, `route table ${tables[1]} already routes ${vip} to ${stranger}, which is none of this cluster's nodes`);
  assert.match(conflicts[0]?.fix ?? '', /aws ec2 delete-route --route-table-id rtb-\w+ --destination-cidr-block 192\.168\.100\.\d+\/32/);
  assert.deepEqual(actions(result.result).filter((a) => !a.startsWith('create')), [`conflict VIP route ${vip} in route table ${tables[1]}`]);
  assert.deepEqual((await ec2Account('vipforeign'))['routes'], Object.fromEntries(tables.map((t) => [t, t === tables[1] ? stranger : null])));
  // remove() (what down calls) leaves it too: it points at none of the cluster's nodes.
  await removeEc2(file);
  assert.deepEqual((await ec2Account('vipforeign'))['routes'], Object.fromEntries(tables.map((t) => [t, t === tables[1] ? stranger : null])));
  // Once its owner removed it, up converges.
  await ec2.send(new DeleteRouteCommand({ RouteTableId: tables[1], DestinationCidrBlock: vip }));
  const after = await upIn(file, 'apply');
  assert.deepEqual(writes(after.requests), firstWrites());
  await removeEc2(file);
});

void test('a blackhole VIP route left by a foreign instance is a conflict naming its target: nothing is written, it stays', { skip }, async () => {
  const file = await specFile('viphole');
  const k = clusterNumbers.get('viphole');
  const vip = `192.168.100.${k}/32`;
  // GIVEN an instance of no cluster (no ownership tag) that a VIP route in one selected table points
  // at, then terminated: the route is a blackhole naming its deleted interface.
  const subnet = ((await ec2.send(new DescribeSubnetsCommand({}))).Subnets ?? [])[0]?.SubnetId;
  const run = await ec2.send(new RunInstancesCommand({ ImageId: LAB_IMAGE_ID, InstanceType: 't3.micro', MinCount: 1, MaxCount: 1, SubnetId: subnet }));
  const foreign = run.Instances?.[0];
  const foreignEniId = foreign?.NetworkInterfaces?.[0]?.NetworkInterfaceId;
  assert.ok(foreign?.InstanceId !== undefined && foreignEniId !== undefined);
  await ec2.send(new CreateRouteCommand({ RouteTableId: tables[1], DestinationCidrBlock: vip, NetworkInterfaceId: foreignEniId }));
  await ec2.send(new TerminateInstancesCommand({ InstanceIds: [foreign.InstanceId] }));
  const vipRoute = async (): Promise<{ NetworkInterfaceId?: string | undefined; State?: string | undefined } | undefined> =>
    ((await ec2.send(new DescribeRouteTablesCommand({ RouteTableIds: [tables[1]!] }))).RouteTables?.[0]?.Routes ?? []).find((r) => r.DestinationCidrBlock === vip);
  // Terminated (not only shutting down): its interface is deleted, so the route names only the interface.
  const state = async (): Promise<string | undefined> => (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [foreign.InstanceId!] }))).Reservations?.[0]?.Instances?.[0]?.State?.Name;
  const deadline = Date.now() + 120_000;
  while ((await state()) !== 'terminated' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 500));
  const hole = await vipRoute();
  assert.deepEqual([hole?.NetworkInterfaceId, hole?.State, (hole as { InstanceId?: string } | undefined)?.InstanceId], [foreignEniId, 'blackhole', undefined]);

  // WHEN up runs: a conflict for that table, naming the table, the target and the fix; nothing written.
  const result = await upIn(file, 'apply');
  assert.deepEqual(writes(result.requests), []);
  assert.equal(result.result.applied, null);
  const conflicts = result.result.plan.steps.filter((st) => st.action === 'conflict');
  assert.deepEqual(conflicts.map((c) => c.label), [`VIP route ${vip} in route table ${tables[1]}`]);
  assert.equal(conflicts[0]?.reason, `route table ${tables[1]} already routes ${vip} to ${foreignEniId}, a blackhole (its target is gone) that was none of this cluster's nodes`);
  assert.match(conflicts[0]?.fix ?? '', new RegExp(`aws ec2 delete-route --route-table-id ${tables[1]} --destination-cidr-block 192\\.168\\.100\\.${k}/32`));
  assert.deepEqual(await vipRoute(), hole);
  // remove() (what down calls) leaves it too.
  await removeEc2(file);
  assert.deepEqual(await vipRoute(), hole);
  await ec2.send(new DeleteRouteCommand({ RouteTableId: tables[1], DestinationCidrBlock: vip }));
});

void test('a terminated node is replaced (a new instance, its blackhole VIP routes re-pointed); drift on the group and the source/dest check is changed back', { skip }, async () => {
  const file = await specFile('replace');
  const k = clusterNumbers.get('replace');
  await upIn(file, 'apply');
  const [a] = (await instancesOf('replace')).filter((i) => i.Tags?.some((t) => t.Key === 'overlay-lb:node' && t.Value === 'lb-a'));
  assert.ok(a?.InstanceId !== undefined);
  // GIVEN node lb-a's instance terminated (nobody moves the VIP routes: no agent runs here), ...
  await ec2.send(new TerminateInstancesCommand({ InstanceIds: [a.InstanceId] }));
  const deadline = Date.now() + 120_000;
  while ((await instancesOf('replace')).find((i) => i.InstanceId === a.InstanceId)?.State?.Name !== 'terminated' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 500));
  // ... someone opened SSH on the group and removed VRRP, and turned lb-b's source/dest check on.
  const group = (await ec2.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'group-name', Values: ['overlay-lb-replace'] }] }))).SecurityGroups?.[0];
  const groupId = group?.GroupId ?? '';
  await ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: groupId, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }] }));
  await ec2.send(new RevokeSecurityGroupIngressCommand({ GroupId: groupId, IpPermissions: [{ IpProtocol: '112', UserIdGroupPairs: [{ GroupId: groupId }] }] }));
  const b = (await instancesOf('replace')).find((i) => i.Tags?.some((t) => t.Key === 'overlay-lb:node' && t.Value === 'lb-b'));
  await ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: b?.InstanceId, SourceDestCheck: { Value: true } }));

  const planned = await upIn(file, 'plan');
  assert.deepEqual(actions(planned.result).filter((x) => !x.startsWith('leave')), [
    'change security group overlay-lb-replace', `create instance of node lb-a (10.0.1.${k}, az-a)`, `change instance of node lb-b (10.0.2.${k}, az-b)`,
    ...tables.map((t) => `change VIP route 192.168.100.${k}/32 in route table ${t}`),
  ]);
  const steps = planned.result.plan.steps;
  assert.deepEqual(steps.find((st) => st.kind === 'security-group')?.changes, [`allow 112 from ${groupId}`, 'revoke tcp:22-22 from 0.0.0.0/0']);
  assert.deepEqual(steps.find((st) => st.kind === 'instance' && st.action === 'change')?.changes, ['source/dest check on']);
  assert.match(steps.find((st) => st.kind === 'vip-route')?.changes[0] ?? '', /^blackhole: its target eni-\w+ is gone; point it at a node$/);

  const applied = await upIn(file, 'apply');
  assert.deepEqual(writes(applied.requests), ['RevokeSecurityGroupIngress', 'AuthorizeSecurityGroupIngress', 'RunInstances', 'ModifyInstanceAttribute', 'CreateTags', 'ModifyInstanceAttribute', ...tables.map(() => 'ReplaceRoute')]);
  const held = await ec2Account('replace');
  assert.deepEqual((held['instances'] as { node: string; state: string; sourceDestCheck: boolean }[]).map((i) => [i.node, i.state, i.sourceDestCheck]), [['lb-a', 'running', false], ['lb-b', 'running', false]]);
  assert.deepEqual(held['routes'], Object.fromEntries(tables.map((t) => [t, 'lb-a'])));
  const all = await instancesOf('replace');
  assert.equal(all.length, 3);
  assert.ok(!all.some((i) => i.InstanceId !== a.InstanceId && i.State?.Name === 'terminated'));
  assert.deepEqual(writes((await upIn(file, 'apply')).requests), [], 'the run after makes no write call');
  await removeEc2(file);
  // remove() terminated both and deleted the routes and the group.
  assert.ok((await instancesOf('replace')).every((i) => i.State?.Name === 'terminated'));
  assert.deepEqual((await ec2Account('replace'))['routes'], Object.fromEntries(tables.map((t) => [t, null])));
  assert.equal((await ec2.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'group-name', Values: ['overlay-lb-replace'] }] }))).SecurityGroups?.length, 0);
});

void test('RunInstances waits out IAM\'s propagation of the new instance profile (the lab\'s fault); without iam:PassRole up names that action', { skip }, async () => {
  const file = await specFile('propagate');
  const cloud = lab.controller.cloud;
  cloud.iamPropagationDelayMs = 6000;
  try {
    const result = await upIn(file, 'apply');
    const launches = result.requests.filter((r) => r.action === 'RunInstances');
    assert.ok(launches.some((r) => r.status === 400), 'the first launch met the fault');
    assert.deepEqual(launches.filter((r) => r.status === 200).length, 2);
    assert.equal((await instancesOf('propagate')).length, 2);
  } finally {
    cloud.iamPropagationDelayMs = 0;
  }
  await removeEc2(file);

  // GIVEN an operator allowed everything but iam:PassRole.
  cloud.putRolePolicy('operator-no-passrole', { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }, { Effect: 'Deny', Action: 'iam:PassRole', Resource: '*' }] });
  const c = cloud.issueRoleCredentials('operator-no-passrole');
  const file2 = await specFile('nopass');
  await assert.rejects(upIn(file2, 'apply', { credentials: { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey, sessionToken: c.sessionToken } }), (err: OverlayError) => {
    assert.equal(err.code, 'CLOUD_UNAUTHORIZED');
    assert.match(err.message, /^the credentials running overlay-lb up may not call ec2:RunInstances: it needs iam:PassRole on arn:aws:iam::\d{12}:role\/overlay-lb-nopass \(.*\): grant iam:PassRole on that resource/);
    return true;
  });
  assert.equal((await instancesOf('nopass')).length, 0);
  await removeEc2(file2);
});
